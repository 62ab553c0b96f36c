package reassembly

import (
	"encoding/binary"

	"github.com/sabre-ipsec/sabre/header"
	"github.com/sabre-ipsec/sabre/xe"
)

// isIPv4Fragment is IsFragment for a packet whose version is 4.
func isIPv4Fragment(pkt []byte) bool {
	if len(pkt) < header.IPv4MinLen {
		return false
	}
	h := header.IPv4(pkt)
	return h.MoreFragments() || h.FragmentOffset() != 0
}

// parseIPv4 checks an IPv4 header and, if the packet is a fragment, returns
// its description with hdr and data aliasing pkt. Bytes beyond the total
// length (link-layer padding) are ignored.
func parseIPv4(pkt []byte) (f fragment, isFragment bool, err error) {
	if len(pkt) < header.IPv4MinLen {
		return f, false, xe.Errorf(xe.MalformedPacket, "reassembly: IPv4 header truncated: %d bytes, need %d", len(pkt), header.IPv4MinLen)
	}
	h := header.IPv4(pkt)
	if v := h.Version(); v != 4 {
		return f, false, xe.Errorf(xe.MalformedPacket, "reassembly: IP version %d in an IPv4 header", v)
	}
	ihl := h.HeaderLength()
	if ihl < header.IPv4MinLen {
		return f, false, xe.Errorf(xe.MalformedPacket, "reassembly: IPv4 header length %d < %d", ihl, header.IPv4MinLen)
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
			id:    uint32(h.ID()),
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
