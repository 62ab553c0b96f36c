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
