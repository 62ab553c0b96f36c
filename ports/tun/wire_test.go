//go:build linux

package tun

import (
	"bytes"
	"encoding/binary"
	"net/netip"
	"testing"
	"unsafe"

	"golang.org/x/sys/unix"

	"github.com/sabre-ipsec/sabre/header"
	"github.com/sabre-ipsec/sabre/pktbuf"
)

func TestPushIPUDP(t *testing.T) {
	for _, tc := range []struct{ src, dst netip.AddrPort }{
		{netip.MustParseAddrPort("192.0.2.2:4500"), netip.MustParseAddrPort("192.0.2.1:4500")},
		{netip.MustParseAddrPort("[2001:db8::2]:1234"), netip.MustParseAddrPort("[2001:db8::1]:4500")},
	} {
		payload := []byte{0, 0, 0x10, 0x01, 0, 0, 0, 1, 0xaa, 0xbb}
		b := pktbuf.New(readOffset, 0, 64)
		copy(b.Append(len(payload)), payload)
		pushIPUDP(b, tc.src, tc.dst)
		pkt := b.Bytes()
		var hl int
		if tc.dst.Addr().Is4() {
			h := header.IPv4(pkt)
			hl = header.IPv4MinLen
			if h.Protocol() != header.ProtoUDP || h.Src() != tc.src.Addr() || h.Dst() != tc.dst.Addr() || h.TotalLength() != len(pkt) {
				t.Errorf("IPv4 header % x", pkt[:hl])
			}
			if header.Checksum(pkt[:hl], 0) != 0xffff {
				t.Errorf("IPv4 header checksum wrong")
			}
		} else {
			h := header.IPv6(pkt)
			hl = header.IPv6Len
			if h.NextHeader() != header.ProtoUDP || h.Src() != tc.src.Addr() || h.Dst() != tc.dst.Addr() || h.PayloadLength() != len(pkt)-hl {
				t.Errorf("IPv6 header % x", pkt[:hl])
			}
		}
		u := header.UDP(pkt[hl:])
		if u.SrcPort() != tc.src.Port() || u.DstPort() != tc.dst.Port() || u.Length() != len(payload)+header.UDPLen {
			t.Errorf("UDP header % x", pkt[hl:hl+8])
		}
		if !bytes.Equal(pkt[hl+header.UDPLen:], payload) {
			t.Errorf("payload moved")
		}
	}
}

func TestSendBatchAdd(t *testing.T) {
	v4 := func(proto uint8, frag bool, n int) []byte {
		p := make([]byte, header.IPv4MinLen+n)
		f := uint16(0)
		if frag {
			f = header.IPv4FlagMF
		}
		header.IPv4(p).Encode(&header.IPv4Fields{TotalLength: len(p), TTL: 64, Protocol: proto, Flags: f,
			Src: netip.MustParseAddr("192.0.2.1"), Dst: netip.MustParseAddr("192.0.2.2")})
		return p
	}
	udp := v4(header.ProtoUDP, false, 8+20)
	header.UDP(udp[20:]).Encode(4500, 4501, 28)
	v6 := make([]byte, header.IPv6Len+24)
	header.IPv6(v6).Encode(&header.IPv6Fields{PayloadLength: 24, NextHeader: header.ProtoESP, HopLimit: 64,
		Src: netip.MustParseAddr("2001:db8::1"), Dst: netip.MustParseAddr("2001:db8::2")})

	sb := newSendBatch(2)
	for _, p := range [][]byte{v4(header.ProtoESP, false, 24), v4(header.ProtoAH, false, 24), v4(header.ProtoUDP, true, 24), udp, v6, {0x45}} {
		sb.add(p)
	}
	if sb.nraw[fam4] != 3 || sb.nraw[fam6] != 1 {
		t.Errorf("raw packets: %d IPv4, %d IPv6; want 3 (ESP, AH, a UDP fragment) and 1", sb.nraw[fam4], sb.nraw[fam6])
	}
	if len(sb.udp) != 1 || len(sb.udp[0]) != 20 || sb.udpPeer[0] != netip.MustParseAddrPort("192.0.2.2:4501") {
		t.Errorf("ESP-in-UDP: %d datagrams, peers %v", len(sb.udp), sb.udpPeer)
	}
	if a := sb.raw[fam6][0].Addr.String(); a != "2001:db8::2" {
		t.Errorf("IPv6 destination %s", a)
	}
}

