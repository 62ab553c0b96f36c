package sad

import (
	"fmt"
	"testing"
	"time"
)

// reportBaseline runs baseline for as many iterations as the benchmark ran
// and reports the benchmark's time as a multiple of it ("x-baseline"): the
// cost above the floor of the same work done the plainest way.
func reportBaseline(b *testing.B, baseline func(n int)) {
	b.StopTimer()
	n := b.N
	start := time.Now()
	baseline(n)
	if base := time.Since(start); base > 0 {
		b.ReportMetric(float64(b.Elapsed())/float64(base), "x-baseline")
	}
}

// childSAs returns the inbound and outbound SAs of n Child SAs from the
// k'th on: policy k+i, inbound SPI 0x100000+i scattered by a multiplier as
// allocated SPIs are, outbound SPI beside it.
func childSAs(b *testing.B, k, n int) []*SA {
	sas := make([]*SA, 0, 2*n)
	for i := k; i < k+n; i++ {
		spi := uint32(0x100000 + uint32(i)*2654435761%0xefffffff)
		in := testConfig(spi)
		in.PolicyID = uint32(i + 1)
		out := outbound(spi)
		out.PolicyID = in.PolicyID
		for _, c := range []Config{in, out} {
			sa, err := New(c)
			if err != nil {
				b.Fatal(err)
			}
			sas = append(sas, sa)
		}
	}
	return sas
}

// BenchmarkSADAdd measures one SA write while a DB holds n Child SAs (2n
// SAs): each op adds one SA of a new Child SA and deletes one of the
// oldest, so the DB keeps its size. The SAs are made outside the timer.
// The larger sizes report their time as a multiple of the 1,000-Child SA
// time of the same run (x-held-1000): a write of constant cost stays near
// 1.
func BenchmarkSADAdd(b *testing.B) {
	var base float64
	for _, n := range []int{1000, 10_000, 100_000} {
		b.Run(fmt.Sprintf("held-%d", n), func(b *testing.B) {
			db := NewDB()
			held := childSAs(b, 0, n)
			for _, sa := range held {
				if err := db.Add(sa); err != nil {
					b.Fatal(err)
				}
			}
			const batch = 4096
			next := n
			var fresh []*SA
			b.ReportAllocs()
			for i := 0; b.Loop(); i++ {
				if i%batch == 0 {
					b.StopTimer()
					fresh = childSAs(b, next, batch/2)
					next += batch / 2
					b.StartTimer()
				}
				if err := db.Add(fresh[i%batch]); err != nil {
					b.Fatal(err)
				}
				if err := db.DeleteSA(held[i%len(held)]); err != nil {
					b.Fatal(err)
				}
				held[i%len(held)] = fresh[i%batch]
			}
			ns := float64(b.Elapsed().Nanoseconds()) / float64(b.N)
			if n == 1000 {
				base = ns
			}
			if base > 0 {
				b.ReportMetric(ns/base, "x-held-1000")
			}
		})
	}
}

// BenchmarkSADFill adds the SAs of n Child SAs (2n SAs) to an empty DB;
// each op is the whole fill, also reported per SA (ns/add).
func BenchmarkSADFill(b *testing.B) {
	for _, n := range []int{5000, 50_000} {
		b.Run(fmt.Sprintf("sas-%d", 2*n), func(b *testing.B) {
			for b.Loop() {
				b.StopTimer()
				sas := childSAs(b, 0, n)
				db := NewDB()
				b.StartTimer()
				for _, sa := range sas {
					if err := db.Add(sa); err != nil {
						b.Fatal(err)
					}
				}
			}
			b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N)/float64(2*n), "ns/add")
		})
	}
}
