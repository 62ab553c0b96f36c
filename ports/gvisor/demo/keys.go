package demo

// -keys: the negotiated keys in Wireshark's formats, from the IKE
// daemons' key export hook (ike.Daemon.SetKeyExport). Two tables of
// Wireshark's "user access tables" (UAT) in one file, each under a
// "# table NAME" line:
//
//   - esp_sa: "IPv4","src","dst","0xSPI","encryption","0xkey","authentication","0xkey"
//     one row per direction of each Child SA;
//   - ikev2_decryption_table: SPIi,SPIr,SK_ei,SK_er,"encryption",SK_ai,SK_ar,"integrity"
//     (hex bytes unquoted, as Wireshark saves that table).
//
// The algorithm names are the strings of Wireshark 4.0's tables; an
// algorithm it lacks (ChaCha20-Poly1305) gives a comment line with the
// keys instead of a row.

import (
	"encoding/hex"
	"fmt"
	"net/netip"
	"os"
	"slices"
	"strings"
	"sync"

	"github.com/sabre-ipsec/sabre/ike"
	"github.com/sabre-ipsec/sabre/suite"
)

// demoKeys collects both hosts' key exports.
type demoKeys struct {
	mu    sync.Mutex
	ike   []*ike.IKESAKeyExport
	child []*ike.ChildSAKeyExport
}

// add is the hook: it runs on an IKE daemon's goroutine.
func (k *demoKeys) add(x ike.KeyExport) {
	k.mu.Lock()
	defer k.mu.Unlock()
	if x.IKE != nil {
		k.ike = append(k.ike, x.IKE)
	}
	if x.Child != nil {
		k.child = append(k.child, x.Child)
	}
}

// write writes the tables to path (mode 0600) and clears the keys held.
// It returns the number of ESP SAs (one per direction) and IKE SAs.
func (k *demoKeys) write(path string) (nESP, nIKE int, err error) {
	k.mu.Lock()
	defer k.mu.Unlock()
	defer k.zero()
	var b strings.Builder
	b.WriteString("# Keys of the SAs that sabre demo negotiated: SECRET. Whoever has this file can read\n" +
		"# (and with the IKE keys forge) what the SAs protected. Delete it when done.\n" +
		"# Each table's lines go into the Wireshark file (or preferences dialog) of its name;\n" +
		"# see sabre demo -h.\n")
	b.WriteString("# table esp_sa\n")
	seen := map[string]bool{}
	for _, c := range k.child {
		for _, r := range espRows(c) {
			if id := r.id(); !seen[id] {
				seen[id] = true
				b.WriteString(r.line())
				nESP++
			}
		}
	}
	b.WriteString("# table ikev2_decryption_table\n")
	seenIKE := map[[2]uint64]bool{}
	for _, s := range k.ike {
		if id := [2]uint64{s.SPIi, s.SPIr}; !seenIKE[id] {
			seenIKE[id] = true
			b.WriteString(ikev2Row(s))
			nIKE++
		}
	}
	if err := writeSecret(path, []byte(b.String())); err != nil {
		return 0, 0, err
	}
	return nESP, nIKE, nil
}

// writeSecret writes data to path, readable by its owner only, also when
// the file existed with another mode.
func writeSecret(path string, data []byte) error {
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_TRUNC, 0o600)
	if err != nil {
		return err
	}
	if err := f.Chmod(0o600); err != nil {
		f.Close()
		return err
	}
	if _, err := f.Write(data); err != nil {
		f.Close()
		return err
	}
	return f.Close()
}

// zero clears the keys held.
func (k *demoKeys) zero() {
	for _, s := range k.ike {
		for _, b := range [][]byte{s.SKei, s.SKer, s.SKai, s.SKar} {
			clear(b)
		}
	}
	for _, c := range k.child {
		for _, b := range [][]byte{c.EncrKeyIn, c.EncrKeyOut, c.IntegKeyIn, c.IntegKeyOut} {
			clear(b)
		}
	}
	k.ike, k.child = nil, nil
}

// espRow is one row of Wireshark's esp_sa table: one direction of a
// Child SA.
type espRow struct {
	src, dst         netip.Addr
	spi              uint32
	encr             ike.EncrAlg
	integ            suite.IntegID
	encrKey, intgKey []byte
}

func espRows(c *ike.ChildSAKeyExport) []espRow {
	if !c.ESP {
		return nil // AH: Wireshark's table is for ESP
	}
	return []espRow{
		{c.Local, c.Remote, c.SPIOut, c.Encr, c.Integ, c.EncrKeyOut, c.IntegKeyOut},
		{c.Remote, c.Local, c.SPIIn, c.Encr, c.Integ, c.EncrKeyIn, c.IntegKeyIn},
	}
}

func (r espRow) id() string { return fmt.Sprintf("%v %v %08x", r.src, r.dst, r.spi) }

func (r espRow) line() string {
	fam := "IPv4"
	if r.src.Is6() {
		fam = "IPv6"
	}
	encr, okE := wiresharkESPEncr(r.encr.ID)
	integ, okI := wiresharkESPInteg(r.integ)
	row := fmt.Sprintf("%q,%q,%q,\"0x%08x\",%q,%q,%q,%q\n", fam, r.src.String(), r.dst.String(), r.spi,
		encr, hexKey(r.encrKey), integ, hexKey(r.intgKey))
	if !okE || !okI {
		return fmt.Sprintf("# %s: not in Wireshark 4.0's esp_sa; the row, for a Wireshark that has it:\n# ", algName(r.encr, r.integ)) + row
	}
	return row
}

