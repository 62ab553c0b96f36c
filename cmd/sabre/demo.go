package main

import (
	"bytes"
	"encoding/binary"
	"flag"
	"fmt"
	"io"
	"net/netip"
	"os"
	"time"

	"github.com/google/gopacket/layers"
	"github.com/google/gopacket/pcapgo"

	"github.com/sabre-ipsec/sabre/header"
	"github.com/sabre-ipsec/sabre/ipsec"
	"github.com/sabre-ipsec/sabre/pktbuf"
	"github.com/sabre-ipsec/sabre/sad"
	"github.com/sabre-ipsec/sabre/spd"
	"github.com/sabre-ipsec/sabre/suite"
)

// demoHost is one side of the demo: its addresses and engine.
type demoHost struct {
	name         string
	inner, outer netip.Addr
	e            *ipsec.Engine
	policy       uint32
}

// runDemo shows the data plane end to end without root: two engines with
// mirrored policies and manual SAs; packets from A are encapsulated,
// carried in memory, decapsulated at B and answered. (The gVisor-hosted
// demo with IKE arrives with ports/gvisor.)
func runDemo(args []string, w io.Writer) error {
	fs := flag.NewFlagSet("demo", flag.ContinueOnError)
	mode := fs.String("mode", "tunnel", "IPsec mode: tunnel or transport")
	suiteName := fs.String("suite", "aes128gcm16", "ESP algorithm: aes128gcm16, aes256gcm16, chacha20poly1305, aes128cbc-sha256, aes256ctr-sha512, ...")
	v6 := fs.Bool("v6", false, "use IPv6 addresses")
	pcapFile := fs.String("pcap", "", "write the packets on the wire to this pcap file")
	seconds := fs.Duration("t", time.Second, "how long to measure throughput")
	if err := fs.Parse(args); err != nil {
		return err
	}
	encr, integ, encrLen, integLen, err := parseSuite(*suiteName)
	if err != nil {
		return err
	}
	m := spd.Tunnel
	if *mode == "transport" {
		m = spd.Transport
	} else if *mode != "tunnel" {
		return fmt.Errorf("-mode %q: want tunnel or transport", *mode)
	}
	a := &demoHost{name: "A", inner: netip.MustParseAddr("10.0.1.77"), outer: netip.MustParseAddr("192.0.2.77")}
	b := &demoHost{name: "B", inner: netip.MustParseAddr("10.0.2.78"), outer: netip.MustParseAddr("192.0.2.78")}
	if *v6 {
		a.inner, a.outer = netip.MustParseAddr("2001:db8:1::77"), netip.MustParseAddr("2001:db8::77")
		b.inner, b.outer = netip.MustParseAddr("2001:db8:2::78"), netip.MustParseAddr("2001:db8::78")
	}
	if m == spd.Transport {
		a.inner, b.inner = a.outer, b.outer
	}
	keyAB, keyBA := demoKey(encrLen, 1), demoKey(encrLen, 2)
	authAB, authBA := demoKey(integLen, 3), demoKey(integLen, 4)
	for _, h := range []struct {
		me, peer      *demoHost
		spiOut, spiIn uint32
		kOut, kIn     []byte
		aOut, aIn     []byte
	}{{a, b, 0x1001, 0x2002, keyAB, keyBA, authAB, authBA}, {b, a, 0x2002, 0x1001, keyBA, keyAB, authBA, authAB}} {
		db := spd.NewDB()
		p := spd.Policy{Action: spd.Secure, Mode: m, Flags: spd.FlagProtoESP | spd.FlagCheckReplay,
			TunnelLocal: h.me.outer, TunnelRemote: h.peer.outer}
		p.Src, _ = classifySelector(h.me.inner, m)
		p.Dst, _ = classifySelector(h.peer.inner, m)
		id, err := db.Add(p)
		if err != nil {
			return err
		}
		h.me.e, h.me.policy = ipsec.New(db, sad.NewDB(), ipsec.Config{}), id
		err = h.me.e.AddManualSA(id, ipsec.ManualSA{Encr: encr, Integ: integ,
			EncrKeyOut: h.kOut, EncrKeyIn: h.kIn, IntegKeyOut: h.aOut, IntegKeyIn: h.aIn,
			ESPSPIOut: h.spiOut, ESPSPIIn: h.spiIn, ESN: true, Local: h.me.outer})
		if err != nil {
			return err
		}
		fmt.Fprintf(w, "host %s: %v\n", h.me.name, db.Get(id))
	}
	fmt.Fprintf(w, "SAs: ESP %s, SPIs A->B %#x, B->A %#x, ESN on, manual keys\n\n", *suiteName, 0x1001, 0x2002)

	var pw *pcapgo.Writer
	if *pcapFile != "" {
		f, err := os.Create(*pcapFile)
		if err != nil {
			return err
		}
		defer f.Close()
		pw = pcapgo.NewWriter(f)
		if err := pw.WriteFileHeader(65535, layers.LinkTypeRaw); err != nil {
			return err
		}
	}
	capture := func(pkt []byte) {
		if pw != nil {
			pw.WritePacket(captureInfo(len(pkt)), pkt)
		}
	}

	// A few packets each way, one line per step.
	for i := 1; i <= 3; i++ {
		for _, dir := range [][2]*demoHost{{a, b}, {b, a}} {
			src, dst := dir[0], dir[1]
			buf := udpPacket(src.inner, dst.inner, 7000+uint16(i), 7, []byte(fmt.Sprintf("hello %d from %s", i, src.name)))
			orig := bytes.Clone(buf.Bytes())
			res, err := src.e.Encapsulate(buf)
			if err != nil {
				return fmt.Errorf("%s encapsulate: %w", src.name, err)
			}
			wire := buf.Bytes()
			capture(wire)
			spi, seq := espFields(wire)
			fmt.Fprintf(w, "%s -> %s  %d-byte UDP packet -> %v, %d bytes on the wire, SPI %#x seq %d\n", src.name, dst.name, len(orig), res, len(wire), spi, seq)
			res, err = dst.e.Decapsulate(buf)
			if err != nil {
				return fmt.Errorf("%s decapsulate: %w", dst.name, err)
			}
			ok := bytes.Equal(buf.Bytes(), orig)
			fmt.Fprintf(w, "         %s decapsulates: %v, inner packet intact: %v\n", dst.name, res, ok)
			if !ok {
				return fmt.Errorf("inner packet changed in transit")
			}
		}
	}

	// Throughput: 1400-byte packets A -> B for the given time.
	buf := udpPacket(a.inner, b.inner, 9, 9, make([]byte, 1400-28-20*boolInt(*v6)))
	start := time.Now()
	n := 0
	for time.Since(start) < *seconds {
		for range 256 {
			if _, err := a.e.Encapsulate(buf); err != nil {
				return err
			}
			if _, err := b.e.Decapsulate(buf); err != nil {
				return err
			}
		}
		n += 256
	}
	el := time.Since(start)
	fmt.Fprintf(w, "\nthroughput: %d packets of 1400 bytes encapsulated and decapsulated in %v: %.0f Mbit/s on one core\n\n",
		n, el.Round(time.Millisecond), float64(n)*1400*8/el.Seconds()/1e6)

	for _, h := range []*demoHost{a, b} {
		s := h.e.Stats().Snapshot()
		fmt.Fprintf(w, "ipsec netstat (%s): out %d packets %d bytes, in %d packets %d bytes, drops %v\n", h.name, s.OutPackets, s.OutBytes, s.InPackets, s.InBytes, s.Drops)
		for _, sa := range h.e.SAD().All() {
			st := sa.Stats()
			fmt.Fprintf(w, "  %v: %d packets, %d bytes\n", sa, st.Packets, st.Bytes)
		}
	}
	if *pcapFile != "" {
		fmt.Fprintf(w, "\nwire packets written to %s\n", *pcapFile)
	}
	return nil
}

