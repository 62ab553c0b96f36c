package ipsec

import (
	"bytes"
	"errors"
	"fmt"
	"testing"

	"github.com/google/gopacket/layers"

	"github.com/sabre-ipsec/sabre/header"
	"github.com/sabre-ipsec/sabre/sad"
	"github.com/sabre-ipsec/sabre/spd"
	"github.com/sabre-ipsec/sabre/suite"
	"github.com/sabre-ipsec/sabre/xe"
)

// geometry is a tunnel or transport layout: selectors, outer addresses and
// the inner packet's addresses.
type geometry struct {
	name        string
	mode        spd.Mode
	src, dst    string // policy selectors at A
	local, peer string // outer addresses of A and B
	inSrc, inDr string // inner packet
}

var geometries = []geometry{
	{"tunnel-4in4", spd.Tunnel, "10.1.0.0/24", "10.2.0.0/24", "192.0.2.1", "192.0.2.2", "10.1.0.5", "10.2.0.9"},
	{"tunnel-6in6", spd.Tunnel, "2001:db8:1::/64", "2001:db8:2::/64", "2001:db8::1", "2001:db8::2", "2001:db8:1::5", "2001:db8:2::9"},
	{"tunnel-4in6", spd.Tunnel, "10.1.0.0/24", "10.2.0.0/24", "2001:db8::1", "2001:db8::2", "10.1.0.5", "10.2.0.9"},
	{"tunnel-6in4", spd.Tunnel, "2001:db8:1::/64", "2001:db8:2::/64", "192.0.2.1", "192.0.2.2", "2001:db8:1::5", "2001:db8:2::9"},
	{"transport-4", spd.Transport, "192.0.2.1", "192.0.2.2", "192.0.2.1", "192.0.2.2", "192.0.2.1", "192.0.2.2"},
	{"transport-6", spd.Transport, "2001:db8::1", "2001:db8::2", "2001:db8::1", "2001:db8::2", "2001:db8::1", "2001:db8::2"},
}

func (g geometry) config(a algo) peerConfig {
	return peerConfig{mode: g.mode, flags: spd.FlagProtoESP | spd.FlagCheckReplay, src: g.src, dst: g.dst, local: g.local, peer: g.peer, a: a}
}

// roundTrip sends one packet from A to B and checks B recovers it exactly.
func roundTrip(t *testing.T, a, b *host, p testPacket, wantRes Result, wantOuter layers.IPProtocol) []byte {
	t.Helper()
	buf := p.build(t)
	orig := bytes.Clone(buf.Bytes())
	res, err := a.e.Encapsulate(buf)
	if err != nil || res != wantRes {
		t.Fatalf("Encapsulate = %v, %v; want %v", res, err, wantRes)
	}
	wire := bytes.Clone(buf.Bytes())
	gp := decode(t, wire)
	if wantOuter != 0 {
		var got layers.IPProtocol
		if v4, ok := gp.NetworkLayer().(*layers.IPv4); ok {
			got = v4.Protocol
		} else {
			got = gp.NetworkLayer().(*layers.IPv6).NextHeader
		}
		if got != wantOuter {
			t.Fatalf("outer protocol %v, want %v", got, wantOuter)
		}
	}
	res, err = b.e.Decapsulate(buf)
	if err != nil || res != wantRes {
		t.Fatalf("Decapsulate = %v, %v; want %v", res, err, wantRes)
	}
	if !bytes.Equal(buf.Bytes(), orig) {
		t.Fatalf("decapsulated packet differs:\n got %x\nwant %x", buf.Bytes(), orig)
	}
	return wire
}

func TestESPRoundTripAllAlgorithmsAndModes(t *testing.T) {
	for _, g := range geometries {
		for _, a := range espAlgos {
			for _, esn := range []bool{false, true} {
				t.Run(fmt.Sprintf("%s/%s/esn=%v", g.name, a.name, esn), func(t *testing.T) {
					c := g.config(a)
					c.esn = esn
					ha, hb := newPair(t, c)
					want := SecureTransport
					if g.mode == spd.Tunnel {
						want = SecureTunnel
					}
					for i, n := range []int{0, 1, 15, 16, 17, 100, 1400} {
						proto := []layers.IPProtocol{layers.IPProtocolUDP, layers.IPProtocolTCP, layers.IPProtocolICMPv4}[i%3]
						roundTrip(t, ha, hb, testPacket{src: g.inSrc, dst: g.inDr, proto: proto, sport: 1000, dport: 2000, payloadLen: n}, want, layers.IPProtocolESP)
					}
					// And back.
					roundTrip(t, hb, ha, testPacket{src: g.inDr, dst: g.inSrc, sport: 2000, dport: 1000, payloadLen: 64}, want, layers.IPProtocolESP)
				})
			}
		}
	}
}

