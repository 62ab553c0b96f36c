package suite

import (
	"bytes"
	"encoding/binary"
	"testing"

	"github.com/sabre-ipsec/sabre/internal/testutil/vectors"
)

// TestAESGCMMcGrew reproduces the ESP packets of draft-mcgrew-gcm-test-01
// §4 with AES-GCM-16 octet for octet, and checks that AES-GCM-12 and -8
// send the leading 12 and 8 octets of the same tag (RFC 4106 §6, SP 800-38D
// §7.1 step 7).
func TestAESGCMMcGrew(t *testing.T) {
	for _, v := range vectors.Read(t, "testdata/draft-mcgrew-gcm-test-01.txt") {
		nonce, seqb := v.Bytes(t, "nonce"), v.Bytes(t, "seq")
		key := append(v.Bytes(t, "key"), nonce[:4]...)
		var seq uint64
		esn := len(seqb) == 8
		if esn {
			seq = binary.BigEndian.Uint64(seqb)
		} else {
			seq = uint64(binary.BigEndian.Uint32(seqb))
		}
		want := v.Bytes(t, "esp")
		for _, id := range []EncrID{EncrAESGCM16, EncrAESGCM12, EncrAESGCM8} {
			e := mustESP(t, ESPConfig{Encr: id, EncrKey: key})
			esp := espPacket(e, binary.BigEndian.Uint32(v.Bytes(t, "spi")), seq, nonce[4:], v.Bytes(t, "plaintext"))
			sealOpen(t, "draft-mcgrew-gcm-test-01 vector "+v.Str(t, "vector")+" "+e.Name(), e, esp, seq, esn, want[:len(esp)])
		}
	}
}

// TestChaCha20Poly1305RFC7634 reproduces the ESP example of RFC 7634
// Appendix A.
func TestChaCha20Poly1305RFC7634(t *testing.T) {
	for _, v := range vectors.Read(t, "testdata/rfc7634-chacha20-poly1305-esp.txt") {
		e := mustESP(t, ESPConfig{Encr: EncrChaCha20Poly1305, EncrKey: append(v.Bytes(t, "key"), v.Bytes(t, "salt")...)})
		seq := uint64(binary.BigEndian.Uint32(v.Bytes(t, "seq")))
		spi := binary.BigEndian.Uint32(v.Bytes(t, "spi"))
		esp := espPacket(e, spi, seq, v.Bytes(t, "iv"), v.Bytes(t, "plaintext"))
		want := append(append(append([]byte(nil), v.Bytes(t, "spi")...), v.Bytes(t, "seq")...), v.Bytes(t, "iv")...)
		want = append(want, v.Bytes(t, "ciphertext")...)
		sealOpen(t, "RFC 7634 Appendix A", e, esp, seq, false, want)
	}
}

// TestChaCha20Poly1305Wycheproof runs Project Wycheproof's
// ChaCha20-Poly1305 vectors through the AEAD as NewESP keys it (key ||
// salt; the vector's nonce stands in for salt || IV).
func TestChaCha20Poly1305Wycheproof(t *testing.T) {
	w := readWycheproof(t, "chacha20_poly1305_test.json")
	n := 0
	for _, g := range w.TestGroups {
		for _, tc := range g.Tests {
			e, err := newAEADESP(EncrChaCha20Poly1305, append(append([]byte(nil), tc.Key...), tc.IV[:4]...))
			if err != nil {
				t.Fatalf("tcId %d: %v", tc.TcID, err)
			}
			pt, err := e.aead.Open(nil, tc.IV, append(append([]byte(nil), tc.CT...), tc.Tag...), tc.AAD)
			ok := err == nil && bytes.Equal(pt, tc.Msg)
			if ok != (tc.Result == "valid") {
				t.Errorf("tcId %d (%s): open ok %v, result %s", tc.TcID, tc.Comment, ok, tc.Result)
			}
			if tc.Result == "valid" {
				if ct := e.aead.Seal(nil, tc.IV, tc.Msg, tc.AAD); !bytes.Equal(ct, append(append([]byte(nil), tc.CT...), tc.Tag...)) {
					t.Errorf("tcId %d: seal differs", tc.TcID)
				}
			}
			n++
		}
	}
	if n < 300 {
		t.Fatalf("only %d tests", n)
	}
}
