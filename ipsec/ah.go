package ipsec

import (
	"github.com/sabre-ipsec/sabre/header"
	"github.com/sabre-ipsec/sabre/pktbuf"
	"github.com/sabre-ipsec/sabre/suite"
	"github.com/sabre-ipsec/sabre/xe"
)

// maxAHCoveredHeader bounds the IP header plus extension headers in front of
// AH whose mutable fields are saved on the stack while the ICV is computed.
const maxAHCoveredHeader = 512

// ahLength is the AH header length for an ICV of icvLen bytes: RFC 4302
// §2.2 requires a multiple of 32 bits for IPv4 and 64 bits for IPv6; the
// padding is part of the ICV field.
func ahLength(icvLen int, v6 bool) int {
	n := header.AHHeaderLen + icvLen
	align := 4
	if v6 {
		align = 8
	}
	return (n + align - 1) / align * align
}

// ahInsert inserts an AH header after the first hl bytes of b (the IP
// header and the extension headers that stay in front) and computes its
// ICV over the packet with the mutable fields zeroed (RFC 4302 §3.3.3).
func ahInsert(b *pktbuf.Buffer, hl, nhOff int, v6 bool, x suite.AH, spi uint32, seq uint64, esn bool) error {
	if hl > maxAHCoveredHeader {
		return xe.Errorf(xe.MalformedPacket, "%d bytes of IP headers in front of AH exceed %d", hl, maxAHCoveredHeader)
	}
	n := ahLength(x.ICVLen(), v6)
	next := b.Bytes()[nhOff]
	b.MoveFront(hl, -n)
	pkt := b.Bytes()
	header.AH(pkt[hl:]).Encode(next, n, spi, seq)
	setIPProto(pkt, v6, nhOff, header.ProtoAH)

	var saved [maxAHCoveredHeader]byte
	copy(saved[:hl], pkt[:hl])
	zeroMutable(pkt[:hl], v6)
	x.Sum(pkt, hl+header.AHHeaderLen, seq, esn)
	copy(pkt[:hl], saved[:hl])
	return nil
}

// ahVerify checks the AH header at pkt[hl:] and returns its length and next
// header. The packet is unchanged when it returns.
// A failure is recorded in d.
func ahVerify(pkt []byte, hl int, v6 bool, x suite.AH, seqHigh uint32, esn bool, d *xe.Drop) (n int, next uint8, ok bool) {
	if hl > maxAHCoveredHeader {
		d.Set(xe.MalformedPacket, "%d bytes of IP headers in front of AH exceed %d", xe.Int(hl), xe.Int(maxAHCoveredHeader))
		return 0, 0, false
	}
	ah := header.AH(pkt[hl:])
	n = ah.Length()
	if want := ahLength(x.ICVLen(), v6); n != want || len(ah) < n {
		d.Set(xe.MalformedPacket, "AH length %d, want %d for %s in a %d-byte packet", xe.Int(n), xe.Int(want), xe.Str(x.Name()), xe.Int(len(ah)))
		return 0, 0, false
	}
	var saved [maxAHCoveredHeader]byte
	var icv [header.AHHeaderLen + 64]byte
	copy(saved[:hl], pkt[:hl])
	copy(icv[:n], ah[:n])
	zeroMutable(pkt[:hl], v6)
	err := x.Verify(pkt, hl+header.AHHeaderLen, seqHigh, esn)
	copy(pkt[:hl], saved[:hl])
	copy(ah[:n], icv[:n])
	switch {
	case err == xe.AHDigestMismatch:
		// RFC 4302 §3.4.4; x returns the bare code, which allocates nothing.
		d.Set(xe.AHDigestMismatch, "%s: ICV mismatch for SPI %#08x, sequence number %d",
			xe.Str(x.Name()), xe.Uint(ah.SPI()), xe.Uint(ah.SequenceNumber()))
		return 0, 0, false
	case err != nil:
		d.Wrap(err)
		return 0, 0, false
	}
	return n, ah.NextHeader(), true
}

// zeroMutable zeroes the fields of the IP header (and IPv4 options or IPv6
// extension headers) that may change in transit, as RFC 4302 §3.3.3.1
// lists them.
func zeroMutable(hdr []byte, v6 bool) {
	if !v6 {
		h := header.IPv4(hdr)
		h.SetTOS(0)
		h.SetFlagsFragmentOffset(0)
		h.SetTTL(0)
		h.SetChecksum(0)
		zeroIPv4Options(hdr[header.IPv4MinLen:])
		return
	}
	// Version stays; Traffic Class and Flow Label are mutable.
	hdr[0] &= 0xf0
	hdr[1], hdr[2], hdr[3] = 0, 0, 0
	hdr[7] = 0 // Hop Limit
	next, off := hdr[6], header.IPv6Len
	for off+2 <= len(hdr) && header.IsIPv6ExtensionHeader(next) {
		l := (int(hdr[off+1]) + 1) * 8
		if next == header.ProtoFragment {
			l = 8
		}
		if off+l > len(hdr) {
			return
		}
		if next == header.ProtoHopByHop || next == header.ProtoDstOpts {
			zeroIPv6Options(hdr[off+2 : off+l])
		}
		next, off = hdr[off], off+l
	}
}

// zeroIPv4Options zeroes every option not listed as immutable by RFC 4302
// Appendix A.1 (End of List, No Operation, Security, Extended Security,
// Commercial Security, Router Alert, Sender Directed Multi-Destination
// Delivery). Loose and Strict Source Route are zeroed as a whole instead of
// being predicted; no peer is known to send AH over source-routed IPv4.
func zeroIPv4Options(opts []byte) {
	for i := 0; i < len(opts); {
		t := opts[i]
		if t == 0 { // End of Option List
			return
		}
		if t == 1 { // No Operation
			i++
			continue
		}
		if i+1 >= len(opts) {
			clear(opts[i:])
			return
		}
		l := int(opts[i+1])
		if l < 2 || i+l > len(opts) {
			clear(opts[i:])
			return
		}
		switch t {
		case 130, 133, 134, 148, 149: // Security, Extended Security, Commercial Security, Router Alert, SDMDD
		default:
			clear(opts[i : i+l])
		}
		i += l
	}
}

// zeroIPv6Options zeroes the data of options whose type has the
// "may change en route" bit set (RFC 8200 §4.2, RFC 4302 §3.3.3.1.2.2).
func zeroIPv6Options(opts []byte) {
	for i := 0; i < len(opts); {
		t := opts[i]
		if t == 0 { // Pad1
			i++
			continue
		}
		if i+1 >= len(opts) {
			return
		}
		l := int(opts[i+1])
		if i+2+l > len(opts) {
			return
		}
		if t&0x20 != 0 {
			clear(opts[i+2 : i+2+l])
		}
		i += 2 + l
	}
}
