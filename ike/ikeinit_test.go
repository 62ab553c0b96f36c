package ike

import (
	"bytes"
	"encoding/binary"
	"net/netip"
	"sync"
	"testing"

	"github.com/sabre-ipsec/sabre/ike/message"
)

// steppedPair is pair with the network queued: nothing moves until the test
// delivers it.
func steppedPair(t *testing.T) (*network, *testHost, *testHost) {
	t.Helper()
	n, a, b := pair(t, slowSuite, slowSuite, []string{"AES128-GCM16"})
	n.mu.Lock()
	n.queued = true
	n.mu.Unlock()
	return n, a, b
}

// take removes and returns the queued messages.
func (n *network) take() []delivery {
	n.mu.Lock()
	defer n.mu.Unlock()
	q := n.queue
	n.queue = nil
	return q
}

// deliver hands m to its destination host now.
func (n *network) deliver(m delivery) {
	n.mu.Lock()
	h := n.hosts[m.to.Addr()]
	n.mu.Unlock()
	h.d.HandleMessage(bytes.Clone(m.b), m.to, m.from)
}

// startInit makes A send its IKE_SA_INIT request and returns it, queued.
func startInit(t *testing.T, n *network, a *testHost) delivery {
	t.Helper()
	if err := a.d.initiate(a.d.remote("b"), a.e.SPD().Get(a.policy)); err != nil {
		t.Fatal(err)
	}
	q := n.take()
	if len(q) != 1 || q[0].b[18] != byte(message.IKESAInit) {
		t.Fatalf("A sent %d messages, want its IKE_SA_INIT request", len(q))
	}
	return q[0]
}

// one delivers m and returns the one message its receiver sends back.
func one(t *testing.T, n *network, m delivery, what string) delivery {
	t.Helper()
	n.deliver(m)
	q := n.take()
	if len(q) != 1 {
		t.Fatalf("%s: %d messages in answer, want 1", what, len(q))
	}
	return q[0]
}

// expectSilence delivers m and fails if anything is sent in answer.
func expectSilence(t *testing.T, n *network, m delivery, what string) {
	t.Helper()
	n.deliver(m)
	if q := n.take(); len(q) != 0 {
		t.Fatalf("%s: answered with %d messages, want none", what, len(q))
	}
}

func establishedCount(h *testHost) (established, all int) {
	for _, s := range h.d.Status() {
		all++
		if s.State == "ESTABLISHED" {
			established++
		}
	}
	return established, all
}

// TestInitRequestSPIiZeroIgnored: RFC 7296 §3.1, the initiator's SPI is
// never zero; such a request gets no answer and makes no state.
func TestInitRequestSPIiZeroIgnored(t *testing.T) {
	n, a, b := steppedPair(t)
	req := startInit(t, n, a)
	binary.BigEndian.PutUint64(req.b[0:8], 0)
	expectSilence(t, n, req, "IKE_SA_INIT with SPIi 0")
	if b.d.mgr.Len() != 0 {
		t.Fatalf("B holds %d IKE SAs after a request with SPIi 0", b.d.mgr.Len())
	}
}

// TestInitRetransmissionAfterAuth: a copy of the IKE_SA_INIT request that
// arrives after the IKE SA it made is established (a slow duplicate) makes
// no second IKE SA and gets no answer (RFC 7296 §2.1).
func TestInitRetransmissionAfterAuth(t *testing.T) {
	n, a, b := steppedPair(t)
	req := startInit(t, n, a)
	n.mu.Lock()
	n.queue = append(n.queue, req)
	n.mu.Unlock()
	n.drain()
	if e, all := establishedCount(b); e != 1 || all != 1 {
		t.Fatalf("B after the handshake: %+v", b.d.Status())
	}
	expectSilence(t, n, req, "late copy of the IKE_SA_INIT request")
	if e, all := establishedCount(b); e != 1 || all != 1 || b.d.mgr.Len() != 1 {
		t.Fatalf("B after the late copy: %d IKE SAs: %+v", b.d.mgr.Len(), b.d.Status())
	}
}

// TestInitCopiesAtOnce: copies of one IKE_SA_INIT request processed at the
// same time make one IKE SA, and every copy gets the same response.
func TestInitCopiesAtOnce(t *testing.T) {
	n, a, b := steppedPair(t)
	req := startInit(t, n, a)
	var wg sync.WaitGroup
	start := make(chan struct{})
	for range 16 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			<-start
			n.deliver(req)
		}()
	}
	close(start)
	wg.Wait()
	if b.d.mgr.Len() != 1 {
		t.Fatalf("16 copies of one IKE_SA_INIT request made %d IKE SAs", b.d.mgr.Len())
	}
	q := n.take()
	if len(q) != 16 {
		t.Fatalf("%d responses to 16 copies", len(q))
	}
	for _, m := range q[1:] {
		if !bytes.Equal(m.b, q[0].b) {
			t.Fatal("the copies got different responses")
		}
	}
}

