package classify

import "math"

// cut is how a node divides its region: dimension dim, after a guard on the
// bits [plen, cp) of the dimension, into 2^k children on the bits
// [cp, cp+k). The cut bits are in key word word, whose low avail bits lie
// below cp.
type cut struct {
	dim, cp, k int
	word       int  // key word holding the cut bits
	useHi      bool // word is the high word of an address
	avail      int  // bits of word at and below the first cut bit
	blockLo    u128 // first value of the guarded block
	base       uint64
	guardWord  int
	guardShift int
	guardMask  uint64
	guardVal   uint64
	replicate  bool // copy the side rules into the children
	cost       float64
}

// wordOf returns the key words of dimension d: high and low.
func wordOf(d int) (hi, lo int) {
	switch d {
	case dimSrc:
		return wSrcHi, wSrcLo
	case dimDst:
		return wDstHi, wDstLo
	case dimProto:
		return wProto, wProto
	case dimSrcPort:
		return wSrcPort, wSrcPort
	default:
		return wDstPort, wDstPort
	}
}

func ones64(n int) uint64 {
	if n >= 64 {
		return ^uint64(0)
	}
	return 1<<n - 1
}

// pick returns the word of v that c cuts on.
func (c *cut) pick(v u128) uint64 {
	if c.useHi {
		return v.hi
	}
	return v.lo
}

// childLo returns the first value of child j in the cut dimension.
func (c *cut) childLo(j int) u128 {
	v := c.blockLo
	off := uint64(j) << (c.avail - c.k)
	if c.useHi {
		v.hi |= off
	} else {
		v.lo |= off
	}
	return v
}

// clip returns the part of rule id's range in dimension d inside r, and
// whether that is all of r's range.
func (b *builder) clip(r *region, id int32, d int) (a, z u128, wide bool) {
	bx := &b.boxes[id]
	rlo, rhi := r.lo[d], r.hi(d)
	a, z = maxU128(bx.lo[d], rlo), minU128(bx.hi[d], rhi)
	return a, z, a == rlo && z == rhi
}

// chooseCut returns the cheapest cut of region r holding rules ids, and
// false when no cut is cheaper than scanning the rules.
func (b *builder) chooseCut(r *region, ids []int32, splits int) (cut, bool) {
	if cap(b.wide) < len(ids) {
		b.wide = make([]bool, len(ids))
		b.offA = make([]uint64, len(ids))
		b.offB = make([]uint64, len(ids))
	}
	best := cut{cost: float64(len(ids))}
	found := false
	for d := range numDims {
		if c, ok := b.evalDim(r, ids, d, splits); ok && c.cost < best.cost {
			best, found = c, true
		}
	}
	return best, found
}

