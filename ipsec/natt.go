package ipsec

import (
	"net/netip"

	"github.com/sabre-ipsec/sabre/header"
	"github.com/sabre-ipsec/sabre/pktbuf"
	"github.com/sabre-ipsec/sabre/sad"
)

// NATTPort is the IKE/NAT-T port on which UDP-encapsulated ESP arrives by
// default (RFC 3948 §2, RFC 7296 §2.23).
const NATTPort = 4500

// natKind classifies the payload of a UDP datagram on a NAT-T port
// (RFC 3948 §2.2, §2.3).
type natKind uint8

const (
	natESP       natKind = iota // UDP-encapsulated ESP: the SPI is non-zero
	natIKE                      // the four-byte zero non-ESP marker: IKE's
	natKeepalive                // the one-byte 0xFF NAT-keepalive
	natInvalid
)

func classifyNATT(payload []byte) natKind {
	switch {
	case len(payload) == 1 && payload[0] == 0xff:
		return natKeepalive
	case len(payload) >= 4 && payload[0]|payload[1]|payload[2]|payload[3] == 0:
		return natIKE
	case len(payload) >= header.ESPHeaderLen:
		return natESP
	}
	return natInvalid
}

// pushUDPEncapFor prepends a UDP header to the ESP packet in b for the
// outer addresses src and dst (tunnel mode, before the outer IP header).
func pushUDPEncapFor(b *pktbuf.Buffer, src, dst netip.Addr, enc sad.UDPEncap) {
	b.Prepend(header.UDPLen)
	writeUDPEncap(b.Bytes(), src, dst, enc)
}

// writeUDPEncap writes the UDP header at the front of u, which runs to the
// end of the datagram. For IPv4 the checksum is zero (RFC 3948 §2.1); IPv6
// does not allow a zero UDP checksum here (RFC 8200 §8.1), so it is
// computed.
func writeUDPEncap(u []byte, src, dst netip.Addr, enc sad.UDPEncap) {
	header.UDP(u).Encode(enc.SrcPort, enc.DstPort, len(u))
	if dst.Is6() {
		sum := ^header.Checksum(u, header.PseudoHeaderChecksum(header.ProtoUDP, src, dst, len(u)))
		if sum == 0 {
			sum = 0xffff
		}
		header.UDP(u).SetChecksum(sum)
	}
}

// ipAddrs returns the source and destination of the IP packet pkt.
func ipAddrs(pkt []byte, v6 bool) (src, dst netip.Addr) {
	if v6 {
		h := header.IPv6(pkt)
		return h.Src(), h.Dst()
	}
	h := header.IPv4(pkt)
	return h.Src(), h.Dst()
}
