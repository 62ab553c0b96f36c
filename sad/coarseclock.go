package sad

import (
	"sync"
	"sync/atomic"
	"time"
)

// coarseResolution is how stale LastUsed may be under the system clock.
const coarseResolution = 100 * time.Millisecond

// coarse is a process-wide monotonic clock, read per packet for LastUsed.
// Reading the real clock costs 20-50 ns on virtual machines, as much as the
// rest of the SA's per-packet work; one goroutine ticking ten times a
// second costs nothing measurable.
var coarse struct {
	once sync.Once
	now  atomic.Int64 // time.Since(timeBase)
}

// coarseSinceBase returns time.Since(timeBase) to within coarseResolution.
func coarseSinceBase() time.Duration {
	coarse.once.Do(func() {
		coarse.now.Store(int64(time.Since(timeBase)))
		go func() {
			for range time.Tick(coarseResolution) {
				coarse.now.Store(int64(time.Since(timeBase)))
			}
		}()
	})
	return time.Duration(coarse.now.Load())
}
