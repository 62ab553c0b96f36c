package ikecrypto

import (
	"bytes"
	"errors"
	"fmt"
	"testing"

	"github.com/sabre-ipsec/sabre/ike/message"
	"github.com/sabre-ipsec/sabre/internal/testutil/vectors"
	"github.com/sabre-ipsec/sabre/suite"
	"github.com/sabre-ipsec/sabre/xe"
)

// TestKDFKnownAnswers runs the SP 800-135 IKEv2 KDF vectors (NIST CAVP and
// ACVP cases, see the file's header) through SKEYSEED, prf+ for the IKE SA
// and Child SA keying material, and the rekey SKEYSEED.
func TestKDFKnownAnswers(t *testing.T) {
	for _, v := range vectors.Read(t, "testdata/sp800-135-ikev2-kdf.txt") {
		t.Run(v.Str(t, "name"), func(t *testing.T) {
			p, err := NewPRF(message.PRFID(v.Int(t, "prf")))
			if err != nil {
				t.Fatal(err)
			}
			ni, nr, gir, girNew := v.Bytes(t, "ni"), v.Bytes(t, "nr"), v.Bytes(t, "gir"), v.Bytes(t, "girnew")
			spii, spir := v.Bytes(t, "spii"), v.Bytes(t, "spir")

			skeyseed := p.SKEYSEED(ni, nr, gir)
			if want := v.Bytes(t, "skeyseed"); !bytes.Equal(skeyseed, want) {
				t.Fatalf("SKEYSEED = %x, want %x", skeyseed, want)
			}
			want := v.Bytes(t, "dkm")
			dkm, err := p.Plus(skeyseed, len(want), ni, nr, spii, spir)
			if err != nil {
				t.Fatal(err)
			}
			if !bytes.Equal(dkm, want) {
				t.Fatalf("DKM = %x, want %x", dkm, want)
			}
			skd := dkm[:p.KeyLen()]

			want = v.Bytes(t, "dkmchild")
			if got, err := Keymat(p, skd, nil, ni, nr, len(want)); err != nil || !bytes.Equal(got, want) {
				t.Errorf("DKM(Child SA) = %x, %v; want %x", got, err, want)
			}
			want = v.Bytes(t, "dkmchilddh")
			if got, err := Keymat(p, skd, girNew, ni, nr, len(want)); err != nil || !bytes.Equal(got, want) {
				t.Errorf("DKM(Child SA D-H) = %x, %v; want %x", got, err, want)
			}
			want = v.Bytes(t, "skeyseedrekey")
			if got := p.RekeySKEYSEED(skd, girNew, ni, nr); !bytes.Equal(got, want) {
				t.Errorf("SKEYSEED(Rekey) = %x, want %x", got, want)
			}

			// The seven IKE SA keys are consecutive slices of DKM.
			const integ, encr = 16, 20
			k, err := DeriveIKESAKeys(p, skeyseed, ni, nr, spii, spir, encr, integ)
			if err != nil {
				t.Fatal(err)
			}
			var cat []byte
			for _, b := range [][]byte{k.SKd, k.SKai, k.SKar, k.SKei, k.SKer, k.SKpi, k.SKpr} {
				cat = append(cat, b...)
			}
			if n := 3*p.KeyLen() + 2*integ + 2*encr; len(cat) != n || !bytes.Equal(cat, dkm[:n]) {
				t.Errorf("IKE SA keys %x are not the first %d octets of DKM %x", cat, n, dkm)
			}
		})
	}
}

// TestSKEYSEEDFixedKeyPRF checks RFC 7296 §2.14 for the PRFs with a
// 16-octet key: SKEYSEED is keyed with the first 8 octets of each nonce,
// whatever their length.
func TestSKEYSEEDFixedKeyPRF(t *testing.T) {
	ni := bytes.Repeat([]byte{0x11}, 32)
	nr := bytes.Repeat([]byte{0x22}, 20)
	gir := bytes.Repeat([]byte{0x33}, 256)
	key := append(append([]byte(nil), ni[:8]...), nr[:8]...)
	for id, mac := range map[message.PRFID]func(k, m []byte) []byte{
		message.PRFAES128XCBC: suite.XCBCPRF128,
		message.PRFAES128CMAC: suite.CMACPRF128,
	} {
		p, _ := NewPRF(id)
		if got, want := p.SKEYSEED(ni, nr, gir), mac(key, gir); !bytes.Equal(got, want) {
			t.Errorf("%v: SKEYSEED = %x, want prf(Ni[:8] | Nr[:8], g^ir) = %x", id, got, want)
		}
		if p.KeyLen() != 16 || p.Size() != 16 {
			t.Errorf("%v: key length %d, size %d; want 16, 16", id, p.KeyLen(), p.Size())
		}
	}
}

