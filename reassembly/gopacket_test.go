package reassembly

import (
	"bytes"
	"math/rand/v2"
	"testing"

	"github.com/google/gopacket"
	"github.com/google/gopacket/layers"
	"github.com/sabre-ipsec/sabre/header"
)

// TestGopacketDecodes checks reassembled datagrams with gopacket's decoders
// as an independent implementation of the IPv4 and IPv6 headers.
func TestGopacketDecodes(t *testing.T) {
	rng := rand.New(rand.NewPCG(41, 42))

	t.Run("IPv4", func(t *testing.T) {
		pkt := ipv4Packet(rng, 0x1234, []byte{0x94, 4, 0, 0}, 4000)
		pkt[6] = 0x40 // DF, which reassembly keeps
		header.IPv4(pkt).UpdateChecksum()
		frags := fragmentIPv4(pkt, 1480, true)
		b := feed(t, New(Config{}), orders(rng, frags)["shuffled"])
		p := gopacket.NewPacket(b.Bytes(), layers.LayerTypeIPv4, gopacket.Default)
		if err := p.ErrorLayer(); err != nil {
			t.Fatal(err.Error())
		}
		ip, _ := p.Layer(layers.LayerTypeIPv4).(*layers.IPv4)
		if ip == nil {
			t.Fatal("no IPv4 layer")
		}
		if ip.Flags != layers.IPv4DontFragment || ip.FragOffset != 0 || int(ip.Length) != len(pkt) ||
			ip.Id != 0x1234 || ip.Protocol != layers.IPProtocolESP || ip.IHL != 6 || len(ip.Options) != 1 {
			t.Fatalf("decoded %+v", ip)
		}
		if !bytes.Equal(ip.Payload, pkt[24:]) {
			t.Fatal("payload differs")
		}
		// gopacket recomputes the checksum when it serializes; the
		// header must come out identical.
		buf := gopacket.NewSerializeBuffer()
		if err := gopacket.SerializeLayers(buf, gopacket.SerializeOptions{ComputeChecksums: true}, ip, gopacket.Payload(ip.Payload)); err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(buf.Bytes(), b.Bytes()) {
			t.Fatalf("gopacket re-serializes the header as %x, reassembly wrote %x", buf.Bytes()[:24], b.Bytes()[:24])
		}
	})

	t.Run("IPv6", func(t *testing.T) {
		pkt, unfrag, nh := ipv6Packet(rng, []uint8{header.ProtoHopByHop, header.ProtoDstOpts}, 4000)
		frags := fragmentIPv6(pkt, unfrag, nh, 1232, 0xdeadbeef)
		// gopacket sees the fragments as fragments.
		fp := gopacket.NewPacket(frags[1], layers.LayerTypeIPv6, gopacket.Default)
		frag, _ := fp.Layer(layers.LayerTypeIPv6Fragment).(*layers.IPv6Fragment)
		if frag == nil || frag.Identification != 0xdeadbeef || frag.FragmentOffset != 1232/8 || !frag.MoreFragments {
			t.Fatalf("builder's fragment decodes as %+v", frag)
		}
		b := feed(t, New(Config{}), orders(rng, frags)["reverse"])
		p := gopacket.NewPacket(b.Bytes(), layers.LayerTypeIPv6, gopacket.Default)
		ip, _ := p.Layer(layers.LayerTypeIPv6).(*layers.IPv6)
		if ip == nil {
			t.Fatal("no IPv6 layer")
		}
		if int(ip.Length) != len(pkt)-40 || ip.NextHeader != layers.IPProtocolIPv6HopByHop {
			t.Fatalf("decoded %+v", ip)
		}
		if p.Layer(layers.LayerTypeIPv6Fragment) != nil {
			t.Fatal("reassembled datagram still has a Fragment header")
		}
		do, _ := p.Layer(layers.LayerTypeIPv6Destination).(*layers.IPv6Destination)
		if do == nil || do.NextHeader != layers.IPProtocolESP {
			t.Fatalf("destination options %+v", do)
		}
		if !bytes.Equal(do.Payload, pkt[unfrag:]) {
			t.Fatal("payload differs")
		}
	})
}
