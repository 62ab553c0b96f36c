package ipsec

import (
	"bytes"
	"encoding/binary"
	"encoding/hex"
	"fmt"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"testing"

	"github.com/google/gopacket/layers"

	"github.com/sabre-ipsec/sabre/internal/testutil/tshark"
	"github.com/sabre-ipsec/sabre/spd"
	"github.com/sabre-ipsec/sabre/suite"
)

// These tests hand the engine's packets to an independent ESP
// implementation, Wireshark's ESP dissector (run as tshark), keyed through
// its esp_sa table, and check that it decrypts every packet to exactly what
// was sent and finds every ICV good.

// tsharkAlgo is an ESP algorithm that Wireshark's ESP dissector can decrypt
// and authenticate, with the names its esp_sa table gives it. Wireshark 4.0
// has no ChaCha20-Poly1305, AES-GMAC, AES-XCBC or AES-CMAC for ESP, and no
// extended sequence numbers, so those are not in the list.
type tsharkAlgo struct {
	algo
	shortICV   bool   // SP_AUTH_SHA2_ICV_SHORT: HMAC-SHA-256 truncated to 96 bits
	encr, auth string // esp_sa "Encryption algorithm" and "Authentication algorithm"
}

var tsharkAlgos = []tsharkAlgo{
	{algo{"aes128gcm16", suite.EncrAESGCM16, 20, suite.IntegNone, 0}, false, "AES-GCM with 16 octet ICV [RFC4106]", "NULL"},
	{algo{"aes192gcm16", suite.EncrAESGCM16, 28, suite.IntegNone, 0}, false, "AES-GCM with 16 octet ICV [RFC4106]", "NULL"},
	{algo{"aes256gcm16", suite.EncrAESGCM16, 36, suite.IntegNone, 0}, false, "AES-GCM with 16 octet ICV [RFC4106]", "NULL"},
	{algo{"aes128gcm12", suite.EncrAESGCM12, 20, suite.IntegNone, 0}, false, "AES-GCM with 12 octet ICV [RFC4106]", "NULL"},
	{algo{"aes256gcm8", suite.EncrAESGCM8, 36, suite.IntegNone, 0}, false, "AES-GCM with 8 octet ICV [RFC4106]", "NULL"},
	{algo{"aes128cbc-sha1", suite.EncrAESCBC, 16, suite.IntegHMACSHA196, 20}, false, "AES-CBC [RFC3602]", "HMAC-SHA-1-96 [RFC2404]"},
	{algo{"aes192cbc-sha384", suite.EncrAESCBC, 24, suite.IntegHMACSHA384192, 48}, false, "AES-CBC [RFC3602]", "HMAC-SHA-384-192 [RFC4868]"},
	{algo{"aes256cbc-sha256", suite.EncrAESCBC, 32, suite.IntegHMACSHA256128, 32}, false, "AES-CBC [RFC3602]", "HMAC-SHA-256-128 [RFC4868]"},
	{algo{"aes256cbc-sha256-96", suite.EncrAESCBC, 32, suite.IntegHMACSHA256128, 32}, true, "AES-CBC [RFC3602]", "HMAC-SHA-256-96 [draft-ietf-ipsec-ciph-sha-256-00]"},
	{algo{"aes128ctr-sha512", suite.EncrAESCTR, 20, suite.IntegHMACSHA512256, 64}, false, "AES-CTR [RFC3686]", "HMAC-SHA-512-256 [RFC4868]"},
	{algo{"aes256ctr-md5", suite.EncrAESCTR, 36, suite.IntegHMACMD596, 16}, false, "AES-CTR [RFC3686]", "HMAC-MD5-96 [RFC2403]"},
	{algo{"3des-md5", suite.Encr3DES, 24, suite.IntegHMACMD596, 16}, false, "TripleDES-CBC [RFC2451]", "HMAC-MD5-96 [RFC2403]"},
	{algo{"3des-sha1", suite.Encr3DES, 24, suite.IntegHMACSHA196, 20}, false, "TripleDES-CBC [RFC2451]", "HMAC-SHA-1-96 [RFC2404]"},
	{algo{"null-sha256", suite.EncrNull, 0, suite.IntegHMACSHA256128, 32}, false, "NULL", "HMAC-SHA-256-128 [RFC4868]"},
	{algo{"null-sha1", suite.EncrNull, 0, suite.IntegHMACSHA196, 20}, false, "NULL", "HMAC-SHA-1-96 [RFC2404]"},
}

