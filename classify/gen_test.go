package classify

import (
	"encoding/binary"
	"math/rand/v2"
	"net/netip"
)

// This file generates rule sets and traffic for the property test and the
// benchmark.

// genRules generates n rules of a realistic mix for one family:
//
//   - 55% host or prefix (/24../32; IPv6 /48, /56, /64, /120, /128) to
//     host or prefix, some with a protocol and destination port;
//   - 15% wide source (any, /8../16; IPv6 /16, /32, /40, /48) to a host or
//     prefix;
//   - 10% host or prefix to any;
//   - 8% ranges (within a /24, or across a few), on either side;
//   - 12% port rules between wide prefixes or any (IKE, web, ssh, ...);
//   - four any/any rules at low priority.
//
// Addresses come from a pool of networks so that hosts fall inside the
// prefixes and ranges of other rules.
func genRules(rng *rand.Rand, n int, v6 bool) []Rule {
	g := &gen{rng: rng, v6: v6}
	g.nets = make([]netip.Addr, max(16, n/4))
	for i := range g.nets {
		g.nets[i] = g.randNet()
	}
	rules := make([]Rule, 0, n)
	for i := 0; len(rules) < n-4; i++ {
		r := Rule{ID: uint32(len(rules) + 1), Priority: uint8(1 + rng.IntN(5))}
		switch x := rng.IntN(100); {
		case x < 55:
			r.Src, r.Dst = g.narrow(), g.narrow()
			g.protoPorts(&r, 30)
		case x < 70:
			r.Src, r.Dst = g.wide(), g.narrow()
			g.protoPorts(&r, 30)
			r.Priority = uint8(2 + rng.IntN(5))
		case x < 80:
			r.Src, r.Dst = g.narrow(), g.wide()
			g.protoPorts(&r, 20)
			r.Priority = uint8(2 + rng.IntN(5))
		case x < 88:
			if rng.IntN(2) == 0 {
				r.Src, r.Dst = g.rangeSel(), g.narrow()
			} else {
				r.Src, r.Dst = g.narrow(), g.rangeSel()
			}
			g.protoPorts(&r, 20)
		default:
			r.Src, r.Dst = g.wide(), g.wide()
			g.protoPorts(&r, 100)
			if r.Proto == 0 {
				r.Proto = 17
			}
		}
		rules = append(rules, r)
	}
	any := AnyIPv4()
	if v6 {
		any = AnyIPv6()
	}
	for i, proto := range []uint8{0, 6, 17, 1} {
		rules = append(rules, Rule{ID: uint32(len(rules) + 1), Priority: uint8(6 + i%2), Proto: proto, Src: any, Dst: any})
	}
	return rules
}

// genWildRules generates n rules with arbitrary ranges in all five
// dimensions: random prefixes of any length, random ranges of any width,
// random port ranges and protocols. They overlap heavily.
func genWildRules(rng *rand.Rand, n int, v6 bool) []Rule {
	g := &gen{rng: rng, v6: v6}
	g.nets = make([]netip.Addr, 64)
	for i := range g.nets {
		g.nets[i] = g.randNet()
	}
	rules := make([]Rule, n)
	for i := range rules {
		r := Rule{ID: uint32(rng.IntN(4 * n)), Priority: uint8(1 + rng.IntN(7))}
		r.Src, r.Dst = g.wildSel(), g.wildSel()
		if rng.IntN(3) > 0 {
			r.Proto = []uint8{1, 6, 17, 58, 50}[rng.IntN(5)]
		}
		rules[i] = r
	}
	return rules
}

type gen struct {
	rng  *rand.Rand
	v6   bool
	nets []netip.Addr
}

func (g *gen) bits() int {
	if g.v6 {
		return 128
	}
	return 32
}

