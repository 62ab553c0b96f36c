package packet

import (
	"bytes"
	"net/netip"
	"testing"

	"github.com/google/gopacket"
	"github.com/google/gopacket/layers"

	"github.com/sabre-ipsec/sabre/pktbuf"
)

// TestUDP has gopacket, an independent decoder, read the datagrams: the
// addresses, ports, lengths and payload, and the IPv4 header checksum.
func TestUDP(t *testing.T) {
	payload := []byte("payload of the test datagram")
	for _, tc := range []struct{ src, dst string }{
		{"192.0.2.1:1000", "192.0.2.2:2000"},
		{"[2001:db8::1]:1000", "[2001:db8::2]:2000"},
	} {
		src, dst := netip.MustParseAddrPort(tc.src), netip.MustParseAddrPort(tc.dst)
		p := UDP(src, dst, payload)
		first := layers.LayerTypeIPv4
		if src.Addr().Is6() {
			first = layers.LayerTypeIPv6
		}
		pkt := gopacket.NewPacket(p, first, gopacket.Default)
		if el := pkt.ErrorLayer(); el != nil {
			t.Fatalf("%s: %v", tc.src, el.Error())
		}
		switch ip := pkt.NetworkLayer().(type) {
		case *layers.IPv4:
			if int(ip.Length) != len(p) || ip.TTL != 64 || ip.Protocol != layers.IPProtocolUDP ||
				!ip.SrcIP.Equal(src.Addr().AsSlice()) || !ip.DstIP.Equal(dst.Addr().AsSlice()) {
				t.Errorf("IPv4 header %+v", ip)
			}
			var sum uint32
			for i := 0; i < 20; i += 2 {
				sum += uint32(p[i])<<8 | uint32(p[i+1])
			}
			for sum > 0xffff {
				sum = sum&0xffff + sum>>16
			}
			if sum != 0xffff {
				t.Errorf("IPv4 header checksum does not verify: %x", p[:20])
			}
		case *layers.IPv6:
			if int(ip.Length) != len(p)-40 || ip.HopLimit != 64 || ip.NextHeader != layers.IPProtocolUDP ||
				!ip.SrcIP.Equal(src.Addr().AsSlice()) || !ip.DstIP.Equal(dst.Addr().AsSlice()) {
				t.Errorf("IPv6 header %+v", ip)
			}
		default:
			t.Fatalf("%s: network layer %v", tc.src, pkt.NetworkLayer())
		}
		u, ok := pkt.TransportLayer().(*layers.UDP)
		if !ok || u.SrcPort != 1000 || u.DstPort != 2000 || int(u.Length) != 8+len(payload) || !bytes.Equal(u.Payload, payload) {
			t.Errorf("%s: UDP %+v", tc.src, pkt.TransportLayer())
		}
		b := UDPBuffer(src, dst, payload)
		if !bytes.Equal(b.Bytes(), p) {
			t.Errorf("%s: UDPBuffer\n%x\nwant\n%x", tc.src, b.Bytes(), p)
		}
		pktbuf.DefaultPool.Put(b)
	}
}

// TestIP: the payload follows the header, whose protocol field is proto.
func TestIP(t *testing.T) {
	src, dst := netip.MustParseAddr("192.0.2.1"), netip.MustParseAddr("192.0.2.2")
	p := IP(src, dst, 50, []byte{1, 2, 3, 4})
	if len(p) != 24 || p[9] != 50 || !bytes.Equal(p[20:], []byte{1, 2, 3, 4}) || p[2] != 0 || p[3] != 24 {
		t.Errorf("IP = %x", p)
	}
	src6, dst6 := netip.MustParseAddr("2001:db8::1"), netip.MustParseAddr("2001:db8::2")
	if p := IP(src6, dst6, 50, []byte{1}); len(p) != 41 || p[6] != 50 || p[5] != 1 || p[40] != 1 {
		t.Errorf("IP over IPv6 = %x", p)
	}
}