// tsharkSent is one packet the engine sealed, with what tshark must find
// in it.
type tsharkSent struct {
	what     string
	wire     []byte
	inner    []byte // the packet handed to Encapsulate
	tunnel   bool
	spi      uint32
	align    int // the transform's payload alignment
	corrupt  bool
	innerV6  bool
	proto    uint8
	payload  []byte // the UDP or TCP payload, nil for ICMP
	src, dst string
}

// TestTsharkDecryptsEngineESP seals packets of several sizes and protocols
// with every algorithm in tsharkAlgos, in tunnel (4in4, 6in6, 4in6, 6in4)
// and transport mode over IPv4 and IPv6, with and without UDP
// encapsulation, in both directions, and runs tshark once per algorithm
// over them. Every packet must decrypt to exactly the packet sent (or, in
// transport mode, its payload), with the default padding and the right
// next header, and have a good ICV; the two tampered copies a bad one.
func TestTsharkDecryptsEngineESP(t *testing.T) {
	bin := tshark.Path(t)
	if out, err := exec.Command(bin, "-v").Output(); err == nil {
		t.Logf("%s", bytes.SplitN(out, []byte("\n"), 2)[0])
	}
	for _, ta := range tsharkAlgos {
		t.Run(ta.name, func(t *testing.T) {
			t.Parallel()
			// Tunnel mode with UDP encapsulation has its own test below.
			sent, sas := tsharkBatch(t, ta, func(g geometry, encap bool) bool { return !encap || g.mode == spd.Transport })
			rows := runTshark(t, bin, ta, sent, sas)
			checkTshark(t, sent, rows)
		})
	}
}

// TestTsharkTunnelUDPEncap is TestTsharkDecryptsEngineESP for tunnel mode
// with UDP encapsulation (RFC 3948), where tshark finds a UDP header whose
// Length field says 8 and so no ESP packet behind it.
func TestTsharkTunnelUDPEncap(t *testing.T) {
	bin := tshark.Path(t)
	for _, ta := range tsharkAlgos {
		t.Run(ta.name, func(t *testing.T) {
			t.Parallel()
			sent, sas := tsharkBatch(t, ta, func(g geometry, encap bool) bool { return encap && g.mode == spd.Tunnel })
			rows := runTshark(t, bin, ta, sent, sas)
			checkTshark(t, sent, rows)
		})
	}
}

// TestTunnelUDPEncapHeader checks the outer UDP header of UDP-encapsulated
// ESP in every geometry: RFC 768's Length covers the header and the whole
// ESP packet, and over IPv6 the checksum is right (RFC 8200 §8.1; over IPv4
// RFC 3948 §2.1 sends zero).
//
// Engine bug: in tunnel mode pushUDPEncapFor hands writeUDPEncap only the
// 8 octets pktbuf.Buffer.Prepend returns, so writeUDPEncap, which takes
// len(u) for the datagram's length, writes Length 8 and, over IPv6,
// checksums the header alone. Transport mode passes the slice to the end of
// the packet and is right. Sabre's own Decapsulate reads neither field, so
// its round trips pass; Wireshark, and a kernel that checks UDP, do not.
func TestTunnelUDPEncapHeader(t *testing.T) {
	for _, g := range geometries {
		t.Run(g.name, func(t *testing.T) {
			if g.mode == spd.Tunnel {
			}
			c := g.config(espAlgos[0])
			c.encap = true
			ha, _ := newPair(t, c)
			buf := testPacket{src: g.inSrc, dst: g.inDr, proto: layers.IPProtocolUDP, sport: 1, dport: 2, payloadLen: 100}.build(t)
			if _, err := ha.e.Encapsulate(buf); err != nil {
				t.Fatal(err)
			}
			pkt := buf.Bytes()
			hl, src, dst := 20, pkt[12:16], pkt[16:20]
			if pkt[0]>>4 == 6 {
				hl, src, dst = 40, pkt[8:24], pkt[24:40]
			}
			udp := pkt[hl:]
			if got := int(binary.BigEndian.Uint16(udp[4:])); got != len(udp) {
				t.Errorf("UDP Length %d, want %d (header and ESP packet)", got, len(udp))
			}
			if hl == 40 {
				if sum := udpChecksum(src, dst, udp); sum != 0xffff {
					t.Errorf("UDP checksum %#04x does not verify (ones'-complement sum %#04x)", binary.BigEndian.Uint16(udp[6:]), sum)
				}
			}
		})
	}
}

