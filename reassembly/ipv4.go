package reassembly

import (
	"encoding/binary"

	"github.com/sabre-ipsec/sabre/header"
	"github.com/sabre-ipsec/sabre/xe"
)

// ipv4 is a view of an IPv4 header (RFC 791 §3.1). Its accessors assume
// at least ipv4MinHeaderLen bytes.
type ipv4 []byte

const (
	ipv4MinHeaderLen = 20
	ipv4MaxTotalLen  = 65535

	ipv4FlagMF         = 0x2000
	ipv4FlagsMask      = 0xe000
	ipv4FragOffsetMask = 0x1fff
)

func (h ipv4) Version() uint8 { return h[0] >> 4 }

// IHL returns the header length in bytes.
func (h ipv4) IHL() int { return int(h[0]&0x0f) * 4 }

func (h ipv4) TotalLength() int { return int(binary.BigEndian.Uint16(h[2:])) }

func (h ipv4) Identification() uint16 { return binary.BigEndian.Uint16(h[4:]) }

func (h ipv4) flagsAndOffset() uint16 { return binary.BigEndian.Uint16(h[6:]) }

// MoreFragments reports the MF flag.
func (h ipv4) MoreFragments() bool { return h.flagsAndOffset()&ipv4FlagMF != 0 }

// FragmentOffset returns the fragment offset in bytes.
func (h ipv4) FragmentOffset() int { return int(h.flagsAndOffset()&ipv4FragOffsetMask) * 8 }

func (h ipv4) Protocol() uint8 { return h[9] }

func (h ipv4) SetTotalLength(n int) { binary.BigEndian.PutUint16(h[2:], uint16(n)) }

// clearFragmentation clears MF and the fragment offset, keeping DF and the
// reserved bit.
func (h ipv4) clearFragmentation() {
	binary.BigEndian.PutUint16(h[6:], h.flagsAndOffset()&^(ipv4FlagMF|ipv4FragOffsetMask))
}

// SetChecksum computes the header checksum over h[:IHL].
func (h ipv4) SetChecksum() {
	h[10], h[11] = 0, 0
	binary.BigEndian.PutUint16(h[10:], ^header.Checksum(h[:h.IHL()], 0))
}

// isIPv4Fragment is IsFragment for a packet whose version is 4.
func isIPv4Fragment(pkt []byte) bool {
	if len(pkt) < ipv4MinHeaderLen {
		return false
	}
	h := ipv4(pkt)
	return h.MoreFragments() || h.FragmentOffset() != 0
}

// parseIPv4 checks an IPv4 header and, if the packet is a fragment, returns
// its description with hdr and data aliasing pkt. Bytes beyond the total
// length (link-layer padding) are ignored.
func parseIPv4(pkt []byte) (f fragment, isFragment bool, err error) {
	if len(pkt) < ipv4MinHeaderLen {
		return f, false, xe.Errorf(xe.MalformedPacket, "reassembly: IPv4 header truncated: %d bytes, need %d", len(pkt), ipv4MinHeaderLen)
	}
	h := ipv4(pkt)
	if v := h.Version(); v != 4 {
		return f, false, xe.Errorf(xe.MalformedPacket, "reassembly: IP version %d in an IPv4 header", v)
	}
	ihl := h.IHL()
	if ihl < ipv4MinHeaderLen {
		return f, false, xe.Errorf(xe.MalformedPacket, "reassembly: IPv4 header length %d < %d", ihl, ipv4MinHeaderLen)
	}
	if ihl > len(pkt) {
		return f, false, xe.Errorf(xe.MalformedPacket, "reassembly: IPv4 header length %d > %d bytes received", ihl, len(pkt))
	}
	tl := h.TotalLength()
	if tl < ihl {
		return f, false, xe.Errorf(xe.MalformedPacket, "reassembly: IPv4 total length %d < header length %d", tl, ihl)
	}
	if tl > len(pkt) {
		return f, false, xe.Errorf(xe.MalformedPacket, "reassembly: IPv4 total length %d > %d bytes received", tl, len(pkt))
	}
	if c := header.Checksum(pkt[:ihl], 0); c != 0xffff {
		return f, false, xe.Errorf(xe.MalformedPacket, "reassembly: IPv4 header checksum %#04x is wrong", binary.BigEndian.Uint16(pkt[10:]))
	}
	f = fragment{
		key: key{
			id:    uint32(h.Identification()),
			proto: h.Protocol(),
		},
		hdr:    pkt[:ihl],
		offset: h.FragmentOffset(),
		data:   pkt[ihl:tl],
		more:   h.MoreFragments(),
	}
	copy(f.key.src[:], pkt[12:16])
	copy(f.key.dst[:], pkt[16:20])
	return f, f.more || f.offset != 0, nil
}
