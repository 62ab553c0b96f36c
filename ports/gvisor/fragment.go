package gvisor

import (
	"encoding/binary"
	"fmt"

	hdr "github.com/sabre-ipsec/sabre/header"
)

// ipv6FragmentLen is the length of the IPv6 Fragment header (RFC 8200 §4.5).
const ipv6FragmentLen = 8

// errDF reports an IPv4 packet that needs fragmenting but has DF set.
var errDF = fmt.Errorf("gvisor: IPv4 packet with DF set exceeds the MTU")

// fragmentIPv4 splits the IPv4 packet pkt into fragments of at most mtu
// bytes (RFC 791 §3.2) and calls emit with each fragment's header and data.
// Every fragment carries the datagram's identification; the options whose
// copied flag is set are repeated in every fragment, the others stay in
// the first. The header passed to emit is reused between calls.
//
// A packet with DF set is refused unless localDF: DF forbids fragmentation
// on the path, not by the sending host itself, which is how gVisor (like
// Linux with IP_PMTUDISC_WANT) sets DF on datagrams it then fragments. The
// fragments never carry DF.
func fragmentIPv4(pkt []byte, mtu int, localDF bool, emit func(header, data []byte)) error {
	hl, total, ok := hdr.ValidIPv4(pkt)
	if !ok {
		return fmt.Errorf("gvisor: cannot fragment a malformed IPv4 packet of %d bytes", len(pkt))
	}
	h := hdr.IPv4(pkt)
	if h.DF() && !localDF {
		return errDF
	}
	pkt = pkt[:total]
	// A packet the stack already fragmented keeps its offset and MF.
	baseOff := h.FragmentOffset()
	baseMF := h.FlagsFragmentOffset()&hdr.IPv4FlagMF != 0

	first := make([]byte, hl)
	copy(first, pkt[:hl])
	rest := copiedOptions(pkt[:hl])

	data := pkt[hl:]
	off := 0
	for len(data) > 0 {
		fh := rest
		if off == 0 {
			fh = first
		}
		n := len(data)
		if len(fh)+n > mtu {
			n = (mtu - len(fh)) &^ 7
			if n <= 0 {
				return fmt.Errorf("gvisor: MTU %d leaves no room for data after a %d-byte IPv4 header", mtu, len(fh))
			}
		}
		more := n < len(data) || baseMF
		fo := uint16((baseOff+off)/8) & 0x1fff
		if more {
			fo |= hdr.IPv4FlagMF
		}
		ip := hdr.IPv4(fh)
		ip.SetTotalLength(len(fh) + n)
		ip.SetFlagsFragmentOffset(fo)
		ip.UpdateChecksum()
		emit(fh, data[:n])
		data = data[n:]
		off += n
	}
	return nil
}

// copiedOptions returns the header for the second and later fragments of
// the IPv4 packet whose header is h: h with only the options whose copied
// flag is set (RFC 791 §3.1), padded to a multiple of 4 bytes.
func copiedOptions(h []byte) []byte {
	out := make([]byte, hdr.IPv4MinLen, len(h))
	copy(out, h[:hdr.IPv4MinLen])
	opts := h[hdr.IPv4MinLen:]
	for len(opts) > 0 {
		t := opts[0]
		if t == 0 { // End of Option List
			break
		}
		if t == 1 { // No Operation
			opts = opts[1:]
			continue
		}
		if len(opts) < 2 || int(opts[1]) < 2 || int(opts[1]) > len(opts) {
			break // malformed: keep what is known good
		}
		l := int(opts[1])
		if t&0x80 != 0 {
			out = append(out, opts[:l]...)
		}
		opts = opts[l:]
	}
	for len(out)%4 != 0 {
		out = append(out, 0)
	}
	out[0] = 0x40 | byte(len(out)/4)
	return out
}

// fragmentIPv6 splits the IPv6 packet pkt into fragments of at most mtu
// bytes, inserting a Fragment header with identification id after the
// unfragmentable part (RFC 8200 §4.5), and calls emit with each fragment's
// headers and data. The sender is the packet's source: the Endpoint
// fragments only packets of its own host.
func fragmentIPv6(pkt []byte, mtu int, id uint32, emit func(header, data []byte)) error {
	total, ok := hdr.ValidIPv6(pkt)
	if !ok {
		return fmt.Errorf("gvisor: cannot fragment a malformed IPv6 packet of %d bytes", len(pkt))
	}
	pkt = pkt[:total]
	c, ok := hdr.ParseIPv6Chain(pkt)
	if !ok {
		return fmt.Errorf("gvisor: cannot fragment an IPv6 packet with a truncated extension header")
	}
	if c.Fragment {
		return fmt.Errorf("gvisor: IPv6 packet of %d bytes is a fragment already", len(pkt))
	}
	// The unfragmentable part ends where ESP or AH would be inserted:
	// after Hop-by-Hop, Routing and the Destination Options before Routing.
	unfrag := c.InsertOffset
	fh := make([]byte, unfrag+ipv6FragmentLen)
	copy(fh, pkt[:unfrag])
	next := pkt[c.NextHeaderOffset]
	fh[c.NextHeaderOffset] = hdr.ProtoFragment
	frag := fh[unfrag:]
	frag[0] = next
	frag[1] = 0
	binary.BigEndian.PutUint32(frag[4:], id)

	data := pkt[unfrag:]
	max := (mtu - len(fh)) &^ 7
	if max <= 0 {
		return fmt.Errorf("gvisor: MTU %d leaves no room for data after %d bytes of IPv6 headers", mtu, len(fh))
	}
	off := 0
	for len(data) > 0 {
		n := min(len(data), max)
		fo := uint16(off) // offset in 8-byte units, shifted left 3: the byte offset
		if n < len(data) {
			fo |= 1 // M
		}
		binary.BigEndian.PutUint16(frag[2:], fo)
		hdr.IPv6(fh).SetPayloadLength(len(fh) - hdr.IPv6Len + n)
		emit(fh, data[:n])
		data = data[n:]
		off += n
	}
	return nil
}
