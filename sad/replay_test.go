package sad

import (
	"errors"
	"math"
	"math/rand/v2"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/sabre-ipsec/sabre/xe"
)

func mustWindow(t testing.TB, size int, esn bool) *ReplayWindow {
	t.Helper()
	w, err := NewReplayWindow(size, esn)
	if err != nil {
		t.Fatal(err)
	}
	return w
}

// accept runs Check and Commit as the engine does for an authentic packet.
func accept(w *ReplayWindow, seqLow uint32) (uint64, error) {
	seq, err := w.Check(seqLow)
	if err != nil {
		return seq, err
	}
	return seq, w.Commit(seq)
}

func wantBadSeq(t *testing.T, err error, what string) {
	t.Helper()
	if !errors.Is(err, xe.BadSequenceNumber) {
		t.Fatalf("%s: got %v, want XE_BAD_SEQUENCE_NUMBER", what, err)
	}
}

func TestReplayWindowSize(t *testing.T) {
	for _, tc := range []struct{ in, want int }{
		{0, 0}, {1, 64}, {32, 64}, {64, 64}, {65, 128}, {1000, 1024}, {1024, 1024}, {4096, 4096}, {MaxReplayWindow, MaxReplayWindow},
	} {
		if got := mustWindow(t, tc.in, false).Size(); got != tc.want {
			t.Errorf("NewReplayWindow(%d).Size() = %d, want %d", tc.in, got, tc.want)
		}
	}
	for _, bad := range []int{-1, MaxReplayWindow + 1} {
		if _, err := NewReplayWindow(bad, false); !errors.Is(err, xe.BadParam) {
			t.Errorf("NewReplayWindow(%d): got %v, want XE_BAD_PARAM", bad, err)
		}
	}
}

func TestReplayInOrderDuplicateTooOld(t *testing.T) {
	for _, size := range []int{32, 64, 1024, 4096} {
		w := mustWindow(t, size, false)
		W := uint32(w.Size())
		last := 3*W + 17
		for s := uint32(1); s <= last; s++ {
			if got, err := accept(w, s); err != nil || got != uint64(s) {
				t.Fatalf("size %d: accept(%d) = %d, %v", size, s, got, err)
			}
		}
		if w.Highest() != uint64(last) {
			t.Fatalf("size %d: Highest = %d, want %d", size, w.Highest(), last)
		}
		// Every number in the window is a duplicate now, the one below too old.
		for s := last - W + 1; s <= last; s++ {
			_, err := w.Check(s)
			wantBadSeq(t, err, "duplicate")
			wantBadSeq(t, w.Commit(uint64(s)), "duplicate commit")
		}
		_, err := w.Check(last - W)
		wantBadSeq(t, err, "too old")
		_, err = w.Check(1)
		wantBadSeq(t, err, "too old")
	}
}

func TestReplayOutOfOrder(t *testing.T) {
	for _, size := range []int{32, 64, 1024, 4096} {
		w := mustWindow(t, size, false)
		W := uint32(w.Size())
		top := 5 * W
		if _, err := accept(w, top); err != nil {
			t.Fatal(err)
		}
		// Everything within the window below top arrives late, in a
		// shuffled order, once.
		late := make([]uint32, 0, W-1)
		for s := top - W + 1; s < top; s++ {
			late = append(late, s)
		}
		rand.Shuffle(len(late), func(i, j int) { late[i], late[j] = late[j], late[i] })
		for _, s := range late {
			if _, err := accept(w, s); err != nil {
				t.Fatalf("size %d: late %d (top %d): %v", size, s, top, err)
			}
		}
		for _, s := range late {
			_, err := w.Check(s)
			wantBadSeq(t, err, "late duplicate")
		}
		_, err := w.Check(top - W)
		wantBadSeq(t, err, "just below the window")
		if w.Highest() != uint64(top) {
			t.Fatalf("late packets moved the window: Highest %d", w.Highest())
		}
	}
}

func TestReplayJumps(t *testing.T) {
	w := mustWindow(t, 64, false) // 2 blocks of 64 bits in the ring
	for s := uint32(1); s <= 128; s++ {
		if _, err := accept(w, s); err != nil {
			t.Fatal(err)
		}
	}
	// A jump of exactly the ring's length lands on the ring slots that hold
	// bits of 1..127: they must read as unseen.
	if _, err := accept(w, 256+1); err != nil {
		t.Fatal(err)
	}
	for s := uint32(256 + 1 - 63); s < 256+1; s++ {
		if _, err := w.Check(s); err != nil {
			t.Fatalf("after jump, %d: %v", s, err)
		}
	}
	// Jumps far beyond the ring.
	for _, s := range []uint32{100_000, 1 << 20, math.MaxUint32 - 1} {
		if _, err := accept(w, s); err != nil {
			t.Fatalf("jump to %d: %v", s, err)
		}
		for d := uint32(1); d < 64; d++ {
			if _, err := w.Check(s - d); err != nil {
				t.Fatalf("after jump to %d, %d: %v", s, s-d, err)
			}
		}
		_, err := w.Check(s - 64)
		wantBadSeq(t, err, "below the window after a jump")
	}
	if _, err := accept(w, math.MaxUint32); err != nil {
		t.Fatal(err)
	}
}