// evalDim returns the cheapest cut of r in dimension d.
func (b *builder) evalDim(r *region, ids []int32, d, splits int) (cut, bool) {
	w, plen := dimWidth[d], r.plen[d]
	if plen >= w {
		return cut{}, false
	}
	wide := b.wide[:len(ids)]
	nWide := 0
	var minA, maxB u128
	first := true
	for i, id := range ids {
		a, z, isWide := b.clip(r, id, d)
		wide[i] = isWide
		if isWide {
			nWide++
			continue
		}
		if first {
			minA, maxB, first = a, z, false
		} else {
			minA, maxB = minU128(minA, a), maxU128(maxB, z)
		}
	}
	if first {
		return cut{}, false // every rule spans the region in d
	}
	c := cut{dim: d, cp: w - minA.xor(maxB).bitLen()}
	if c.cp >= w {
		return cut{}, false // all rules are the same single value in d
	}
	hiW, loW := wordOf(d)
	if w == 128 && plen < 64 && c.cp > 64 {
		c.cp = 64 // guard and cut each within one word
	}
	c.blockLo = minA.andNot(lowOnes(w - c.cp))
	if w == 128 && c.cp < 64 {
		c.word, c.useHi, c.avail = hiW, true, 64-c.cp
	} else {
		c.word, c.avail = loW, w-c.cp
		if w == 128 {
			c.avail = 128 - c.cp
		}
	}
	c.base = c.pick(c.blockLo)
	if c.cp > plen {
		if w == 128 && plen < 64 {
			c.guardWord, c.guardShift = hiW, 64-c.cp
			c.guardVal = c.blockLo.hi >> c.guardShift
		} else {
			c.guardWord, c.guardShift = loW, w-c.cp
			if w == 128 {
				c.guardShift = 128 - c.cp
			}
			c.guardVal = c.blockLo.lo >> c.guardShift
		}
		c.guardMask = ones64(c.cp - plen)
		c.guardVal &= c.guardMask
	} else {
		c.guardWord = c.word
	}

	offA, offB := b.offA[:len(ids)], b.offB[:len(ids)]
	for i, id := range ids {
		if wide[i] {
			continue
		}
		a, z, _ := b.clip(r, id, d)
		offA[i], offB[i] = c.pick(a)-c.base, c.pick(z)-c.base
	}

	// Two ways to deal with the rules that span the region in d (wide) or
	// more than maxCopies children (large): a side tree, which lookups
	// follow too, or copies in the children they span, which cost memory.
	n := len(ids)
	limit := spaceFactor * n
	replLimit := max(replicateFactor*n, minReplicate)
	c.cost = infCost
	bestK := 0
	for k := 1; k <= min(c.avail, maxCutBits); k++ {
		nk := 1 << k
		if nk > max(limit, replLimit) && k > 1 {
			break
		}
		shift := uint(c.avail - k)
		diff, diffR := b.diff[:nk+1], b.diffR[:nk+1]
		clear(diff)
		clear(diffR)
		sum, sumR, large := 0, nWide*nk, 0
		for i := range ids {
			if wide[i] {
				continue
			}
			jl, jh := offA[i]>>shift, offB[i]>>shift
			sumR += int(jh - jl + 1)
			diffR[jl]++
			diffR[jh+1]--
			if jh-jl >= uint64(maxCopies) {
				large++
				continue
			}
			sum += int(jh - jl + 1)
			diff[jl]++
			diff[jh+1]--
		}
		side := nWide + large
		sideOK := sum > 0 && (sum+nk <= limit || k == 1) && (side == 0 || splits > 0)
		replOK := side > 0 && (sumR+nk <= replLimit || k == 1 || (splits == 0 && sumR+nk <= limit))
		if !sideOK && !replOK {
			if k > 1 {
				break
			}
			continue
		}
		var sq, sqR float64
		run, runR := int32(0), int32(nWide)
		for j := range nk {
			run += diff[j]
			runR += diffR[j]
			sq += float64(run) * float64(run)
			sqR += float64(runR) * float64(runR)
		}
		if sideOK {
			cost := sq / float64(sum)
			if side > 0 {
				cost += sideCost + sideWeight*math.Log2(float64(side+1))
			}
			if cost < c.cost {
				c.cost, bestK, c.replicate = cost, k, false
			}
		}
		if replOK {
			if cost := sqR / float64(sumR); cost < c.cost {
				c.cost, bestK, c.replicate = cost, k, true
			}
		}
	}
	if bestK == 0 {
		return cut{}, false
	}
	c.k = bestK
	return c, true
}

const infCost = 1e300

// distribute divides rules ids of region r by cut c into the rules of each
// child and the rules of the side tree.
func (b *builder) distribute(r *region, ids []int32, c *cut) (lists [][]int32, side []int32) {
	nk := 1 << c.k
	shift := uint(c.avail - c.k)
	counts := make([]int, nk+1)
	jls := make([]uint64, len(ids))
	jhs := make([]uint64, len(ids))
	for i, id := range ids {
		a, z, wide := b.clip(r, id, c.dim)
		if wide {
			jls[i], jhs[i] = 0, uint64(nk-1)
		} else {
			jls[i], jhs[i] = (c.pick(a)-c.base)>>shift, (c.pick(z)-c.base)>>shift
		}
		switch {
		case c.replicate && wide:
			side = append(side, id) // for packets that miss the guard
		case !c.replicate && (wide || jhs[i]-jls[i] >= uint64(maxCopies)):
			side = append(side, id)
			jls[i], jhs[i] = 1, 0 // no children
			continue
		}
		for j := jls[i]; j <= jhs[i]; j++ {
			counts[j+1]++
		}
	}
	for j := 1; j <= nk; j++ {
		counts[j] += counts[j-1]
	}
	flat := make([]int32, counts[nk])
	lists = make([][]int32, nk)
	for j := range nk {
		lists[j] = flat[counts[j]:counts[j]:counts[j+1]]
	}
	for i, id := range ids {
		for j := jls[i]; j <= jhs[i]; j++ {
			lists[j] = append(lists[j], id)
		}
	}
	return lists, side
}
