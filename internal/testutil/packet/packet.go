// Package packet builds the plain IP packets tests feed to the engine,
// the ports and independent decoders (tshark): an IPv4 or IPv6 header
// (TTL or hop limit 64) in front of a payload, and UDP datagrams (UDP
// checksum zero).
package packet

import (
	"net/netip"

	"github.com/sabre-ipsec/sabre/header"
	"github.com/sabre-ipsec/sabre/pktbuf"
)

// IPHeaderLen is the length of the IP header IP writes for src: 20 octets
// for IPv4, 40 for IPv6.
func IPHeaderLen(src netip.Addr) int {
	if src.Is4() {
		return header.IPv4MinLen
	}
	return header.IPv6Len
}

// EncodeIP writes into the front of p an IP header from src to dst of
// protocol proto for a packet of len(p) octets (IPv4 with its checksum,
// or IPv6, by src's family), and returns the rest of p: the payload.
func EncodeIP(p []byte, src, dst netip.Addr, proto uint8) []byte {
	if src.Is4() {
		header.IPv4(p).Encode(&header.IPv4Fields{TotalLength: len(p), TTL: 64, Protocol: proto, Src: src, Dst: dst})
		return p[header.IPv4MinLen:]
	}
	header.IPv6(p).Encode(&header.IPv6Fields{PayloadLength: len(p) - header.IPv6Len, NextHeader: proto, HopLimit: 64, Src: src, Dst: dst})
	return p[header.IPv6Len:]
}

// EncodeUDP writes into the front of p the IP and UDP headers of a
// datagram from src to dst that fills p, and returns the rest of p: the
// datagram's payload.
func EncodeUDP(p []byte, src, dst netip.AddrPort) []byte {
	udp := EncodeIP(p, src.Addr(), dst.Addr(), header.ProtoUDP)
	header.UDP(udp).Encode(src.Port(), dst.Port(), len(udp))
	return udp[header.UDPLen:]
}

// IP returns a packet from src to dst of protocol proto carrying payload.
func IP(src, dst netip.Addr, proto uint8, payload []byte) []byte {
	p := make([]byte, IPHeaderLen(src)+len(payload))
	copy(EncodeIP(p, src, dst, proto), payload)
	return p
}

// UDP returns a UDP datagram from src to dst carrying payload.
func UDP(src, dst netip.AddrPort, payload []byte) []byte {
	p := make([]byte, IPHeaderLen(src.Addr())+header.UDPLen+len(payload))
	copy(EncodeUDP(p, src, dst), payload)
	return p
}

// UDPBuffer returns a buffer of pktbuf.DefaultPool holding a UDP datagram
// from src to dst carrying payload, with the pool's head- and tailroom.
func UDPBuffer(src, dst netip.AddrPort, payload []byte) *pktbuf.Buffer {
	b := pktbuf.DefaultPool.Get()
	p := b.Append(IPHeaderLen(src.Addr()) + header.UDPLen + len(payload))
	copy(EncodeUDP(p, src, dst), payload)
	return b
}