func boolInt(b bool) int {
	if b {
		return 1
	}
	return 0
}

func parseSuite(name string) (suite.EncrID, suite.IntegID, int, int, error) {
	encrName, integName, _ := cutLast(name, "-")
	encr, bits, err := suite.EncrByName(encrName)
	if err != nil {
		encr, bits, err = suite.EncrByName(name)
		integName = ""
		if err != nil {
			return 0, 0, 0, 0, err
		}
	}
	encrLen, err := suite.EncrKeyLen(encr, bits)
	if err != nil {
		return 0, 0, 0, 0, err
	}
	if encr.IsAEAD() {
		return encr, suite.IntegNone, encrLen, 0, nil
	}
	if integName == "" {
		return 0, 0, 0, 0, fmt.Errorf("-suite %q: %v needs an integrity algorithm, e.g. %s-sha256", name, encr, name)
	}
	integ, err := suite.IntegByName(integName)
	if err != nil {
		integ, err = suite.IntegByName("hmac-" + integName)
		if err != nil {
			return 0, 0, 0, 0, err
		}
	}
	integLen, err := suite.IntegKeyLen(integ)
	return encr, integ, encrLen, integLen, err
}

func cutLast(s, sep string) (before, after string, found bool) {
	for i := len(s) - len(sep); i >= 0; i-- {
		if s[i:i+len(sep)] == sep {
			return s[:i], s[i+len(sep):], true
		}
	}
	return s, "", false
}

func demoKey(n int, seed byte) []byte {
	k := make([]byte, n)
	for i := range k {
		k[i] = seed*0x11 + byte(i)
	}
	return k
}

// udpPacket builds an IP/UDP packet with a valid checksum in a pooled
// buffer.
func udpPacket(src, dst netip.Addr, sport, dport uint16, payload []byte) *pktbuf.Buffer {
	b := pktbuf.DefaultPool.Get()
	l4 := header.UDPLen + len(payload)
	var hl int
	if src.Is4() {
		hl = header.IPv4MinLen
		h := header.IPv4(b.Append(hl + l4))
		h.Encode(&header.IPv4Fields{TotalLength: hl + l4, TTL: 64, Protocol: header.ProtoUDP, Src: src, Dst: dst})
	} else {
		hl = header.IPv6Len
		h := header.IPv6(b.Append(hl + l4))
		h.Encode(&header.IPv6Fields{PayloadLength: l4, NextHeader: header.ProtoUDP, HopLimit: 64, Src: src, Dst: dst})
	}
	pkt := b.Bytes()
	u := header.UDP(pkt[hl:])
	u.Encode(sport, dport, l4)
	copy(pkt[hl+header.UDPLen:], payload)
	sum := ^header.Checksum(pkt[hl:], header.PseudoHeaderChecksum(header.ProtoUDP, src, dst, l4))
	if sum == 0 {
		sum = 0xffff
	}
	u.SetChecksum(sum)
	return b
}

// espFields returns the SPI and sequence number of an ESP packet.
func espFields(pkt []byte) (uint32, uint32) {
	off := header.IPv4MinLen
	if pkt[0]>>4 == 6 {
		off = header.IPv6Len
	}
	if len(pkt) < off+8 {
		return 0, 0
	}
	return binary.BigEndian.Uint32(pkt[off:]), binary.BigEndian.Uint32(pkt[off+4:])
}
