package ipsec

import (
	"net"
	"net/netip"
	"testing"

	"github.com/google/gopacket"
	"github.com/google/gopacket/layers"

	"github.com/sabre-ipsec/sabre/pktbuf"
)

// testPacket describes an inner packet the tests build with gopacket, an
// implementation independent of Sabre's header package.
type testPacket struct {
	src, dst   string
	proto      layers.IPProtocol // TCP, UDP or ICMP(v6)
	sport      uint16
	dport      uint16
	payloadLen int
	tos        uint8
	df         bool
}

// build serializes p and returns it in a pool-sized buffer with default
// head- and tailroom, as a stack would hand it to the hooks.
func (p testPacket) build(t testing.TB) *pktbuf.Buffer {
	t.Helper()
	src, dst := netip.MustParseAddr(p.src), netip.MustParseAddr(p.dst)
	payload := make([]byte, p.payloadLen)
	for i := range payload {
		payload[i] = byte(i*7 + 3)
	}
	var ip gopacket.NetworkLayer
	var ls []gopacket.SerializableLayer
	proto := p.proto
	if proto == 0 {
		proto = layers.IPProtocolUDP
	}
	if src.Is4() {
		v4 := &layers.IPv4{Version: 4, TTL: 64, TOS: p.tos, Protocol: proto, SrcIP: net.IP(src.AsSlice()), DstIP: net.IP(dst.AsSlice())}
		if p.df {
			v4.Flags = layers.IPv4DontFragment
		}
		ip = v4
		ls = append(ls, v4)
	} else {
		if proto == layers.IPProtocolICMPv4 {
			proto = layers.IPProtocolICMPv6
		}
		v6 := &layers.IPv6{Version: 6, HopLimit: 64, TrafficClass: p.tos, NextHeader: proto, SrcIP: net.IP(src.AsSlice()), DstIP: net.IP(dst.AsSlice())}
		ip = v6
		ls = append(ls, v6)
	}
	switch proto {
	case layers.IPProtocolTCP:
		tcp := &layers.TCP{SrcPort: layers.TCPPort(p.sport), DstPort: layers.TCPPort(p.dport), Seq: 1, ACK: true, Window: 512}
		tcp.SetNetworkLayerForChecksum(ip)
		ls = append(ls, tcp)
	case layers.IPProtocolUDP:
		udp := &layers.UDP{SrcPort: layers.UDPPort(p.sport), DstPort: layers.UDPPort(p.dport)}
		udp.SetNetworkLayerForChecksum(ip)
		ls = append(ls, udp)
	case layers.IPProtocolICMPv4:
		ls = append(ls, &layers.ICMPv4{TypeCode: layers.CreateICMPv4TypeCode(8, 0), Id: 1, Seq: 1})
	case layers.IPProtocolICMPv6:
		icmp := &layers.ICMPv6{TypeCode: layers.CreateICMPv6TypeCode(128, 0)}
		icmp.SetNetworkLayerForChecksum(ip)
		ls = append(ls, icmp)
	}
	ls = append(ls, gopacket.Payload(payload))
	sb := gopacket.NewSerializeBuffer()
	if err := gopacket.SerializeLayers(sb, gopacket.SerializeOptions{FixLengths: true, ComputeChecksums: true}, ls...); err != nil {
		t.Fatal(err)
	}
	b := pktbuf.New(pktbuf.DefaultHeadroom, len(sb.Bytes()), pktbuf.DefaultTailroom)
	copy(b.Bytes(), sb.Bytes())
	return b
}

// decode parses pkt with gopacket and fails the test on any decoding error.
func decode(t testing.TB, pkt []byte) gopacket.Packet {
	t.Helper()
	first := layers.LayerTypeIPv4
	if pkt[0]>>4 == 6 {
		first = layers.LayerTypeIPv6
	}
	gp := gopacket.NewPacket(pkt, first, gopacket.Default)
	if el := gp.ErrorLayer(); el != nil {
		t.Fatalf("gopacket cannot decode %x: %v", pkt, el.Error())
	}
	return gp
}

// wrap puts a wire packet into a buffer with default head- and tailroom.
func wrap(pkt []byte) *pktbuf.Buffer {
	b := pktbuf.New(pktbuf.DefaultHeadroom, len(pkt), pktbuf.DefaultTailroom)
	copy(b.Bytes(), pkt)
	return b
}

func mustAddr(s string) netip.Addr { return netip.MustParseAddr(s) }
