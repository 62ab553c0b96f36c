package classify

import (
	"fmt"
	"math/rand/v2"
	"runtime"
	"testing"
	"time"
)

// BenchmarkLookup measures Lookup of random traffic against random rule
// sets of the realistic mix (genRules), IPv4. The traffic is a fixed set of
// packets cycled through: one third uniform over the networks the rules
// use, two thirds at or beside the edges of random rules. Each sub-benchmark
// reports its time as a multiple of the 10-policy time of the same run
// (x-policies-10).
func BenchmarkLookup(b *testing.B) {
	var base float64
	for _, n := range []int{10, 1000, 100_000} {
		rng := rand.New(rand.NewPCG(42, uint64(n)))
		rules := genRules(rng, n, false)
		start := time.Now()
		tree, err := Build(rules)
		if err != nil {
			b.Fatal(err)
		}
		build := time.Since(start)
		g := &gen{rng: rng, nets: (&gen{rng: rng}).poolFrom(rules)}
		pkts := genPackets(g, rules, benchPackets)
		runtime.GC() // not the collection of the build's garbage
		b.Run(fmt.Sprintf("policies-%d", n), func(b *testing.B) {
			b.ReportAllocs()
			matched := 0
			i := 0
			for b.Loop() {
				if _, ok := tree.Lookup(&pkts[i%len(pkts)]); ok {
					matched++
				}
				i++
			}
			ns := float64(b.Elapsed().Nanoseconds()) / float64(b.N)
			if n == 10 {
				base = ns
			}
			if base > 0 {
				b.ReportMetric(ns/base, "x-policies-10")
			}
			b.ReportMetric(float64(build.Milliseconds()), "build-ms")
			b.ReportMetric(float64(tree.Stats().Bytes)/(1<<20), "tree-MiB")
		})
	}
}

// benchPackets is the number of distinct packets a benchmark cycles through.
const benchPackets = 1 << 16

// BenchmarkSetLookup measures Set.Lookup on the traffic of BenchmarkLookup
// against 100,000 rules: compacted, and with 256 pending changes (128 rules
// added, 128 deleted). Each reports its time as a multiple of Tree.Lookup
// on the same rules and packets, measured in the same run (x-tree).
func BenchmarkSetLookup(b *testing.B) {
	const n = 100_000
	rng := rand.New(rand.NewPCG(42, n))
	rules := genRules(rng, n, false)
	for i := range rules {
		rules[i].ID = uint32(i + 1)
	}
	g := &gen{rng: rng, nets: (&gen{rng: rng}).poolFrom(rules)}
	pkts := genPackets(g, rules, benchPackets)
	held := rules[:n-128]
	tree, err := Build(held)
	if err != nil {
		b.Fatal(err)
	}
	compacted, err := NewSet(held, ids(held))
	if err != nil {
		b.Fatal(err)
	}
	pending, _ := compacted.Without(ids(held[:128])...)
	if pending, err = pending.With(rules[n-128:], ids(rules[n-128:])); err != nil {
		b.Fatal(err)
	}
	runtime.GC()
	for _, tc := range []struct {
		name string
		s    *Set[uint32]
	}{{"compacted", compacted}, {"pending-256", pending}} {
		b.Run(tc.name, func(b *testing.B) {
			b.ReportAllocs()
			// Tree.Lookup runs in blocks between the Set's, outside the
			// timer, so that both see the same load on a busy machine.
			const block = 1024
			var treeTime time.Duration
			treeOps := 0
			i := 0
			for b.Loop() {
				if i%block == 0 {
					b.StopTimer()
					start := time.Now()
					for j := i; j < i+block; j++ {
						tree.Lookup(&pkts[j%len(pkts)])
					}
					treeTime += time.Since(start)
					treeOps += block
					b.StartTimer()
				}
				tc.s.Lookup(&pkts[i%len(pkts)])
				i++
			}
			ns := float64(b.Elapsed().Nanoseconds()) / float64(b.N)
			b.ReportMetric(ns/(float64(treeTime.Nanoseconds())/float64(treeOps)), "x-tree")
		})
	}
}