// TestRetransmissionOnlyForSameRequest: the responder resends a cached
// response only for a bitwise copy of the request it answered (RFC 7296
// §2.1), never for another message with the same SPIs and message ID,
// such as one whose integrity check fails.
func TestRetransmissionOnlyForSameRequest(t *testing.T) {
	n, a, b := steppedPair(t)
	req := startInit(t, n, a)
	resp := one(t, n, req, "IKE_SA_INIT request")
	var h message.Header
	if m, err := message.Parse(resp.b); err != nil || m.Header.SPIr == 0 {
		t.Fatalf("IKE_SA_INIT response: %v", err)
	} else {
		h = m.Header
	}
	// Right SPIs, message ID 0, no valid ICV.
	for _, exch := range []message.ExchangeType{message.IKEAuth, message.IKESAInit} {
		forged, err := (&message.Message{Header: message.Header{SPIi: h.SPIi, SPIr: h.SPIr, Exchange: exch, Flags: message.FlagInitiator},
			Payloads: []message.Payload{&message.SK{FirstPayload: message.PayloadIDi, Data: bytes.Repeat([]byte{7}, 64)}}}).Marshal()
		if err != nil {
			t.Fatal(err)
		}
		expectSilence(t, n, delivery{forged, req.from, req.to}, exch.String()+" with message ID 0 and a bad ICV")
	}
	auth := one(t, n, resp, "IKE_SA_INIT response")
	authResp := one(t, n, auth, "IKE_AUTH request")
	n.deliver(authResp)
	n.take()
	if e, _ := establishedCount(b); e != 1 {
		t.Fatalf("B: %+v", b.d.Status())
	}
	tampered := delivery{bytes.Clone(auth.b), auth.from, auth.to}
	tampered.b[len(tampered.b)-3] ^= 0x40
	expectSilence(t, n, tampered, "IKE_AUTH request with a flipped ICV bit")
	again := one(t, n, auth, "a copy of the IKE_AUTH request")
	if !bytes.Equal(again.b, authResp.b) {
		t.Fatal("the copy of the IKE_AUTH request got a different response")
	}
}

// initResponse is an unprotected IKE_SA_INIT response to req carrying ps,
// as a responder (or anyone who saw req) would send it.
func initResponse(t *testing.T, req delivery, ps ...message.Payload) delivery {
	t.Helper()
	m, err := message.Parse(req.b)
	if err != nil {
		t.Fatal(err)
	}
	b, err := (&message.Message{Header: message.Header{SPIi: m.Header.SPIi, Exchange: message.IKESAInit, Flags: message.FlagResponse}, Payloads: ps}).Marshal()
	if err != nil {
		t.Fatal(err)
	}
	return delivery{b, req.to, req.from}
}

// requestGroup returns the group of the KE payload of an IKE_SA_INIT
// request, and its COOKIE if it has one.
func requestGroup(t *testing.T, req delivery) (GroupID, []byte) {
	t.Helper()
	m, err := message.Parse(req.b)
	if err != nil {
		t.Fatal(err)
	}
	ke, ok := message.Find[*message.KE](m.Payloads)
	if !ok {
		t.Fatal("IKE_SA_INIT request without KE")
	}
	var cookie []byte
	if n, ok := message.FindNotify(m.Payloads, message.Cookie); ok {
		cookie = n.Data
	}
	return GroupID(ke.Group), cookie
}

func initiatorState(t *testing.T, h *testHost) string {
	t.Helper()
	st := h.d.Status()
	if len(st) != 1 {
		t.Fatalf("%s holds %d IKE SAs: %+v", h.name, len(st), st)
	}
	return st[0].State
}

// TestRepeatedCookieReplies: the responder answers both copies of the
// first request with the same COOKIE; the second COOKIE is ignored, and
// the exchange completes (RFC 7296 §2.6, §2.21.1). An unprotected error
// notify, forged or not, never ends the initiation either.
func TestRepeatedCookieReplies(t *testing.T) {
	n, a, b := steppedPair(t)
	b.d.mgr.MaxHalfOpen = 2
	spoofed := SAKey{SPIi: 1000, SPIr: 2000}
	if err := b.d.mgr.Add(spoofed, netip.MustParseAddrPort("198.51.100.1:500"), true, &SA{key: spoofed}); err != nil {
		t.Fatal(err)
	}
	b.d.mgr.Checkin(spoofed)
	req := startInit(t, n, a)
	cookie1 := one(t, n, req, "first request")
	cookie2 := one(t, n, req, "copy of the first request")
	if !bytes.Equal(cookie1.b, cookie2.b) {
		t.Fatal("the two COOKIE replies differ")
	}
	withCookie := one(t, n, cookie1, "COOKIE reply")
	if _, c := requestGroup(t, withCookie); c == nil {
		t.Fatal("the request after the COOKIE reply has no COOKIE")
	}
	expectSilence(t, n, cookie2, "the second, identical COOKIE reply")
	expectSilence(t, n, initResponse(t, req, &message.Notify{Type: message.NoProposalChosen}), "a forged NO_PROPOSAL_CHOSEN")
	if s := initiatorState(t, a); s != "INIT_SENT" {
		t.Fatalf("A's IKE SA is %s after unprotected notifies", s)
	}
	resp := one(t, n, withCookie, "the request with the cookie")
	n.mu.Lock()
	n.queue = append(n.queue, resp)
	n.mu.Unlock()
	n.drain()
	if e, all := establishedCount(a); e != 1 || all != 1 {
		t.Fatalf("A: %+v", a.d.Status())
	}
}

