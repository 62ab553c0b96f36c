package ike

import (
	"bytes"
	"encoding/binary"
	"sync"
	"testing"

	"github.com/sabre-ipsec/sabre/ike/message"
)

// slowSuite retransmits only after 30 s: the tests that step messages by
// hand see no retransmission of their own.
const slowSuite = "-e AES128-GCM16 -p PRFSHA256 -d CURVE25519 -i 30"

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
