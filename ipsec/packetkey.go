package ipsec

import (
	"encoding/binary"

	"github.com/sabre-ipsec/sabre/classify"
	"github.com/sabre-ipsec/sabre/header"
	"github.com/sabre-ipsec/sabre/xe"
)

// ipInfo is what the engine learns from an IP header before deciding.
type ipInfo struct {
	v6    bool
	hlen  int // IPv4 header length, or offset of the ESP/AH insertion point for IPv6
	nhOff int // offset of the byte that names the protocol at hlen
	total int // datagram length from the header
	proto uint8
	pOff  int // offset of the upper-layer (or ESP/AH) header
	// protoNHOff is the offset of the byte that names proto: the IPv4
	// Protocol field, or the Next Header byte in front of pOff for IPv6.
	protoNHOff int
	isFrag     bool
	// firstFrag is false for a non-initial fragment, whose ports are
	// unknown (RFC 4301 §7 treats them as OPAQUE).
	firstFrag bool
}

// validIP validates the IP header of pkt and fills info. It rejects what
// the engine cannot safely process, recording why in d.
func validIP(pkt []byte, info *ipInfo, d *xe.Drop) bool {
	if len(pkt) == 0 {
		d.Set(xe.MalformedPacket, "empty packet")
		return false
	}
	switch pkt[0] >> 4 {
	case 4:
		hlen, total, ok := header.ValidIPv4(pkt)
		if !ok {
			d.Set(xe.MalformedPacket, "IPv4 header invalid or truncated (%d bytes)", xe.Int(len(pkt)))
			return false
		}
		h := header.IPv4(pkt)
		*info = ipInfo{hlen: hlen, nhOff: 9, total: total, proto: h.Protocol(), pOff: hlen, protoNHOff: 9,
			isFrag: h.IsFragment(), firstFrag: h.FragmentOffset() == 0}
		return true
	case 6:
		total, ok := header.ValidIPv6(pkt)
		if !ok {
			d.Set(xe.MalformedPacket, "IPv6 header invalid or truncated (%d bytes)", xe.Int(len(pkt)))
			return false
		}
		c, ok := header.ParseIPv6Chain(pkt[:total])
		if !ok {
			d.Set(xe.MalformedPacket, "IPv6 extension header truncated")
			return false
		}
		*info = ipInfo{v6: true, hlen: c.InsertOffset, nhOff: c.NextHeaderOffset, total: total,
			proto: c.Proto, pOff: c.ProtoOffset, protoNHOff: c.ProtoNextHeaderOffset,
			isFrag: c.Fragment, firstFrag: c.FragmentOffset == 0}
		return true
	}
	d.Set(xe.MalformedPacket, "IP version %d", xe.Uint(pkt[0]>>4))
	return false
}

// fillKey sets the classification key of the packet: addresses, protocol
// and ports (ICMP type and code in the port fields, as classify documents).
func fillKey(pkt []byte, info *ipInfo, k *classify.Packet) {
	if info.v6 {
		h := header.IPv6(pkt)
		k.Src, k.Dst = h.Src(), h.Dst()
	} else {
		h := header.IPv4(pkt)
		k.Src, k.Dst = h.Src(), h.Dst()
	}
	k.Proto = info.proto
	k.SrcPort, k.DstPort = 0, 0
	if !info.firstFrag {
		return
	}
	p := pkt[info.pOff:info.total]
	switch info.proto {
	case header.ProtoTCP, header.ProtoUDP, header.ProtoSCTP:
		if len(p) >= 4 {
			k.SrcPort = binary.BigEndian.Uint16(p[0:])
			k.DstPort = binary.BigEndian.Uint16(p[2:])
		}
	case header.ProtoICMP, header.ProtoICMPv6:
		if len(p) >= 2 {
			k.SrcPort, k.DstPort = uint16(p[0]), uint16(p[1])
		}
	}
}
