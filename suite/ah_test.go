package suite

import (
	"bytes"
	"crypto/aes"
	"crypto/cipher"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/binary"
	"errors"
	"strings"
	"testing"

	"github.com/sabre-ipsec/sabre/xe"
)

var ahIntegs = []struct {
	id    IntegID
	short bool
	name  string
	icv   int
}{
	{IntegHMACMD596, false, "HMAC-MD5", 12},
	{IntegHMACSHA196, false, "HMAC-SHA-1", 12},
	{IntegAESXCBC96, false, "AES-XCBC", 12},
	{IntegAESCMAC96, false, "AES-CMAC", 12},
	{IntegHMACSHA256128, false, "HMAC-SHA-2-256", 16},
	{IntegHMACSHA256128, true, "HMAC-SHA-2-256-96", 12},
	{IntegHMACSHA384192, false, "HMAC-SHA-2-384", 24},
	{IntegHMACSHA512256, false, "HMAC-SHA-2-512", 32},
	{IntegAES128GMAC, false, "AES128-GMAC", 24},
	{IntegAES192GMAC, false, "AES192-GMAC", 24},
	{IntegAES256GMAC, false, "AES256-GMAC", 24},
}

func mustAH(t testing.TB, id IntegID, short bool) (AH, []byte) {
	t.Helper()
	n, err := IntegKeyLen(id)
	if err != nil {
		t.Fatal(err)
	}
	key := randBytes(n)
	a, err := NewAH(id, key, short)
	if err != nil {
		t.Fatalf("NewAH(%v): %v", id, err)
	}
	return a, key
}

// ahPacket returns an IPv4-like packet with an AH header at offset 20 whose
// ICV field (zero) starts at 32, followed by payload octets. The header
// fields stand in for whatever the caller has zeroed.
func ahPacket(a AH, spi uint32, seq uint64, payload int) ([]byte, int) {
	icvOff := 20 + 12
	pkt := randBytes(icvOff + a.ICVLen() + payload)
	binary.BigEndian.PutUint32(pkt[24:28], spi)
	binary.BigEndian.PutUint32(pkt[28:32], uint32(seq))
	clear(pkt[icvOff : icvOff+a.ICVLen()])
	return pkt, icvOff
}

func TestAHRoundTripAndTamper(t *testing.T) {
	for _, tc := range ahIntegs {
		a, _ := mustAH(t, tc.id, tc.short)
		if a.Name() != tc.name || a.ICVLen() != tc.icv {
			t.Errorf("%v: %s ICV %d, want %s %d", tc.id, a.Name(), a.ICVLen(), tc.name, tc.icv)
		}
		for _, esn := range []bool{false, true} {
			for _, n := range []int{0, 1, 16, 100, 1400} {
				seq := uint64(3)<<32 | uint64(n+10)
				pkt, icvOff := ahPacket(a, 0x11223344, seq, n)
				a.Sum(pkt, icvOff, seq, esn)
				if allZero(pkt[icvOff : icvOff+a.ICVLen()]) {
					t.Fatalf("%s: Sum left the ICV field zero", a.Name())
				}
				sealed := append([]byte(nil), pkt...)
				if err := a.Verify(pkt, icvOff, 3, esn); err != nil {
					t.Fatalf("%s esn=%v n=%d: %v", a.Name(), esn, n, err)
				}
				if !bytes.Equal(pkt, sealed) {
					t.Fatalf("%s: Verify changed the packet", a.Name())
				}
				if n > 16 {
					continue
				}
				for i := range pkt {
					copy(pkt, sealed)
					pkt[i] ^= 0x40
					if err := a.Verify(pkt, icvOff, 3, esn); !errors.Is(err, xe.AHDigestMismatch) {
						t.Fatalf("%s esn=%v: flipped octet %d: %v", a.Name(), esn, i, err)
					}
				}
				if esn {
					copy(pkt, sealed)
					if err := a.Verify(pkt, icvOff, 4, esn); !errors.Is(err, xe.AHDigestMismatch) {
						t.Fatalf("%s: wrong ESN high half accepted: %v", a.Name(), err)
					}
				}
			}
		}
		a.Close()
	}
}

