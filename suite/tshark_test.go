package suite

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// wiresharkEncr and wiresharkInteg give the names (of its esp_sa table,
// Wireshark 4.0) of the algorithms Wireshark can check.
var (
	wiresharkEncr = map[EncrID]string{
		EncrNull:     "NULL",
		Encr3DES:     "TripleDES-CBC [RFC2451]",
		EncrAESCBC:   "AES-CBC [RFC3602]",
		EncrAESCTR:   "AES-CTR [RFC3686]",
		EncrAESGCM8:  "AES-GCM with 8 octet ICV [RFC4106]",
		EncrAESGCM12: "AES-GCM with 12 octet ICV [RFC4106]",
		EncrAESGCM16: "AES-GCM with 16 octet ICV [RFC4106]",
	}
	wiresharkInteg = map[espCase]string{
		{integ: IntegNone}:                       "NULL",
		{integ: IntegHMACMD596}:                  "HMAC-MD5-96 [RFC2403]",
		{integ: IntegHMACSHA196}:                 "HMAC-SHA-1-96 [RFC2404]",
		{integ: IntegHMACSHA256128}:              "HMAC-SHA-256-128 [RFC4868]",
		{integ: IntegHMACSHA256128, short: true}: "HMAC-SHA-256-96 [draft-ietf-ipsec-ciph-sha-256-00]",
		{integ: IntegHMACSHA384192}:              "HMAC-SHA-384-192 [RFC4868]",
		{integ: IntegHMACSHA512256}:              "HMAC-SHA-512-256 [RFC4868]",
	}
)

// TestTsharkDecrypts has Wireshark, an independent ESP implementation,
// decrypt and check the ICV of tunnel-mode packets sealed by every
// algorithm pair both support (not ChaCha20-Poly1305, AES-GMAC, AES-XCBC,
// AES-CMAC or ESN, which tshark 4.0 lacks).
func TestTsharkDecrypts(t *testing.T) {
	tshark, err := exec.LookPath("tshark")
	if err != nil {
		t.Skip("tshark not installed (apt-get install tshark): it is the independent decoder this test checks against")
	}
	type sent struct {
		name     string
		spi      uint32
		sport    uint16
		tampered bool
	}
	var pkts [][]byte
	var want []sent
	args := []string{"-n", "-o", "esp.enable_encryption_decode:TRUE", "-o", "esp.enable_authentication_check:TRUE"}
	spi := uint32(0x5ab00000)
	for _, c := range espCases() {
		encr, ok1 := wiresharkEncr[c.encr]
		integ, ok2 := wiresharkInteg[espCase{integ: c.integ, short: c.short}]
		if !ok1 || !ok2 {
			continue
		}
		cfg := c.config()
		e := mustESP(t, cfg)
		for i := range 4 {
			spi++
			sport := uint16(40000 + len(want)) // high ports: no dissector behind UDP to trip on
			inner := udpPacket(sport, 40+7*i)
			pt := defaultPadding(inner, max(e.BlockLen(), 4), 4) // next header 4: IPv4 in ESP
			seq := uint64(i + 1)
			esp := espPacket(e, spi, seq, nil, pt)
			e.Seal(esp, seq, false)
			tampered := i == 3 // the control: Wireshark must see a bad ICV
			if tampered {
				// Flip an ICV bit: a flipped ciphertext bit can garble the
				// decrypted trailer, and tshark 4.0 then reports no ICV
				// status at all.
				esp[len(esp)-1] ^= 0x10
			}
			pkts = append(pkts, ipv4(50, esp))
			want = append(want, sent{e.Name(), spi, sport, tampered})
			args = append(args, "-o", fmt.Sprintf(`uat:esp_sa:"IPv4","*","*","0x%08x","%s","0x%x","%s","0x%x"`,
				spi, encr, cfg.EncrKey, integ, cfg.IntegKey))
		}
	}
	pcap := filepath.Join(t.TempDir(), "esp.pcap")
	writePcap(t, pcap, pkts)
	if d := os.Getenv("TSHARK_DEBUG"); d != "" { // keep the capture and arguments in directory d
		writePcap(t, filepath.Join(d, "esp.pcap"), pkts)
		os.WriteFile(filepath.Join(d, "args"), []byte(strings.Join(args, "\n")), 0o644)
	}
	args = append(args, "-r", pcap, "-T", "fields", "-E", "separator=,",
		"-e", "esp.spi", "-e", "esp.icv_good", "-e", "esp.icv_bad", "-e", "udp.srcport", "-e", "udp.dstport")
	cmd := exec.Command(tshark, args...)
	cmd.Env = append(os.Environ(), "HOME="+t.TempDir(), "XDG_CONFIG_HOME="+t.TempDir()) // no personal preferences
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("tshark: %v\n%s", err, stderr.String())
	}
	lines := strings.Split(strings.TrimSpace(string(out)), "\n")
	if len(lines) != len(want) {
		t.Fatalf("tshark printed %d lines for %d packets:\n%s\n%s", len(lines), len(want), out, stderr.String())
	}
	for i, l := range lines {
		w := want[i]
		// The inner UDP ports appear only if the payload decrypted right.
		wantLine := fmt.Sprintf("0x%08x,1,0,%d,%d", w.spi, w.sport, 39999)
		if w.tampered {
			l, wantLine = l[:min(len(l), 14)], fmt.Sprintf("0x%08x,0,1", w.spi)
		}
		if os.Getenv("TSHARK_DEBUG") != "" {
			t.Logf("%s %s", w.name, l)
		}
		if l != wantLine {
			t.Errorf("%s packet %d: tshark says %q (SPI, ICV good, ICV bad, ports), want %q", w.name, i, l, wantLine)
		}
	}
}