// TestInvalidKEPingPong: a responder that asks for group 20 when offered
// 19 and for 19 when offered 20 gets one retry, not a loop; a group that
// was not proposed is refused; COOKIE and INVALID_KE_PAYLOAD restart the
// request at most maxInitRetries times (strongSwan's MAX_RETRIES).
func TestInvalidKEPingPong(t *testing.T) {
	suite := "-e AES128-GCM16 -p PRFSHA256 -d ECP256,ECP384 -i 30"
	n, a, _ := pair(t, suite, suite, []string{"AES128-GCM16"})
	n.mu.Lock()
	n.queued = true
	n.mu.Unlock()
	req := startInit(t, n, a)
	other := map[GroupID]GroupID{19: 20, 20: 19}
	sent := 1
	for range 10 {
		g, _ := requestGroup(t, req)
		n.deliver(initResponse(t, req, message.NewInvalidKEPayload(message.GroupID(other[g]))))
		q := n.take()
		if len(q) == 0 {
			break
		}
		sent += len(q)
		req = q[len(q)-1]
	}
	if sent != 2 {
		t.Fatalf("A sent %d IKE_SA_INIT requests to a responder alternating groups 19 and 20, want 2", sent)
	}
	expectSilence(t, n, initResponse(t, req, message.NewInvalidKEPayload(message.GroupID(message.MODP8192))), "INVALID_KE_PAYLOAD for a group not proposed")
	if s := initiatorState(t, a); s != "INIT_SENT" {
		t.Fatalf("A's IKE SA is %s", s)
	}
	// New cookies each time: at most maxInitRetries restarts in all.
	retries := 1 // the INVALID_KE_PAYLOAD above
	for i := range 10 {
		n.deliver(initResponse(t, req, &message.Notify{Type: message.Cookie, Data: []byte{byte(i + 1), 1, 2, 3, 4, 5, 6, 7}}))
		q := n.take()
		if len(q) == 0 {
			break
		}
		retries++
		req = q[0]
	}
	if retries != maxInitRetries {
		t.Fatalf("%d restarts of IKE_SA_INIT, want %d", retries, maxInitRetries)
	}
	if s := initiatorState(t, a); s != "INIT_SENT" {
		t.Fatalf("A's IKE SA is %s", s)
	}
}

// TestInvalidKEPingPongEnds: against a responder that always asks for the
// other one of groups 19 and 20, in real time, the initiator sends a
// bounded number of IKE_SA_INIT requests and gives up when its
// retransmissions run out (the issue saw 17,296 requests in 10 s).
func TestInvalidKEPingPongEnds(t *testing.T) {
	n, a, _ := pair(t, "-e AES128-GCM16 -p PRFSHA256 -d ECP256,ECP384 -i 50ms -I 100ms -t 3", fastSuite, []string{"AES128-GCM16"})
	var mu sync.Mutex
	sent := 0
	n.filter = func(m []byte, from, to netip.AddrPort) [][]byte {
		if from.Addr() != a.addr || m[18] != byte(message.IKESAInit) {
			return [][]byte{m}
		}
		mu.Lock()
		sent++
		mu.Unlock()
		req := delivery{m, from, to}
		g, _ := requestGroup(t, req)
		resp := initResponse(t, req, message.NewInvalidKEPayload(message.GroupID(map[GroupID]GroupID{19: 20, 20: 19}[g])))
		n.wg.Add(1)
		go func() {
			defer n.wg.Done()
			a.d.HandleMessage(resp.b, resp.to, resp.from)
		}()
		return nil
	}
	a.e.Encapsulate(udpPacket("10.1.0.5", "10.2.0.9", "x"))
	waitFor(t, "A to give up", func() bool { return a.d.Stats().Failed.Load() == 1 })
	n.wg.Wait()
	mu.Lock()
	defer mu.Unlock()
	// One request with group 19 (and its retransmissions until the answer
	// came), then one with group 20 and its 3 retransmissions: 5, and at
	// most 8 however late the answers come.
	if sent < 2 || sent > 8 {
		t.Fatalf("A sent %d IKE_SA_INIT requests, want 2 to 8", sent)
	}
	t.Logf("%d IKE_SA_INIT requests", sent)
}
