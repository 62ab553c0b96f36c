package ike

import (
	"log/slog"
	"net/netip"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/sabre-ipsec/sabre/ike/message"
	"github.com/sabre-ipsec/sabre/ipsec"
)

// TestPanicContainedToItsIKESA (issue 9, item 1): a panic while B
// processes one IKE SA's IKE_AUTH (injected into B's Send) is recovered,
// logged at ERROR with the stack, counted, and costs that IKE SA alone:
// B's other IKE SA keeps its Child SA, and B goes on to establish a new
// one.
func TestPanicContainedToItsIKESA(t *testing.T) {
	n, a, b := pair(t, fastSuite, fastSuite, []string{"AES128-GCM16"})
	var logs syncBuffer
	b.d.log = slog.New(slog.NewTextHandler(&logs, nil))
	var armed atomic.Bool
	send := b.d.cfg.Send
	b.d.cfg.Send = func(m []byte, local, remote netip.AddrPort) error {
		if h, err := message.ParseHeader(m); err == nil && h.Exchange == message.IKEAuth && h.IsResponse() && armed.Swap(false) {
			panic("injected: sending the IKE_AUTH response")
		}
		return send(m, local, remote)
	}
	sent := handshake(t, a, 10*time.Second)
	if res, err := b.e.Decapsulate(sent); res != ipsec.SecureTunnel {
		t.Fatalf("B decapsulates %v %v", res, err)
	}
	n.wg.Wait()
	first := b.d.Status()
	if len(first) != 1 || first[0].State != "ESTABLISHED" {
		t.Fatalf("B: %+v", first)
	}

	established := func() (n int) {
		for _, s := range b.d.Status() {
			if s.State == "ESTABLISHED" {
				n++
			}
		}
		return n
	}
	p := a.e.SPD().Get(a.policy)
	armed.Store(true)
	if err := a.d.initiate(a.d.remote("b"), p); err != nil { // a second IKE SA
		t.Fatal(err)
	}
	waitFor(t, "the panic", func() bool { return b.d.Stats().Panics.Load() == 1 })
	waitFor(t, "B to delete the IKE SA that panicked", func() bool { return len(b.d.Status()) == 1 })
	if st := b.d.Status(); st[0].SPIi != first[0].SPIi || len(st[0].Children) != 1 {
		t.Fatalf("B after the panic: %+v, want %+v", st, first)
	}
	out := logs.String()
	for _, want := range []string{"level=ERROR", "panic processing an IKE message", "injected: sending the IKE_AUTH response", "stack=", "recover.go"} {
		if !strings.Contains(out, want) {
			t.Errorf("B's log lacks %q:\n%s", want, out)
		}
	}

	if err := a.d.initiate(a.d.remote("b"), p); err != nil { // a third one
		t.Fatal(err)
	}
	// One IKE SA per pair of peers (unique.go): the third, newer, replaces
	// the first.
	waitFor(t, "a new IKE SA after the panic", func() bool {
		st := b.d.Status()
		return established() == 1 && len(st) == 1 && st[0].SPIi != first[0].SPIi
	})
	if got := b.d.Stats().Panics.Load(); got != 1 {
		t.Fatalf("%d panics, want 1", got)
	}
}

// TestPanicInIKESAInitContained: a panic in the responder's IKE_SA_INIT,
// after the half-open IKE SA exists (sending the response, or resending it
// to a retransmitted request), deletes that SA and leaves nothing checked
// out: the next request is answered.
func TestPanicInIKESAInitContained(t *testing.T) {
	for _, panicOn := range []int{1, 2} {
		w := newWire(t)
		send := w.b.d.cfg.Send
		responses := 0
		w.b.d.cfg.Send = func(m []byte, local, remote netip.AddrPort) error {
			if h, err := message.ParseHeader(m); err == nil && h.Exchange == message.IKESAInit && h.SPIr != 0 {
				if responses++; responses == panicOn {
					panic("injected: sending the IKE_SA_INIT response")
				}
			}
			return send(m, local, remote)
		}
		w.b.d.log = quietLog
		req := rawInit(t, w, 42, 32)
		for range panicOn {
			w.b.d.HandleMessage(req, wireB, attacker)
		}
		cleaned := make(chan struct{})
		go func() { w.b.d.panicCleanup.Wait(); close(cleaned) }()
		select {
		case <-cleaned:
		case <-time.After(10 * time.Second):
			t.Fatalf("panic on response %d: the IKE SA stays checked out; it cannot be deleted", panicOn)
		}
		if got := w.b.d.Stats().Panics.Load(); got != 1 {
			t.Fatalf("panic on response %d: %d panics, want 1", panicOn, got)
		}
		if st := w.b.d.Status(); len(st) != 0 {
			t.Fatalf("panic on response %d: B keeps %+v", panicOn, st)
		}
		if h := w.b.d.mgr.HalfOpen(); h != 0 {
			t.Fatalf("panic on response %d: %d half-open IKE SAs", panicOn, h)
		}
		before := w.queued()
		w.b.d.HandleMessage(rawInit(t, w, 43, 32), wireB, attacker)
		if w.queued() != before+1 {
			t.Fatalf("panic on response %d: the next IKE_SA_INIT is not answered", panicOn)
		}
	}
}
