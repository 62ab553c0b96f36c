package sad

import (
	"math"
	"sync"

	"github.com/sabre-ipsec/sabre/xe"
)

// MaxReplayWindow is the largest anti-replay window, in packets.
const MaxReplayWindow = 1 << 16

// esnInferenceWindow is the window used to infer the high half of an
// extended sequence number when anti-replay checking is off: half the 32-bit
// space, so the low half is read as the nearest value to the highest one seen.
const esnInferenceWindow = 1 << 31

// ReplayWindow is an inbound SA's anti-replay window (RFC 4303 §3.4.3,
// RFC 4302 §3.4.3) with extended sequence number inference (RFC 4303
// Appendix A). Its bitmap is a ring of 64-bit blocks that is never shifted
// (RFC 6479): moving the window forward only zeroes the blocks it enters.
//
// The packet engine calls Check before verifying the ICV and Commit after;
// the window moves only for authenticated packets. Both are safe for
// concurrent use: Commit re-checks under the lock, so of two copies of a
// packet verified in parallel only one passes.
type ReplayWindow struct {
	mu     sync.Mutex
	last   uint64   // highest authenticated sequence number (T); 0 = none yet
	size   uint64   // window in packets, a multiple of 64; 0 = checking off
	inferW uint32   // window for ESN inference (the W of Appendix A)
	esn    bool     // 64-bit sequence numbers of which the packet carries the low half
	blocks []uint64 // ring of bitmap blocks; bit seq%64 of block (seq/64)%len
}

// NewReplayWindow returns a window of size packets, rounded up to a multiple
// of 64. Size 0 turns anti-replay checking off: Check then accepts every
// sequence number but 0, and Commit still tracks the highest one so that
// extended sequence numbers can be inferred (RFC 4303 §2.2.1).
func NewReplayWindow(size int, esn bool) (*ReplayWindow, error) {
	if size < 0 || size > MaxReplayWindow {
		return nil, xe.Errorf(xe.BadParam, "replay window %d: not in 0..%d", size, MaxReplayWindow)
	}
	w := &ReplayWindow{esn: esn, inferW: esnInferenceWindow}
	if size > 0 {
		w.size = (uint64(size) + 63) &^ 63
		w.inferW = uint32(w.size)
		// One block more than the window holds, so the block being filled
		// never overlaps the oldest one still in the window.
		n := 1
		for uint64(n) < w.size/64+1 {
			n <<= 1
		}
		w.blocks = make([]uint64, n)
	}
	return w, nil
}

// Size returns the window size in packets; 0 means checking is off.
func (w *ReplayWindow) Size() int { return int(w.size) }

// Highest returns the highest sequence number committed so far.
func (w *ReplayWindow) Highest() uint64 {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.last
}

// Check infers the full sequence number of a received packet from the low
// 32 bits it carries and checks it against the window: it fails with
// xe.BadSequenceNumber if the number is 0, older than the window, or already
// received. Check does not change the window.
func (w *ReplayWindow) Check(seqLow uint32) (uint64, error) {
	var d xe.Drop
	seq, ok := w.check(seqLow, &d)
	if !ok {
		return seq, d.Clone()
	}
	return seq, nil
}

// CheckDrop is Check recording a failure in d, which it returns: it
// allocates nothing.
func (w *ReplayWindow) CheckDrop(seqLow uint32, d *xe.Drop) (uint64, error) {
	seq, ok := w.check(seqLow, d)
	if !ok {
		return seq, d
	}
	return seq, nil
}

func (w *ReplayWindow) check(seqLow uint32, d *xe.Drop) (uint64, bool) {
	w.mu.Lock()
	seq, ok := w.infer(seqLow, d)
	if ok {
		ok = w.test(seq, d)
	}
	w.mu.Unlock()
	return seq, ok
}

// Commit marks seq as received, moving the window forward if seq is beyond
// it. Call it only once the packet's ICV verified. It fails with
// xe.BadSequenceNumber if seq has become a duplicate or too old since Check.
func (w *ReplayWindow) Commit(seq uint64) error {
	if seq == 0 || (!w.esn && seq > math.MaxUint32) {
		return xe.Errorf(xe.BadSequenceNumber, "sequence number %d out of range", seq)
	}
	var d xe.Drop
	w.mu.Lock()
	ok := w.test(seq, &d)
	if ok {
		w.mark(seq)
	}
	w.mu.Unlock()
	if !ok {
		return d.Clone()
	}
	return nil
}

// infer returns the full sequence number whose low half is seqLow.
// RFC 4303 Appendix A2.2: with T the highest authenticated number (Th and Tl
// its halves) and W the window, the window's bottom Bl = Tl - W + 1 decides
// whether seqLow lies in T's 2^32 subspace, the next or the previous one.
func (w *ReplayWindow) infer(seqLow uint32, d *xe.Drop) (uint64, bool) {
	if !w.esn {
		if seqLow == 0 {
			d.Set(xe.BadSequenceNumber, "sequence number 0") // RFC 4303 §3.3.3: the first is 1
			return 0, false
		}
		return uint64(seqLow), true
	}
	tl, th := uint32(w.last), uint32(w.last>>32)
	bl := tl - w.inferW + 1 // wraps in case B, as the RFC intends
	var sh uint32
	if tl >= w.inferW-1 {
		// Case A: the window lies within one subspace.
		sh = th
		if seqLow < bl {
			if th == math.MaxUint32 {
				d.Set(xe.BadSequenceNumber, "sequence number %#x: 64-bit space exhausted", xe.Uint(seqLow))
				return 0, false
			}
			sh = th + 1
		}
	} else {
		// Case B: the window spans the boundary into T's subspace.
		sh = th
		if seqLow >= bl && th > 0 {
			sh = th - 1
		}
		// With Th = 0 there is no previous subspace: seqLow can only be
		// ahead of T in subspace 0.
	}
	seq := uint64(sh)<<32 | uint64(seqLow)
	if seq == 0 {
		d.Set(xe.BadSequenceNumber, "sequence number 0")
		return 0, false
	}
	return seq, true
}

// test reports whether seq may still be accepted, recording why not in d.
func (w *ReplayWindow) test(seq uint64, d *xe.Drop) bool {
	if w.size == 0 || seq > w.last {
		return true
	}
	if w.last-seq >= w.size {
		d.Set(xe.BadSequenceNumber, "sequence number %d older than window [%d, %d]",
			xe.Uint(seq), xe.Uint(w.last-w.size+1), xe.Uint(w.last))
		return false
	}
	if w.blocks[(seq>>6)&uint64(len(w.blocks)-1)]&(1<<(seq&63)) != 0 {
		d.Set(xe.BadSequenceNumber, "sequence number %d: duplicate", xe.Uint(seq))
		return false
	}
	return true
}

// mark records seq, which test accepted.
func (w *ReplayWindow) mark(seq uint64) {
	if w.size == 0 {
		if seq > w.last {
			w.last = seq
		}
		return
	}
	mask := uint64(len(w.blocks) - 1)
	if seq > w.last {
		// Zero the blocks the window moves into, at most the whole ring.
		cur, next := w.last>>6, seq>>6
		n := min(next-cur, uint64(len(w.blocks)))
		for i := uint64(1); i <= n; i++ {
			w.blocks[(cur+i)&mask] = 0
		}
		w.last = seq
	}
	w.blocks[(seq>>6)&mask] |= 1 << (seq & 63)
}
