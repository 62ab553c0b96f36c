package classify

import (
	"encoding/binary"
	"math/rand/v2"
	"testing"
)

type lstats struct{ nodes, slotsLeaf, entries, pushes, pops int }

func (f *family) lookupDbg(k *key, st *lstats) int32 {
	best := int32(noRule)
	var stack [maxDepth + 2]struct{ s, min int32 }
	sp := 0
	s := f.root
	for {
		switch {
		case s < 0:
			v := ^s
			st.slotsLeaf++
			st.entries += f.countScan(int(v>>slotCountBits), int(v&maxSlotCount), best)
			best = f.scan(int(v>>slotCountBits), int(v&maxSlotCount), k, best)
		case s > 0:
			nd := &f.nodes[s]
			st.nodes++
			if nd.min >= best {
				break
			}
			best = min(best, nd.cover)
			if nd.sideMin < best && !nd.sideOnMiss {
				stack[sp].s, stack[sp].min = nd.side, nd.sideMin
				sp++
				st.pushes++
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
				st.pops++
				s = stack[sp].s
				break
			}
		}
	}
}

func TestDbgLookupCost(t *testing.T) {
	for _, v6 := range []bool{false, true} {
		for _, n := range []int{10, 1000, 100000} {
			rng := rand.New(rand.NewPCG(42, uint64(n)))
			rules := genRules(rng, n, v6)
			tree, _ := Build(rules)
			g := &gen{rng: rng, v6: v6, nets: (&gen{rng: rng, v6: v6}).poolFrom(rules)}
			pkts := genPackets(g, rules, 10000)
			var st lstats
			for i := range pkts {
				p := &pkts[i]
				var k key
				f := &tree.v4
				if v6 {
					s, d := p.Src.As16(), p.Dst.As16()
					k[wSrcHi], k[wSrcLo] = binary.BigEndian.Uint64(s[:8]), binary.BigEndian.Uint64(s[8:])
					k[wDstHi], k[wDstLo] = binary.BigEndian.Uint64(d[:8]), binary.BigEndian.Uint64(d[8:])
					f = &tree.v6
				} else {
					s, d := p.Src.As4(), p.Dst.As4()
					k[wSrcLo] = uint64(binary.BigEndian.Uint32(s[:]))
					k[wDstLo] = uint64(binary.BigEndian.Uint32(d[:]))
				}
				k[wProto], k[wSrcPort], k[wDstPort] = uint64(p.Proto), uint64(p.SrcPort), uint64(p.DstPort)
				f.lookupDbg(&k, &st)
			}
			f := float64(len(pkts))
			t.Logf("v6=%v n=%d nodes=%.2f leafslots=%.2f entries=%.2f pushes=%.2f pops=%.2f stats=%+v", v6, n, float64(st.nodes)/f, float64(st.slotsLeaf)/f, float64(st.entries)/f, float64(st.pushes)/f, float64(st.pops)/f, tree.Stats())
		}
	}
}

func (f *family) countScan(start, n int, best int32) int {
	c := 0
	for i := start; i < start+n; i++ {
		r := int32(0)
		if f.is6 {
			r = f.e6[i].rank
		} else {
			r = f.e4[i].rank
		}
		if r >= best {
			break
		}
		c++
	}
	return c
}