// udpChecksum returns the ones'-complement sum of the pseudo-header and
// the UDP datagram u, checksum field included: 0xffff when it verifies.
func udpChecksum(src, dst, u []byte) uint16 {
	var sum uint32
	add := func(b []byte) {
		for i := 0; i+1 < len(b); i += 2 {
			sum += uint32(b[i])<<8 | uint32(b[i+1])
		}
		if len(b)%2 == 1 {
			sum += uint32(b[len(b)-1]) << 8
		}
	}
	add(src)
	add(dst)
	sum += 17 + uint32(len(u))
	add(u)
	for sum > 0xffff {
		sum = sum>>16 + sum&0xffff
	}
	return uint16(sum)
}

// tsharkSA is one esp_sa table row.
type tsharkSA struct {
	v6              bool
	src, dst        string
	spi             uint32
	encrKey, intKey []byte
}

// tsharkBatch sends packets through a pair of engines for every tunnel and
// transport geometry, with and without UDP encapsulation, in both
// directions (for the geometries want accepts), and appends two tampered
// copies of the first packet.
func tsharkBatch(t *testing.T, ta tsharkAlgo, want func(g geometry, encap bool) bool) ([]tsharkSent, []tsharkSA) {
	var sent []tsharkSent
	saSeen := map[string]bool{}
	var sas []tsharkSA
	addSA := func(local, peer string, spi uint32, seed byte) {
		k := fmt.Sprintf("%s>%s/%x", local, peer, spi)
		if saSeen[k] {
			return
		}
		saSeen[k] = true
		sas = append(sas, tsharkSA{v6: mustAddr(local).Is6(), src: local, dst: peer, spi: spi,
			encrKey: key(ta.encrLen, seed), intKey: key(ta.intLen, seed+1)})
	}
	for _, g := range geometries {
		for _, encap := range []bool{false, true} {
			if !want(g, encap) {
				continue
			}
			c := g.config(ta.algo)
			c.encap = encap
			if ta.shortICV {
				c.flags |= spd.FlagAuthSHA2ICVShort
			}
			ha, hb := newPair(t, c)
			// newPair keys A's outbound SA (SPI 0x1000) from seed 0x10 and
			// B's (SPI 0x2000) from seed 0x20.
			addSA(g.local, g.peer, 0x1000, 0x10)
			addSA(g.peer, g.local, 0x2000, 0x20)
			name := g.name
			if encap {
				name += "/udp-encap"
			}
			send := func(from, to *host, p testPacket, spi uint32) {
				buf := p.build(t)
				inner := bytes.Clone(buf.Bytes())
				want := SecureTransport
				if g.mode == spd.Tunnel {
					want = SecureTunnel
				}
				if res, err := from.e.Encapsulate(buf); res != want || err != nil {
					t.Fatalf("%s: Encapsulate = %v, %v", name, res, err)
				}
				wire := bytes.Clone(buf.Bytes())
				// Sabre itself must accept what it sent.
				if res, err := to.e.Decapsulate(wrap(wire)); res != want || err != nil {
					t.Fatalf("%s: Decapsulate = %v, %v", name, res, err)
				}
				s := tsharkSent{what: fmt.Sprintf("%s %v %d bytes SPI %#x", name, p.proto, p.payloadLen, spi),
					wire: wire, inner: inner, tunnel: g.mode == spd.Tunnel, spi: spi,
					align:   max(4, from.e.SAD().Session(from.policyID).OutboundESP().ESP().BlockLen()),
					innerV6: inner[0]>>4 == 6, src: p.src, dst: p.dst}
				s.proto = uint8(p.proto)
				if s.innerV6 && p.proto == layers.IPProtocolICMPv4 {
					s.proto = uint8(layers.IPProtocolICMPv6)
				}
				if p.proto == layers.IPProtocolUDP || p.proto == layers.IPProtocolTCP {
					s.payload = inner[len(inner)-p.payloadLen:]
				}
				sent = append(sent, s)
			}
			for i, n := range []int{0, 1, 17, 100, 1000} {
				proto := []layers.IPProtocol{layers.IPProtocolUDP, layers.IPProtocolTCP, layers.IPProtocolICMPv4}[i%3]
				send(ha, hb, testPacket{src: g.inSrc, dst: g.inDr, proto: proto, sport: 40000, dport: 40001, payloadLen: n}, 0x1000)
			}
			send(hb, ha, testPacket{src: g.inDr, dst: g.inSrc, proto: layers.IPProtocolTCP, sport: 40001, dport: 40000, payloadLen: 333}, 0x2000)
		}
	}
	// Two copies of the first packet with an authenticated field changed:
	// the last ICV octet, and the sequence number. tshark must still
	// decrypt them but call their ICVs bad, which shows that it really
	// checks. (Wireshark 4.0 reports no ICV status at all for a packet
	// whose decrypted trailer is garbage, so the ciphertext is left alone.)
	for _, c := range []struct {
		what string
		off  int
	}{{"ICV", len(sent[0].wire) - 1}, {"sequence number", espOffset(sent[0].wire) + 7}} {
		bad := sent[0]
		bad.what, bad.corrupt = fmt.Sprintf("%s with its %s changed", bad.what, c.what), true
		bad.wire = bytes.Clone(bad.wire)
		bad.wire[c.off] ^= 0x08
		sent = append(sent, bad)
	}
	return sent, sas
}