// randNet returns a random network address: any IPv4 /24, or an IPv6 /64
// under a few well-used /32s.
func (g *gen) randNet() netip.Addr {
	if !g.v6 {
		return fromU128(u128{0, uint64(g.rng.Uint32() &^ 0xff)}, false)
	}
	tops := []uint64{0x20010db8, 0x3ffe0501, 0x2a001450, 0xfd00abcd}
	hi := tops[g.rng.IntN(len(tops))]<<32 | uint64(g.rng.IntN(1<<12))<<16 | uint64(g.rng.IntN(1<<16))
	return fromU128(u128{hi, 0}, true)
}

// host returns an address in a random network of the pool, or anywhere.
func (g *gen) host() netip.Addr {
	if g.rng.IntN(5) == 0 {
		return g.anyAddr()
	}
	v := addrU128(g.nets[g.rng.IntN(len(g.nets))])
	if g.v6 {
		v.lo = uint64(g.rng.IntN(256))
		if g.rng.IntN(2) == 0 {
			v.lo = g.rng.Uint64()
		}
	} else {
		v.lo |= uint64(g.rng.IntN(256))
	}
	return fromU128(v, g.v6)
}

func (g *gen) anyAddr() netip.Addr {
	return fromU128(u128{g.rng.Uint64(), g.rng.Uint64()}, g.v6)
}

// narrow returns a host or a long prefix around a pooled host.
func (g *gen) narrow() Selector {
	plen := g.bits()
	if g.rng.IntN(2) == 0 {
		if g.v6 {
			plen = []int{48, 56, 64, 64, 64, 120}[g.rng.IntN(6)]
		} else {
			plen = 24 + g.rng.IntN(9)
		}
	}
	s, err := SelectorFromPrefix(netip.PrefixFrom(g.host(), plen))
	if err != nil {
		panic(err)
	}
	return s
}

// wide returns any or a short prefix.
func (g *gen) wide() Selector {
	if g.rng.IntN(2) == 0 {
		if g.v6 {
			return AnyIPv6()
		}
		return AnyIPv4()
	}
	plen := 8 + g.rng.IntN(9)
	if g.v6 {
		plen = []int{16, 32, 32, 40, 48, 48}[g.rng.IntN(6)]
	}
	s, _ := SelectorFromPrefix(netip.PrefixFrom(g.host(), plen))
	return s
}

// rangeSel returns a range inside a /24 (or /120), or across a few.
func (g *gen) rangeSel() Selector {
	a := addrU128(g.host())
	width := uint64(g.rng.IntN(64))
	if g.rng.IntN(4) == 0 {
		width = uint64(g.rng.IntN(2048))
	}
	b := a
	b.lo += width
	if b.lo < a.lo || (!g.v6 && b.lo > 0xffffffff) {
		b = a
	}
	s, err := SelectorFromRange(fromU128(a, g.v6), fromU128(b, g.v6))
	if err != nil {
		panic(err)
	}
	return s
}

// protoPorts gives r a protocol, and with percent pct a destination port,
// sometimes a source port or a port range.
func (g *gen) protoPorts(r *Rule, pct int) {
	switch x := g.rng.IntN(10); {
	case x < 4:
	case x < 7:
		r.Proto = 6
	case x < 9:
		r.Proto = 17
	default:
		r.Proto = ProtoICMP
		if g.v6 {
			r.Proto = ProtoICMPv6
		}
	}
	if g.rng.IntN(100) >= pct {
		return
	}
	common := []uint16{22, 53, 80, 443, 500, 4500, 1500, 8080}
	p := common[g.rng.IntN(len(common))]
	if g.rng.IntN(3) == 0 {
		p = uint16(1 + g.rng.IntN(65535))
	}
	switch g.rng.IntN(10) {
	case 0:
		r.Src, _ = r.Src.WithPorts(p, p)
	case 1:
		r.Dst, _ = r.Dst.WithPorts(1024, 1024+uint16(g.rng.IntN(8192)))
	default:
		r.Dst, _ = r.Dst.WithPorts(p, p)
	}
}

