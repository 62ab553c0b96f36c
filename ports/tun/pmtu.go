//go:build linux

package tun

import (
	"encoding/binary"

	"github.com/sabre-ipsec/sabre/header"
)

// maxOverhead bounds what ESP, AH, UDP encapsulation and an outer IPv6
// header add to a packet; inner packets shorter than the path MTU minus
// this cannot become too big, and the device does not keep their header.
const maxOverhead = 256

// quoteLen is how much of an inner packet an ICMP "too big" message
// quotes: the IP header and the first 8 bytes of its payload (RFC 792; for
// IPv6 the fixed header and 8 bytes, well under RFC 4443's limit).
const quoteLen = 60 + 8

// tooBig tells the sender of an inner packet, whose first bytes are
// quote, that it did not fit: secured, it was outerLen bytes, over the
// path MTU. The ICMP "fragmentation needed" (RFC 1191) or "packet too big"
// (RFC 8201) message goes into the TUN from the inner packet's
// destination, with the MTU that leaves room for the overhead, so the
// sender's stack lowers its path MTU for that destination and TCP its
// segment size, as behind any router with a smaller MTU.
func (d *Device) tooBig(quote []byte, innerLen, outerLen int) {
	pkt := buildTooBig(quote, d.pathMTU-(outerLen-innerLen))
	if pkt == nil {
		return
	}
	d.stats.TooBig.Add(1)
	if _, err := d.tun.Write([][]byte{pkt}, tunWriteOffset); err != nil && !d.closed.Load() {
		d.stats.TUNWriteErrors.Add(1)
	}
}

// buildTooBig returns the ICMP error for the packet whose first bytes are
// quote, at tunWriteOffset in the slice, or nil if none is due (the
// packet is an ICMP error itself, or not IP).
func buildTooBig(quote []byte, mtu int) []byte {
	var pkt []byte
	switch {
	case len(quote) >= header.IPv4MinLen && quote[0]>>4 == 4:
		h := header.IPv4(quote)
		hl := h.HeaderLength()
		if hl < header.IPv4MinLen || len(quote) < hl || h.Protocol() == header.ProtoICMP && len(quote) > hl && quote[hl] != 8 {
			return nil // never answer an ICMP error (only echo requests get one)
		}
		q := quote[:min(len(quote), hl+8)]
		n := header.IPv4MinLen + 8 + len(q)
		pkt = make([]byte, tunWriteOffset+n)
		p := pkt[tunWriteOffset:]
		header.IPv4(p).Encode(&header.IPv4Fields{TotalLength: n, TTL: 64, Protocol: header.ProtoICMP, Src: h.Dst(), Dst: h.Src()})
		icmp := p[header.IPv4MinLen:]
		icmp[0], icmp[1] = 3, 4 // destination unreachable, fragmentation needed and DF set
		binary.BigEndian.PutUint16(icmp[6:], uint16(max(mtu, 68)))
		copy(icmp[8:], q)
		binary.BigEndian.PutUint16(icmp[2:], ^header.Checksum(icmp, 0))
	case len(quote) >= header.IPv6Len && quote[0]>>4 == 6:
		h := header.IPv6(quote)
		if h.NextHeader() == header.ProtoICMPv6 && len(quote) > header.IPv6Len && quote[header.IPv6Len] < 128 {
			return nil // an ICMPv6 error message
		}
		n := header.IPv6Len + 8 + len(quote)
		pkt = make([]byte, tunWriteOffset+n)
		p := pkt[tunWriteOffset:]
		src, dst := h.Dst(), h.Src()
		header.IPv6(p).Encode(&header.IPv6Fields{PayloadLength: n - header.IPv6Len, NextHeader: header.ProtoICMPv6, HopLimit: 64, Src: src, Dst: dst})
		icmp := p[header.IPv6Len:]
		icmp[0] = 2 // packet too big
		binary.BigEndian.PutUint32(icmp[4:], uint32(max(mtu, 1280)))
		copy(icmp[8:], quote)
		binary.BigEndian.PutUint16(icmp[2:], ^header.Checksum(icmp, header.PseudoHeaderChecksum(header.ProtoICMPv6, src, dst, len(icmp))))
	default:
		return nil
	}
	return pkt
}
