package reassembly

import (
	"github.com/sabre-ipsec/sabre/header"
	"github.com/sabre-ipsec/sabre/xe"
)

// findFragmentHeader walks the Hop-by-Hop, Routing and Destination Options
// headers after the IPv6 header in pkt. It returns the offset of the
// Fragment header, or -1 if the chain reaches any other header first, and
// the index of the Next Header field that names it. It fails if an
// extension header on the way runs past the end of pkt.
func findFragmentHeader(pkt []byte) (fragOff, nhIndex int, err error) {
	nhIndex = 6
	off := header.IPv6Len
	for {
		switch nh := pkt[nhIndex]; nh {
		case header.ProtoFragment:
			return off, nhIndex, nil
		case header.ProtoHopByHop, header.ProtoRouting, header.ProtoDstOpts:
			if off+2 > len(pkt) {
				return -1, 0, xe.Errorf(xe.MalformedPacket, "reassembly: IPv6 extension header %d at offset %d truncated", nh, off)
			}
			n := (int(pkt[off+1]) + 1) * 8
			if off+n > len(pkt) {
				return -1, 0, xe.Errorf(xe.MalformedPacket, "reassembly: IPv6 extension header %d at offset %d: length %d runs past the packet's %d bytes", nh, off, n, len(pkt))
			}
			nhIndex = off
			off += n
		default:
			return -1, 0, nil
		}
	}
}

// ipv6End returns how much of pkt the IPv6 header's payload length covers,
// or len(pkt) for a jumbogram (payload length 0, RFC 2675).
func ipv6End(pkt []byte) int {
	pl := header.IPv6(pkt).PayloadLength()
	if pl == 0 || header.IPv6Len+pl > len(pkt) {
		return len(pkt)
	}
	return header.IPv6Len + pl
}

// isIPv6Fragment is IsFragment for a packet whose version is 6.
func isIPv6Fragment(pkt []byte) bool {
	if len(pkt) < header.IPv6Len {
		return false
	}
	off, _, err := findFragmentHeader(pkt[:ipv6End(pkt)])
	return err == nil && off >= 0
}

// parseIPv6 checks an IPv6 header and the extension headers in front of a
// Fragment header and, if there is one, returns the fragment's description
// with hdr (the Unfragmentable Part) and data aliasing pkt. Bytes beyond the
// payload length are ignored.
func parseIPv6(pkt []byte) (f fragment, isFragment bool, err error) {
	if len(pkt) < header.IPv6Len {
		return f, false, xe.Errorf(xe.MalformedPacket, "reassembly: IPv6 header truncated: %d bytes, need %d", len(pkt), header.IPv6Len)
	}
	h := header.IPv6(pkt)
	if v := h.Version(); v != 6 {
		return f, false, xe.Errorf(xe.MalformedPacket, "reassembly: IP version %d in an IPv6 header", v)
	}
	pl := h.PayloadLength()
	if header.IPv6Len+pl > len(pkt) {
		return f, false, xe.Errorf(xe.MalformedPacket, "reassembly: IPv6 payload length %d > %d bytes received", pl, len(pkt)-header.IPv6Len)
	}
	end := ipv6End(pkt)
	fragOff, nhIndex, err := findFragmentHeader(pkt[:end])
	if err != nil {
		return f, false, err
	}
	if fragOff < 0 {
		return f, false, nil
	}
	if pl == 0 {
		// RFC 2675 §3: a jumbogram cannot carry a Fragment header.
		return f, false, xe.Errorf(xe.MalformedPacket, "reassembly: IPv6 payload length 0 (jumbogram) with a Fragment header")
	}
	if fragOff+header.IPv6FragmentLen > end {
		return f, false, xe.Errorf(xe.MalformedPacket, "reassembly: IPv6 Fragment header at offset %d truncated: packet ends at %d", fragOff, end)
	}
	fh := header.IPv6Fragment(pkt[fragOff : fragOff+header.IPv6FragmentLen])
	f = fragment{
		key: key{
			id: fh.Identification(),
			v6: true,
		},
		hdr:        pkt[:fragOff],
		nhIndex:    nhIndex,
		nextHeader: fh.NextHeader(),
		offset:     fh.FragmentOffset(),
		data:       pkt[fragOff+header.IPv6FragmentLen : end],
		more:       fh.More(),
	}
	copy(f.key.src[:], pkt[8:24])
	copy(f.key.dst[:], pkt[24:40])
	return f, true, nil
}
