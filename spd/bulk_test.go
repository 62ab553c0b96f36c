package spd

import (
	"encoding/binary"
	"fmt"
	"math/rand/v2"
	"net/netip"
	"syscall"
	"testing"
	"time"

	"github.com/sabre-ipsec/sabre/classify"
)

// randomPolicies returns n bypass and drop policies between random /24../32
// prefixes, some with ports, some with one side any, and an any/any policy
// at the lowest priority.
func randomPolicies(rng *rand.Rand, n int) []Policy {
	addr := func() netip.Addr {
		var b [4]byte
		binary.BigEndian.PutUint32(b[:], rng.Uint32())
		return netip.AddrFrom4(b)
	}
	sel := func() classify.Selector {
		if rng.IntN(8) == 0 {
			return classify.AnyIPv4()
		}
		s, _ := classify.SelectorFromPrefix(netip.PrefixFrom(addr(), 24+rng.IntN(9)))
		if rng.IntN(4) == 0 {
			port := uint16(1 + rng.IntN(65535))
			s, _ = s.WithPorts(port, port)
		}
		return s
	}
	ps := make([]Policy, 0, n)
	type traffic struct {
		prio, proto uint8
		src, dst    classify.Selector
	}
	seen := map[traffic]bool{}
	for len(ps) < n-1 {
		p := Policy{Action: Action(1 + rng.IntN(2)), Priority: uint8(1 + rng.IntN(6)), Proto: []uint8{0, 6, 17}[rng.IntN(3)], Src: sel(), Dst: sel()}
		k := traffic{p.Priority, p.Proto, p.Src, p.Dst}
		if !seen[k] { // the same traffic twice is refused
			seen[k] = true
			ps = append(ps, p)
		}
	}
	return append(ps, Policy{Action: Bypass, Priority: PriorityLowest, Src: classify.AnyIPv4(), Dst: classify.AnyIPv4()})
}

// TestAddBatchLarge adds 100,000 policies in one batch and checks lookups
// in both directions against the policies' own rules.
func TestAddBatchLarge(t *testing.T) {
	n := 100_000
	if testing.Short() {
		n = 10_000
	}
	rng := rand.New(rand.NewPCG(1, 2))
	ps := randomPolicies(rng, n)
	db := NewDB()
	start := time.Now()
	if _, err := db.AddBatch(ps); err != nil {
		t.Fatal(err)
	}
	t.Logf("AddBatch of %d policies: %v", n, time.Since(start))
	list := db.List()
	for i := range 300 {
		p := list[rng.IntN(len(list))]
		pkt := &classify.Packet{Src: p.Src.From(), Dst: p.Dst.To(), Proto: p.Proto, SrcPort: 1000, DstPort: 2000}
		if pkt.Proto == 0 {
			pkt.Proto = 6
		}
		if lo, _ := p.Src.Ports(); lo != 0 {
			pkt.SrcPort = lo
		}
		if lo, _ := p.Dst.Ports(); lo != 0 {
			pkt.DstPort = lo
		}
		for _, dir := range []Direction{Outbound, Inbound} {
			q := pkt
			if dir == Inbound {
				q = &classify.Packet{Src: pkt.Dst, Dst: pkt.Src, Proto: pkt.Proto, SrcPort: pkt.DstPort, DstPort: pkt.SrcPort}
			}
			var want *Policy
			for _, c := range list { // by priority, then ID: the first match wins
				if r := c.Rule(dir); r.Match(q) {
					want = c
					break
				}
			}
			if got := db.Lookup(dir, q); got != want {
				t.Fatalf("packet %d %v %v: got %v, want %v", i, dir, q, got, want)
			}
		}
	}
}

func BenchmarkLookup(b *testing.B) {
	for _, n := range []int{10, 100_000} {
		rng := rand.New(rand.NewPCG(3, 4))
		db := NewDB()
		if _, err := db.AddBatch(randomPolicies(rng, n)); err != nil {
			b.Fatal(err)
		}
		list := db.List()
		pkts := make([]classify.Packet, 4096)
		for i := range pkts {
			p := list[rng.IntN(len(list))]
			pkts[i] = classify.Packet{Src: p.Src.To(), Dst: p.Dst.From(), Proto: 6, SrcPort: uint16(rng.IntN(65536)), DstPort: 80}
		}
		b.Run(fmt.Sprintf("policies-%d", n), func(b *testing.B) {
			b.ReportAllocs()
			i := 0
			for b.Loop() {
				db.Lookup(Direction(1+i&1), &pkts[i%len(pkts)])
				i++
			}
		})
	}
}

