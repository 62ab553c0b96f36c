package classify

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
	replicate  bool // copy the wide rules into the child (guard-only cuts)
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
func (b *builder) chooseCut(r *region, ids []int32, budget int) (cut, bool) {
	if cap(b.wide) < len(ids) {
		b.wide = make([]bool, len(ids))
		b.offA = make([]uint64, len(ids))
		b.offB = make([]uint64, len(ids))
	}
	best := cut{cost: float64(len(ids))}
	found := false
	var cands [numDims]cut
	for d := range numDims {
		c, ok := b.evalDim(r, ids, d, budget)
		if !ok {
			continue
		}
		cands[d] = c
		if c.cost < best.cost {
			best, found = c, true
		}
	}
	if found || len(ids) <= bigLeaf {
		return best, found
	}
	// No cut looks cheaper than a scan, but that estimate ignores the rules
	// that will cover whole children, such as nested port ranges under
	// any/any, which a cut does get rid of. Keep many rules from ending in
	// one leaf by cutting the dimension with the most distinct edges.
	most := 0
	for d, c := range cands {
		if c.k == 0 {
			continue
		}
		if n := b.distinctEdges(r, ids, d); n > most {
			best, most, found = c, n, true
		}
	}
	return best, found
}

// distinctEdges returns the number of distinct starts and ends of the
// ranges of rules ids in dimension d, clipped to r.
func (b *builder) distinctEdges(r *region, ids []int32, d int) int {
	edges := make(map[u128]struct{}, 2*len(ids))
	for _, id := range ids {
		a, z, _ := b.clip(r, id, d)
		edges[a] = struct{}{}
		edges[z] = struct{}{}
	}
	return len(edges)
}

// evalDim returns the cheapest cut of r in dimension d.
func (b *builder) evalDim(r *region, ids []int32, d, budget int) (cut, bool) {
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
		// All rules but the wide ones have one value in d. Cutting d
		// cannot separate them, but a guard on the value can turn some of
		// them into covers.
		return b.evalPoint(r, ids, d, minA)
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

	// Rules that span the region in d (wide) or more than maxCopies
	// children (large) go to a side tree, which lookups follow too: a cut
	// costs the rule-weighted mean size of its children plus, for a side
	// tree, the rules in it and the extra path.
	n := len(ids)
	limit := spaceFactor * n
	c.cost = infCost
	bestK := 0
	for k := 1; k <= min(c.avail, maxCutBits); k++ {
		nk := 1 << k
		if nk > limit && k > 1 {
			break
		}
		shift := uint(c.avail - k)
		if len(b.diff) < nk+1 {
			b.diff = make([]int32, nk+1)
		}
		diff := b.diff[:nk+1]
		clear(diff)
		sum, large := 0, 0
		for i := range ids {
			if wide[i] {
				continue
			}
			jl, jh := offA[i]>>shift, offB[i]>>shift
			if jh-jl >= maxCopies {
				large++
				continue
			}
			sum += int(jh - jl + 1)
			diff[jl]++
			diff[jh+1]--
		}
		side := nWide + large
		if sum == 0 || (k > 1 && (sum+nk > limit || (sum+side)*b.entryBytes+nk*slotBytes+nodeBytes > budget)) {
			break
		}
		var sq float64
		run := int32(0)
		for j := range nk {
			run += diff[j]
			sq += float64(run) * float64(run)
		}
		cost := sq / float64(sum)
		if side > 0 {
			cost += sideCost + float64(side)
		}
		if cost < c.cost {
			c.cost, bestK = cost, k
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
// child and the rules of the side tree. When c replicates, the side rules
// are the wide ones, copied into every child that holds other rules too;
// the side tree is then for children holding no other rules and for
// packets that miss the guard.
func (b *builder) distribute(r *region, ids []int32, c *cut) (lists [][]int32, side []int32) {
	nk := 1 << c.k
	shift := uint(c.avail - c.k)
	counts := make([]int, nk+1)
	jls := make([]uint64, len(ids))
	jhs := make([]uint64, len(ids))
	isWide := make([]bool, len(ids))
	for i, id := range ids {
		a, z, wide := b.clip(r, id, c.dim)
		isWide[i] = wide
		if !wide {
			jls[i], jhs[i] = (c.pick(a)-c.base)>>shift, (c.pick(z)-c.base)>>shift
		}
		if wide || (!c.replicate && jhs[i]-jls[i] >= uint64(maxCopies)) {
			side = append(side, id)
			jls[i], jhs[i] = 1, 0 // no children, or added below
			continue
		}
		for j := jls[i]; j <= jhs[i]; j++ {
			counts[j+1]++
		}
	}
	var nonEmpty []int
	if c.replicate && len(side) > 0 {
		for j := range nk {
			if counts[j+1] > 0 {
				nonEmpty = append(nonEmpty, j)
			}
		}
		for _, j := range nonEmpty {
			counts[j+1] += len(side)
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
		if isWide[i] && c.replicate {
			for _, j := range nonEmpty {
				lists[j] = append(lists[j], id)
			}
			continue
		}
		for j := jls[i]; j <= jhs[i]; j++ {
			lists[j] = append(lists[j], id)
		}
	}
	return lists, side
}

// evalPoint returns the guard-only cut of r in dimension d, where every
// rule not wide in d has the single value v: one child, whose region has v
// in d, holding all the rules; packets without v in d skip it for the side
// tree of the wide rules. It pays when rules that cover r in the other
// dimensions thereby cover the child, making the rules after them moot.
func (b *builder) evalPoint(r *region, ids []int32, d int, v u128) (cut, bool) {
	w, plen := dimWidth[d], r.plen[d]
	child := *r
	child.lo[d], child.plen[d] = v, w
	kept := len(ids)
	for i, id := range ids {
		if b.boxes[id].covers(&child) {
			kept = i
			break
		}
	}
	hiW, loW := wordOf(d)
	c := cut{dim: d, cp: w, k: 0, blockLo: v, replicate: true, cost: float64(kept) + sideCost}
	// Guard and cut within one word: an address value is guarded on its
	// low word when the high one is fixed already, else on the high word
	// first (the child then guards the low word).
	switch {
	case w == 128 && plen < 64:
		c.cp = 64
		c.blockLo = u128{v.hi, 0}
		c.word, c.useHi, c.avail = loW, false, 64
		c.guardWord, c.guardShift, c.guardMask, c.guardVal = hiW, 0, ones64(64-plen), v.hi&ones64(64-plen)
		// The child of a high-word guard is not yet a point: recount.
		child.lo[d], child.plen[d] = c.blockLo, 64
		kept = len(ids)
		for i, id := range ids {
			if b.boxes[id].covers(&child) {
				kept = i
				break
			}
		}
		c.cost = float64(kept) + sideCost
	default:
		c.word, c.avail = loW, 0
		c.guardWord, c.guardShift = loW, 0
		c.guardMask = ones64(w - plen)
		if w == 128 {
			c.guardMask = ones64(128 - plen)
		}
		c.guardVal = v.lo & c.guardMask
	}
	c.base = c.pick(c.blockLo)
	return c, true
}
