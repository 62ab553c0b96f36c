package ikecrypto

import (
	"bytes"
	"crypto/aes"
	"crypto/cipher"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/binary"
	"errors"
	"fmt"
	"testing"

	"github.com/sabre-ipsec/sabre/internal/testutil/vectors"
	"github.com/sabre-ipsec/sabre/suite"
	"github.com/sabre-ipsec/sabre/xe"
)

// skCase is a transform set for SK payloads with its key sizes.
type skCase struct {
	encr  suite.EncrID
	bits  int
	integ suite.IntegID
}

func (c skCase) String() string {
	return fmt.Sprintf("%v-%d-%v", c.encr, c.bits, c.integ)
}

// skCases are every transform set NewSKCipher supports.
func skCases() []skCase {
	var cs []skCase
	for _, bits := range []int{128, 192, 256} {
		for _, in := range []suite.IntegID{suite.IntegHMACSHA196, suite.IntegHMACSHA256128, suite.IntegHMACSHA384192,
			suite.IntegHMACSHA512256, suite.IntegAESXCBC96, suite.IntegAESCMAC96} {
			cs = append(cs, skCase{suite.EncrAESCBC, bits, in})
		}
		for _, e := range []suite.EncrID{suite.EncrAESGCM8, suite.EncrAESGCM12, suite.EncrAESGCM16} {
			cs = append(cs, skCase{e, bits, suite.IntegNone})
		}
	}
	return append(cs, skCase{suite.EncrChaCha20Poly1305, 256, suite.IntegNone})
}

// newSK keys c with random keys of the lengths SKKeyLengths gives.
func newSK(t testing.TB, c skCase) SKCipher {
	t.Helper()
	el, il, err := SKKeyLengths(c.encr, c.bits, c.integ)
	if err != nil {
		t.Fatal(err)
	}
	ek, ik := make([]byte, el), make([]byte, il)
	rand.Read(ek)
	rand.Read(ik)
	if il == 0 {
		ik = nil
	}
	sk, err := NewSKCipher(c.encr, ek, c.integ, ik)
	if err != nil {
		t.Fatalf("%v: %v", c, err)
	}
	return sk
}

// fakeHeader returns 28 octets of IKE header and a 4-octet SK header, the
// AAD of a message with no unprotected payloads.
func fakeHeader() []byte {
	aad := make([]byte, 32)
	for i := range aad {
		aad[i] = byte(0xa0 + i)
	}
	return aad
}

// TestSKChaCha20RFC7634 reproduces the IKEv2 example of RFC 7634
// Appendix B octet for octet, and opens it.
func TestSKChaCha20RFC7634(t *testing.T) {
	v := vectors.Read(t, "testdata/rfc7634-ikev2.txt")[0]
	key, iv, aad := v.Bytes(t, "key"), v.Bytes(t, "iv"), v.Bytes(t, "aad")
	pt, ct := v.Bytes(t, "plaintext"), v.Bytes(t, "ciphertext")
	sk, err := NewSKCipher(suite.EncrChaCha20Poly1305, key, suite.IntegNone, nil)
	if err != nil {
		t.Fatal(err)
	}
	inner := pt[:len(pt)-1] // the Notify payload; Pad Length 0 follows
	if pt[len(pt)-1] != 0 {
		t.Fatal("vector has padding")
	}
	// The IV is the next counter value: set the counter just before it.
	sk.(*aeadSK).iv.Store(binary.BigEndian.Uint64(iv) - 1)
	body := sk.Seal(nil, aad, inner)
	want := append(append([]byte(nil), iv...), ct...)
	if !bytes.Equal(body, want) {
		t.Errorf("Seal = %x\nwant   %x", body, want)
	}
	if n := sk.SealedLen(len(inner)); n != len(want) {
		t.Errorf("SealedLen(%d) = %d, want %d", len(inner), n, len(want))
	}
	// The SK payload length in the AAD is 4 + the body length.
	if l := int(binary.BigEndian.Uint16(aad[30:32])); l != 4+len(want) {
		t.Errorf("vector's SK payload length %d, body %d", l, len(want))
	}
	got, err := sk.Open(nil, aad, want)
	if err != nil || !bytes.Equal(got, inner) {
		t.Errorf("Open = %x, %v; want %x", got, err, inner)
	}
}