func BenchmarkAddBatch100k(b *testing.B) {
	ps := randomPolicies(rand.New(rand.NewPCG(5, 6)), 100_000)
	for b.Loop() {
		if _, err := NewDB().AddBatch(ps); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkPolicyAdd measures one add and one delete of a tunnel's policy
// while the DB holds n random policies (randomPolicies: prefixes, hosts,
// ports, wide and any/any ones): each op adds a new policy between two
// hosts, as a responder adds one per tunnel, and deletes one added before,
// so the DB keeps its size. Compaction runs in the background, as in use;
// every 64 ops the timer stops until it has caught up (BenchmarkPolicyChurn
// measures writes that never wait). The larger sizes report their time as
// a multiple of the 10-policy time of the same run (x-held-10).
func BenchmarkPolicyAdd(b *testing.B) {
	benchmarkPolicyWrites(b, 64)
}

// BenchmarkPolicyChurn is BenchmarkPolicyAdd without pauses: writes as fast
// as they go, the compaction in the background falling behind at 100,000
// policies and holding writers back.
func BenchmarkPolicyChurn(b *testing.B) {
	benchmarkPolicyWrites(b, 0)
}

func benchmarkPolicyWrites(b *testing.B, pause int) {
	var base float64
	for _, n := range []int{10, 1000, 100_000} {
		b.Run(fmt.Sprintf("held-%d", n), func(b *testing.B) {
			rng := rand.New(rand.NewPCG(7, uint64(n)))
			db := NewDB()
			if _, err := db.AddBatch(randomPolicies(rng, n)); err != nil {
				b.Fatal(err)
			}
			tunnel := func(i int) Policy {
				src, _ := classify.SelectorFromAddr(netip.AddrFrom4([4]byte{192, 168, byte(i >> 8), byte(i)}))
				dst, _ := classify.SelectorFromAddr(netip.AddrFrom4([4]byte{172, 16, byte(i >> 8), byte(i)}))
				return Policy{Action: Bypass, Priority: PriorityHigh, Src: src, Dst: dst}
			}
			// A window of 256 tunnels: each op adds the newest and deletes the oldest.
			var window []uint32
			for i := range 256 {
				id, err := db.Add(tunnel(i))
				if err != nil {
					b.Fatal(err)
				}
				window = append(window, id)
			}
			db.WaitCompacted()
			b.ReportAllocs()
			cpu0 := processCPU()
			for i := 0; b.Loop(); i++ {
				if pause > 0 && i%pause == 0 {
					b.StopTimer()
					db.WaitCompacted()
					b.StartTimer()
				}
				id, err := db.Add(tunnel(256 + i%60000))
				if err != nil {
					b.Fatal(err)
				}
				if err := db.Delete(window[i%256]); err != nil {
					b.Fatal(err)
				}
				window[i%256] = id
			}
			b.StopTimer()
			db.WaitCompacted()
			// The CPU of the whole process, compactions and GC included,
			// and not inflated by waiting for a core on a busy machine.
			b.ReportMetric(float64((processCPU()-cpu0).Nanoseconds())/float64(b.N), "cpu-ns/op")
			ns := float64(b.Elapsed().Nanoseconds()) / float64(b.N)
			if n == 10 {
				base = ns
			}
			if base > 0 {
				b.ReportMetric(ns/base, "x-held-10")
			}
		})
	}
}

// BenchmarkPolicyDeleteWide measures the worst write: deleting an any/any
// policy of high priority, and adding it back, while the DB holds n random
// policies. Its fallback tree (see classify.Set) holds most of the DB, so
// the delete costs about a rebuild of the trees; the compaction after each
// op is outside the timer.
func BenchmarkPolicyDeleteWide(b *testing.B) {
	for _, n := range []int{1000, 100_000} {
		b.Run(fmt.Sprintf("held-%d", n), func(b *testing.B) {
			db := NewDB()
			if _, err := db.AddBatch(randomPolicies(rand.New(rand.NewPCG(7, uint64(n))), n)); err != nil {
				b.Fatal(err)
			}
			wide := Policy{Action: Drop, Priority: PriorityHigh, Proto: 132, Src: classify.AnyIPv4(), Dst: classify.AnyIPv4()}
			id, err := db.Add(wide)
			if err != nil {
				b.Fatal(err)
			}
			for b.Loop() {
				b.StopTimer()
				db.WaitCompacted()
				b.StartTimer()
				if err := db.Delete(id); err != nil {
					b.Fatal(err)
				}
				if id, err = db.Add(wide); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

// processCPU returns the user and system CPU time of the process so far.
func processCPU() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}
