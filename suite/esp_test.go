package suite

import (
	"bytes"
	"crypto/rand"
	"encoding/binary"
	"errors"
	"fmt"
	"strings"
	"sync"
	"testing"

	"github.com/sabre-ipsec/sabre/xe"
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

// espCase is one ESP configuration of the table tests.
type espCase struct {
	encr    EncrID
	keyBits int
	integ   IntegID
	short   bool
}

func (c espCase) config() ESPConfig {
	ek, err := EncrKeyLen(c.encr, c.keyBits)
	if err != nil {
		panic(err)
	}
	ik, _ := IntegKeyLen(c.integ)
	return ESPConfig{Encr: c.encr, EncrKey: randBytes(ek), Integ: c.integ, IntegKey: randBytes(ik), ShortICV: c.short}
}

// espCases lists every algorithm: the combined modes at each key size, and
// each cipher with each integrity transform.
func espCases() []espCase {
	var cs []espCase
	for _, id := range []EncrID{EncrAESGCM8, EncrAESGCM12, EncrAESGCM16, EncrNullAuthAESGMAC} {
		for _, bits := range []int{128, 192, 256} {
			cs = append(cs, espCase{encr: id, keyBits: bits})
		}
	}
	cs = append(cs, espCase{encr: EncrChaCha20Poly1305})
	ciphers := []espCase{
		{encr: EncrAESCBC, keyBits: 128}, {encr: EncrAESCBC, keyBits: 192}, {encr: EncrAESCBC, keyBits: 256},
		{encr: EncrAESCTR, keyBits: 128}, {encr: EncrAESCTR, keyBits: 192}, {encr: EncrAESCTR, keyBits: 256},
		{encr: Encr3DES}, {encr: EncrNull},
	}
	integs := []espCase{
		{integ: IntegHMACMD596}, {integ: IntegHMACSHA196}, {integ: IntegAESXCBC96}, {integ: IntegAESCMAC96},
		{integ: IntegHMACSHA256128}, {integ: IntegHMACSHA384192}, {integ: IntegHMACSHA512256},
		{integ: IntegHMACSHA256128, short: true}, {integ: IntegHMACSHA512256, short: true},
	}
	for _, c := range ciphers {
		for _, in := range integs {
			c.integ, c.short = in.integ, in.short
			cs = append(cs, c)
		}
	}
	return cs
}

// plaintext returns n octets rounded up to the transform's block length.
func plaintext(e ESP, n int) []byte {
	bl := e.BlockLen()
	return randBytes((n + bl - 1) / bl * bl)
}

func TestESPNames(t *testing.T) {
	for _, tc := range []struct {
		c    espCase
		name string
		iv   int
		bl   int
		icv  int
	}{
		{espCase{encr: EncrAESGCM16, keyBits: 128}, "AES128-GCM16", 8, 4, 16},
		{espCase{encr: EncrAESGCM12, keyBits: 192}, "AES192-GCM12", 8, 4, 12},
		{espCase{encr: EncrAESGCM8, keyBits: 256}, "AES256-GCM8", 8, 4, 8},
		{espCase{encr: EncrNullAuthAESGMAC, keyBits: 256}, "AES256-GMAC", 8, 4, 16},
		{espCase{encr: EncrChaCha20Poly1305}, "CHACHA20-POLY1305", 8, 4, 16},
		{espCase{encr: EncrAESCBC, keyBits: 256, integ: IntegHMACSHA256128}, "AES256-CBC/HMAC-SHA-2-256", 16, 16, 16},
		{espCase{encr: EncrAESCBC, keyBits: 128, integ: IntegHMACSHA256128, short: true}, "AES128-CBC/HMAC-SHA-2-256-96", 16, 16, 12},
		{espCase{encr: EncrAESCTR, keyBits: 192, integ: IntegAESXCBC96}, "AES192-CTR/AES-XCBC", 8, 4, 12},
		{espCase{encr: Encr3DES, integ: IntegHMACSHA196}, "3DES-CBC/HMAC-SHA-1", 8, 8, 12},
		{espCase{encr: EncrNull, integ: IntegHMACMD596}, "NULL_ENC/HMAC-MD5", 0, 4, 12},
		{espCase{encr: EncrNull, integ: IntegAESCMAC96}, "NULL_ENC/AES-CMAC", 0, 4, 12},
		{espCase{encr: EncrAESCBC, keyBits: 128, integ: IntegHMACSHA384192}, "AES128-CBC/HMAC-SHA-2-384", 16, 16, 24},
		{espCase{encr: EncrAESCBC, keyBits: 128, integ: IntegHMACSHA512256}, "AES128-CBC/HMAC-SHA-2-512", 16, 16, 32},
	} {
		e := mustESP(t, tc.c.config())
		if e.Name() != tc.name || e.IVLen() != tc.iv || e.BlockLen() != tc.bl || e.ICVLen() != tc.icv {
			t.Errorf("%v/%v: %s iv %d block %d icv %d; want %s %d %d %d", tc.c.encr, tc.c.integ,
				e.Name(), e.IVLen(), e.BlockLen(), e.ICVLen(), tc.name, tc.iv, tc.bl, tc.icv)
		}
		e.Close()
	}
}

// TestESPRoundTrip seals and opens every algorithm, with and without ESN,
// at payload lengths around the block sizes.
func TestESPRoundTrip(t *testing.T) {
	for _, c := range espCases() {
		e := mustESP(t, c.config())
		for _, esn := range []bool{false, true} {
			for _, n := range []int{0, 1, 4, 8, 15, 16, 17, 31, 32, 33, 64, 100, 255, 1400} {
				seq := uint64(0x1234)<<32 | uint64(n+1)
				pt := plaintext(e, n)
				esp := espPacket(e, 0xdeadbeef, seq, nil, pt)
				start, end := espHeaderLen+e.IVLen(), len(esp)-e.ICVLen()
				e.Seal(esp, seq, esn)
				encrypts := c.encr != EncrNull && c.encr != EncrNullAuthAESGMAC
				if encrypts && len(pt) >= 8 && bytes.Equal(esp[start:end], pt) {
					t.Fatalf("%s n=%d: payload not encrypted", e.Name(), n)
				}
				if !encrypts && !bytes.Equal(esp[start:end], pt) {
					t.Fatalf("%s n=%d: payload changed", e.Name(), n)
				}
				if err := e.Open(esp, uint32(seq>>32), esn); err != nil {
					t.Fatalf("%s esn=%v n=%d: %v", e.Name(), esn, n, err)
				}
				if !bytes.Equal(esp[start:end], pt) {
					t.Fatalf("%s esn=%v n=%d: plaintext not restored", e.Name(), esn, n)
				}
			}
		}
		e.Close()
	}
}

// TestESPTamper flips each bit position class in every octet of the header,
// IV, ciphertext and ICV: Open must reject each with ESPDigestMismatch.
func TestESPTamper(t *testing.T) {
	for _, c := range espCases() {
		e := mustESP(t, c.config())
		for _, esn := range []bool{false, true} {
			seq := uint64(7)<<32 | 42
			esp := espPacket(e, 0x01020304, seq, nil, plaintext(e, 21))
			e.Seal(esp, seq, esn)
			sealed := append([]byte(nil), esp...)
			for i := range esp {
				for _, bit := range []byte{0x01, 0x80} {
					copy(esp, sealed)
					esp[i] ^= bit
					err := e.Open(esp, 7, esn)
					if !errors.Is(err, xe.ESPDigestMismatch) {
						t.Fatalf("%s esn=%v: flipping bit %#x of octet %d of %d: %v", e.Name(), esn, bit, i, len(esp), err)
					}
				}
			}
			copy(esp, sealed)
			if err := e.Open(esp, 7, esn); err != nil {
				t.Fatalf("%s: untouched packet: %v", e.Name(), err)
			}
		}
		e.Close()
	}
}

// TestESPExtendedSequenceNumber checks that the high half of the sequence
// number is authenticated though not sent (RFC 4303 §2.2.1): opening with
// another high half, or without ESN, fails; without ESN it is ignored.
func TestESPExtendedSequenceNumber(t *testing.T) {
	for _, c := range espCases() {
		e := mustESP(t, c.config())
		seq := uint64(5)<<32 | 99
		esp := espPacket(e, 1, seq, nil, plaintext(e, 40))
		e.Seal(esp, seq, true)
		sealed := append([]byte(nil), esp...)
		for _, tc := range []struct {
			hi  uint32
			esn bool
		}{{6, true}, {4, true}, {0, true}, {5, false}} {
			copy(esp, sealed)
			if err := e.Open(esp, tc.hi, tc.esn); !errors.Is(err, xe.ESPDigestMismatch) {
				t.Errorf("%s: sealed with high half 5, opened with %d (esn %v): %v", e.Name(), tc.hi, tc.esn, err)
			}
		}
		copy(esp, sealed)
		if err := e.Open(esp, 5, true); err != nil {
			t.Errorf("%s: %v", e.Name(), err)
		}
		// Without ESN the high half is not authenticated.
		esp = espPacket(e, 1, seq, nil, plaintext(e, 40))
		e.Seal(esp, seq, false)
		if err := e.Open(esp, 12345, false); err != nil {
			t.Errorf("%s: non-ESN packet depends on the high half: %v", e.Name(), err)
		}
		e.Close()
	}
}

// TestESPMalformed checks that Open rejects packets too short for header,
// IV and ICV, and ciphertext that is not a whole number of blocks, and that
// Seal panics on them.
func TestESPMalformed(t *testing.T) {
	for _, c := range espCases() {
		e := mustESP(t, c.config())
		short := make([]byte, espHeaderLen+e.IVLen()+e.ICVLen()-1)
		if err := e.Open(short, 0, false); !errors.Is(err, xe.MalformedPacket) {
			t.Errorf("%s: short packet: %v", e.Name(), err)
		}
		func() {
			defer func() {
				if recover() == nil {
					t.Errorf("%s: Seal of a short packet did not panic", e.Name())
				}
			}()
			e.Seal(short, 0, false)
		}()
		if e.BlockLen() > 4 || c.encr == EncrNull || c.encr == EncrAESCTR {
			odd := make([]byte, espHeaderLen+e.IVLen()+e.BlockLen()+2+e.ICVLen())
			if err := e.Open(odd, 0, false); !errors.Is(err, xe.MalformedPacket) {
				t.Errorf("%s: ciphertext not a multiple of %d: %v", e.Name(), e.BlockLen(), err)
			}
		}
		e.Close()
	}
}

// TestESPFillIV checks the IVs: the sequence number for the counter-based
// modes, fresh random ones for CBC.
func TestESPFillIV(t *testing.T) {
	for _, c := range espCases() {
		e := mustESP(t, c.config())
		if e.IVLen() == 0 {
			continue
		}
		a, b := make([]byte, e.IVLen()), make([]byte, e.IVLen())
		e.FillIV(a, 0x0102030405060708)
		e.FillIV(b, 0x0102030405060708)
		switch c.encr {
		case EncrAESCBC, Encr3DES:
			if bytes.Equal(a, b) {
				t.Errorf("%s: CBC IV repeated", e.Name())
			}
		default:
			if want := []byte{1, 2, 3, 4, 5, 6, 7, 8}; !bytes.Equal(a, want) || !bytes.Equal(b, want) {
				t.Errorf("%s: IV %x, want the sequence number", e.Name(), a)
			}
		}
	}
}

// TestESPConcurrent seals and opens on one ESP from many goroutines (run
// with -race).
func TestESPConcurrent(t *testing.T) {
	for _, c := range []espCase{
		{encr: EncrAESGCM16, keyBits: 128}, {encr: EncrAESGCM8, keyBits: 256}, {encr: EncrNullAuthAESGMAC, keyBits: 128},
		{encr: EncrChaCha20Poly1305}, {encr: EncrAESCBC, keyBits: 128, integ: IntegHMACSHA256128},
		{encr: EncrAESCTR, keyBits: 128, integ: IntegAESXCBC96}, {encr: Encr3DES, integ: IntegAESCMAC96},
	} {
		e := mustESP(t, c.config())
		var wg sync.WaitGroup
		errs := make(chan error, 16)
		for g := range 16 {
			wg.Add(1)
			go func() {
				defer wg.Done()
				for i := range 100 {
					seq := uint64(g)<<32 | uint64(i)
					pt := plaintext(e, 64+g)
					esp := espPacket(e, uint32(g), seq, nil, pt)
					e.Seal(esp, seq, i%2 == 0)
					if err := e.Open(esp, uint32(g), i%2 == 0); err != nil {
						errs <- fmt.Errorf("%s goroutine %d packet %d: %w", e.Name(), g, i, err)
						return
					}
					if !bytes.Equal(esp[espHeaderLen+e.IVLen():len(esp)-e.ICVLen()], pt) {
						errs <- fmt.Errorf("%s goroutine %d packet %d: wrong plaintext", e.Name(), g, i)
						return
					}
				}
			}()
		}
		wg.Wait()
		close(errs)
		for err := range errs {
			t.Error(err)
		}
	}
}

// TestESPZeroAllocs checks that Seal and Open allocate nothing once the
// pools are warm.
func TestESPZeroAllocs(t *testing.T) {
	if raceEnabled {
		t.Skip("sync.Pool drops items at random under the race detector")
	}
	for _, c := range espCases() {
		e := mustESP(t, c.config())
		for _, esn := range []bool{false, true} {
			esp := espPacket(e, 1, 1<<32|1, nil, plaintext(e, 1400))
			n := testing.AllocsPerRun(20, func() {
				e.Seal(esp, 1<<32|1, esn)
				if err := e.Open(esp, 1, esn); err != nil {
					t.Fatal(err)
				}
			})
			if n != 0 {
				t.Errorf("%s esn=%v: %.1f allocations per Seal+Open", e.Name(), esn, n)
			}
		}
	}
}

// TestESPConfigErrors checks that bad keys and combinations are refused
// with an error naming the algorithm and what was wrong.
func TestESPConfigErrors(t *testing.T) {
	for _, tc := range []struct {
		c    ESPConfig
		code xe.Code
		says []string
	}{
		{ESPConfig{Encr: EncrAESGCM16, EncrKey: make([]byte, 16)}, xe.BadParam, []string{"ENCR_AES_GCM_16", "16 octets", "salt"}},
		{ESPConfig{Encr: EncrAESGCM8, EncrKey: make([]byte, 33)}, xe.BadParam, []string{"ENCR_AES_GCM_8", "33 octets"}},
		{ESPConfig{Encr: EncrAESGCM12, EncrKey: make([]byte, 21)}, xe.BadParam, []string{"ENCR_AES_GCM_12", "21 octets"}},
		{ESPConfig{Encr: EncrNullAuthAESGMAC, EncrKey: make([]byte, 32)}, xe.BadParam, []string{"ENCR_NULL_AUTH_AES_GMAC", "32 octets"}},
		{ESPConfig{Encr: EncrChaCha20Poly1305, EncrKey: make([]byte, 32)}, xe.BadParam, []string{"ENCR_CHACHA20_POLY1305", "32 octets", "36"}},
		{ESPConfig{Encr: EncrAESCBC, EncrKey: make([]byte, 20), Integ: IntegHMACSHA196, IntegKey: make([]byte, 20)}, xe.BadParam, []string{"ENCR_AES_CBC", "20 octets"}},
		{ESPConfig{Encr: EncrAESCTR, EncrKey: make([]byte, 16), Integ: IntegHMACSHA196, IntegKey: make([]byte, 20)}, xe.BadParam, []string{"ENCR_AES_CTR", "16 octets", "nonce"}},
		{ESPConfig{Encr: Encr3DES, EncrKey: make([]byte, 16), Integ: IntegHMACSHA196, IntegKey: make([]byte, 20)}, xe.BadParam, []string{"ENCR_3DES", "16 octets", "24"}},
		{ESPConfig{Encr: Encr3DES, EncrKey: bytes.Repeat([]byte{1, 2, 3, 4, 5, 6, 7, 8}, 3), Integ: IntegHMACSHA196, IntegKey: make([]byte, 20)}, xe.BadParam, []string{"ENCR_3DES", "single DES"}},
		{ESPConfig{Encr: EncrNull, EncrKey: make([]byte, 1), Integ: IntegHMACSHA196, IntegKey: make([]byte, 20)}, xe.BadParam, []string{"ENCR_NULL", "1 octets"}},
		{ESPConfig{Encr: EncrAESCBC, EncrKey: make([]byte, 16), Integ: IntegHMACSHA196, IntegKey: make([]byte, 16)}, xe.BadParam, []string{"AUTH_HMAC_SHA1_96", "16 octets", "20"}},
		{ESPConfig{Encr: EncrAESCBC, EncrKey: make([]byte, 16), Integ: IntegHMACSHA256128, IntegKey: make([]byte, 20)}, xe.BadParam, []string{"AUTH_HMAC_SHA2_256_128", "20 octets", "32"}},
		{ESPConfig{Encr: EncrAESCBC, EncrKey: make([]byte, 16), Integ: IntegAESXCBC96, IntegKey: make([]byte, 32)}, xe.BadParam, []string{"AUTH_AES_XCBC_96", "32 octets"}},
		{ESPConfig{Encr: EncrAESCBC, EncrKey: make([]byte, 16), Integ: IntegAESCMAC96, IntegKey: make([]byte, 24)}, xe.BadParam, []string{"AUTH_AES_CMAC_96", "24 octets"}},
		{ESPConfig{Encr: EncrNull, Integ: IntegNone}, xe.BadParam, []string{"ENCR_NULL", "integrity"}},
		{ESPConfig{Encr: EncrAESCBC, EncrKey: make([]byte, 16)}, xe.BadParam, []string{"ENCR_AES_CBC", "integrity"}},
		{ESPConfig{Encr: EncrAESGCM16, EncrKey: make([]byte, 20), Integ: IntegHMACSHA196, IntegKey: make([]byte, 20)}, xe.BadParam, []string{"ENCR_AES_GCM_16", "AUTH_HMAC_SHA1_96"}},
		{ESPConfig{Encr: EncrAESCBC, EncrKey: make([]byte, 16), Integ: IntegAES128GMAC, IntegKey: make([]byte, 20)}, xe.BadParam, []string{"AUTH_AES_128_GMAC", "AH"}},
		{ESPConfig{Encr: 99, EncrKey: make([]byte, 16)}, xe.UnknownAlgorithm, []string{"99"}},
		{ESPConfig{Encr: EncrAESCBC, EncrKey: make([]byte, 16), Integ: 77, IntegKey: make([]byte, 16)}, xe.UnknownAlgorithm, []string{"77"}},
	} {
		e, err := NewESP(tc.c)
		if err == nil {
			t.Errorf("%v/%v: accepted (%s)", tc.c.Encr, tc.c.Integ, e.Name())
			continue
		}
		if !errors.Is(err, tc.code) {
			t.Errorf("%v/%v: %v, want %v", tc.c.Encr, tc.c.Integ, err, tc.code)
		}
		for _, s := range tc.says {
			if !strings.Contains(err.Error(), s) {
				t.Errorf("%v/%v: error %q does not say %q", tc.c.Encr, tc.c.Integ, err, s)
			}
		}
	}
}

// TestESPClose checks that Close zeroes the key material the transforms
// keep.
func TestESPClose(t *testing.T) {
	e := mustESP(t, espCase{encr: EncrAESCTR, keyBits: 128, integ: IntegHMACSHA256128}.config()).(*encAuthESP)
	hk := e.mac
	e.Close()
	if c := e.c.(*ctrCipher); c.nonce != [4]byte{} {
		t.Error("CTR nonce not zeroed")
	}
	s := hk.newState().(*hmacState)
	if !allZero(s.k.inner) || !allZero(s.k.outer) {
		t.Error("HMAC pad states not zeroed")
	}

	x := mustESP(t, espCase{encr: EncrAESCBC, keyBits: 128, integ: IntegAESXCBC96}.config()).(*encAuthESP)
	x.Close()
	st := x.mac.newState().(*cbcmacState)
	if st.k.full != [16]byte{} || st.k.part != [16]byte{} {
		t.Error("XCBC subkeys not zeroed")
	}

	g := mustESP(t, espCase{encr: EncrAESGCM8, keyBits: 128}.config()).(*gcmShortESP)
	g.Close()
	if g.salt != [4]byte{} || g.g.hx[5] != [2]uint64{} {
		t.Error("GCM-8 salt or H powers not zeroed")
	}
	a := mustESP(t, espCase{encr: EncrAESGCM16, keyBits: 128}.config()).(*aeadESP)
	a.Close()
	if a.salt != [4]byte{} {
		t.Error("GCM salt not zeroed")
	}
}

func allZero(b []byte) bool {
	for _, v := range b {
		if v != 0 {
			return false
		}
	}
	return true
}
