package suite

import (
	"bytes"
	"crypto/aes"
	"crypto/cipher"
	"crypto/rand"
	"encoding/binary"
	"testing"
)

// espPacket builds an ESP packet for e: the header with spi and the low
// half of seq, the IV (iv, or FillIV's if nil), the plaintext (payload and
// trailer) and room for the ICV. Its capacity equals its length, as
// pktbuf hands packets out.
func espPacket(e ESP, spi uint32, seq uint64, iv, pt []byte) []byte {
	n := espHeaderLen + e.IVLen() + len(pt) + e.ICVLen()
	esp := make([]byte, n)
	binary.BigEndian.PutUint32(esp[0:4], spi)
	binary.BigEndian.PutUint32(esp[4:8], uint32(seq))
	ivf := esp[espHeaderLen : espHeaderLen+e.IVLen()]
	if iv != nil {
		copy(ivf, iv)
	} else {
		e.FillIV(ivf, seq)
	}
	copy(esp[espHeaderLen+e.IVLen():], pt)
	return esp[:n:n]
}

// defaultPadding appends the RFC 4303 §2.4 trailer to payload: padding
// 1, 2, 3, ... to a multiple of block, the pad length and next header.
func defaultPadding(payload []byte, block int, next byte) []byte {
	pad := (block - (len(payload)+2)%block) % block
	out := append([]byte(nil), payload...)
	for i := range pad {
		out = append(out, byte(i+1))
	}
	return append(out, byte(pad), next)
}

func mustESP(t testing.TB, c ESPConfig) ESP {
	t.Helper()
	e, err := NewESP(c)
	if err != nil {
		t.Fatalf("NewESP(%v, %v): %v", c.Encr, c.Integ, err)
	}
	return e
}

func randBytes(n int) []byte {
	b := make([]byte, n)
	rand.Read(b)
	return b
}

// sealOpen seals esp, checks it against want (the sealed packet, or nil),
// opens it again and checks that the plaintext came back.
func sealOpen(t *testing.T, what string, e ESP, esp []byte, seq uint64, esn bool, want []byte) {
	t.Helper()
	start := espHeaderLen + e.IVLen()
	pt := append([]byte(nil), esp[start:len(esp)-e.ICVLen()]...)
	e.Seal(esp, seq, esn)
	if want != nil && !bytes.Equal(esp[:len(want)], want) {
		t.Errorf("%s: sealed\n%x\nwant\n%x", what, esp[:len(want)], want)
	}
	if err := e.Open(esp, uint32(seq>>32), esn); err != nil {
		t.Fatalf("%s: Open: %v", what, err)
	}
	if got := esp[start : len(esp)-e.ICVLen()]; !bytes.Equal(got, pt) {
		t.Errorf("%s: opened to\n%x\nwant\n%x", what, got, pt)
	}
}

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

// TestAESCTRRFC3686 reproduces RFC 3686 §6 test vectors #1-#9 through ESP,
// with ICVs of 12, 16 and 32 octets: behind the payload the CTR keystream
// code finds less or more room than GCM's 16-octet tag needs.
func TestAESCTRRFC3686(t *testing.T) {
	integs := []IntegID{IntegHMACSHA196, IntegAESCMAC96, IntegHMACSHA256128, IntegHMACSHA512256}
	for _, v := range readVectors(t, "rfc3686-aes-ctr.txt") {
		key := append(v.bytes(t, "key"), v.bytes(t, "nonce")...)
		for _, in := range integs {
			n, _ := IntegKeyLen(in)
			e := mustESP(t, ESPConfig{Encr: EncrAESCTR, EncrKey: key, Integ: in, IntegKey: randBytes(n)})
			iv := v.bytes(t, "iv")
			esp := espPacket(e, 7, 9, iv, v.bytes(t, "plaintext"))
			want := append(append(esp[:8:8], iv...), v.bytes(t, "ciphertext")...)
			sealOpen(t, "RFC 3686 vector "+v.str(t, "vector")+" "+e.Name(), e, esp, 9, false, want)
		}
	}
}

// TestAESGCMMcGrew reproduces the ESP packets of draft-mcgrew-gcm-test-01
// §4 with AES-GCM-16 octet for octet, and checks that AES-GCM-12 and -8
// send the leading 12 and 8 octets of the same tag (RFC 4106 §6, SP 800-38D
// §7.1 step 7).
func TestAESGCMMcGrew(t *testing.T) {
	for _, v := range readVectors(t, "draft-mcgrew-gcm-test-01.txt") {
		nonce, seqb := v.bytes(t, "nonce"), v.bytes(t, "seq")
		key := append(v.bytes(t, "key"), nonce[:4]...)
		var seq uint64
		esn := len(seqb) == 8
		if esn {
			seq = binary.BigEndian.Uint64(seqb)
		} else {
			seq = uint64(binary.BigEndian.Uint32(seqb))
		}
		want := v.bytes(t, "esp")
		for _, id := range []EncrID{EncrAESGCM16, EncrAESGCM12, EncrAESGCM8} {
			e := mustESP(t, ESPConfig{Encr: id, EncrKey: key})
			esp := espPacket(e, binary.BigEndian.Uint32(v.bytes(t, "spi")), seq, nonce[4:], v.bytes(t, "plaintext"))
			sealOpen(t, "draft-mcgrew-gcm-test-01 vector "+v.str(t, "vector")+" "+e.Name(), e, esp, seq, esn, want[:len(esp)])
		}
	}
}