// udpPacket returns an IPv4/UDP packet from sport to port 39999 with n
// octets of payload.
func udpPacket(sport uint16, n int) []byte {
	udp := make([]byte, 8+n)
	binary.BigEndian.PutUint16(udp[0:], sport)
	binary.BigEndian.PutUint16(udp[2:], 39999)
	binary.BigEndian.PutUint16(udp[4:], uint16(8+n))
	for i := range n {
		udp[8+i] = byte(i)
	}
	return ipv4(17, udp)
}

// ipv4 returns an IPv4 header from 192.0.2.1 to 192.0.2.2 with protocol
// proto, followed by payload.
func ipv4(proto byte, payload []byte) []byte {
	p := make([]byte, 20+len(payload))
	p[0] = 0x45
	binary.BigEndian.PutUint16(p[2:], uint16(len(p)))
	p[8], p[9] = 64, proto
	copy(p[12:], []byte{192, 0, 2, 1, 192, 0, 2, 2})
	var sum uint32
	for i := 0; i < 20; i += 2 {
		sum += uint32(binary.BigEndian.Uint16(p[i:]))
	}
	for sum > 0xffff {
		sum = sum&0xffff + sum>>16
	}
	binary.BigEndian.PutUint16(p[10:], ^uint16(sum))
	copy(p[20:], payload)
	return p
}

// writePcap writes raw IPv4 packets (LINKTYPE_RAW) to a pcap file.
func writePcap(t *testing.T, path string, pkts [][]byte) {
	var b bytes.Buffer
	hdr := make([]byte, 24)
	binary.LittleEndian.PutUint32(hdr[0:], 0xa1b2c3d4)
	binary.LittleEndian.PutUint16(hdr[4:], 2)
	binary.LittleEndian.PutUint16(hdr[6:], 4)
	binary.LittleEndian.PutUint32(hdr[16:], 65535)
	binary.LittleEndian.PutUint32(hdr[20:], 101)
	b.Write(hdr)
	for i, p := range pkts {
		r := make([]byte, 16)
		binary.LittleEndian.PutUint32(r[0:], uint32(1700000000+i))
		binary.LittleEndian.PutUint32(r[8:], uint32(len(p)))
		binary.LittleEndian.PutUint32(r[12:], uint32(len(p)))
		b.Write(r)
		b.Write(p)
	}
	if err := os.WriteFile(path, b.Bytes(), 0o644); err != nil {
		t.Fatal(err)
	}
}
