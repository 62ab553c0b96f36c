package ike

import (
	"bytes"
	"os"
	"path/filepath"
	"regexp"
	"testing"

	"github.com/sabre-ipsec/sabre/ike/message"
)

// Fuzzing the process functions (issue 9, item 1): the payload rules
// (message.Check) are the only gate between a peer and the code that acts
// on payloads, so whatever passes them must be handled without a panic.
// FuzzProcess parses its input as a payload chain and, for every exchange
// and direction whose rules the chain passes, feeds it to the function
// that processes that message, on a real IKE SA in the state where that
// message is expected.

// Fuzz flags.
const (
	fuzzFixAuth = 1 << iota // replace AUTH by the one the peer would compute over the ID given
	fuzzRekey               // CREATE_CHILD_SA rekeys the first Child SA: its SPI in REKEY_SA, or the request the response answers
)

// processTarget is one process function.
type processTarget struct {
	name     string
	exchange message.ExchangeType
	response bool
	run      func(w *wire, ps []message.Payload, flags uint8)
}

// initSent has A send IKE_SA_INIT (not delivered) and returns it.
func (w *wire) initSent() delivery {
	w.t.Helper()
	if err := w.a.d.Initiate(w.a.e.SPD().Get(w.a.policy)); err != nil {
		w.t.Fatal(err)
	}
	return w.pop()
}

// initDone runs IKE_SA_INIT and returns A's IKE_AUTH request, which is
// not delivered: A is in AUTH_SENT, B in INIT_DONE.
func (w *wire) initDone() delivery {
	w.t.Helper()
	w.deliver(w.initSent())
	w.deliver(w.pop())
	return w.pop()
}

// established runs the whole handshake and returns A's IKE_AUTH request.
func (w *wire) established() delivery {
	w.t.Helper()
	m := w.initDone()
	w.deliver(m)
	w.deliver(w.pop())
	return m
}

// inbound returns what a process function gets for payloads ps in a
// message with m's SPIs.
func (w *wire) inbound(m delivery, exch message.ExchangeType, response bool, id uint32, ps []message.Payload) *inbound {
	h, err := message.ParseHeader(m.b)
	if err != nil {
		w.t.Fatal(err)
	}
	hdr := message.Header{SPIi: h.SPIi, SPIr: h.SPIr, Exchange: exch, MessageID: id}
	from, to := m.from, m.to
	if response {
		hdr.Flags = message.FlagResponse
		from, to = to, from
	} else {
		hdr.Flags = message.FlagInitiator
	}
	raw, err := (&message.Message{Header: hdr, Payloads: ps}).Marshal()
	if err != nil {
		raw = m.b
	}
	return &inbound{hdr: hdr, raw: raw, payloads: ps, local: to, remote: from}
}

// fixAuth replaces the AUTH payload in ps by the one peer's IKE SA
// computes over the ID payload of ps that peer would send.
func (w *wire) fixAuth(peer *testHost, m delivery, ps []message.Payload, responder bool) {
	id, ok := message.FindID(ps, responder)
	if !ok {
		return
	}
	for i, p := range ps {
		if a, ok := p.(*message.Auth); ok {
			w.withSA(peer, m.b, func(sa *SA) {
				ps[i] = &message.Auth{Method: a.Method, Data: sa.authData(Identity{Type: IDType(id.Type), Data: id.Data})}
			})
		}
	}
}

var processTargets = []processTarget{
	{"processInitResponse", message.IKESAInit, true, func(w *wire, ps []message.Payload, _ uint8) {
		m := w.initSent()
		in := w.inbound(m, message.IKESAInit, true, 0, ps)
		in.hdr.SPIr = 0x0badc0ffee0ddf00
		w.withSA(w.a, m.b, func(sa *SA) { w.a.d.handleInitResponse(sa, sa.tasks.active, in) })
	}},
	{"processAuthResponse", message.IKEAuth, true, func(w *wire, ps []message.Payload, flags uint8) {
		m := w.initDone()
		if flags&fuzzFixAuth != 0 {
			w.fixAuth(w.b, m, ps, true)
		}
		in := w.inbound(m, message.IKEAuth, true, 1, ps)
		w.withSA(w.a, m.b, func(sa *SA) {
			if r := sa.tasks.active; r != nil {
				r.task.process(w.a.d, sa, in)
			}
		})
	}},
	{"processAuthRequest", message.IKEAuth, false, func(w *wire, ps []message.Payload, flags uint8) {
		m := w.initDone()
		if flags&fuzzFixAuth != 0 {
			w.fixAuth(w.a, m, ps, false)
		}
		in := w.inbound(m, message.IKEAuth, false, 1, ps)
		w.withSA(w.b, m.b, func(sa *SA) { w.b.d.processAuthRequest(sa, in) })
	}},
	{"processCreateChildRequest", message.CreateChildSA, false, func(w *wire, ps []message.Payload, flags uint8) {
		m := w.established()
		in := w.inbound(m, message.CreateChildSA, false, 2, ps)
		w.withSA(w.b, m.b, func(sa *SA) {
			if n, ok := message.FindNotify(ps, message.RekeySA); ok && flags&fuzzRekey != 0 && len(sa.children) > 0 {
				n.SPI = spi4(sa.children[0].outSPI)
			}
			w.b.d.processCreateChildRequest(sa, in)
		})
	}},
	{"processInformationalRequest", message.Informational, false, func(w *wire, ps []message.Payload, _ uint8) {
		m := w.established()
		in := w.inbound(m, message.Informational, false, 2, ps)
		w.withSA(w.b, m.b, func(sa *SA) { w.b.d.processInformationalRequest(sa, in) })
	}},
	{"completeChild", message.CreateChildSA, true, func(w *wire, ps []message.Payload, flags uint8) {
		m := w.established()
		in := w.inbound(m, message.CreateChildSA, true, 2, ps)
		w.withSA(w.a, m.b, func(sa *SA) {
			var t task = &childCreate{policyID: w.a.policy}
			if flags&fuzzRekey != 0 && len(sa.children) > 0 {
				t = &childRekey{old: sa.children[0]}
			}
			if _, err := t.build(w.a.d, sa); err != nil {
				w.t.Fatal(err)
			}
			t.process(w.a.d, sa, in)
		})
	}},
}