func hexKey(k []byte) string {
	if len(k) == 0 {
		return ""
	}
	return "0x" + hex.EncodeToString(k)
}

// wiresharkESPEncr is the esp_sa name of an ESP cipher.
func wiresharkESPEncr(id suite.EncrID) (string, bool) {
	switch id {
	case suite.EncrNull:
		return "NULL", true
	case suite.Encr3DES:
		return "TripleDES-CBC [RFC2451]", true
	case suite.EncrAESCBC:
		return "AES-CBC [RFC3602]", true
	case suite.EncrAESCTR:
		return "AES-CTR [RFC3686]", true
	case suite.EncrAESGCM8:
		return "AES-GCM with 8 octet ICV [RFC4106]", true
	case suite.EncrAESGCM12:
		return "AES-GCM with 12 octet ICV [RFC4106]", true
	case suite.EncrAESGCM16:
		return "AES-GCM with 16 octet ICV [RFC4106]", true
	}
	return id.String(), false
}

// wiresharkESPInteg is the esp_sa name of an ESP integrity algorithm.
func wiresharkESPInteg(id suite.IntegID) (string, bool) {
	switch id {
	case suite.IntegNone:
		return "NULL", true
	case suite.IntegHMACMD596:
		return "HMAC-MD5-96 [RFC2403]", true
	case suite.IntegHMACSHA196:
		return "HMAC-SHA-1-96 [RFC2404]", true
	case suite.IntegHMACSHA256128:
		return "HMAC-SHA-256-128 [RFC4868]", true
	case suite.IntegHMACSHA384192:
		return "HMAC-SHA-384-192 [RFC4868]", true
	case suite.IntegHMACSHA512256:
		return "HMAC-SHA-512-256 [RFC4868]", true
	case suite.IntegAESXCBC96, suite.IntegAESCMAC96:
		return "ANY 96 bit authentication [no checking]", true
	}
	return id.String(), false
}

// ikev2Row is the ikev2_decryption_table row of an IKE SA.
func ikev2Row(s *ike.IKESAKeyExport) string {
	encr, okE := wiresharkIKEEncr(s.Encr)
	integ, okI := wiresharkIKEInteg(s.Integ)
	row := fmt.Sprintf("%016x,%016x,%s,%s,%q,%s,%s,%q\n", s.SPIi, s.SPIr,
		uatHex(s.SKei), uatHex(s.SKer), encr, uatHex(s.SKai), uatHex(s.SKar), integ)
	if !okE || !okI {
		return fmt.Sprintf("# %s: not in Wireshark 4.0's ikev2_decryption_table; the row, for a Wireshark that has it:\n# ", algName(s.Encr, s.Integ)) + row
	}
	return row
}

// uatHex is a bytes field of a UAT file: hex digits, unquoted; "" when
// empty.
func uatHex(b []byte) string {
	if len(b) == 0 {
		return `""`
	}
	return hex.EncodeToString(b)
}

// wiresharkIKEEncr is the ikev2_decryption_table name of an IKE cipher.
func wiresharkIKEEncr(e ike.EncrAlg) (string, bool) {
	bits := e.KeyBits
	ok := slices.Contains([]int{128, 192, 256}, bits)
	switch e.ID {
	case suite.Encr3DES:
		return "3DES [RFC2451]", true
	case suite.EncrAESCBC:
		return fmt.Sprintf("AES-CBC-%d [RFC3602]", bits), ok
	case suite.EncrAESCTR:
		return fmt.Sprintf("AES-CTR-%d [RFC5930]", bits), ok
	case suite.EncrAESGCM8:
		return fmt.Sprintf("AES-GCM-%d with 8 octet ICV [RFC5282]", bits), ok
	case suite.EncrAESGCM12:
		return fmt.Sprintf("AES-GCM-%d with 12 octet ICV [RFC5282]", bits), ok
	case suite.EncrAESGCM16:
		return fmt.Sprintf("AES-GCM-%d with 16 octet ICV [RFC5282]", bits), ok
	}
	return e.String(), false
}

// wiresharkIKEInteg is the ikev2_decryption_table name of an IKE
// integrity algorithm.
func wiresharkIKEInteg(id suite.IntegID) (string, bool) {
	switch id {
	case suite.IntegNone:
		return "NONE [RFC4306]", true
	case suite.IntegHMACMD596:
		return "HMAC_MD5_96 [RFC2403]", true
	case suite.IntegHMACSHA196:
		return "HMAC_SHA1_96 [RFC2404]", true
	case suite.IntegHMACSHA256128:
		return "HMAC_SHA2_256_128 [RFC4868]", true
	case suite.IntegHMACSHA384192:
		return "HMAC_SHA2_384_192 [RFC4868]", true
	case suite.IntegHMACSHA512256:
		return "HMAC_SHA2_512_256 [RFC4868]", true
	}
	return id.String(), false
}

// algName names a cipher and, unless none, its integrity algorithm.
func algName(e ike.EncrAlg, i suite.IntegID) string {
	if i == suite.IntegNone {
		return e.String()
	}
	return fmt.Sprintf("%v with %v", e, i)
}