// TestChaCha20Poly1305RFC7634 reproduces the ESP example of RFC 7634
// Appendix A.
func TestChaCha20Poly1305RFC7634(t *testing.T) {
	for _, v := range readVectors(t, "rfc7634-chacha20-poly1305-esp.txt") {
		e := mustESP(t, ESPConfig{Encr: EncrChaCha20Poly1305, EncrKey: append(v.bytes(t, "key"), v.bytes(t, "salt")...)})
		seq := uint64(binary.BigEndian.Uint32(v.bytes(t, "seq")))
		spi := binary.BigEndian.Uint32(v.bytes(t, "spi"))
		esp := espPacket(e, spi, seq, v.bytes(t, "iv"), v.bytes(t, "plaintext"))
		want := append(append(append([]byte(nil), v.bytes(t, "spi")...), v.bytes(t, "seq")...), v.bytes(t, "iv")...)
		want = append(want, v.bytes(t, "ciphertext")...)
		sealOpen(t, "RFC 7634 Appendix A", e, esp, seq, false, want)
	}
}

// TestAESGCMWycheproof runs Project Wycheproof's AES-GCM vectors with
// 96-bit IVs through the pieces AES-GCM-8 is built from: the keystream
// (ctrEngine from counter 2) and the tag (gcmShort), which must reproduce
// the ciphertext and full tag of every valid vector and reject the modified
// tags.
func TestAESGCMWycheproof(t *testing.T) {
	w := readWycheproof(t, "aes_gcm_test.json")
	n := 0
	for _, g := range w.TestGroups {
		for _, tc := range g.Tests {
			gs, err := newGCMShort(tc.Key)
			if err != nil {
				t.Fatalf("tcId %d: %v", tc.TcID, err)
			}
			var s ctrScratch
			copy(s.prefix[:], tc.IV)
			buf := append(append([]byte(nil), tc.Msg...), make([]byte, 5)...) // little room behind
			gs.ctr.xor(&s, 2, buf, len(tc.Msg))
			ctOK := bytes.Equal(buf[:len(tc.Msg)], tc.CT)
			x := append(make([]byte, (len(tc.AAD)+15)/16*16), tc.CT...)
			copy(x, tc.AAD)
			var tag [16]byte
			gs.tag(&tag, tc.IV, x, len(tc.AAD))
			if ok := ctOK && bytes.Equal(tag[:], tc.Tag); ok != (tc.Result == "valid") {
				t.Errorf("tcId %d (%s): ciphertext ok %v, tag %x vs %x, result %s", tc.TcID, tc.Comment, ctOK, tag, tc.Tag, tc.Result)
			}
			n++
		}
	}
	if n < 150 {
		t.Fatalf("only %d tests", n)
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

// TestGCMShortTag checks gcmShort.tag against crypto/cipher's full tag for
// AAD and ciphertext lengths around the block boundaries.
func TestGCMShortTag(t *testing.T) {
	key := randBytes(16)
	gs, _ := newGCMShort(key)
	for aLen := 0; aLen <= 40; aLen += 3 {
		for cLen := 0; cLen <= 70; cLen++ {
			nonce, aad, pt := randBytes(12), randBytes(aLen), randBytes(cLen)
			sealed := gs.ctr.gcm.Seal(nil, nonce, pt, aad)
			x := append(make([]byte, (aLen+15)/16*16), sealed[:cLen]...)
			copy(x, aad)
			var tag [16]byte
			gs.tag(&tag, nonce, x, aLen)
			if !bytes.Equal(tag[:], sealed[cLen:]) {
				t.Fatalf("aad %d ciphertext %d: tag %x, want %x", aLen, cLen, tag, sealed[cLen:])
			}
		}
	}
}

// TestCTREngine compares ctrEngine with crypto/cipher's CTR for every
// length up to 100 octets, both first counters, and 0 to 20 octets of room
// behind the data (which must come back unchanged).
func TestCTREngine(t *testing.T) {
	key := randBytes(32)
	e, _ := newCTREngine(key)
	var s ctrScratch
	copy(s.prefix[:], randBytes(12))
	for _, first := range []uint32{1, 2} {
		for n := 0; n <= 100; n++ {
			for room := 0; room <= 20; room++ {
				data := randBytes(n + room)
				orig := append([]byte(nil), data...)
				e.xor(&s, first, data, n)
				iv := make([]byte, 16)
				copy(iv, s.prefix[:])
				binary.BigEndian.PutUint32(iv[12:], first)
				want := make([]byte, n)
				cipher.NewCTR(e.block, iv).XORKeyStream(want, orig[:n])
				if !bytes.Equal(data[:n], want) {
					t.Fatalf("first %d, %d octets, room %d: keystream differs", first, n, room)
				}
				if !bytes.Equal(data[n:], orig[n:]) {
					t.Fatalf("first %d, %d octets, room %d: room not restored", first, n, room)
				}
			}
		}
	}
}