// runProcessTargets feeds the chain (first, data) to every target whose
// payload rules it passes, and returns how many it reached.
func runProcessTargets(t *testing.T, first uint8, data []byte, flags uint8) int {
	reached := 0
	for _, pt := range processTargets {
		// Parsed afresh for each target: payloads alias data, and a
		// target may keep or change them.
		ps, err := message.ParsePayloads(message.PayloadType(first), bytes.Clone(data))
		if err != nil {
			return 0
		}
		if message.Check(pt.exchange, pt.response, ps) != nil {
			continue
		}
		reached++
		w := newWire(t)
		w.a.d.log, w.b.d.log = quietLog, quietLog
		pt.run(w, ps, flags)
		if p := w.a.d.Stats().Panics.Load() + w.b.d.Stats().Panics.Load(); p != 0 {
			t.Fatalf("%s: %d panics", pt.name, p)
		}
	}
	return reached
}

// processSeeds are payload chains a peer sends, one or more per target.
func processSeeds(t testing.TB) [][]message.Payload {
	w := newWire(t)
	r := w.a.d.remote("b")
	ikeOffer := IKEProposals(r)
	ikeAnswer := ikeOffer[0]
	var ikeTransforms []message.Transform
	seen := map[message.TransformType]bool{}
	for _, tr := range ikeAnswer.Transforms {
		if !seen[tr.Type] {
			seen[tr.Type] = true
			ikeTransforms = append(ikeTransforms, tr)
		}
	}
	ikeAnswer.Transforms = ikeTransforms
	childOffer, err := policyProposals(w.a.e.SPD().Get(w.a.policy), message.ProtocolESP, 0x01020304, nil)
	if err != nil {
		t.Fatal(err)
	}
	childAnswer := childOffer[0]
	childAnswer.Transforms = nil
	seen = map[message.TransformType]bool{}
	for _, tr := range childOffer[0].Transforms {
		if !seen[tr.Type] {
			seen[tr.Type] = true
			childAnswer.Transforms = append(childAnswer.Transforms, tr)
		}
	}
	local, remote := PolicySelectors(w.a.e.SPD().Get(w.a.policy))
	tsi, tsr := tsPayload([]TrafficSelector{local}, false), tsPayload([]TrafficSelector{remote}, true)
	tsiB, tsrB := tsPayload([]TrafficSelector{local}, false), tsPayload([]TrafficSelector{remote}, true)
	g, err := lookupGroup(r.Groups[0])
	if err != nil {
		t.Fatal(err)
	}
	k, err := g.GenerateKey()
	if err != nil {
		t.Fatal(err)
	}
	ke := &message.KE{Group: message.GroupID(r.Groups[0]), Data: k.PublicValue()}
	nonce := &message.Nonce{Data: bytes.Repeat([]byte{7}, 32)}
	idi := &message.ID{Type: message.IDIPv4Addr, Data: []byte{192, 0, 2, 1}}
	idr := &message.ID{Responder: true, Type: message.IDIPv4Addr, Data: []byte{192, 0, 2, 2}}
	auth := &message.Auth{Method: message.AuthSharedKeyMIC, Data: make([]byte, 32)}
	sa := func(p ...message.Proposal) *message.SA { return &message.SA{Proposals: p} }
	n := func(t message.NotifyType, data ...byte) *message.Notify { return &message.Notify{Type: t, Data: data} }
	return [][]message.Payload{
		// IKE_SA_INIT responses.
		{sa(ikeAnswer), ke, nonce, n(message.NATDetectionSourceIP, make([]byte, 20)...), n(message.NATDetectionDestinationIP, make([]byte, 20)...)},
		{n(message.Cookie, 1, 2, 3, 4, 5, 6, 7, 8)},
		{n(message.InvalidKEPayload, 0, 19)},
		{n(message.NoProposalChosen)},
		// IKE_AUTH requests and responses.
		{idi, n(message.InitialContact), idr, auth, sa(childOffer...), tsi, tsr},
		{idi, auth},
		{idr, auth, sa(childAnswer), tsiB, tsrB},
		{idr, auth, n(message.TSUnacceptable)},
		{n(message.AuthenticationFailed)},
		// CREATE_CHILD_SA requests and responses.
		{&message.Notify{Type: message.RekeySA, Protocol: message.ProtocolESP, SPI: []byte{1, 2, 3, 4}}, sa(childOffer...), nonce, tsi, tsr},
		{sa(childOffer...), nonce, ke, tsi, tsr},
		{sa(childAnswer), nonce, tsiB, tsrB},
		{n(message.NoAdditionalSAs)},
		// INFORMATIONAL requests.
		{&message.Delete{Protocol: message.ProtocolESP, SPIs: []uint32{1, 2}}},
		{&message.Delete{Protocol: message.ProtocolIKE}},
		{},
	}
}

