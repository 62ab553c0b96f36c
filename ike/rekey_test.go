package ike

import (
	"fmt"
	"log/slog"
	"net/netip"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/sabre-ipsec/sabre/ipsec"
	"github.com/sabre-ipsec/sabre/ipsec/messaging"
	"github.com/sabre-ipsec/sabre/pktbuf"
	"github.com/sabre-ipsec/sabre/sad"
	"github.com/sabre-ipsec/sabre/spd"
)

// wireLatency is how long an ESP packet of TestRekeyUnderTraffic spends
// on the wire: packets sent just before either end switches SAs are still
// in flight when the IKE messages of the rekey have been processed.
const wireLatency = 10 * time.Millisecond

// espWire carries ESP packets one way between two test hosts with a fixed
// latency and counts what the sender could not protect and what the
// receiver refused.
type espWire struct {
	from, to       *testHost
	src, dst       string
	ch             chan inFlight
	delivered      atomic.Int64
	mu             sync.Mutex
	failures       int
	firstFailure   string
	stop           chan struct{}
	sender, reader sync.WaitGroup
}

type inFlight struct {
	b  *pktbuf.Buffer
	at time.Time
}

func newESPWire(from, to *testHost, src, dst string) *espWire {
	w := &espWire{from: from, to: to, src: src, dst: dst, ch: make(chan inFlight, 1<<14), stop: make(chan struct{})}
	w.sender.Add(1)
	go w.send()
	w.reader.Add(1)
	go w.receive()
	return w
}

func (w *espWire) fail(format string, args ...any) {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.failures == 0 {
		w.firstFailure = fmt.Sprintf(format, args...)
	}
	w.failures++
}

// send protects a packet every 500 µs until stopped.
func (w *espWire) send() {
	defer w.sender.Done()
	tick := time.NewTicker(500 * time.Microsecond)
	defer tick.Stop()
	for i := 0; ; i++ {
		select {
		case <-w.stop:
			return
		case <-tick.C:
		}
		b := udpPacket(w.src, w.dst, "packet "+strconv.Itoa(i))
		if res, err := w.from.e.Encapsulate(b); res != ipsec.SecureTunnel {
			w.fail("%s: packet %d not protected: %v %v", w.from.name, i, res, err)
			continue
		}
		w.ch <- inFlight{b, time.Now()}
	}
}

// receive delivers each packet wireLatency after it was sent.
func (w *espWire) receive() {
	defer w.reader.Done()
	for p := range w.ch {
		if d := time.Until(p.at.Add(wireLatency)); d > 0 {
			time.Sleep(d) // the wire's latency, not a synchronisation
		}
		if res, err := w.to.e.Decapsulate(p.b); res != ipsec.SecureTunnel {
			w.fail("%s: packet refused: %v %v", w.to.name, res, err)
			continue
		}
		w.delivered.Add(1)
	}
}

// close stops sending and waits until every packet in flight is delivered.
func (w *espWire) close() {
	close(w.stop)
	w.sender.Wait()
	close(w.ch)
	w.reader.Wait()
}

// waitDelivered waits until n more packets have been delivered.
func (w *espWire) waitDelivered(t *testing.T, n int64) {
	t.Helper()
	target := w.delivered.Load() + n
	waitFor(t, fmt.Sprintf("%d packets %s -> %s", n, w.from.name, w.to.name), func() bool { return w.delivered.Load() >= target })
}

// childSPIs returns the SPIs of h's one Child SA.
func childSPIs(t *testing.T, h *testHost) (in, out uint32, ok bool) {
	t.Helper()
	st := h.d.Status()
	if len(st) != 1 || len(st[0].Children) != 1 {
		return 0, 0, false
	}
	i, err1 := strconv.ParseUint(st[0].Children[0].SPIIn, 16, 32)
	o, err2 := strconv.ParseUint(st[0].Children[0].SPIOut, 16, 32)
	return uint32(i), uint32(o), err1 == nil && err2 == nil
}