// TestDeriveChildSAKeys checks the KEYMAT split of RFC 7296 §2.17: the
// initiator-to-responder SA's encryption then integrity key, then the
// responder-to-initiator SA's.
func TestDeriveChildSAKeys(t *testing.T) {
	p, _ := NewPRF(message.PRFHMACSHA2256)
	skd := bytes.Repeat([]byte{1}, 32)
	ni, nr := bytes.Repeat([]byte{2}, 32), bytes.Repeat([]byte{3}, 32)
	for _, tc := range []struct {
		encr  suite.EncrID
		bits  int
		integ suite.IntegID
	}{
		{suite.EncrAESCBC, 128, suite.IntegHMACSHA256128},
		{suite.EncrAESGCM16, 256, suite.IntegNone},
		{suite.EncrChaCha20Poly1305, 0, suite.IntegNone},
		{suite.EncrNull, 0, suite.IntegHMACSHA196}, // AH-like: no encryption key
	} {
		el, _ := suite.EncrKeyLen(tc.encr, tc.bits)
		il, _ := suite.IntegKeyLen(tc.integ)
		for _, gir := range [][]byte{nil, bytes.Repeat([]byte{4}, 32)} {
			k, err := DeriveChildSAKeys(p, skd, gir, ni, nr, el, il)
			if err != nil {
				t.Fatal(err)
			}
			km, _ := Keymat(p, skd, gir, ni, nr, 2*(el+il))
			want := [][]byte{km[:el], km[el : el+il], km[el+il : 2*el+il], km[2*el+il:]}
			for i, got := range [][]byte{k.EncrI, k.IntegI, k.EncrR, k.IntegR} {
				if !bytes.Equal(got, want[i]) {
					t.Errorf("%v/%v key %d = %x, want %x", tc.encr, tc.integ, i, got, want[i])
				}
			}
			if s := fmt.Sprintf("%v %+v %#v", k, k, k); bytes.Contains([]byte(s), []byte(fmt.Sprintf("%x", k.EncrI[:min(4, len(k.EncrI))]))) && el > 0 {
				t.Errorf("formatting shows key material: %s", s)
			}
			k.Zero()
			if !bytes.Equal(k.IntegI, make([]byte, il)) {
				t.Errorf("Zero left %x", k.IntegI)
			}
		}
	}
}

func TestSKKeyLengths(t *testing.T) {
	for _, tc := range []struct {
		encr       suite.EncrID
		bits       int
		integ      suite.IntegID
		encrN, inN int
		code       xe.Code
	}{
		{suite.EncrAESCBC, 256, suite.IntegHMACSHA512256, 32, 64, xe.OK},
		{suite.EncrAESCBC, 128, suite.IntegAESXCBC96, 16, 16, xe.OK},
		{suite.EncrAESGCM16, 128, suite.IntegNone, 20, 0, xe.OK},
		{suite.EncrAESGCM8, 256, suite.IntegNone, 36, 0, xe.OK},
		{suite.EncrChaCha20Poly1305, 0, suite.IntegNone, 36, 0, xe.OK},
		{suite.EncrAESGCM16, 128, suite.IntegHMACSHA256128, 0, 0, xe.BadParam},
		{suite.EncrAESCBC, 128, suite.IntegNone, 0, 0, xe.BadParam},
		{suite.EncrNull, 0, suite.IntegHMACSHA196, 0, 0, xe.BadParam},
		{suite.EncrAESCBC, 100, suite.IntegHMACSHA196, 0, 0, xe.BadParam},
		{suite.Encr3DES, 0, suite.IntegHMACSHA196, 0, 0, xe.UnknownAlgorithm},
		{suite.EncrAESCBC, 128, suite.IntegAES128GMAC, 0, 0, xe.UnknownAlgorithm},
	} {
		e, i, err := SKKeyLengths(tc.encr, tc.bits, tc.integ)
		if xe.CodeOf(err) != tc.code || e != tc.encrN || i != tc.inN {
			t.Errorf("SKKeyLengths(%v, %d, %v) = %d, %d, %v; want %d, %d, %v", tc.encr, tc.bits, tc.integ, e, i, err, tc.encrN, tc.inN, tc.code)
		}
	}
}

func TestIKESAKeysString(t *testing.T) {
	k := &IKESAKeys{SKd: []byte{0xde, 0xad, 0xbe, 0xef}}
	for _, s := range []string{fmt.Sprint(k), fmt.Sprintf("%+v", k), fmt.Sprintf("%#v", k)} {
		if bytes.Contains([]byte(s), []byte("deadbeef")) || bytes.Contains([]byte(s), []byte("222 173")) {
			t.Errorf("formatting shows key material: %s", s)
		}
	}
	if _, err := DeriveIKESAKeys(mustPRF(t, message.PRFHMACSHA1), nil, nil, nil, nil, nil, -1, 0); !errors.Is(err, xe.BadParam) {
		t.Errorf("negative length: %v", err)
	}
}

func mustPRF(t testing.TB, id message.PRFID) *PRF {
	t.Helper()
	p, err := NewPRF(id)
	if err != nil {
		t.Fatal(err)
	}
	return p
}
