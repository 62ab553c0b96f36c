package classify

import (
	"encoding/binary"
	"math/bits"
	"net/netip"
)

// u128 is an unsigned 128-bit integer. The tree works on every dimension
// (addresses, protocol, ports) as a u128 so that one builder serves both
// address families; an IPv4 address is the low 32 bits.
type u128 struct{ hi, lo uint64 }

func (a u128) less(b u128) bool { return a.hi < b.hi || (a.hi == b.hi && a.lo < b.lo) }

func minU128(a, b u128) u128 {
	if b.less(a) {
		return b
	}
	return a
}

func maxU128(a, b u128) u128 {
	if a.less(b) {
		return b
	}
	return a
}

func (a u128) sub(b u128) u128 {
	lo, borrow := bits.Sub64(a.lo, b.lo, 0)
	hi, _ := bits.Sub64(a.hi, b.hi, borrow)
	return u128{hi, lo}
}

// outside returns 1 when x is not in lo..lo+span, else 0, without
// branching.
func outside(x, lo, span u128) uint64 {
	dlo, b := bits.Sub64(x.lo, lo.lo, 0)
	dhi, below := bits.Sub64(x.hi, lo.hi, b)
	_, b = bits.Sub64(span.lo, dlo, 0)
	_, above := bits.Sub64(span.hi, dhi, b)
	return below | above
}

func (a u128) xor(b u128) u128 { return u128{a.hi ^ b.hi, a.lo ^ b.lo} }

func (a u128) bitLen() int {
	if a.hi != 0 {
		return 64 + bits.Len64(a.hi)
	}
	return bits.Len64(a.lo)
}

// lowOnes returns the u128 whose n low bits are set, 0 <= n <= 128.
func lowOnes(n int) u128 {
	switch {
	case n >= 128:
		return u128{^uint64(0), ^uint64(0)}
	case n >= 64:
		return u128{1<<(n-64) - 1, ^uint64(0)}
	default:
		return u128{0, 1<<n - 1}
	}
}

func (a u128) or(b u128) u128     { return u128{a.hi | b.hi, a.lo | b.lo} }
func (a u128) andNot(b u128) u128 { return u128{a.hi &^ b.hi, a.lo &^ b.lo} }

// addrU128 returns a as a u128: IPv4 addresses in the low 32 bits.
func addrU128(a netip.Addr) u128 {
	if a.Is4() {
		b := a.As4()
		return u128{0, uint64(binary.BigEndian.Uint32(b[:]))}
	}
	b := a.As16()
	return u128{binary.BigEndian.Uint64(b[:8]), binary.BigEndian.Uint64(b[8:])}
}