// TestSKGCMVectors opens the draft-mcgrew-gcm-test-01 AES-GCM results as
// SK bodies with 16-, 12- and 8-octet ICVs, the shorter being the leading
// octets of the tag.
func TestSKGCMVectors(t *testing.T) {
	for _, v := range vectors.Read(t, "testdata/mcgrew-gcm.txt") {
		nonce, aad, pt, body := v.Bytes(t, "nonce"), v.Bytes(t, "aad"), v.Bytes(t, "plaintext"), v.Bytes(t, "body")
		key := append(v.Bytes(t, "key"), nonce[:4]...)
		if !bytes.Equal(body[:8], nonce[4:]) {
			t.Fatalf("vector %s: IV in body is not the nonce's", v.Str(t, "vector"))
		}
		// Open strips what the last octet calls padding; here that octet is
		// ESP's Next Header, so it strips that many octets more.
		want := pt[:len(pt)-1-int(pt[len(pt)-1])]
		for _, tc := range []struct {
			encr suite.EncrID
			icv  int
		}{{suite.EncrAESGCM16, 16}, {suite.EncrAESGCM12, 12}, {suite.EncrAESGCM8, 8}} {
			sk, err := NewSKCipher(tc.encr, key, suite.IntegNone, nil)
			if err != nil {
				t.Fatal(err)
			}
			b := body[:len(body)-16+tc.icv]
			got, err := sk.Open(nil, aad, b)
			if err != nil || !bytes.Equal(got, want) {
				t.Errorf("vector %s %v: Open = %x, %v; want %x", v.Str(t, "vector"), tc.encr, got, err, want)
			}
			bad := append([]byte(nil), b...)
			bad[len(bad)-1] ^= 1
			if _, err := sk.Open(nil, aad, bad); !errors.Is(err, ErrIntegrity) {
				t.Errorf("vector %s %v: bad tag: %v", v.Str(t, "vector"), tc.encr, err)
			}
		}
	}
}

// TestSKRoundTrip seals and opens inner payloads of many lengths with every
// transform set, and checks the lengths the overhead functions promise.
func TestSKRoundTrip(t *testing.T) {
	for _, c := range skCases() {
		t.Run(c.String(), func(t *testing.T) {
			sk := newSK(t, c)
			defer sk.Close()
			o, err := SKOverheadOf(c.encr, c.integ)
			if err != nil {
				t.Fatal(err)
			}
			if o.IVLen() != sk.IVLen() || o.ICVLen() != sk.ICVLen() || o.BlockLen() != sk.BlockLen() {
				t.Errorf("SKOverheadOf = %+v, cipher has IV %d block %d ICV %d", o, sk.IVLen(), sk.BlockLen(), sk.ICVLen())
			}
			aad := fakeHeader()
			for n := 0; n <= 70; n++ {
				pt := make([]byte, n)
				rand.Read(pt)
				msg := append([]byte(nil), aad...)
				msg = sk.Seal(msg, msg, pt)
				body := msg[len(aad):]
				if len(body) != sk.SealedLen(n) || len(body) != o.SealedLen(n) {
					t.Fatalf("n=%d: body %d octets, SealedLen %d", n, len(body), sk.SealedLen(n))
				}
				if ct := len(body) - sk.IVLen() - sk.ICVLen(); ct%sk.BlockLen() != 0 || ct < n+1 || ct >= n+1+sk.BlockLen() {
					t.Fatalf("n=%d: %d octets encrypted with block %d", n, ct, sk.BlockLen())
				}
				if !bytes.Equal(msg[:len(aad)], aad) {
					t.Fatalf("n=%d: Seal changed the AAD", n)
				}
				got, err := sk.Open(nil, aad, body)
				if err != nil || !bytes.Equal(got, pt) {
					t.Fatalf("n=%d: Open = %x, %v; want %x", n, got, err, pt)
				}
				// In place: the plaintext lands where the ciphertext was.
				cp := append([]byte(nil), body...)
				got, err = sk.Open(cp[sk.IVLen():sk.IVLen()], aad, cp)
				if err != nil || !bytes.Equal(got, pt) || (n > 0 && &got[0] != &cp[sk.IVLen()]) {
					t.Fatalf("n=%d: Open in place = %x, %v; want %x", n, got, err, pt)
				}
			}
		})
	}
}

