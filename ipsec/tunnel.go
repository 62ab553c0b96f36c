package ipsec

import (
	"net/netip"

	"github.com/sabre-ipsec/sabre/header"
	"github.com/sabre-ipsec/sabre/pktbuf"
)

// dfMode is how the outer IPv4 header's DF bit is chosen (the reference's
// SP_DF_COPY / SP_DF_SET; neither clears it).
type dfMode uint8

const (
	dfClear dfMode = iota
	dfSet
	dfCopy
)

// outerHeader is what a tunnel-mode outer IP header is built from.
type outerHeader struct {
	src, dst netip.Addr
	proto    uint8 // ESP, AH, or UDP for RFC 3948 encapsulation
	tos      uint8
	df       bool
	ttl      uint8
	flow     uint32
}

// pushOuter prepends the outer IP header for a payload that is already
// b.Bytes() and returns its length.
func (e *Engine) pushOuter(b *pktbuf.Buffer, o *outerHeader) int {
	if o.dst.Is4() {
		h := header.IPv4(b.Prepend(header.IPv4MinLen))
		var flags uint16
		if o.df {
			flags = header.IPv4FlagDF
		}
		h.Encode(&header.IPv4Fields{
			TOS: o.tos, TotalLength: b.Len(), ID: e.nextIPID(),
			Flags: flags, TTL: o.ttl, Protocol: o.proto, Src: o.src, Dst: o.dst,
		})
		return header.IPv4MinLen
	}
	h := header.IPv6(b.Prepend(header.IPv6Len))
	h.Encode(&header.IPv6Fields{
		TrafficClass: o.tos, FlowLabel: o.flow, PayloadLength: b.Len() - header.IPv6Len,
		NextHeader: o.proto, HopLimit: o.ttl, Src: o.src, Dst: o.dst,
	})
	return header.IPv6Len
}

// nextIPID returns the next outer IPv4 Identification, never 0: a raw
// IP_HDRINCL socket fills an ID of 0 in itself (raw(7)), after the AH ICV,
// which covers the ID (RFC 4302 §3.3.3.1.1.1), was computed.
func (e *Engine) nextIPID() uint16 {
	for {
		if id := uint16(e.ipID.Add(1)); id != 0 {
			return id
		}
	}
}

// innerTOS returns the TOS/Traffic Class and DF bit of the inner packet.
func innerTOS(pkt []byte) (tos uint8, df bool, flow uint32) {
	if pkt[0]>>4 == 4 {
		h := header.IPv4(pkt)
		return h.TOS(), h.DF(), 0
	}
	h := header.IPv6(pkt)
	return h.TrafficClass(), false, h.FlowLabel()
}

// setIPProto rewrites the protocol that follows the IP header (for IPv6,
// the byte at nhOff) and the length fields after a transport-mode change,
// recomputing the IPv4 header checksum.
func setIPProto(pkt []byte, v6 bool, nhOff int, proto uint8) {
	pkt[nhOff] = proto
	if v6 {
		header.IPv6(pkt).SetPayloadLength(len(pkt) - header.IPv6Len)
		return
	}
	h := header.IPv4(pkt)
	h.SetTotalLength(len(pkt))
	h.UpdateChecksum()
}
