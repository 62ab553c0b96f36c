package sad

import (
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