// espOffset returns where the ESP header starts in the outer packet pkt,
// which has no IPv6 extension headers.
func espOffset(pkt []byte) int {
	off, proto := int(pkt[0]&0x0f)*4, pkt[9]
	if pkt[0]>>4 == 6 {
		off, proto = 40, pkt[6]
	}
	if proto == uint8(layers.IPProtocolUDP) {
		off += 8
	}
	return off
}

// tsharkFields are the fields runTshark asks for, in order.
var tsharkFields = []string{
	"frame.number", "esp.spi", "esp.icv_good", "esp.icv_bad", "esp.protocol", "esp.pad_len",
	"esp.decrypted_data", "ip.src", "ip.dst", "ip.proto", "ipv6.src", "ipv6.dst", "ipv6.nxt",
	"udp.payload", "tcp.payload",
}

// runTshark writes sent to a pcap and the SAs to an esp_sa table in a
// private Wireshark configuration directory, and runs tshark once over it.
func runTshark(t *testing.T, bin string, ta tsharkAlgo, sent []tsharkSent, sas []tsharkSA) []tshark.Row {
	t.Helper()
	rows := make([]tshark.ESPSA, len(sas))
	for i, sa := range sas {
		rows[i] = tshark.ESPSA{IPv6: sa.v6, Src: sa.src, Dst: sa.dst, SPI: sa.spi,
			Encr: ta.encr, EncrKey: sa.encrKey, Auth: ta.auth, AuthKey: sa.intKey}
	}
	uat := tshark.ESPSATable(rows)
	conf := tshark.Config(t, map[string]string{"preferences": tshark.ESPPreferences, "esp_sa": uat})
	pcap := filepath.Join(t.TempDir(), "esp.pcap")
	if d := os.Getenv("SABRE_TSHARK_KEEP"); d != "" {
		// Keep the capture and the esp_sa table to open in Wireshark.
		pcap = filepath.Join(d, ta.name+".pcap")
		if err := os.WriteFile(filepath.Join(d, ta.name+".esp_sa"), []byte(uat), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	wires := make([][]byte, len(sent))
	for i, s := range sent {
		wires[i] = s.wire
	}
	tshark.WritePcap(t, pcap, tshark.LinkRaw, tshark.RawPackets(wires))
	got := tshark.Fields(t, bin, conf, pcap, tsharkFields)
	if len(got) != len(sent) {
		t.Fatalf("tshark printed %d frames, want %d", len(got), len(sent))
	}
	return got
}

// checkTshark compares what tshark decoded with what was sent.
func checkTshark(t *testing.T, sent []tsharkSent, rows []tshark.Row) {
	t.Helper()
	for i, s := range sent {
		r := rows[i]
		if got := r.Last("esp.spi"); got != fmt.Sprintf("0x%08x", s.spi) {
			t.Errorf("%s: tshark SPI %q", s.what, got)
			continue
		}
		if s.corrupt {
			if r.Last("esp.icv_bad") != "1" || r.Last("esp.icv_good") == "1" {
				t.Errorf("%s: tshark did not flag the ICV bad: good %q bad %q", s.what, r.Last("esp.icv_good"), r.Last("esp.icv_bad"))
			}
			continue
		}
		if r.Last("esp.icv_good") != "1" || r.Last("esp.icv_bad") != "0" {
			t.Errorf("%s: tshark ICV good %q bad %q", s.what, r.Last("esp.icv_good"), r.Last("esp.icv_bad"))
		}
		// The decrypted data is the payload with the ESP trailer.
		want, next := s.inner, uint8(4)
		if s.innerV6 {
			next = 41
		}
		if !s.tunnel {
			hl := 20
			if s.innerV6 {
				hl = 40
			}
			want, next = s.inner[hl:], s.proto
		}
		dec, err := hex.DecodeString(r.Last("esp.decrypted_data"))
		if err != nil || len(dec) < len(want)+2 || !bytes.Equal(dec[:len(want)], want) {
			t.Errorf("%s: tshark decrypted\n%x\nwant %x followed by the trailer", s.what, dec, want)
			continue
		}
		padLen := int(dec[len(dec)-2])
		if len(want)+padLen+2 != len(dec) || len(dec)%s.align != 0 || padLen >= s.align || dec[len(dec)-1] != next {
			t.Errorf("%s: trailer %x after %d payload bytes: want minimal padding to %d and next header %d", s.what, dec[len(want):], len(want), s.align, next)
		}
		for j, b := range dec[len(want) : len(dec)-2] {
			if b != byte(j+1) {
				t.Errorf("%s: pad byte %d is %d, want the RFC 4303 §2.4 default %d", s.what, j, b, j+1)
			}
		}
		if got := r.Last("esp.pad_len"); !numIs(got, padLen) {
			t.Errorf("%s: tshark pad length %q, want %d", s.what, got, padLen)
		}
		if got := r.Last("esp.protocol"); !numIs(got, int(next)) {
			t.Errorf("%s: tshark next header %q, want %d", s.what, got, next)
		}
		// tshark dissected the inner packet: its addresses and protocol
		// are the last of their fields.
		srcF, dstF, protoF := "ip.src", "ip.dst", "ip.proto"
		if s.innerV6 {
			srcF, dstF, protoF = "ipv6.src", "ipv6.dst", "ipv6.nxt"
		}
		if got, want := r.Last(srcF), netip.MustParseAddr(s.src).String(); got != want {
			t.Errorf("%s: tshark inner source %q, want %q", s.what, got, want)
		}
		if got, want := r.Last(dstF), netip.MustParseAddr(s.dst).String(); got != want {
			t.Errorf("%s: tshark inner destination %q, want %q", s.what, got, want)
		}
		if s.tunnel {
			if got := r.Last(protoF); !numIs(got, int(s.proto)) {
				t.Errorf("%s: tshark inner protocol %q, want %d", s.what, got, s.proto)
			}
		}
		if len(s.payload) > 0 {
			f := "udp.payload"
			if s.proto == uint8(layers.IPProtocolTCP) {
				f = "tcp.payload"
			}
			if got := r.Last(f); got != hex.EncodeToString(s.payload) {
				t.Errorf("%s: tshark %s\n%s\nwant %x", s.what, f, got, s.payload)
			}
		}
	}
}

// numIs reports whether tshark's number s (decimal, or 0x hex as it prints
// some protocol fields) is n.
func numIs(s string, n int) bool {
	v, err := strconv.ParseInt(s, 0, 64)
	return err == nil && v == int64(n)
}
