package suite

import (
	"fmt"
	"net/netip"
	"os"
	"path/filepath"
	"testing"

	"github.com/sabre-ipsec/sabre/internal/testutil/packet"
	"github.com/sabre-ipsec/sabre/internal/testutil/tshark"
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
	bin := tshark.Path(t)
	type sent struct {
		name     string
		spi      uint32
		sport    uint16
		tampered bool
	}
	var pkts [][]byte
	var want []sent
	var sas []tshark.ESPSA
	src, dst := netip.MustParseAddr("192.0.2.1"), netip.MustParseAddr("192.0.2.2")
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
			payload := make([]byte, 40+7*i)
			for j := range payload {
				payload[j] = byte(j)
			}
			inner := packet.UDP(netip.AddrPortFrom(src, sport), netip.AddrPortFrom(dst, 39999), payload)
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
			pkts = append(pkts, packet.IP(src, dst, 50, esp))
			want = append(want, sent{e.Name(), spi, sport, tampered})
			sas = append(sas, tshark.ESPSA{Src: "*", Dst: "*", SPI: spi, Encr: encr, EncrKey: cfg.EncrKey, Auth: integ, AuthKey: cfg.IntegKey})
		}
	}
	conf := tshark.Config(t, map[string]string{"preferences": tshark.ESPPreferences, "esp_sa": tshark.ESPSATable(sas)})
	pcap := filepath.Join(t.TempDir(), "esp.pcap")
	tshark.WritePcap(t, pcap, tshark.LinkRaw, tshark.RawPackets(pkts))
	if d := os.Getenv("TSHARK_DEBUG"); d != "" { // keep the capture and the esp_sa table in directory d
		tshark.WritePcap(t, filepath.Join(d, "esp.pcap"), tshark.LinkRaw, tshark.RawPackets(pkts))
		os.WriteFile(filepath.Join(d, "esp_sa"), []byte(tshark.ESPSATable(sas)), 0o644)
	}
	rows := tshark.Fields(t, bin, conf, pcap, []string{"esp.spi", "esp.icv_good", "esp.icv_bad", "udp.srcport", "udp.dstport"})
	if len(rows) != len(want) {
		t.Fatalf("tshark printed %d rows for %d packets: %v", len(rows), len(want), rows)
	}
	for i, r := range rows {
		w := want[i]
		// The inner UDP ports appear only if the payload decrypted right.
		got := fmt.Sprintf("%s,%s,%s,%s,%s", r.Last("esp.spi"), r.Last("esp.icv_good"), r.Last("esp.icv_bad"), r.Last("udp.srcport"), r.Last("udp.dstport"))
		wantLine := fmt.Sprintf("0x%08x,1,0,%d,%d", w.spi, w.sport, 39999)
		if w.tampered {
			got, wantLine = fmt.Sprintf("%s,%s,%s", r.Last("esp.spi"), r.Last("esp.icv_good"), r.Last("esp.icv_bad")), fmt.Sprintf("0x%08x,0,1", w.spi)
		}
		if os.Getenv("TSHARK_DEBUG") != "" {
			t.Logf("%s %s", w.name, got)
		}
		if got != wantLine {
			t.Errorf("%s packet %d: tshark says %q (SPI, ICV good, ICV bad, ports), want %q", w.name, i, got, wantLine)
		}
	}
}