func TestReplayZero(t *testing.T) {
	for _, size := range []int{0, 64} {
		w := mustWindow(t, size, false)
		_, err := w.Check(0)
		wantBadSeq(t, err, "sequence number 0")
		wantBadSeq(t, w.Commit(0), "commit 0")
		wantBadSeq(t, w.Commit(1<<32), "commit beyond 32 bits without ESN")
	}
}

func TestReplayCheckingOff(t *testing.T) {
	w := mustWindow(t, 0, false)
	for _, s := range []uint32{5, 5, 1, 100, 3, 100} {
		if _, err := accept(w, s); err != nil {
			t.Fatalf("checking off: %d: %v", s, err)
		}
	}
	if w.Highest() != 100 {
		t.Fatalf("Highest = %d, want 100: the receiver must track it even with checking off", w.Highest())
	}
}

// TestReplayESNInference walks RFC 4303 Appendix A2.2's two cases.
func TestReplayESNInference(t *testing.T) {
	const W = 64
	const b32 = uint64(1) << 32
	type step struct {
		seqLow uint32
		want   uint64 // inferred; 0 = Check must fail
		commit bool
	}
	for _, tc := range []struct {
		name  string
		size  int
		start uint64 // committed first
		steps []step
	}{
		{"start of SA", W, 0, []step{
			{1, 1, true},
			{0, 0, false},                           // 0 is never sent
			{math.MaxUint32, math.MaxUint32, false}, // no subspace below 0: a jump ahead in subspace 0
			{2, 2, true},
		}},
		{"case A: window within subspace 0, near its top", W, b32 - 10, []step{
			{0xFFFFFFF0, 0xFFFFFFF0, true},                      // in the window: Th
			{5, b32 + 5, false},                                 // below Bl: the next subspace
			{0, b32, false},                                     // low half 0 of subspace 1 is valid with ESN
			{uint32(b32 - 10 - W + 1), b32 - 10 - W + 1, false}, // Bl itself: Th
			{uint32(b32 - 10 - W), 2*b32 - 10 - W, false},       // just below Bl: Th+1
		}},
		{"case B: window spans the boundary", W, b32 + 5, []step{
			{0xFFFFFFF0, 0xFFFFFFF0, true}, // at or above Bl: Th-1, in the window
			{3, b32 + 3, true},             // below Bl: Th
			{0, b32, true},
			{6, b32 + 6, true},
			{0xFFFFFF00, b32 + 0xFFFFFF00, false}, // below Bl: read as ahead in subspace 1
		}},
		{"case B: duplicate across the boundary", W, b32 + 5, []step{
			{0xFFFFFFF0, 0xFFFFFFF0, true},
			{0xFFFFFFF0, 0, false}, // now a duplicate
		}},
		{"64-bit space exhausted", W, math.MaxUint64 - 10, []step{
			{math.MaxUint32 - 3, math.MaxUint64 - 3, true},
			{5, 0, false}, // would be subspace 2^32
		}},
		{"checking off: nearest value", 0, b32 - 10, []step{
			{5, b32 + 5, false},
			{0x7FFFFFF7, 0x7FFFFFF7, true}, // Bl = Tl - 2^31 + 1: still subspace 0
			{0x7FFFFFF6, b32 + 0x7FFFFFF6, false},
			{0xFFFFFFF6, 0xFFFFFFF6, true}, // duplicates pass with checking off
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			w := mustWindow(t, tc.size, true)
			if tc.start != 0 {
				w.mark(tc.start)
			}
			for _, st := range tc.steps {
				seq, err := w.Check(st.seqLow)
				if st.want == 0 {
					wantBadSeq(t, err, "Check")
					continue
				}
				if err != nil || seq != st.want {
					t.Fatalf("Check(%#x) = %#x, %v; want %#x", st.seqLow, seq, err, st.want)
				}
				if st.commit {
					if err := w.Commit(seq); err != nil {
						t.Fatalf("Commit(%#x): %v", seq, err)
					}
				}
			}
		})
	}
}

