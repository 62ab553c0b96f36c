package ipsec

import (
	"bytes"
	"errors"
	"net"
	"testing"

	"github.com/google/gopacket"
	"github.com/google/gopacket/layers"

	"github.com/sabre-ipsec/sabre/header"
	"github.com/sabre-ipsec/sabre/pktbuf"
	"github.com/sabre-ipsec/sabre/spd"
	"github.com/sabre-ipsec/sabre/xe"
)

func serialize(t *testing.T, ls ...gopacket.SerializableLayer) *pktbuf.Buffer {
	t.Helper()
	sb := gopacket.NewSerializeBuffer()
	if err := gopacket.SerializeLayers(sb, gopacket.SerializeOptions{FixLengths: true, ComputeChecksums: true}, ls...); err != nil {
		t.Fatal(err)
	}
	return wrap(sb.Bytes())
}

func ahTransportPair(t *testing.T, g geometry) (*host, *host) {
	c := g.config(algo{})
	c.flags = spd.FlagProtoAH | spd.FlagCheckReplay
	c.ahInteg, c.ahKeyLen = 12, 32 // HMAC-SHA2-256-128
	return newPair(t, c)
}

// TestAHIPv4MutableFields: AH covers the IPv4 header but not TOS, flags,
// fragment offset, TTL, checksum or mutable options (RFC 4302 §3.3.3.1.1),
// so routers may change those; an immutable field changed in transit fails.
func TestAHIPv4MutableFields(t *testing.T) {
	ha, hb := ahTransportPair(t, geometries[4])
	build := func() *pktbuf.Buffer {
		ip := &layers.IPv4{Version: 4, TTL: 64, Protocol: layers.IPProtocolUDP,
			SrcIP: net.IP{192, 0, 2, 1}, DstIP: net.IP{192, 0, 2, 2},
			Options: []layers.IPv4Option{
				{OptionType: 7, OptionLength: 7, OptionData: []byte{4, 0, 0, 0, 0}}, // Record Route: mutable
				{OptionType: 148, OptionLength: 4, OptionData: []byte{0, 0}},        // Router Alert: immutable
				{OptionType: 0, OptionLength: 1},                                    // End of list
			}}
		udp := &layers.UDP{SrcPort: 1, DstPort: 2}
		udp.SetNetworkLayerForChecksum(ip)
		return serialize(t, ip, udp, gopacket.Payload(bytes.Repeat([]byte{7}, 50)))
	}
	for _, tc := range []struct {
		name   string
		mutate func(p []byte)
		ok     bool
	}{
		{"unchanged", func([]byte) {}, true},
		{"TTL, TOS and record route changed en route", func(p []byte) {
			h := header.IPv4(p)
			h.SetTTL(3)
			h.SetTOS(0x03)
			p[20+3] = 10 // the first recorded address
			p[20+2] = 8  // its pointer
			h.UpdateChecksum()
		}, true},
		{"router alert value changed", func(p []byte) {
			p[20+7+2] = 1
			header.IPv4(p).UpdateChecksum()
		}, false},
		{"source address changed", func(p []byte) {
			p[15] = 9
			header.IPv4(p).UpdateChecksum()
		}, false},
	} {
		b := build()
		orig := bytes.Clone(b.Bytes())
		if res, err := ha.e.Encapsulate(b); res != SecureTransport {
			t.Fatalf("%s: %v %v", tc.name, res, err)
		}
		tc.mutate(b.Bytes())
		res, err := hb.e.Decapsulate(b)
		if tc.ok {
			if res != SecureTransport {
				t.Fatalf("%s: %v %v", tc.name, res, err)
			}
			// Payload and immutable header fields are as sent.
			if !bytes.Equal(b.Bytes()[28:], orig[28:]) || !bytes.Equal(b.Bytes()[12:20], orig[12:20]) {
				t.Fatalf("%s: packet changed:\n got %x\nwant %x", tc.name, b.Bytes(), orig)
			}
		} else if res != Drop || !errors.Is(err, xe.AHDigestMismatch) {
			t.Fatalf("%s: %v %v, want an AH digest mismatch", tc.name, res, err)
		}
	}
}

// TestAHIPv6ExtensionHeaders: AH goes after the Hop-by-Hop header and covers
// it, except the data of options marked "may change en route".
func TestAHIPv6ExtensionHeaders(t *testing.T) {
	ha, hb := ahTransportPair(t, geometries[5])
	build := func() *pktbuf.Buffer {
		ip := &layers.IPv6{Version: 6, HopLimit: 64, NextHeader: layers.IPProtocolIPv6HopByHop,
			SrcIP: net.ParseIP("2001:db8::1"), DstIP: net.ParseIP("2001:db8::2")}
		hbh := &layers.IPv6HopByHop{}
		hbh.NextHeader = layers.IPProtocolUDP
		hbh.Options = []*layers.IPv6HopByHopOption{
			{OptionType: 0x3e, OptionLength: 2, OptionData: []byte{1, 2}},    // change-en-route bit (0x20) set
			{OptionType: 0x1e, OptionLength: 2, OptionData: []byte{3, 4}},    // immutable
			{OptionType: 1, OptionLength: 4, OptionData: []byte{0, 0, 0, 0}}, // PadN to 16 bytes
		}
		udp := &layers.UDP{SrcPort: 1, DstPort: 2}
		udp.SetNetworkLayerForChecksum(ip)
		return serialize(t, ip, hbh, udp, gopacket.Payload(bytes.Repeat([]byte{9}, 40)))
	}
	findOpt := func(p []byte, typ byte) int {
		for i := 42; i+1 < 56; {
			if p[i] == typ {
				return i + 2
			}
			if p[i] == 0 {
				i++
				continue
			}
			i += 2 + int(p[i+1])
		}
		t.Fatalf("option %#x not found in %x", typ, p[40:56])
		return 0
	}
	for _, tc := range []struct {
		name   string
		mutate func(p []byte)
		ok     bool
	}{
		{"unchanged", func([]byte) {}, true},
		{"hop limit, flow label and mutable option changed", func(p []byte) {
			p[7] = 1
			p[3] = 0x55
			p[findOpt(p, 0x3e)] = 0xee
		}, true},
		{"immutable option changed", func(p []byte) { p[findOpt(p, 0x1e)] = 0xee }, false},
	} {
		b := build()
		if res, err := ha.e.Encapsulate(b); res != SecureTransport {
			t.Fatalf("%s: %v %v", tc.name, res, err)
		}
		p := b.Bytes()
		if p[6] != header.ProtoHopByHop || p[40] != header.ProtoAH {
			t.Fatalf("AH not placed after the Hop-by-Hop header: %x", p[:56])
		}
		decode(t, p)
		tc.mutate(p)
		res, err := hb.e.Decapsulate(b)
		if tc.ok != (res == SecureTransport) {
			t.Fatalf("%s: %v %v", tc.name, res, err)
		}
		if tc.ok && b.Bytes()[40] != header.ProtoUDP {
			t.Fatalf("%s: next header after AH removal = %d", tc.name, b.Bytes()[40])
		}
	}
}
