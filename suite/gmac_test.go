package suite

import (
	"bytes"
	"crypto/aes"
	"crypto/cipher"
	"encoding/binary"
	"testing"
)

// TestGMACWycheproof runs Project Wycheproof's AES-GMAC vectors (96-bit
// IVs) through the GMAC that ENCR_NULL_AUTH_AES_GMAC and AUTH_AES_GMAC use:
// GCM with an empty plaintext, keyed with key || salt.
func TestGMACWycheproof(t *testing.T) {
	w := readWycheproof(t, "aes_gmac_test.json")
	n := 0
	for _, g := range w.TestGroups {
		for _, tc := range g.Tests {
			a, salt, _, err := newGMAC(EncrNullAuthAESGMAC, append(append([]byte(nil), tc.Key...), tc.IV[:4]...))
			if err != nil {
				t.Fatalf("tcId %d: %v", tc.TcID, err)
			}
			if !bytes.Equal(salt[:], tc.IV[:4]) {
				t.Fatalf("tcId %d: salt %x", tc.TcID, salt)
			}
			tag := a.Seal(nil, tc.IV, nil, tc.Msg)
			if ok := bytes.Equal(tag, tc.Tag); ok != (tc.Result == "valid") {
				t.Errorf("tcId %d (%s): match %v, result %s", tc.TcID, tc.Comment, ok, tc.Result)
			}
			n++
		}
	}
	if n < 200 {
		t.Fatalf("only %d tests", n)
	}
}

// TestGMACESPLayout checks ENCR_NULL_AUTH_AES_GMAC's AAD and nonce (RFC 4543
// §3.2-§3.3, Figures 2-4: SPI, sequence number -- 64-bit with ESN --, IV,
// payload and trailer) against crypto/cipher's GCM with an empty plaintext,
// since RFC 4543 has no test vectors. The payload must stay plaintext.
func TestGMACESPLayout(t *testing.T) {
	for _, kl := range []int{16, 24, 32} {
		key := randBytes(kl + 4)
		e := mustESP(t, ESPConfig{Encr: EncrNullAuthAESGMAC, EncrKey: key})
		b, _ := aes.NewCipher(key[:kl])
		g, _ := cipher.NewGCM(b)
		for _, esn := range []bool{false, true} {
			seq := uint64(0x0102030405060708)
			pt := randBytes(44)
			esp := espPacket(e, 0xaabbccdd, seq, nil, pt)
			e.Seal(esp, seq, esn)
			if !bytes.Equal(esp[16:60], pt) {
				t.Fatal("GMAC changed the payload")
			}
			aad := append([]byte(nil), esp[0:4]...)
			if esn {
				aad = binary.BigEndian.AppendUint32(aad, uint32(seq>>32))
			}
			aad = append(aad, esp[4:60]...)
			nonce := append(key[kl:kl+4:kl+4], esp[8:16]...)
			if want := g.Seal(nil, nonce, nil, aad); !bytes.Equal(esp[60:], want) {
				t.Errorf("AES-%d esn=%v: ICV %x, want %x", kl*8, esn, esp[60:], want)
			}
			if err := e.Open(esp, uint32(seq>>32), esn); err != nil {
				t.Error(err)
			}
		}
	}
}