// TestAHHMACLayout recomputes an HMAC-SHA-256-128 AH ICV with crypto/hmac:
// over the packet with the ICV field zero and, with ESN, the high half of
// the sequence number appended (RFC 4302 §3.3.3.1-§3.3.3.2).
func TestAHHMACLayout(t *testing.T) {
	a, key := mustAH(t, IntegHMACSHA256128, false)
	for _, esn := range []bool{false, true} {
		seq := uint64(0xa1b2c3d4)<<32 | 5
		pkt, icvOff := ahPacket(a, 9, seq, 77)
		zeroed := append([]byte(nil), pkt...)
		a.Sum(pkt, icvOff, seq, esn)
		m := hmac.New(sha256.New, key)
		m.Write(zeroed)
		if esn {
			m.Write([]byte{0xa1, 0xb2, 0xc3, 0xd4})
		}
		if want := m.Sum(nil)[:16]; !bytes.Equal(pkt[icvOff:icvOff+16], want) {
			t.Errorf("esn=%v: ICV %x, want %x", esn, pkt[icvOff:icvOff+16], want)
		}
	}
}

// TestAHGMACLayout recomputes AUTH_AES_GMAC (RFC 4543 §4) with crypto/cipher:
// the ICV field holds the 8-octet IV (the sequence number) and the 16-octet
// tag; the nonce is salt || IV; the AAD is the packet with the whole ICV
// field zero, followed with ESN by the high half of the sequence number.
func TestAHGMACLayout(t *testing.T) {
	for _, id := range []IntegID{IntegAES128GMAC, IntegAES192GMAC, IntegAES256GMAC} {
		a, key := mustAH(t, id, false)
		kl := len(key) - 4
		b, _ := aes.NewCipher(key[:kl])
		g, _ := cipher.NewGCM(b)
		for _, esn := range []bool{false, true} {
			seq := uint64(0x01020304)<<32 | 0x05060708
			pkt, icvOff := ahPacket(a, 9, seq, 50)
			aad := append([]byte(nil), pkt...)
			if esn {
				aad = append(aad, 1, 2, 3, 4)
			}
			a.Sum(pkt, icvOff, seq, esn)
			if iv := pkt[icvOff : icvOff+8]; !bytes.Equal(iv, []byte{1, 2, 3, 4, 5, 6, 7, 8}) {
				t.Errorf("%v: IV %x, want the sequence number", id, iv)
			}
			nonce := append(append([]byte(nil), key[kl:]...), pkt[icvOff:icvOff+8]...)
			if want := g.Seal(nil, nonce, nil, aad); !bytes.Equal(pkt[icvOff+8:icvOff+24], want) {
				t.Errorf("%v esn=%v: tag %x, want %x", id, esn, pkt[icvOff+8:icvOff+24], want)
			}
		}
	}
}

func TestAHZeroAllocs(t *testing.T) {
	if raceEnabled {
		t.Skip("sync.Pool drops items at random under the race detector")
	}
	for _, tc := range ahIntegs {
		a, _ := mustAH(t, tc.id, tc.short)
		for _, esn := range []bool{false, true} {
			pkt, icvOff := ahPacket(a, 1, 1, 1400)
			n := testing.AllocsPerRun(20, func() {
				a.Sum(pkt, icvOff, 1, esn)
				if err := a.Verify(pkt, icvOff, 0, esn); err != nil {
					t.Fatal(err)
				}
			})
			if n != 0 {
				t.Errorf("%s esn=%v: %.1f allocations per Sum+Verify", a.Name(), esn, n)
			}
		}
	}
}

func TestAHErrors(t *testing.T) {
	for _, tc := range []struct {
		id   IntegID
		key  int
		code xe.Code
		says []string
	}{
		{IntegNone, 0, xe.BadParam, []string{"NONE"}},
		{IntegHMACSHA196, 16, xe.BadParam, []string{"AUTH_HMAC_SHA1_96", "16 octets"}},
		{IntegHMACMD596, 20, xe.BadParam, []string{"AUTH_HMAC_MD5_96", "20 octets"}},
		{IntegAES128GMAC, 16, xe.BadParam, []string{"AUTH_AES_128_GMAC", "16 octets", "salt"}},
		{IntegAES256GMAC, 28, xe.BadParam, []string{"AUTH_AES_256_GMAC", "28 octets", "36"}},
		{42, 16, xe.UnknownAlgorithm, []string{"42"}},
	} {
		_, err := NewAH(tc.id, make([]byte, tc.key), false)
		if !errors.Is(err, tc.code) {
			t.Errorf("%v with %d octets: %v, want %v", tc.id, tc.key, err, tc.code)
			continue
		}
		for _, s := range tc.says {
			if !strings.Contains(err.Error(), s) {
				t.Errorf("%v: error %q does not say %q", tc.id, err, s)
			}
		}
	}
	a, _ := mustAH(t, IntegHMACSHA196, false)
	if err := a.Verify(make([]byte, 20), 10, 0, false); !errors.Is(err, xe.MalformedPacket) {
		t.Errorf("ICV field beyond the packet: %v", err)
	}
}