// TestRekeyUnderTraffic: packets flow both ways, with 10 ms on the wire,
// through six Child SA rekeys started alternately by each end and three
// started by both at once; not one is lost (RFC 7296 §1.3.3, §2.8: each end keeps the old inbound SA until the
// Delete exchange for it completes, and the rekey's responder sends on the
// new SA only once the initiator has it). Once the grace after the Delete
// has passed, only the new pair is left.
func TestRekeyUnderTraffic(t *testing.T) {
	n, a, b := pair(t, fastSuite, fastSuite, []string{"AES128-GCM16"})
	var logs syncBuffer
	for _, h := range []*testHost{a, b} {
		h.d.cfg.RekeyGrace = 300 * time.Millisecond
		h.d.log = slog.New(slog.NewTextHandler(&logs, nil))
	}
	sent := handshake(t, a, 10*time.Second)
	if res, err := b.e.Decapsulate(sent); res != ipsec.SecureTunnel {
		t.Fatalf("B decapsulates the first packet: %v %v", res, err)
	}
	waitFor(t, "B's Child SA", func() bool { _, _, ok := childSPIs(t, b); return ok })

	ab := newESPWire(a, b, "10.1.0.5", "10.2.0.9")
	ba := newESPWire(b, a, "10.2.0.9", "10.1.0.5")
	stopped := false
	stop := func() {
		if !stopped {
			stopped = true
			ab.close()
			ba.close()
		}
	}
	defer stop()
	ab.waitDelivered(t, 50)
	ba.waitDelivered(t, 50)

	for i := range 6 {
		starter, peer := a, b
		if i%2 == 1 {
			starter, peer = b, a
		}
		oldIn, oldOut, ok := childSPIs(t, starter)
		if !ok {
			t.Fatalf("rekey %d: %s has no single Child SA: %+v", i, starter.name, starter.d.Status())
		}
		deletes := peer.d.Stats().Deletes.Load()
		starter.d.childExpiring(messaging.Event{Type: messaging.MsgSAExpired, SPI: oldIn, Direction: sad.Inbound})
		waitFor(t, fmt.Sprintf("rekey %d by %s", i, starter.name), func() bool {
			in, out, ok1 := childSPIs(t, starter)
			pin, pout, ok2 := childSPIs(t, peer)
			return ok1 && ok2 && in != oldIn && out != oldOut && pin == out && pout == in &&
				peer.d.Stats().Deletes.Load() > deletes
		})
		// Traffic on the new pair, both ways.
		ab.waitDelivered(t, 50)
		ba.waitDelivered(t, 50)
	}
	// Both ends rekey at once; when the requests cross, RFC 7296 §2.8.1
	// leaves one new pair, and neither end may send on the other until
	// its peer has it.
	for i := range 3 {
		aIn, _, ok1 := childSPIs(t, a)
		bIn, _, ok2 := childSPIs(t, b)
		if !ok1 || !ok2 {
			t.Fatalf("simultaneous rekey %d: %+v %+v", i, a.d.Status(), b.d.Status())
		}
		crossRequests(n)
		var both sync.WaitGroup
		for _, x := range []struct {
			h   *testHost
			spi uint32
		}{{a, aIn}, {b, bIn}} {
			both.Add(1)
			go func() {
				defer both.Done()
				x.h.d.childExpiring(messaging.Event{Type: messaging.MsgSAExpired, SPI: x.spi, Direction: sad.Inbound})
			}()
		}
		both.Wait()
		waitFor(t, fmt.Sprintf("simultaneous rekey %d", i), func() bool {
			in, out, ok1 := childSPIs(t, a)
			pin, pout, ok2 := childSPIs(t, b)
			return ok1 && ok2 && in != aIn && pin != bIn && pin == out && pout == in &&
				sendsOn(a, out) && sendsOn(b, pout)
		})
		ab.waitDelivered(t, 50)
		ba.waitDelivered(t, 50)
	}
	stop()
	n.wg.Wait()

	for _, w := range []*espWire{ab, ba} {
		if w.failures > 0 {
			t.Errorf("%s -> %s: %d packets lost over the rekeys; the first: %s", w.from.name, w.to.name, w.failures, w.firstFailure)
		}
	}
	for _, h := range []*testHost{a, b} {
		if d := h.e.Stats().Snapshot().Drops; len(d) > 0 {
			t.Errorf("%s's engine dropped packets: %v", h.name, d)
		}
	}
	t.Logf("delivered %d packets A->B and %d B->A through 9 rekeys; %d redundant Child SAs of crossed rekeys deleted",
		ab.delivered.Load(), ba.delivered.Load(), strings.Count(logs.String(), "simultaneous rekey: deleting the redundant Child SA"))
	waitFor(t, "the rekeyed SAs to go after the grace", func() bool {
		return len(a.e.SAD().All()) == 2 && len(b.e.SAD().All()) == 2
	})
}

// crossRequests makes the next CREATE_CHILD_SA requests of the two hosts
// cross: the first is held (a retransmission of it dropped) until the
// other host's arrives, and both are delivered then.
func crossRequests(n *network) {
	var mu sync.Mutex
	var held *delivery
	done := false
	n.mu.Lock()
	defer n.mu.Unlock()
	n.filter = func(m []byte, from, to netip.AddrPort) [][]byte {
		mu.Lock()
		defer mu.Unlock()
		if done || len(m) < 20 || m[18] != 36 || m[19]&0x20 != 0 { // not a CREATE_CHILD_SA request
			return [][]byte{m}
		}
		switch {
		case held == nil:
			held = &delivery{m, from, to}
			return nil
		case held.from == from:
			return nil // our hold made it retransmit
		}
		done = true
		n.mu.Lock()
		h := n.hosts[held.to.Addr()]
		n.mu.Unlock()
		n.wg.Add(1)
		go func(d delivery) {
			defer n.wg.Done()
			h.d.HandleMessage(d.b, d.to, d.from)
		}(*held)
		return [][]byte{m}
	}
}

// sendsOn reports whether h's engine sends on the outbound SA with that SPI.
func sendsOn(h *testHost, spi uint32) bool {
	out := h.e.SAD().Session(h.policy).OutboundESP()
	return out != nil && out.SPI() == spi
}

// TestSoftLifetimeInRekeyWindow: a Child SA's soft lifetime is a random
// point in its policy's rekey window: 80-90% of -k, or the last tenth of
// -K when given.
func TestSoftLifetimeInRekeyWindow(t *testing.T) {
	for _, p := range []spd.Policy{
		{},
		{Lifetime: 100 * time.Second},
		{Lifetime: 6 * time.Second, RekeyTime: 4 * time.Second},
		{Lifetime: time.Hour, RekeyTime: time.Second},
	} {
		lo, hi := p.RekeyWindow()
		seen := map[time.Duration]bool{}
		for range 200 {
			s := softLifetime(&p)
			if s < lo || s > hi {
				t.Fatalf("-k %v -K %v: soft lifetime %v outside [%v, %v]", p.Lifetime, p.RekeyTime, s, lo, hi)
			}
			seen[s] = true
		}
		if len(seen) < 100 {
			t.Errorf("-k %v -K %v: only %d different soft lifetimes in 200", p.Lifetime, p.RekeyTime, len(seen))
		}
	}
}