// wildSel returns a selector of any shape and width, ports included.
func (g *gen) wildSel() Selector {
	var s Selector
	var err error
	switch g.rng.IntN(4) {
	case 0:
		s, err = SelectorFromPrefix(netip.PrefixFrom(g.host(), g.rng.IntN(g.bits()+1)))
	case 1:
		a, b := addrU128(g.host()), addrU128(g.host())
		if b.less(a) {
			a, b = b, a
		}
		s, err = SelectorFromRange(fromU128(a, g.v6), fromU128(b, g.v6))
	case 2:
		a := addrU128(g.host())
		b := a
		b.lo += uint64(g.rng.IntN(1 << g.rng.IntN(24)))
		if b.lo < a.lo || (!g.v6 && b.lo > 0xffffffff) {
			b = a
		}
		s, err = SelectorFromRange(fromU128(a, g.v6), fromU128(b, g.v6))
	default:
		s, err = SelectorFromAddr(g.host())
	}
	if err != nil {
		panic(err)
	}
	if g.rng.IntN(3) == 0 {
		lo := uint16(g.rng.IntN(65536))
		hi := lo + uint16(g.rng.IntN(1<<g.rng.IntN(16)))
		if hi < lo {
			hi = 65535
		}
		s, _ = s.WithPorts(lo, hi)
	}
	return s
}

// packetNear returns a packet at or just beside the edges of r, or inside
// it, dimension by dimension.
func (g *gen) packetNear(r *Rule) Packet {
	p := Packet{
		Src:     g.addrNear(r.Src),
		Dst:     g.addrNear(r.Dst),
		Proto:   r.Proto,
		SrcPort: g.portNear(r.Src),
		DstPort: g.portNear(r.Dst),
	}
	if p.Proto == 0 || g.rng.IntN(8) == 0 {
		p.Proto = []uint8{1, 6, 17, 58, 50, 0}[g.rng.IntN(6)]
	}
	return p
}

func (g *gen) addrNear(s Selector) netip.Addr {
	switch g.rng.IntN(6) {
	case 0:
		return s.From()
	case 1:
		return s.To()
	case 2:
		if a := s.From().Prev(); a.IsValid() {
			return a
		}
		return s.From()
	case 3:
		if a := s.To().Next(); a.IsValid() {
			return a
		}
		return s.To()
	case 4:
		return g.host()
	default:
		a, b := addrU128(s.From()), addrU128(s.To())
		v := a
		if span := b.lo - a.lo; a.hi == b.hi && span < 1<<62 {
			v.lo += g.rng.Uint64N(span + 1)
		}
		return fromU128(v, g.v6)
	}
}

func (g *gen) portNear(s Selector) uint16 {
	lo, hi := s.Ports()
	switch g.rng.IntN(5) {
	case 0:
		return lo
	case 1:
		return hi
	case 2:
		return lo - 1
	case 3:
		return hi + 1
	default:
		return uint16(g.rng.IntN(65536))
	}
}

// packetUniform returns a packet of random addresses, pooled or anywhere.
func (g *gen) packetUniform() Packet {
	return Packet{
		Src:     g.host(),
		Dst:     g.host(),
		Proto:   []uint8{1, 6, 17, 58, 50, 0}[g.rng.IntN(6)],
		SrcPort: uint16(g.rng.IntN(65536)),
		DstPort: []uint16{22, 80, 443, 500, 4500, uint16(g.rng.IntN(65536))}[g.rng.IntN(6)],
	}
}

func fromU128(v u128, v6 bool) netip.Addr {
	if !v6 {
		var b [4]byte
		binary.BigEndian.PutUint32(b[:], uint32(v.lo))
		return netip.AddrFrom4(b)
	}
	var b [16]byte
	binary.BigEndian.PutUint64(b[:8], v.hi)
	binary.BigEndian.PutUint64(b[8:], v.lo)
	return netip.AddrFrom16(b)
}
