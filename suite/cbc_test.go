package suite

import (
	"bytes"
	"encoding/binary"
	"testing"
)

// TestAESCBCRFC3602 reproduces RFC 3602 §4: the ciphertext of cases 1-4,
// and the ESP header, IV and ciphertext of the ESP packets of cases 5-8,
// octet for octet. RFC 3602's packets carry no ICV; Sabre always adds one,
// so the vectors are checked up to it.
func TestAESCBCRFC3602(t *testing.T) {
	for _, v := range readVectors(t, "rfc3602-aes-cbc.txt") {
		e := mustESP(t, ESPConfig{Encr: EncrAESCBC, EncrKey: v.bytes(t, "key"), Integ: IntegHMACSHA196, IntegKey: randBytes(20)})
		what := "RFC 3602 case " + v.str(t, "case")
		iv := v.bytes(t, "iv")
		if !v.has("esp") {
			esp := espPacket(e, 0x1234, 1, iv, v.bytes(t, "plaintext"))
			ct := v.bytes(t, "ciphertext")
			sealOpen(t, what, e, esp, 1, false, nil)
			e.Seal(esp, 1, false)
			if got := esp[24 : 24+len(ct)]; !bytes.Equal(got, ct) {
				t.Errorf("%s: ciphertext %x, want %x", what, got, ct)
			}
			continue
		}
		pt := defaultPadding(v.bytes(t, "payload"), 16, v.bytes(t, "nexthdr")[0])
		seq := uint64(binary.BigEndian.Uint32(v.bytes(t, "seq")))
		esp := espPacket(e, binary.BigEndian.Uint32(v.bytes(t, "spi")), seq, iv, pt)
		sealOpen(t, what, e, esp, seq, false, v.bytes(t, "esp"))
	}
}

// Test3DESCBC checks 3DES-CBC through ESP against the NIST TDES MMT
// examples (RFC 2451 has no vectors).
func Test3DESCBC(t *testing.T) {
	for _, v := range readVectors(t, "nist-tdes-cbc-mmt.txt") {
		e := mustESP(t, ESPConfig{Encr: Encr3DES, EncrKey: v.bytes(t, "key"), Integ: IntegHMACMD596, IntegKey: randBytes(16)})
		esp := espPacket(e, 1, 1, v.bytes(t, "iv"), v.bytes(t, "plaintext"))
		want := append(append(esp[:8:8], v.bytes(t, "iv")...), v.bytes(t, "ciphertext")...)
		sealOpen(t, "TDES MMT case "+v.str(t, "case"), e, esp, 1, false, want)
	}
}
