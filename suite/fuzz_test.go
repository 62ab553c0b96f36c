package suite

import (
	"bytes"
	"errors"
	"testing"

	"github.com/sabre-ipsec/sabre/xe"
)

// fuzzESPs are transforms of each kind with fixed keys, so that the sealed
// seeds stay valid.
func fuzzESPs(t testing.TB) []ESP {
	key := func(n int) []byte { return bytes.Repeat([]byte{0x5a}, n) }
	var es []ESP
	for _, c := range []espCase{
		{encr: EncrAESGCM16, keyBits: 128}, {encr: EncrAESGCM8, keyBits: 128}, {encr: EncrNullAuthAESGMAC, keyBits: 128},
		{encr: EncrChaCha20Poly1305}, {encr: EncrAESCBC, keyBits: 128, integ: IntegHMACSHA256128},
		{encr: EncrAESCTR, keyBits: 128, integ: IntegAESXCBC96}, {encr: EncrNull, integ: IntegAESCMAC96},
	} {
		ek, _ := EncrKeyLen(c.encr, c.keyBits)
		ik, _ := IntegKeyLen(c.integ)
		es = append(es, mustESP(t, ESPConfig{Encr: c.encr, EncrKey: key(ek), Integ: c.integ, IntegKey: key(ik)}))
	}
	return es
}

// FuzzESPOpen feeds arbitrary packets to Open: it must fail cleanly, with
// a malformed-packet or ICV error, and never panic.
func FuzzESPOpen(f *testing.F) {
	es := fuzzESPs(f)
	for i, e := range es {
		for _, esn := range []bool{false, true} {
			esp := espPacket(e, 0x100, 1<<32|7, nil, plaintext(e, 33))
			e.Seal(esp, 1<<32|7, esn)
			f.Add(uint8(i), esp, uint32(1), esn)
		}
		f.Add(uint8(i), make([]byte, espHeaderLen+e.IVLen()+e.ICVLen()), uint32(0), false)
	}
	f.Fuzz(func(t *testing.T, alg uint8, data []byte, seqHigh uint32, esn bool) {
		e := es[int(alg)%len(es)]
		err := e.Open(bytes.Clone(data), seqHigh, esn)
		if err != nil && !errors.Is(err, xe.ESPDigestMismatch) && !errors.Is(err, xe.MalformedPacket) {
			t.Fatalf("%s: unexpected error %v", e.Name(), err)
		}
	})
}

// FuzzAHVerify feeds arbitrary packets and ICV offsets to Verify.
func FuzzAHVerify(f *testing.F) {
	key := bytes.Repeat([]byte{0xa5}, 20)
	hm, _ := NewAH(IntegHMACSHA196, key, false)
	gm, _ := NewAH(IntegAES128GMAC, key, false)
	as := []AH{hm, gm}
	for i, a := range as {
		pkt, off := ahPacket(a, 1, 5, 30)
		a.Sum(pkt, off, 5, false)
		f.Add(uint8(i), pkt, off, false)
	}
	f.Fuzz(func(t *testing.T, alg uint8, data []byte, icvOff int, esn bool) {
		a := as[int(alg)%len(as)]
		err := a.Verify(bytes.Clone(data), icvOff, 0, esn)
		if err != nil && !errors.Is(err, xe.AHDigestMismatch) && !errors.Is(err, xe.MalformedPacket) {
			t.Fatalf("%s: unexpected error %v", a.Name(), err)
		}
	})
}

// FuzzEncrByName checks that any name either fails with UnknownAlgorithm
// or yields an ID and key size EncrKeyLen accepts.
func FuzzEncrByName(f *testing.F) {
	for _, s := range []string{"aes128gcm16", "AES256-CBC", "3DES-CBC", "NULL_ENC", "ENCR_AES_GCM_8", "aescbc192", "chacha20poly1305", "aes192gmac"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, name string) {
		id, bits, err := EncrByName(name)
		if err != nil {
			if !errors.Is(err, xe.UnknownAlgorithm) {
				t.Fatalf("%q: %v", name, err)
			}
			return
		}
		if bits == 0 && (id == EncrAESCBC || id == EncrAESCTR || id.IsAEAD() && id != EncrChaCha20Poly1305) {
			return // key size to come from elsewhere
		}
		if _, err := EncrKeyLen(id, bits); err != nil {
			t.Fatalf("%q: %v, %d: %v", name, id, bits, err)
		}
	})
}