func TestParseUDPControl(t *testing.T) {
	cmsg := func(level, typ int, data []byte) []byte {
		b := make([]byte, unix.CmsgSpace(len(data)))
		h := (*unix.Cmsghdr)(unsafe.Pointer(&b[0]))
		h.Level, h.Type = int32(level), int32(typ)
		h.SetLen(unix.CmsgLen(len(data)))
		copy(b[unix.CmsgLen(0):], data)
		return b
	}
	info4 := make([]byte, unix.SizeofInet4Pktinfo)
	copy(info4[4:], []byte{192, 0, 2, 99}) // spec_dst
	copy(info4[8:], []byte{192, 0, 2, 1})  // addr: the header's destination
	gro := make([]byte, 4)
	binary.NativeEndian.PutUint32(gro, 1452)
	dst, seg := parseUDPControl(append(cmsg(unix.IPPROTO_IP, unix.IP_PKTINFO, info4), cmsg(unix.SOL_UDP, unix.UDP_GRO, gro)...))
	if dst != netip.MustParseAddr("192.0.2.1") || seg != 1452 {
		t.Errorf("IPv4: %v %d", dst, seg)
	}
	info6 := make([]byte, unix.SizeofInet6Pktinfo)
	a := netip.MustParseAddr("2001:db8::1").As16()
	copy(info6, a[:])
	if dst, seg := parseUDPControl(cmsg(unix.IPPROTO_IPV6, unix.IPV6_PKTINFO, info6)); dst != netip.MustParseAddr("2001:db8::1") || seg != 0 {
		t.Errorf("IPv6: %v %d", dst, seg)
	}
	if dst, seg := parseUDPControl([]byte{1, 2, 3}); dst.IsValid() || seg != 0 {
		t.Errorf("garbage: %v %d", dst, seg)
	}
	b := putSegmentSize(make([]byte, unix.CmsgSpace(2)), 1400)
	h, data, _, err := unix.ParseOneSocketControlMessage(b)
	if err != nil || h.Level != unix.SOL_UDP || h.Type != unix.UDP_SEGMENT || len(data) != 2 || binary.NativeEndian.Uint16(data) != 1400 {
		t.Errorf("UDP_SEGMENT message %+v % x: %v", h, data, err)
	}
}

func TestBuildTooBig(t *testing.T) {
	in4 := make([]byte, 1400)
	header.IPv4(in4).Encode(&header.IPv4Fields{TotalLength: 1400, TTL: 64, Protocol: header.ProtoTCP, Flags: header.IPv4FlagDF,
		Src: netip.MustParseAddr("10.1.0.1"), Dst: netip.MustParseAddr("10.2.0.1")})
	p := buildTooBig(in4[:quoteLen], 1392)[tunWriteOffset:]
	h := header.IPv4(p)
	if h.Src() != netip.MustParseAddr("10.2.0.1") || h.Dst() != netip.MustParseAddr("10.1.0.1") || h.Protocol() != header.ProtoICMP ||
		h.TotalLength() != len(p) || header.Checksum(p[:20], 0) != 0xffff {
		t.Fatalf("IPv4 header % x", p[:20])
	}
	icmp := p[20:]
	if icmp[0] != 3 || icmp[1] != 4 || binary.BigEndian.Uint16(icmp[6:]) != 1392 || header.Checksum(icmp, 0) != 0xffff ||
		!bytes.Equal(icmp[8:], in4[:28]) {
		t.Errorf("ICMP % x", icmp)
	}

	in6 := make([]byte, 1400)
	header.IPv6(in6).Encode(&header.IPv6Fields{PayloadLength: 1360, NextHeader: header.ProtoUDP, HopLimit: 64,
		Src: netip.MustParseAddr("2001:db8:1::1"), Dst: netip.MustParseAddr("2001:db8:2::1")})
	p = buildTooBig(in6[:quoteLen], 1300)[tunWriteOffset:]
	h6 := header.IPv6(p)
	icmp = p[header.IPv6Len:]
	if h6.NextHeader() != header.ProtoICMPv6 || h6.PayloadLength() != len(icmp) || h6.Src() != netip.MustParseAddr("2001:db8:2::1") {
		t.Fatalf("IPv6 header % x", p[:40])
	}
	if icmp[0] != 2 || binary.BigEndian.Uint32(icmp[4:]) != 1300 ||
		header.Checksum(icmp, header.PseudoHeaderChecksum(header.ProtoICMPv6, h6.Src(), h6.Dst(), len(icmp))) != 0xffff {
		t.Errorf("ICMPv6 % x", icmp)
	}
	if buildTooBig(in6[:quoteLen], 1000)[tunWriteOffset+header.IPv6Len+7] != 1280&0xff {
		t.Error("IPv6 MTU below 1280")
	}

	// No error about an error.
	icmpErr := bytes.Clone(in4[:quoteLen])
	icmpErr[9] = header.ProtoICMP
	icmpErr[20] = 3
	if buildTooBig(icmpErr, 1000) != nil {
		t.Error("ICMP error answered with an ICMP error")
	}
}