func TestAHAndBundles(t *testing.T) {
	for _, g := range geometries {
		for _, integ := range []struct {
			id suite.IntegID
			n  int
		}{{suite.IntegHMACSHA196, 20}, {suite.IntegHMACSHA256128, 32}, {suite.IntegHMACSHA512256, 64}, {suite.IntegAESXCBC96, 16}, {suite.IntegAES128GMAC, 20}} {
			t.Run(fmt.Sprintf("%s/ah-%v", g.name, integ.id), func(t *testing.T) {
				c := g.config(algo{})
				c.flags = spd.FlagProtoAH | spd.FlagCheckReplay
				c.ahInteg, c.ahKeyLen = integ.id, integ.n
				ha, hb := newPair(t, c)
				want := SecureTransport
				if g.mode == spd.Tunnel {
					want = SecureTunnel
				}
				roundTrip(t, ha, hb, testPacket{src: g.inSrc, dst: g.inDr, sport: 1, dport: 2, payloadLen: 333}, want, layers.IPProtocolAH)
			})
			t.Run(fmt.Sprintf("%s/ah-%v+esp-gcm", g.name, integ.id), func(t *testing.T) {
				c := g.config(espAlgos[0])
				c.flags = spd.FlagProtoAH | spd.FlagProtoESP | spd.FlagCheckReplay
				c.ahInteg, c.ahKeyLen = integ.id, integ.n
				ha, hb := newPair(t, c)
				want := SecureTransport
				if g.mode == spd.Tunnel {
					want = SecureTunnel
				}
				roundTrip(t, ha, hb, testPacket{src: g.inSrc, dst: g.inDr, sport: 1, dport: 2, payloadLen: 200}, want, layers.IPProtocolAH)
			})
		}
	}
}

func TestUDPEncapsulation(t *testing.T) {
	for _, g := range geometries {
		t.Run(g.name, func(t *testing.T) {
			c := g.config(espAlgos[0])
			c.encap = true
			ha, hb := newPair(t, c)
			want := SecureTransport
			if g.mode == spd.Tunnel {
				want = SecureTunnel
			}
			wire := roundTrip(t, ha, hb, testPacket{src: g.inSrc, dst: g.inDr, proto: layers.IPProtocolTCP, sport: 1, dport: 2, payloadLen: 500}, want, layers.IPProtocolUDP)
			gp := decode(t, wire)
			udp, _ := gp.Layer(layers.LayerTypeUDP).(*layers.UDP)
			if udp == nil || udp.DstPort != 4500 || udp.SrcPort != 4500 {
				t.Fatalf("outer UDP %v", udp)
			}
			if int(udp.Length) != len(udp.Contents)+len(udp.Payload) {
				t.Fatalf("UDP length %d for a %d-byte datagram", udp.Length, len(udp.Contents)+len(udp.Payload))
			}
			if wire[0]>>4 == 6 {
				var ip6 header.IPv6 = wire
				u := wire[header.IPv6Len:]
				if header.Checksum(u, header.PseudoHeaderChecksum(header.ProtoUDP, ip6.Src(), ip6.Dst(), len(u))) != 0xffff {
					t.Fatal("IPv6 UDP checksum does not verify")
				}
			}
			if wire[0]>>4 == 4 && udp.Checksum != 0 {
				t.Fatalf("IPv4 UDP-encapsulated ESP checksum %#x, want 0 (RFC 3948 §2.1)", udp.Checksum)
			}
		})
	}
}

func TestNATKeepaliveConsumed(t *testing.T) {
	_, hb := newPair(t, geometries[0].config(espAlgos[0]))
	p := testPacket{src: "192.0.2.1", dst: "192.0.2.2", proto: layers.IPProtocolUDP, sport: 4500, dport: 4500, payloadLen: 1}.build(t)
	pkt := p.Bytes()
	pkt[len(pkt)-1] = 0xff
	if res, err := hb.e.Decapsulate(p); res != Consumed || err != nil {
		t.Fatalf("keepalive: %v, %v", res, err)
	}
}

func TestReplayAndTamperDropped(t *testing.T) {
	ha, hb := newPair(t, geometries[0].config(espAlgos[0]))
	buf := testPacket{src: "10.1.0.5", dst: "10.2.0.9", sport: 1, dport: 2, payloadLen: 100}.build(t)
	if _, err := ha.e.Encapsulate(buf); err != nil {
		t.Fatal(err)
	}
	wire := bytes.Clone(buf.Bytes())
	for i := 20; i < len(wire); i += 7 {
		tampered := bytes.Clone(wire)
		tampered[i] ^= 0x40
		b := wrap(tampered)
		if res, err := hb.e.Decapsulate(b); res != Drop || err == nil {
			t.Fatalf("tampered byte %d accepted: %v", i, res)
		}
	}
	if res, err := hb.e.Decapsulate(wrap(bytes.Clone(wire))); res != SecureTunnel {
		t.Fatalf("genuine packet after tampered copies: %v %v", res, err)
	}
	if res, err := hb.e.Decapsulate(wrap(bytes.Clone(wire))); res != Drop || !errors.Is(err, xe.BadSequenceNumber) {
		t.Fatalf("replay: %v %v", res, err)
	}
	s := hb.e.Stats()
	if s.Dropped(xe.BadSequenceNumber) != 1 || s.Dropped(xe.ESPDigestMismatch) == 0 {
		t.Fatalf("drop counters %v", s.Snapshot().Drops)
	}
	sa := hb.e.SAD().LookupInbound(0x1000, sad.ESP, mustAddr("192.0.2.2"))
	if st := sa.Stats(); st.ReplayDrops != 1 || st.ICVFailures == 0 {
		t.Fatalf("SA counters %+v", st)
	}
}