// TestSKTamper flips every bit of the AAD and the body, and truncates and
// extends the body: nothing but the original opens.
func TestSKTamper(t *testing.T) {
	for _, c := range skCases() {
		t.Run(c.String(), func(t *testing.T) {
			sk := newSK(t, c)
			aad := fakeHeader()
			pt := []byte("inner payloads of an IKE_AUTH message")
			body := sk.Seal(nil, aad, pt)
			for i := range 8 * (len(aad) + len(body)) {
				a, b := append([]byte(nil), aad...), append([]byte(nil), body...)
				if j := i / 8; j < len(a) {
					a[j] ^= 1 << (i % 8)
				} else {
					b[j-len(a)] ^= 1 << (i % 8)
				}
				if got, err := sk.Open(nil, a, b); !errors.Is(err, ErrIntegrity) {
					t.Fatalf("bit %d flipped: Open = %x, %v; want ErrIntegrity", i, got, err)
				}
			}
			for n := range len(body) {
				if _, err := sk.Open(nil, aad, body[:n]); !errors.Is(err, ErrIntegrity) && !errors.Is(err, ErrMalformed) {
					t.Fatalf("truncated to %d: %v", n, err)
				}
			}
			if _, err := sk.Open(nil, aad, append(body, 0)); err == nil {
				t.Fatal("extended body opened")
			}
			if _, err := sk.Open(nil, aad[:len(aad)-1], body); !errors.Is(err, ErrIntegrity) {
				t.Fatalf("short AAD: %v", err)
			}
			// The IV differs from message to message.
			if b2 := sk.Seal(nil, aad, pt); bytes.Equal(b2[:sk.IVLen()], body[:sk.IVLen()]) {
				t.Fatalf("IV repeated: %x", b2[:sk.IVLen()])
			}
		})
	}
}

// TestSKCBCLayout checks an AES-CBC + HMAC-SHA-256-128 body against
// RFC 7296 §3.14 with crypto/cipher and crypto/hmac directly: the IV, the
// CBC encryption of payloads, Padding and Pad Length, and an ICV over the
// whole message from the IKE header through the Pad Length.
func TestSKCBCLayout(t *testing.T) {
	ek, ik := bytes.Repeat([]byte{0x42}, 16), bytes.Repeat([]byte{0x17}, 32)
	sk, err := NewSKCipher(suite.EncrAESCBC, ek, suite.IntegHMACSHA256128, ik)
	if err != nil {
		t.Fatal(err)
	}
	aad := fakeHeader()
	pt := []byte("0123456789abcdefXYZ") // 19 octets: 12 octets of padding
	body := sk.Seal(nil, aad, pt)
	if len(body) != 16+32+16 {
		t.Fatalf("body %d octets, want 64", len(body))
	}
	m := hmac.New(sha256.New, ik)
	m.Write(aad)
	m.Write(body[:48])
	if icv := m.Sum(nil)[:16]; !bytes.Equal(icv, body[48:]) {
		t.Errorf("ICV %x, want %x", body[48:], icv)
	}
	b, _ := aes.NewCipher(ek)
	dec := make([]byte, 32)
	cipher.NewCBCDecrypter(b, body[:16]).CryptBlocks(dec, body[16:48])
	if !bytes.Equal(dec[:19], pt) || dec[31] != 12 {
		t.Errorf("decrypted %x: want payloads, 12 octets of padding, Pad Length 12", dec)
	}

	// A body whose ICV is right but whose Pad Length is too large is
	// malformed, reported only after the ICV is checked.
	dec[31] = 40
	bad := make([]byte, 64)
	copy(bad, body[:16])
	cipher.NewCBCEncrypter(b, bad[:16]).CryptBlocks(bad[16:48], dec)
	m.Reset()
	m.Write(aad)
	m.Write(bad[:48])
	copy(bad[48:], m.Sum(nil))
	if _, err := sk.Open(nil, aad, bad); !errors.Is(err, ErrMalformed) {
		t.Errorf("Pad Length 40 in 32 octets: %v, want ErrMalformed", err)
	}
}

