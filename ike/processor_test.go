package ike

import (
	"encoding/binary"
	"net/netip"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/sabre-ipsec/sabre/ike/message"
	"github.com/sabre-ipsec/sabre/ipsec"
)

// verifyNoLeak snapshots the goroutines; the function it returns fails t
// if others are left (the sad package's process-wide clock excepted).
func verifyNoLeak(t *testing.T) func() {
	ignore := goleak.IgnoreCurrent()
	return func() {
		goleak.VerifyNone(t, ignore, goleak.IgnoreTopFunction("github.com/sabre-ipsec/sabre/sad.coarseSinceBase.func1.1"))
	}
}

// viaProcessor makes n deliver every message through the receiving
// daemon's Enqueue, as the socket readers do.
func viaProcessor(n *network) {
	n.mu.Lock()
	hosts := make(map[netip.Addr]*testHost, len(n.hosts))
	for a, h := range n.hosts {
		hosts[a] = h
	}
	n.mu.Unlock()
	n.filter = func(b []byte, from, to netip.AddrPort) [][]byte {
		if h := hosts[to.Addr()]; h != nil {
			h.d.Enqueue(b, to, from)
		}
		return nil
	}
}

// encrypted returns a message of the IKE SA key that parses (an SK payload
// of junk): a worker handling it checks the SA out before it finds that
// it does not decrypt.
func encrypted(t testing.TB, key SAKey, exch message.ExchangeType, msgID uint32, flags message.Flags) []byte {
	t.Helper()
	b, err := (&message.Message{Header: message.Header{SPIi: key.SPIi, SPIr: key.SPIr, Exchange: exch, MessageID: msgID, Flags: flags},
		Payloads: []message.Payload{&message.SK{FirstPayload: message.PayloadNone, Data: make([]byte, 40)}}}).Marshal()
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// initHeader returns an IKE_SA_INIT request header with SPIi spii and no
// payloads: the processor queues it by its header; a worker drops it.
func initHeader(spii uint64) []byte {
	b := make([]byte, message.HeaderLen)
	binary.BigEndian.PutUint64(b, spii)
	b[17] = message.Version
	b[18] = byte(message.IKESAInit)
	b[19] = byte(message.FlagInitiator)
	binary.BigEndian.PutUint32(b[24:], message.HeaderLen)
	return b
}

// TestProcessorHandshake: two daemons whose messages all go through
// Enqueue negotiate SAs, and closing them stops every worker.
func TestProcessorHandshake(t *testing.T) {
	defer verifyNoLeak(t)()
	n, a, b := pair(t, fastSuite, fastSuite, []string{"AES128-GCM16"})
	viaProcessor(n)
	sent := handshake(t, a, 10*time.Second)
	if res, err := b.e.Decapsulate(sent); res != ipsec.SecureTunnel {
		t.Fatalf("B decapsulates: %v %v", res, err)
	}
	for _, h := range []*testHost{a, b} {
		h.d.Close()
		st := h.d.ProcessorStats()
		if st.Processed.Load() < 2 || st.Queued.Load() != st.Processed.Load()+st.Stopped.Load() {
			t.Errorf("%s: %d queued, %d processed, %d dropped at close", h.name, st.Queued.Load(), st.Processed.Load(), st.Stopped.Load())
		}
	}
	n.wg.Wait()
	// goleak: the workers are gone.
}

// TestEnqueueNeverBlocks holds the responder's IKE SA checked out, so that
// the only worker, handling a message of it, waits in Checkout. Enqueue
// still returns at once: IKE_SA_INIT requests are accepted until the
// queue is half full, messages of IKE SAs until it is full, the rest are
// dropped and counted. Once the SA is checked in, everything queued is
// handled, and the IKE SA is intact.
func TestEnqueueNeverBlocks(t *testing.T) {
	defer verifyNoLeak(t)()
	n, a, b := pair(t, fastSuite, fastSuite, []string{"AES128-GCM16"})
	handshake(t, a, 10*time.Second)
	n.wg.Wait()
	n.filter = func([]byte, netip.AddrPort, netip.AddrPort) [][]byte { return nil } // answers go nowhere
	const limit = 16
	b.d.cfg.Workers, b.d.cfg.QueueLen = 1, limit
	keys := b.d.mgr.All()
	if len(keys) != 1 {
		t.Fatalf("B has %d IKE SAs", len(keys))
	}
	key := keys[0]
	sa, err := b.d.mgr.Checkout(key, netip.AddrPort{})
	if err != nil {
		t.Fatal(err)
	}
	local, peer := sa.local, sa.peer
	st := b.d.ProcessorStats()
	dropped := b.d.Stats().Dropped.Load()

	b.d.Enqueue(encrypted(t, key, message.Informational, 7, message.FlagInitiator), local, peer)
	for i := range 2 * limit {
		b.d.Enqueue(initHeader(uint64(1000+i)), local, netip.MustParseAddrPort("198.51.100.1:500"))
	}
	if got := st.Queued.Load(); got != limit/2 {
		t.Errorf("queued %d with IKE_SA_INIT requests; want %d (half the queue)", got, limit/2)
	}
	if got := st.InitShed.Load(); got != 2*limit-(limit/2-1) {
		t.Errorf("IKE_SA_INIT shed: %d, want %d", got, 2*limit-(limit/2-1))
	}
	for i := range limit {
		b.d.Enqueue(encrypted(t, SAKey{uint64(5000 + i), 1}, message.Informational, 0, message.FlagInitiator), local, peer)
	}
	if got := st.Queued.Load(); got != limit {
		t.Errorf("queued %d; want %d (the queue's length)", got, limit)
	}
	if got := st.QueueFull.Load(); got != limit/2 {
		t.Errorf("queue full: %d, want %d", got, limit/2)
	}
	if got, want := b.d.Stats().Dropped.Load()-dropped, st.InitShed.Load()+st.QueueFull.Load(); got != want {
		t.Errorf("Stats.Dropped grew by %d, want %d", got, want)
	}
	if st.Processed.Load() != 0 {
		t.Errorf("%d processed while the worker waits for the IKE SA", st.Processed.Load())
	}
	b.d.checkin(sa)
	waitFor(t, "the queue to drain", func() bool { return st.Processed.Load() == st.Queued.Load() })
	// The junk message of the SA was dropped (it does not decrypt), the
	// SA is still there.
	if s := b.d.Status(); len(s) != 1 || s[0].State != "ESTABLISHED" {
		t.Errorf("B: %+v", s)
	}
	b.d.Close()
	a.d.Close()
	if n := b.d.ProcessorStats().Stopped.Load(); n != 0 {
		t.Errorf("%d dropped at close with nothing queued", n)
	}
	b.d.Enqueue(initHeader(1), local, peer)
	if n := b.d.ProcessorStats().Stopped.Load(); n != 1 {
		t.Errorf("Enqueue after Close: Stopped %d, want 1", n)
	}
}

// TestProcessorKeepsOrder sends a burst of requests with consecutive
// message IDs on one IKE SA to a responder with several workers. Handled
// in any other order than their arrival, a request comes before the one
// it follows and falls outside the window (RFC 7296 §2.3); in order, each
// is answered.
func TestProcessorKeepsOrder(t *testing.T) {
	defer verifyNoLeak(t)()
	n, a, b := pair(t, fastSuite, fastSuite, []string{"AES128-GCM16"})
	handshake(t, a, 10*time.Second)
	n.wg.Wait()
	n.filter = func([]byte, netip.AddrPort, netip.AddrPort) [][]byte { return nil } // responses go nowhere
	keys := a.d.mgr.All()
	if len(keys) != 1 {
		t.Fatalf("A has %d IKE SAs", len(keys))
	}
	sa, err := a.d.mgr.Checkout(keys[0], netip.AddrPort{})
	if err != nil {
		t.Fatal(err)
	}
	const burst = 300
	first := sa.nextRequest
	msgs := make([][]byte, burst)
	for i := range msgs {
		// Empty INFORMATIONAL requests: liveness checks (RFC 7296 §1.4).
		if msgs[i], err = sa.seal(message.Informational, first+uint32(i), false, nil); err != nil {
			t.Fatal(err)
		}
	}
	local, peer := sa.local, sa.peer
	a.d.checkin(sa)
	b.d.cfg.Workers = 8
	dropped := b.d.Stats().Dropped.Load()
	for i, m := range msgs {
		b.d.Enqueue(m, peer, local)
		// Messages of other SAs between them, for the other workers.
		b.d.Enqueue(encrypted(t, SAKey{uint64(i) + 77, 3}, message.Informational, 0, message.FlagInitiator), peer, local)
	}
	st := b.d.ProcessorStats()
	waitFor(t, "the queue to drain", func() bool { return st.Processed.Load() == 2*burst })
	if got := b.d.Stats().Dropped.Load() - dropped; got != burst {
		t.Errorf("%d messages dropped, want the %d of unknown SAs", got, burst)
	}
	bsa, err := b.d.mgr.Checkout(b.d.mgr.All()[0], netip.AddrPort{})
	if err != nil {
		t.Fatal(err)
	}
	next := bsa.nextExpected
	b.d.checkin(bsa)
	if next != first+burst {
		t.Errorf("responder expects message ID %d after the burst, want %d", next, first+burst)
	}
	a.d.Close()
	b.d.Close()
}