func FuzzProcess(f *testing.F) {
	for _, ps := range processSeeds(f) {
		first, data, err := message.MarshalPayloads(ps)
		if err != nil {
			f.Fatal(err)
		}
		for _, flags := range []uint8{0, fuzzFixAuth, fuzzFixAuth | fuzzRekey} {
			f.Add(uint8(first), data, flags)
		}
	}
	f.Fuzz(func(t *testing.T, first uint8, data []byte, flags uint8) {
		runProcessTargets(t, first, data, flags)
	})
}

// TestProcessSeedsReachEveryTarget: the seed corpus passes the payload
// rules of every process function, so FuzzProcess starts from each.
func TestProcessSeedsReachEveryTarget(t *testing.T) {
	reached := map[string]bool{}
	for _, ps := range processSeeds(t) {
		for _, pt := range processTargets {
			if message.Check(pt.exchange, pt.response, ps) == nil {
				reached[pt.name] = true
			}
		}
	}
	for _, pt := range processTargets {
		if !reached[pt.name] {
			t.Errorf("no seed reaches %s", pt.name)
		}
	}
}

// TestNoUncheckedPayloadLookups (STYLE.md 16) keeps two mistakes out of
// the package's sources: an ID or TS payload looked up by Go type, which
// cannot tell IDi from IDr (use message.FindID, FindTS), and a payload
// lookup whose ok result is thrown away.
func TestNoUncheckedPayloadLookups(t *testing.T) {
	byGoType := regexp.MustCompile(`message\.Find(All)?\[\*message\.(ID|TS)\]`)
	unchecked := regexp.MustCompile(`, _ :?= message\.Find`)
	files, err := filepath.Glob("*.go")
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range files {
		if filepath.Ext(f) != ".go" || regexp.MustCompile(`_test\.go$`).MatchString(f) {
			continue
		}
		src, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		for i, line := range bytes.Split(src, []byte("\n")) {
			if byGoType.Match(line) || unchecked.Match(line) {
				t.Errorf("%s:%d: %s", f, i+1, bytes.TrimSpace(line))
			}
		}
	}
}

// TestProcessHarnessReachesChildSAs: with AUTH fixed by the harness, the
// IKE_AUTH seeds authenticate and install a Child SA on either side, and
// the CREATE_CHILD_SA seeds install one: FuzzProcess reaches past
// authentication into the Child SA code, not only the early refusals.
func TestProcessHarnessReachesChildSAs(t *testing.T) {
	seeds := processSeeds(t)
	for _, c := range []struct {
		target string
		seed   int
		flags  uint8
		host   func(*wire) *testHost
		want   uint64 // Child SAs installed, the handshake's included
	}{
		{"processAuthRequest", 4, fuzzFixAuth, func(w *wire) *testHost { return w.b }, 1},
		{"processAuthResponse", 6, fuzzFixAuth, func(w *wire) *testHost { return w.a }, 1},
		{"processCreateChildRequest", 9, fuzzRekey, func(w *wire) *testHost { return w.b }, 2},
		{"completeChild", 11, fuzzRekey, func(w *wire) *testHost { return w.a }, 2},
	} {
		var pt processTarget
		for _, p := range processTargets {
			if p.name == c.target {
				pt = p
			}
		}
		first, data, err := message.MarshalPayloads(seeds[c.seed])
		if err != nil {
			t.Fatal(err)
		}
		ps, err := message.ParsePayloads(first, data)
		if err != nil {
			t.Fatal(err)
		}
		w := newWire(t)
		h := c.host(w)
		pt.run(w, ps, c.flags)
		if got := h.d.Stats().ChildSAs.Load(); got != c.want {
			t.Errorf("%s on seed %d: %d Child SAs installed by %s, want %d (%+v)", c.target, c.seed, got, h.name, c.want, h.d.Status())
		}
	}
}
