package suite

import (
	"bytes"
	"encoding/binary"
	"testing"

	"github.com/sabre-ipsec/sabre/internal/testutil/vectors"
)

// TestAESCBCRFC3602 reproduces RFC 3602 §4: the ciphertext of cases 1-4,
// and the ESP header, IV and ciphertext of the ESP packets of cases 5-8,
// octet for octet. RFC 3602's packets carry no ICV; Sabre always adds one,
// so the vectors are checked up to it.
func TestAESCBCRFC3602(t *testing.T) {
	for _, v := range vectors.Read(t, "testdata/rfc3602-aes-cbc.txt") {
		e := mustESP(t, ESPConfig{Encr: EncrAESCBC, EncrKey: v.Bytes(t, "key"), Integ: IntegHMACSHA196, IntegKey: randBytes(20)})
		what := "RFC 3602 case " + v.Str(t, "case")
		iv := v.Bytes(t, "iv")
		if !v.Has("esp") {
			esp := espPacket(e, 0x1234, 1, iv, v.Bytes(t, "plaintext"))
			ct := v.Bytes(t, "ciphertext")
			sealOpen(t, what, e, esp, 1, false, nil)
			e.Seal(esp, 1, false)
			if got := esp[24 : 24+len(ct)]; !bytes.Equal(got, ct) {
				t.Errorf("%s: ciphertext %x, want %x", what, got, ct)
			}
			continue
		}
		pt := defaultPadding(v.Bytes(t, "payload"), 16, v.Bytes(t, "nexthdr")[0])
		seq := uint64(binary.BigEndian.Uint32(v.Bytes(t, "seq")))
		esp := espPacket(e, binary.BigEndian.Uint32(v.Bytes(t, "spi")), seq, iv, pt)
		sealOpen(t, what, e, esp, seq, false, v.Bytes(t, "esp"))
	}
}

// Test3DESCBC checks 3DES-CBC through ESP against the NIST TDES MMT
// examples (RFC 2451 has no vectors).
func Test3DESCBC(t *testing.T) {
	for _, v := range vectors.Read(t, "testdata/nist-tdes-cbc-mmt.txt") {
		e := mustESP(t, ESPConfig{Encr: Encr3DES, EncrKey: v.Bytes(t, "key"), Integ: IntegHMACMD596, IntegKey: randBytes(16)})
		esp := espPacket(e, 1, 1, v.Bytes(t, "iv"), v.Bytes(t, "plaintext"))
		want := append(append(esp[:8:8], v.Bytes(t, "iv")...), v.Bytes(t, "ciphertext")...)
		sealOpen(t, "TDES MMT case "+v.Str(t, "case"), e, esp, 1, false, want)
	}
}
