package classify

import "encoding/binary"

// Lookup returns the index (into the rules given to Build) of the best rule
// that p matches: the highest priority, and among equal priorities the
// lowest ID. ok is false when no rule matches, or when p's addresses are
// invalid or of two families. Lookup does not allocate and takes no locks.
func (t *Tree) Lookup(p *Packet) (index int, ok bool) {
	var k key
	var f *family
	switch {
	case p.Src.Is4() && p.Dst.Is4():
		s, d := p.Src.As4(), p.Dst.As4()
		k[wSrcLo] = uint64(binary.BigEndian.Uint32(s[:]))
		k[wDstLo] = uint64(binary.BigEndian.Uint32(d[:]))
		f = &t.v4
	case p.Src.Is6() && p.Dst.Is6():
		s, d := p.Src.As16(), p.Dst.As16()
		k[wSrcHi], k[wSrcLo] = binary.BigEndian.Uint64(s[:8]), binary.BigEndian.Uint64(s[8:])
		k[wDstHi], k[wDstLo] = binary.BigEndian.Uint64(d[:8]), binary.BigEndian.Uint64(d[8:])
		f = &t.v6
	default:
		return -1, false
	}
	k[wProto], k[wSrcPort], k[wDstPort] = uint64(p.Proto), uint64(p.SrcPort), uint64(p.DstPort)
	rank := f.lookup(&k)
	if rank == noRule {
		return -1, false
	}
	return int(t.order[rank]), true
}

// lookup returns the rank of the best rule matching k, or noRule.
func (f *family) lookup(k *key) int32 {
	best := int32(noRule)
	// Side trees still to visit, with the best rank each may hold.
	var stack [maxDepth + 2]struct{ s, min int32 }
	sp := 0
	s := f.root
	for {
		switch {
		case s < 0:
			v := ^s
			best = f.scan(int(v>>slotCountBits), int(v&maxSlotCount), k, best)
		case s > 0:
			nd := &f.nodes[s]
			if nd.min >= best {
				break
			}
			best = min(best, nd.cover)
			if nd.sideMin < best && !nd.sideOnMiss {
				// Reading the side tree's best rank now, not when it is
				// popped, starts its cache miss while the child path runs.
				stack[sp].s, stack[sp].min = nd.side, f.minOf(nd.side)
				sp++
			}
			if nd.n != 0 {
				best = f.scan(int(nd.base), int(nd.n), k, best)
			} else if k[nd.guardWord&7]>>nd.guardShift&nd.guardMask == nd.guardVal {
				s = f.children[nd.base+int32(uint32(k[nd.cutWord&7]>>nd.cutShift)&nd.cutMask)]
				continue
			} else if nd.sideOnMiss && nd.sideMin < best {
				s = nd.side
				continue
			}
		}
		for {
			if sp == 0 {
				return best
			}
			sp--
			if stack[sp].min < best {
				s = stack[sp].s
				break
			}
		}
	}
}

// minOf returns the best rank in the subtree s, which is not empty.
func (f *family) minOf(s slot) int32 {
	if s > 0 {
		return f.nodes[s].min
	}
	start := int((^s) >> slotCountBits)
	if f.is6 {
		return f.e6[start].rank
	}
	return f.e4[start].rank
}

// scan returns the rank of the first of the n entries from start that k
// matches, if it ranks before best, else best.
func (f *family) scan(start, n int, k *key, best int32) int32 {
	if f.is6 {
		return scan6(f.e6[start:start+n], k, best)
	}
	return scan4(f.e4[start:start+n], k, best)
}

// scan4 returns the rank of the first entry of es that k matches, if it
// ranks before best, else best.
func scan4(es []entry4, k *key, best int32) int32 {
	src, dst := uint32(k[wSrcLo]), uint32(k[wDstLo])
	proto, sp, dp := uint8(k[wProto]), uint16(k[wSrcPort]), uint16(k[wDstPort])
	for i := range es {
		e := &es[i]
		if e.rank >= best {
			break
		}
		// Most entries differ in the destination: test it alone, then the
		// rest without branches (each term is 0 in range, else has bit 63
		// set).
		if dst-e.dstLo > e.dstSpan {
			continue
		}
		miss := (uint64(e.srcSpan) - uint64(src-e.srcLo)) |
			(uint64(e.dpSpan) - uint64(dp-e.dpLo)) |
			(uint64(e.spSpan) - uint64(sp-e.spLo)) |
			(uint64(e.pSpan) - uint64(proto-e.pLo))
		if miss>>63 == 0 {
			return e.rank
		}
	}
	return best
}

// scan6 is scan4 for IPv6 entries.
func scan6(es []entry6, k *key, best int32) int32 {
	src, dst := u128{k[wSrcHi], k[wSrcLo]}, u128{k[wDstHi], k[wDstLo]}
	proto, sp, dp := uint8(k[wProto]), uint16(k[wSrcPort]), uint16(k[wDstPort])
	for i := range es {
		e := &es[i]
		if e.rank >= best {
			break
		}
		miss := outside(dst, e.dstLo, e.dstSpan)<<63 | outside(src, e.srcLo, e.srcSpan)<<63 |
			(uint64(e.dpSpan) - uint64(dp-e.dpLo)) |
			(uint64(e.spSpan) - uint64(sp-e.spLo)) |
			(uint64(e.pSpan) - uint64(proto-e.pLo))
		if miss>>63 == 0 {
			return e.rank
		}
	}
	return best
}