func TestNewSKCipherErrors(t *testing.T) {
	k := func(n int) []byte { return make([]byte, n) }
	for _, tc := range []struct {
		encr   suite.EncrID
		ek     []byte
		integ  suite.IntegID
		ik     []byte
		code   xe.Code
		reason string
	}{
		{suite.EncrAESCBC, k(20), suite.IntegHMACSHA196, k(20), xe.BadParam, "AES key of 20"},
		{suite.EncrAESCBC, k(16), suite.IntegHMACSHA196, k(16), xe.BadParam, "HMAC-SHA1 key of 16"},
		{suite.EncrAESCBC, k(16), suite.IntegNone, nil, xe.BadParam, "no integrity"},
		{suite.EncrAESCBC, k(16), suite.IntegHMACMD596, k(16), xe.UnknownAlgorithm, "MD5"},
		{suite.EncrAESGCM16, k(16), suite.IntegNone, nil, xe.BadParam, "GCM key without salt"},
		{suite.EncrAESGCM16, k(20), suite.IntegHMACSHA196, k(20), xe.BadParam, "GCM with integrity"},
		{suite.EncrAESGCM16, k(20), suite.IntegNone, k(4), xe.BadParam, "GCM with integrity key"},
		{suite.EncrChaCha20Poly1305, k(32), suite.IntegNone, nil, xe.BadParam, "ChaCha without salt"},
		{suite.EncrNull, nil, suite.IntegHMACSHA196, k(20), xe.BadParam, "ENCR_NULL"},
		{suite.EncrNullAuthAESGMAC, k(20), suite.IntegNone, nil, xe.BadParam, "GMAC"},
		{suite.EncrAESCTR, k(20), suite.IntegHMACSHA196, k(20), xe.UnknownAlgorithm, "AES-CTR"},
	} {
		if _, err := NewSKCipher(tc.encr, tc.ek, tc.integ, tc.ik); xe.CodeOf(err) != tc.code {
			t.Errorf("%s: %v, want %v", tc.reason, err, tc.code)
		}
	}
}

func TestSKNames(t *testing.T) {
	for c, want := range map[skCase]string{
		{suite.EncrAESCBC, 128, suite.IntegHMACSHA256128}:  "aes128-hmac-sha256-128",
		{suite.EncrAESCBC, 256, suite.IntegAESXCBC96}:      "aes256-aes-xcbc-96",
		{suite.EncrAESGCM16, 256, suite.IntegNone}:         "aes256gcm16",
		{suite.EncrAESGCM8, 128, suite.IntegNone}:          "aes128gcm8",
		{suite.EncrChaCha20Poly1305, 256, suite.IntegNone}: "chacha20poly1305",
	} {
		if got := newSK(t, c).Name(); got != want {
			t.Errorf("%v: Name %q, want %q", c, got, want)
		}
	}
}
