package reassembly

import (
	"encoding/binary"

	"github.com/sabre-ipsec/sabre/xe"
)

// ipv6 is a view of an IPv6 header (RFC 8200 §3). Its accessors assume at
// least ipv6HeaderLen bytes.
type ipv6 []byte

const (
	ipv6HeaderLen        = 40
	ipv6MaxPayloadLen    = 65535
	ipv6NextHeaderOffset = 6

	// Extension header types that may precede the Fragment header in the
	// Unfragmentable Part (RFC 8200 §4.1, §4.5).
	protoHopByHop    = 0
	protoRouting     = 43
	protoFragment    = 44
	protoDestOptions = 60

	ipv6FragmentHeaderLen = 8
)

func (h ipv6) Version() uint8 { return h[0] >> 4 }

func (h ipv6) PayloadLength() int { return int(binary.BigEndian.Uint16(h[4:])) }

func (h ipv6) SetPayloadLength(n int) { binary.BigEndian.PutUint16(h[4:], uint16(n)) }

// ipv6Fragment is a view of the IPv6 Fragment header (RFC 8200 §4.5).
type ipv6Fragment []byte

func (h ipv6Fragment) NextHeader() uint8 { return h[0] }

// FragmentOffset returns the offset in bytes.
func (h ipv6Fragment) FragmentOffset() int { return int(binary.BigEndian.Uint16(h[2:])>>3) * 8 }

// More reports the M flag.
func (h ipv6Fragment) More() bool { return h[3]&1 != 0 }

func (h ipv6Fragment) Identification() uint32 { return binary.BigEndian.Uint32(h[4:]) }

// findFragmentHeader walks the Hop-by-Hop, Routing and Destination Options
// headers after the IPv6 header in pkt. It returns the offset of the
// Fragment header, or -1 if the chain reaches any other header first, and
// the index of the Next Header field that names it. It fails if an
// extension header on the way runs past the end of pkt.
func findFragmentHeader(pkt []byte) (fragOff, nhIndex int, err error) {
	nhIndex = ipv6NextHeaderOffset
	off := ipv6HeaderLen
	for {
		switch nh := pkt[nhIndex]; nh {
		case protoFragment:
			return off, nhIndex, nil
		case protoHopByHop, protoRouting, protoDestOptions:
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
	pl := ipv6(pkt).PayloadLength()
	if pl == 0 || ipv6HeaderLen+pl > len(pkt) {
		return len(pkt)
	}
	return ipv6HeaderLen + pl
}

// isIPv6Fragment is IsFragment for a packet whose version is 6.
func isIPv6Fragment(pkt []byte) bool {
	if len(pkt) < ipv6HeaderLen {
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
	if len(pkt) < ipv6HeaderLen {
		return f, false, xe.Errorf(xe.MalformedPacket, "reassembly: IPv6 header truncated: %d bytes, need %d", len(pkt), ipv6HeaderLen)
	}
	h := ipv6(pkt)
	if v := h.Version(); v != 6 {
		return f, false, xe.Errorf(xe.MalformedPacket, "reassembly: IP version %d in an IPv6 header", v)
	}
	pl := h.PayloadLength()
	if ipv6HeaderLen+pl > len(pkt) {
		return f, false, xe.Errorf(xe.MalformedPacket, "reassembly: IPv6 payload length %d > %d bytes received", pl, len(pkt)-ipv6HeaderLen)
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
	if fragOff+ipv6FragmentHeaderLen > end {
		return f, false, xe.Errorf(xe.MalformedPacket, "reassembly: IPv6 Fragment header at offset %d truncated: packet ends at %d", fragOff, end)
	}
	fh := ipv6Fragment(pkt[fragOff : fragOff+ipv6FragmentHeaderLen])
	f = fragment{
		key: key{
			id: fh.Identification(),
			v6: true,
		},
		hdr:        pkt[:fragOff],
		nhIndex:    nhIndex,
		nextHeader: fh.NextHeader(),
		offset:     fh.FragmentOffset(),
		data:       pkt[fragOff+ipv6FragmentHeaderLen : end],
		more:       fh.More(),
	}
	copy(f.key.src[:], pkt[8:24])
	copy(f.key.dst[:], pkt[24:40])
	return f, true, nil
}
