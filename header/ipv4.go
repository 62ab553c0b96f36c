// Package header provides views of the IP, ESP, AH and UDP headers Sabre
// reads and writes: byte slices with methods named after the RFC fields,
// in the style of gVisor's tcpip/header. Views do not check lengths; the
// caller validates with the Is*/Valid helpers first.
package header

import (
	"encoding/binary"
	"net/netip"
)

// IP protocol numbers Sabre handles.
const (
	ProtoHopByHop = 0
	ProtoICMP     = 1
	ProtoIPv4     = 4 // IP-in-IP, tunnel mode inner IPv4
	ProtoTCP      = 6
	ProtoUDP      = 17
	ProtoIPv6     = 41 // tunnel mode inner IPv6
	ProtoRouting  = 43
	ProtoFragment = 44
	ProtoESP      = 50
	ProtoAH       = 51
	ProtoICMPv6   = 58
	ProtoNone     = 59 // "no next header": ESP dummy packets (RFC 4303 §2.6)
	ProtoDstOpts  = 60
	ProtoMobility = 135
	ProtoSCTP     = 132
)

// IPv4MinLen is the length of an IPv4 header without options.
const IPv4MinLen = 20

// IPv4 flag bits in the flags/fragment-offset word.
const (
	IPv4FlagDF = 0x4000
	IPv4FlagMF = 0x2000
	// IPv4FragmentOffsetMask selects the fragment offset (in 8-octet units).
	IPv4FragmentOffsetMask = 0x1fff
)

// IPv4 is a view of an IPv4 header (RFC 791).
type IPv4 []byte

// Version is the IP version field (4 for a valid IPv4 header).
func (h IPv4) Version() uint8 { return h[0] >> 4 }

// HeaderLength is IHL in bytes.
func (h IPv4) HeaderLength() int { return int(h[0]&0x0f) * 4 }

// TOS is the DSCP and ECN byte.
func (h IPv4) TOS() uint8 { return h[1] }

// SetTOS sets the DSCP and ECN byte.
func (h IPv4) SetTOS(v uint8) { h[1] = v }

// TotalLength is the length of the datagram.
func (h IPv4) TotalLength() int { return int(binary.BigEndian.Uint16(h[2:])) }

// SetTotalLength sets the length of the datagram.
func (h IPv4) SetTotalLength(n int) { binary.BigEndian.PutUint16(h[2:], uint16(n)) }

// ID is the identification field.
func (h IPv4) ID() uint16 { return binary.BigEndian.Uint16(h[4:]) }

// SetID sets the identification field.
func (h IPv4) SetID(v uint16) { binary.BigEndian.PutUint16(h[4:], v) }

// FlagsFragmentOffset is the flags and fragment offset word.
func (h IPv4) FlagsFragmentOffset() uint16 { return binary.BigEndian.Uint16(h[6:]) }

// SetFlagsFragmentOffset sets the flags and fragment offset word.
func (h IPv4) SetFlagsFragmentOffset(v uint16) { binary.BigEndian.PutUint16(h[6:], v) }

// DF reports whether Don't Fragment is set.
func (h IPv4) DF() bool { return h.FlagsFragmentOffset()&IPv4FlagDF != 0 }

// IsFragment reports whether the datagram is a fragment (MF set or a
// non-zero offset).
func (h IPv4) IsFragment() bool {
	return h.FlagsFragmentOffset()&(IPv4FlagMF|IPv4FragmentOffsetMask) != 0
}

// FragmentOffset is the fragment offset in bytes.
func (h IPv4) FragmentOffset() int { return int(h.FlagsFragmentOffset()&IPv4FragmentOffsetMask) * 8 }

// MoreFragments reports the MF flag.
func (h IPv4) MoreFragments() bool { return h.FlagsFragmentOffset()&IPv4FlagMF != 0 }

// ClearFragmentation clears MF and the fragment offset, keeping DF and the
// reserved bit: the header of a reassembled datagram.
func (h IPv4) ClearFragmentation() {
	h.SetFlagsFragmentOffset(h.FlagsFragmentOffset() &^ (IPv4FlagMF | IPv4FragmentOffsetMask))
}

// TTL is the time to live.
func (h IPv4) TTL() uint8 { return h[8] }

// SetTTL sets the time to live.
func (h IPv4) SetTTL(v uint8) { h[8] = v }

// Protocol is the payload's IP protocol number.
func (h IPv4) Protocol() uint8 { return h[9] }

// SetProtocol sets the payload's IP protocol number.
func (h IPv4) SetProtocol(v uint8) { h[9] = v }

// Checksum is the header checksum.
func (h IPv4) Checksum() uint16 { return binary.BigEndian.Uint16(h[10:]) }

// SetChecksum sets the header checksum.
func (h IPv4) SetChecksum(v uint16) { binary.BigEndian.PutUint16(h[10:], v) }

// Src is the source address.
func (h IPv4) Src() netip.Addr { return netip.AddrFrom4([4]byte(h[12:16])) }

// Dst is the destination address.
func (h IPv4) Dst() netip.Addr { return netip.AddrFrom4([4]byte(h[16:20])) }

// SetSrc sets the source address.
func (h IPv4) SetSrc(a netip.Addr) { b := a.As4(); copy(h[12:16], b[:]) }

// SetDst sets the destination address.
func (h IPv4) SetDst(a netip.Addr) { b := a.As4(); copy(h[16:20], b[:]) }

// UpdateChecksum recomputes the header checksum.
func (h IPv4) UpdateChecksum() {
	h.SetChecksum(0)
	h.SetChecksum(^Checksum(h[:h.HeaderLength()], 0))
}

// ValidIPv4 reports whether b starts with a well-formed IPv4 header whose
// total length fits in b. It returns the header length and total length.
func ValidIPv4(b []byte) (hlen, total int, ok bool) {
	if len(b) < IPv4MinLen || b[0]>>4 != 4 {
		return 0, 0, false
	}
	h := IPv4(b)
	hlen, total = h.HeaderLength(), h.TotalLength()
	if hlen < IPv4MinLen || total < hlen || total > len(b) {
		return 0, 0, false
	}
	return hlen, total, true
}

// IPv4Fields are the fields Encode writes.
type IPv4Fields struct {
	TOS         uint8
	TotalLength int
	ID          uint16
	Flags       uint16 // IPv4FlagDF or 0
	TTL         uint8
	Protocol    uint8
	Src, Dst    netip.Addr
}

// Encode writes a 20-byte header with the given fields and its checksum.
func (h IPv4) Encode(f *IPv4Fields) {
	h[0] = 0x45
	h[1] = f.TOS
	h.SetTotalLength(f.TotalLength)
	h.SetID(f.ID)
	h.SetFlagsFragmentOffset(f.Flags)
	h[8] = f.TTL
	h[9] = f.Protocol
	h.SetSrc(f.Src)
	h.SetDst(f.Dst)
	h.UpdateChecksum()
}
