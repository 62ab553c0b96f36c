package header

import (
	"encoding/binary"
	"net/netip"
)

// IPv6Len is the length of the fixed IPv6 header.
const IPv6Len = 40

// IPv6 is a view of an IPv6 header (RFC 8200).
type IPv6 []byte

// Version is the IP version field (6 for a valid IPv6 header).
func (h IPv6) Version() uint8 { return h[0] >> 4 }

// TrafficClass is the DSCP and ECN byte.
func (h IPv6) TrafficClass() uint8 { return uint8(binary.BigEndian.Uint16(h[0:]) >> 4) }

// SetTrafficClass sets the DSCP and ECN byte.
func (h IPv6) SetTrafficClass(v uint8) {
	w := binary.BigEndian.Uint16(h[0:])&0xf00f | uint16(v)<<4
	binary.BigEndian.PutUint16(h[0:], w)
}

// FlowLabel is the 20-bit flow label.
func (h IPv6) FlowLabel() uint32 { return binary.BigEndian.Uint32(h[0:]) & 0xfffff }

// PayloadLength is the length after the fixed header.
func (h IPv6) PayloadLength() int { return int(binary.BigEndian.Uint16(h[4:])) }

// SetPayloadLength sets the length after the fixed header.
func (h IPv6) SetPayloadLength(n int) { binary.BigEndian.PutUint16(h[4:], uint16(n)) }

// NextHeader is the type of the header after the fixed header.
func (h IPv6) NextHeader() uint8 { return h[6] }

// SetNextHeader sets the type of the header after the fixed header.
func (h IPv6) SetNextHeader(v uint8) { h[6] = v }

// HopLimit is the hop limit.
func (h IPv6) HopLimit() uint8 { return h[7] }

// SetHopLimit sets the hop limit.
func (h IPv6) SetHopLimit(v uint8) { h[7] = v }

// Src is the source address.
func (h IPv6) Src() netip.Addr { return netip.AddrFrom16([16]byte(h[8:24])) }

// Dst is the destination address.
func (h IPv6) Dst() netip.Addr { return netip.AddrFrom16([16]byte(h[24:40])) }

// SetSrc sets the source address.
func (h IPv6) SetSrc(a netip.Addr) { b := a.As16(); copy(h[8:24], b[:]) }

// SetDst sets the destination address.
func (h IPv6) SetDst(a netip.Addr) { b := a.As16(); copy(h[24:40], b[:]) }

// ValidIPv6 reports whether b starts with an IPv6 header whose payload fits
// in b, and returns the total length.
func ValidIPv6(b []byte) (total int, ok bool) {
	if len(b) < IPv6Len || b[0]>>4 != 6 {
		return 0, false
	}
	total = IPv6Len + IPv6(b).PayloadLength()
	if total > len(b) {
		return 0, false
	}
	return total, true
}

// IPv6Fields are the fields Encode writes.
type IPv6Fields struct {
	TrafficClass  uint8
	FlowLabel     uint32
	PayloadLength int
	NextHeader    uint8
	HopLimit      uint8
	Src, Dst      netip.Addr
}

// Encode writes the fixed header.
func (h IPv6) Encode(f *IPv6Fields) {
	binary.BigEndian.PutUint32(h[0:], 6<<28|uint32(f.TrafficClass)<<20|f.FlowLabel&0xfffff)
	h.SetPayloadLength(f.PayloadLength)
	h[6] = f.NextHeader
	h[7] = f.HopLimit
	h.SetSrc(f.Src)
	h.SetDst(f.Dst)
}

// IPv6FragmentLen is the length of the IPv6 Fragment header.
const IPv6FragmentLen = 8

// IPv6Fragment is a view of the IPv6 Fragment header (RFC 8200 §4.5).
type IPv6Fragment []byte

// NextHeader is the type of the first header of the Fragmentable Part.
func (h IPv6Fragment) NextHeader() uint8 { return h[0] }

// FragmentOffset is the offset in bytes.
func (h IPv6Fragment) FragmentOffset() int { return int(binary.BigEndian.Uint16(h[2:])>>3) * 8 }

// More reports the M flag.
func (h IPv6Fragment) More() bool { return h[3]&1 != 0 }

// Identification is the fragment identification.
func (h IPv6Fragment) Identification() uint32 { return binary.BigEndian.Uint32(h[4:]) }

// IsIPv6ExtensionHeader reports whether proto is an extension header that
// may precede the upper-layer header (RFC 8200 §4), excluding ESP and AH.
func IsIPv6ExtensionHeader(proto uint8) bool {
	switch proto {
	case ProtoHopByHop, ProtoRouting, ProtoFragment, ProtoDstOpts, ProtoMobility:
		return true
	}
	return false
}

// IPv6Chain describes an IPv6 packet's extension header chain.
type IPv6Chain struct {
	// InsertOffset is where transport-mode ESP or AH goes (RFC 4303 §3.1.1,
	// RFC 4302 §3.1.1): after Hop-by-Hop, Routing and Fragment headers and
	// any Destination Options header before a Routing header.
	InsertOffset int
	// NextHeaderOffset is the offset of the byte that holds the protocol of
	// the header at InsertOffset: 6 in the fixed header, or the first byte
	// of the extension header in front.
	NextHeaderOffset int
	// Proto and ProtoOffset are the first header that is not one of the
	// extension headers IsIPv6ExtensionHeader lists (upper layer, ESP, AH or
	// No Next Header) and where it starts.
	Proto       uint8
	ProtoOffset int
	// ProtoNextHeaderOffset is the offset of the byte that names Proto.
	ProtoNextHeaderOffset int
	// Fragment is set when a Fragment header is present; FragmentOffset is
	// the fragment offset in bytes from it.
	Fragment       bool
	FragmentOffset int
}

// ParseIPv6Chain walks the extension headers of the IPv6 packet b (of
// length at least IPv6Len). ok is false if a header is truncated.
func ParseIPv6Chain(b []byte) (c IPv6Chain, ok bool) {
	// The Destination Options header that precedes a Routing header is
	// examined by every router on the route and so stays in front of ESP/AH;
	// one after it is for the final destination and goes behind.
	lastRouting := -1
	next, off, nhOff := b[6], IPv6Len, 6
	for IsIPv6ExtensionHeader(next) {
		l, ok := extLen(b, off, next)
		if !ok {
			return c, false
		}
		if next == ProtoRouting {
			lastRouting = off
		}
		next, off, nhOff = b[off], off+l, off
	}
	c.Proto, c.ProtoOffset, c.ProtoNextHeaderOffset = next, off, nhOff

	c.InsertOffset, c.NextHeaderOffset = IPv6Len, 6
	next, off = b[6], IPv6Len
	for IsIPv6ExtensionHeader(next) {
		l, _ := extLen(b, off, next)
		if next == ProtoFragment {
			c.Fragment = true
			c.FragmentOffset = int(binary.BigEndian.Uint16(b[off+2:]) &^ 7)
		}
		if next == ProtoDstOpts && off > lastRouting {
			break
		}
		c.InsertOffset, c.NextHeaderOffset = off+l, off
		next, off = b[off], off+l
	}
	return c, true
}

// extLen returns the length of the extension header of type proto at off.
func extLen(b []byte, off int, proto uint8) (int, bool) {
	if off+8 > len(b) {
		return 0, false
	}
	l := 8
	if proto != ProtoFragment {
		l = (int(b[off+1]) + 1) * 8
	}
	return l, off+l <= len(b)
}
