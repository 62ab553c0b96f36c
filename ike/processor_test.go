package ike

import (
	"crypto/ecdh"
	"crypto/rand"
	"encoding/binary"
	"fmt"
	"net/netip"
	"sync"
	"sync/atomic"
	"syscall"
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
	if n := b.d.ProcessorStats().Closed.Load(); n != 1 {
		t.Errorf("Enqueue after Close: Closed %d, want 1", n)
	}
}

// TestEnqueueBoundsOctets: the queue also holds at most QueueLen×8 KiB
// octets, so that large datagrams cannot make it hold 64 KiB each;
// IKE_SA_INIT requests are shed past half of that.
func TestEnqueueBoundsOctets(t *testing.T) {
	defer verifyNoLeak(t)()
	n, a, b := pair(t, fastSuite, fastSuite, []string{"AES128-GCM16"})
	handshake(t, a, 10*time.Second)
	n.wg.Wait()
	n.filter = func([]byte, netip.AddrPort, netip.AddrPort) [][]byte { return nil }
	const limit = 8 // 64 KiB: the counts alone would take every message below
	b.d.cfg.Workers, b.d.cfg.QueueLen = 1, limit
	key := b.d.mgr.All()[0]
	sa, err := b.d.mgr.Checkout(key, netip.AddrPort{})
	if err != nil {
		t.Fatal(err)
	}
	local, peer := sa.local, sa.peer
	st := b.d.ProcessorStats()
	big := func(k SAKey, exch message.ExchangeType, size int) []byte {
		m := encrypted(t, k, exch, 0, message.FlagInitiator)
		m = append(m, make([]byte, size-len(m))...)
		binary.BigEndian.PutUint32(m[24:], uint32(len(m)))
		return m
	}
	b.d.Enqueue(encrypted(t, key, message.Informational, 9, message.FlagInitiator), local, peer) // holds the worker
	for _, tc := range []struct {
		name         string
		msg          []byte
		queued, shed uint64
		full         uint64
	}{
		{"IKE_SA_INIT of 31 KiB fits in half", big(SAKey{SPIi: 11}, message.IKESAInit, 31<<10), 2, 0, 0},
		{"IKE_SA_INIT of 2 KiB more does not", big(SAKey{SPIi: 12}, message.IKESAInit, 2<<10), 2, 1, 0},
		{"32 KiB of an IKE SA fit in all", big(SAKey{13, 1}, message.Informational, 32<<10), 3, 1, 0},
		{"1 KiB more does not", big(SAKey{14, 1}, message.Informational, 1<<10), 3, 1, 1},
	} {
		b.d.Enqueue(tc.msg, local, peer)
		if st.Queued.Load() != tc.queued || st.InitShed.Load() != tc.shed || st.QueueFull.Load() != tc.full {
			t.Errorf("%s: queued %d, shed %d, full %d; want %d, %d, %d", tc.name,
				st.Queued.Load(), st.InitShed.Load(), st.QueueFull.Load(), tc.queued, tc.shed, tc.full)
		}
	}
	b.d.checkin(sa)
	waitFor(t, "the queue to drain", func() bool { return st.Processed.Load() == st.Queued.Load() })
	b.d.proc.mu.Lock()
	left, octets := b.d.proc.n, b.d.proc.bytes
	b.d.proc.mu.Unlock()
	if left != 0 || octets != 0 {
		t.Errorf("drained queue counts %d messages, %d octets", left, octets)
	}
	a.d.Close()
	b.d.Close()
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

// responderBench is a responder and many initiators, each at an address
// and with an identity of its own, wired so that the responder's work can
// be timed alone: every message is held until the benchmark delivers it.
type responderBench struct {
	n          *network
	resp       *testHost
	inits      []*testHost
	mu         sync.Mutex
	toResp     []delivery // the initiators' messages for the responder
	toInit     []delivery // the responder's answers
	wantAnswer atomic.Int64
	answered   chan struct{}
	cpu        time.Duration // CPU time of the process during respond
}

func newResponderBench(b *testing.B, initiators int) *responderBench {
	const suite = "-e AES128-GCM16 -p PRFSHA256 -d CURVE25519"
	esp := []string{"AES128-GCM16"}
	rb := &responderBench{n: &network{hosts: map[netip.Addr]*testHost{}}}
	psk := writePSK(b, "responder benchmark")
	rb.resp = newHost(b, rb.n, "r", "192.0.2.2", "10.0.0.0/24", "10.0.0.0/8", "192.0.2.1",
		"-n any -u "+suite+" -m PSK -h "+psk, esp)
	for i := range initiators {
		addr := netip.AddrFrom4([4]byte{198, 18, byte(i >> 8), byte(i)})
		subnet := fmt.Sprintf("10.%d.%d.0/24", 1+i/250, i%250)
		rb.inits = append(rb.inits, newHost(b, rb.n, fmt.Sprintf("i%d", i), addr.String(), subnet, "10.0.0.0/24", "192.0.2.2",
			fmt.Sprintf("-n r -w %s -m PSK -h %s -r 192.0.2.2 -g fqdn:i%d.example -i 60 -I 60", suite, psk, i), esp))
		// No INITIAL_CONTACT: the responder's sweep for it runs on
		// goroutines of its own, which would weigh on the timed phases.
		h := rb.inits[i]
		h.d.markContact(h.d.remote("r"))
	}
	respAddr := rb.resp.addr
	rb.n.filter = func(m []byte, from, to netip.AddrPort) [][]byte {
		rb.mu.Lock()
		defer rb.mu.Unlock()
		if to.Addr() == respAddr {
			rb.toResp = append(rb.toResp, delivery{m, from, to})
			return nil
		}
		rb.toInit = append(rb.toInit, delivery{m, from, to})
		if rb.wantAnswer.Add(-1) == 0 {
			close(rb.answered)
		}
		return nil
	}
	return rb
}

// respond hands the initiators' messages to the responder's Enqueue and
// returns how long it took to answer them all; cpu grows by the CPU time
// the process used meanwhile.
func (rb *responderBench) respond(b *testing.B) time.Duration {
	rb.mu.Lock()
	in := rb.toResp
	rb.toResp = nil
	rb.answered = make(chan struct{})
	rb.wantAnswer.Store(int64(len(in)))
	rb.mu.Unlock()
	cpu0 := processCPU()
	start := time.Now()
	for _, m := range in {
		rb.resp.d.Enqueue(m.b, m.to, m.from)
	}
	select {
	case <-rb.answered:
	case <-time.After(60 * time.Second):
		b.Fatalf("%d of %d messages unanswered; processor %+v", rb.wantAnswer.Load(), len(in), rb.resp.d.ProcessorStats())
	}
	el := time.Since(start)
	rb.cpu += processCPU() - cpu0
	return el
}

// processCPU returns the CPU time (user and system) the process used so
// far.
func processCPU() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// deliver hands the responder's answers to the initiators, synchronously.
func (rb *responderBench) deliver() {
	rb.mu.Lock()
	out := rb.toInit
	rb.toInit = nil
	rb.mu.Unlock()
	for _, m := range out {
		rb.n.hosts[m.to.Addr()].d.HandleMessage(m.b, m.to, m.from)
	}
}

// batch runs one handshake per initiator and returns the time the
// responder spent answering IKE_SA_INIT and IKE_AUTH.
func (rb *responderBench) batch(b *testing.B) time.Duration {
	for _, h := range rb.inits {
		if err := h.d.initiate(h.d.remote("r"), h.e.SPD().Get(h.policy)); err != nil {
			b.Fatal(err)
		}
	}
	el := rb.respond(b) // IKE_SA_INIT
	rb.deliver()
	el += rb.respond(b) // IKE_AUTH
	rb.deliver()
	rb.cleanup(b)
	return el
}

// cleanup checks that every handshake completed and removes the SAs.
func (rb *responderBench) cleanup(b *testing.B) {
	if got, want := rb.resp.d.Stats().ChildSAs.Load(), rb.resp.d.Stats().Established.Load(); got != want {
		b.Fatalf("responder: %d IKE SAs established, %d Child SAs", want, got)
	}
	if n := rb.resp.d.mgr.Len(); n != len(rb.inits) {
		b.Fatalf("responder holds %d IKE SAs after a batch of %d handshakes", n, len(rb.inits))
	}
	for _, h := range append([]*testHost{rb.resp}, rb.inits...) {
		for _, k := range h.d.mgr.All() {
			sa, err := h.d.mgr.Checkout(k, netip.AddrPort{})
			if err != nil {
				continue
			}
			if !sa.established() {
				b.Fatalf("%s: IKE SA %v is %v after the handshake", h.name, sa, sa.state)
			}
			h.d.remove(sa, "benchmark")
		}
		h.e.SAD().Flush()
	}
}

// BenchmarkIKEHandshakeProcessor is BenchmarkIKEHandshake (psk-x25519-
// aesgcm) with the responder's messages going through its job processor
// (Enqueue, one worker) as they do from the sockets, the initiator's
// handled on the benchmark's goroutine: what the queue and the hand-over
// to a worker add to a handshake.
func BenchmarkIKEHandshakeProcessor(b *testing.B) {
	rb := newResponderBench(b, 1)
	rb.resp.d.cfg.Workers = 1
	rb.batch(b) // warm-up
	h := rb.inits[0]
	r, p := h.d.remote("r"), h.e.SPD().Get(h.policy)
	b.ReportAllocs()
	for b.Loop() {
		if err := h.d.initiate(r, p); err != nil {
			b.Fatal(err)
		}
		rb.respond(b)
		rb.deliver()
		rb.respond(b)
		rb.deliver()
		b.StopTimer()
		rb.cleanup(b)
		b.StartTimer()
	}
}

// BenchmarkIKEResponderWorkers measures how many IKE_SA_INIT + IKE_AUTH
// handshakes (with one Child SA each) a responder completes per second
// with its job processor running 1 worker and with 2, for batches of
// handshakes from 128 initiators, each with its own address, identity and
// Child SA. Only the responder's work is timed: from handing it a batch
// of requests (Enqueue) to its last answer; the initiators run between
// the timed phases. The two configurations alternate batch by batch, so
// that other load on the machine weighs on both alike, and the speedup
// is reported as a ratio of the two. So is the machine's: the same
// batches alternate with a fixed number of X25519 key agreements (the
// handshake's main cost) on 1 and on 2 goroutines, which says how much
// two CPUs were worth to any program while the benchmark ran
// ("cpu-speedup"; 2 on an idle 2-core machine).
func BenchmarkIKEResponderWorkers(b *testing.B) {
	const initiators = 128
	benches := make([]*responderBench, 2)
	for i := range benches {
		benches[i] = newResponderBench(b, initiators)
		benches[i].resp.d.cfg.Workers = i + 1
		benches[i].batch(b) // warm-up
	}
	var el, ref [2]time.Duration
	done := 0
	for b.Loop() {
		for i, rb := range benches {
			el[i] += rb.batch(b)
			ref[i] += x25519Parallel(b, 2*initiators, i+1)
		}
		done += initiators
	}
	rate1, rate2 := float64(done)/el[0].Seconds(), float64(done)/el[1].Seconds()
	b.ReportMetric(rate1, "handshakes/s-1worker")
	b.ReportMetric(rate2, "handshakes/s-2workers")
	b.ReportMetric(rate2/rate1, "speedup")
	b.ReportMetric(ref[0].Seconds()/ref[1].Seconds(), "cpu-speedup")
	// The CPUs the process had while the responder worked: at most 1 and
	// 2 on an idle machine; what the machine gave is the limit.
	cpus1, cpus2 := benches[0].cpu.Seconds()/el[0].Seconds(), benches[1].cpu.Seconds()/el[1].Seconds()
	b.ReportMetric(cpus1, "cpus-1worker")
	b.ReportMetric(cpus2, "cpus-2workers")
	// Handshakes per CPU-second with 2 workers over those with 1: 1 when
	// the second worker costs nothing in locks or waiting, so that the
	// speedup is what the CPUs allow.
	b.ReportMetric((rate2/cpus2)/(rate1/cpus1), "per-cpu-ratio")
}

// x25519Parallel does n X25519 key agreements on g goroutines and returns
// how long they took.
func x25519Parallel(b *testing.B, n, g int) time.Duration {
	start := time.Now()
	var wg sync.WaitGroup
	for range g {
		wg.Go(func() {
			k, err := ecdh.X25519().GenerateKey(rand.Reader)
			if err != nil {
				b.Error(err)
				return
			}
			for range n / g {
				if _, err := k.ECDH(k.PublicKey()); err != nil {
					b.Error(err)
					return
				}
			}
		})
	}
	wg.Wait()
	return time.Since(start)
}

// FuzzEnqueue feeds arbitrary datagrams to a daemon's Enqueue: none
// panics, each is either refused for a counted reason or handled by a
// worker, and one too short for an IKE header is refused as such.
func FuzzEnqueue(f *testing.F) {
	f.Add([]byte{})
	f.Add([]byte("short"))
	f.Add(initHeader(1))
	f.Add(encrypted(f, SAKey{1, 2}, message.Informational, 0, message.FlagInitiator))
	f.Add(encrypted(f, SAKey{1, 0}, message.IKESAInit, 0, message.FlagResponse))
	n := &network{hosts: map[netip.Addr]*testHost{}}
	h := newHost(f, n, "b", "192.0.2.2", "10.2.0.0/24", "10.1.0.0/24", "192.0.2.1",
		"-n a -u "+fastSuite+" -m PSK -h "+writePSK(f, "fuzz"), []string{"AES128-GCM16"})
	n.filter = func([]byte, netip.AddrPort, netip.AddrPort) [][]byte { return nil }
	h.d.cfg.Workers = 2
	local, remote := netip.MustParseAddrPort("192.0.2.2:500"), netip.MustParseAddrPort("192.0.2.1:500")
	st := h.d.ProcessorStats()
	var calls uint64
	f.Fuzz(func(t *testing.T, b []byte) {
		noHeader := st.NoHeader.Load()
		h.d.Enqueue(b, local, remote)
		calls++
		if len(b) < message.HeaderLen && st.NoHeader.Load() != noHeader+1 {
			t.Errorf("%d octets: not counted as without an IKE header", len(b))
		}
		waitFor(t, "the queue to drain", func() bool { return st.Processed.Load() == st.Queued.Load() })
		refused := st.NoHeader.Load() + st.InitShed.Load() + st.QueueFull.Load() + st.Stopped.Load() + st.Closed.Load()
		if got := st.Queued.Load() + refused; got != calls {
			t.Errorf("%d messages accounted for after %d calls: %+v", got, calls, st)
		}
	})
}