// TestReplayESNAcrossBoundary sends a reordered stream across the 2^32
// boundary carrying only low halves; every number must be inferred right.
func TestReplayESNAcrossBoundary(t *testing.T) {
	for _, size := range []int{0, 32, 64, 1024, 4096} {
		w := mustWindow(t, size, true)
		start := uint64(1)<<32 - 3000
		w.mark(start)
		var seqs []uint64
		for s := start + 1; s < start+6000; s++ {
			seqs = append(seqs, s)
		}
		// Reorder by swapping neighbours, within any window.
		for i := 0; i+1 < len(seqs); i += 2 {
			if rand.IntN(2) == 0 {
				seqs[i], seqs[i+1] = seqs[i+1], seqs[i]
			}
		}
		for _, s := range seqs {
			got, err := accept(w, uint32(s))
			if err != nil || got != s {
				t.Fatalf("size %d: low %#x: got %#x, %v; want %#x", size, uint32(s), got, err, s)
			}
		}
	}
}

// model is the obvious replay window: a set of every number seen.
type model struct {
	size, last uint64
	seen       map[uint64]bool
}

func (m *model) ok(seq uint64) bool {
	if seq == 0 {
		return false
	}
	if m.size == 0 || seq > m.last {
		return true
	}
	return m.last-seq < m.size && !m.seen[seq]
}

func (m *model) add(seq uint64) {
	m.seen[seq] = true
	m.last = max(m.last, seq)
}

// checkAgainstModel feeds w and the model the same numbers (deltas from the
// highest) and compares their verdicts.
func checkAgainstModel(t *testing.T, size int, deltas []int64) {
	w := mustWindow(t, size, false)
	m := &model{size: uint64(w.Size()), seen: map[uint64]bool{}}
	for _, d := range deltas {
		s := int64(m.last) + d
		if s < 0 || s > math.MaxUint32 {
			continue
		}
		seq := uint64(s)
		_, err := accept(w, uint32(seq))
		if want := m.ok(seq); (err == nil) != want {
			t.Fatalf("size %d: seq %d (highest %d): err %v, model accepts: %v", size, seq, m.last, err, want)
		}
		if err == nil {
			m.add(seq)
		}
	}
}

func TestReplayMatchesModel(t *testing.T) {
	for _, size := range []int{0, 32, 64, 128, 1024, 4096} {
		deltas := make([]int64, 20000)
		for i := range deltas {
			switch rand.IntN(10) {
			case 0:
				deltas[i] = rand.Int64N(3 * int64(size+64)) // jump
			case 1:
				deltas[i] = -rand.Int64N(2 * int64(size+64)) // old or too old
			default:
				deltas[i] = rand.Int64N(8) - 6 // mostly in order, some late
			}
		}
		checkAgainstModel(t, size, deltas)
	}
}

func FuzzReplayWindow(f *testing.F) {
	f.Add(uint16(64), []byte{1, 2, 3, 0x80, 0xff, 0x10})
	f.Add(uint16(1024), []byte{0x40, 0x40, 0xc0, 0x01})
	f.Fuzz(func(t *testing.T, size uint16, ops []byte) {
		s := int(size) % 4200
		deltas := make([]int64, len(ops))
		for i, op := range ops {
			// Signed deltas scaled to reach past the window both ways.
			deltas[i] = int64(int8(op)) * int64(s/64+1)
		}
		checkAgainstModel(t, s, deltas)
	})
}

func TestReplayConcurrent(t *testing.T) {
	for _, esn := range []bool{false, true} {
		w := mustWindow(t, 1024, esn)
		const n = 2000
		var passed atomic.Int64
		var wg sync.WaitGroup
		for g := 0; g < 16; g++ {
			wg.Add(1)
			go func() {
				defer wg.Done()
				// Every goroutine receives a copy of every packet, the
				// copies racing through Check and Commit.
				for s := uint32(1); s <= n; s++ {
					// With ESN, a copy lagging a window behind is
					// inferred into the next 2^32 subspace; the ICV,
					// which covers the high half, would reject it.
					if seq, err := w.Check(s); err == nil && seq == uint64(s) && w.Commit(seq) == nil {
						passed.Add(1)
					}
				}
			}()
		}
		wg.Wait()
		if passed.Load() != n {
			t.Fatalf("esn %v: %d packets passed, want %d: duplicates got through", esn, passed.Load(), n)
		}
	}
}

func BenchmarkReplay(b *testing.B) {
	for _, size := range []int{64, 1024} {
		b.Run(map[int]string{64: "w64", 1024: "w1024"}[size], func(b *testing.B) {
			w := mustWindow(b, size, true)
			b.ReportAllocs()
			seq := uint32(0)
			for b.Loop() {
				seq++
				s, err := w.Check(seq)
				if err != nil {
					b.Fatal(err)
				}
				if err := w.Commit(s); err != nil {
					b.Fatal(err)
				}
			}
			// Baseline: the two uncontended lock round trips alone.
			reportBaseline(b, func(n int) {
				for range n {
					w.mu.Lock()
					w.mu.Unlock()
					w.mu.Lock()
					w.mu.Unlock()
				}
			})
		})
	}
}
