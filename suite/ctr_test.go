package suite

import (
	"bytes"
	"crypto/cipher"
	"encoding/binary"
	"testing"

	"github.com/sabre-ipsec/sabre/internal/testutil/vectors"
)

// TestAESCTRRFC3686 reproduces RFC 3686 §6 test vectors #1-#9 through ESP,
// with ICVs of 12, 16 and 32 octets: behind the payload the CTR keystream
// code finds less or more room than GCM's 16-octet tag needs.
func TestAESCTRRFC3686(t *testing.T) {
	integs := []IntegID{IntegHMACSHA196, IntegAESCMAC96, IntegHMACSHA256128, IntegHMACSHA512256}
	for _, v := range vectors.Read(t, "testdata/rfc3686-aes-ctr.txt") {
		key := append(v.Bytes(t, "key"), v.Bytes(t, "nonce")...)
		for _, in := range integs {
			n, _ := IntegKeyLen(in)
			e := mustESP(t, ESPConfig{Encr: EncrAESCTR, EncrKey: key, Integ: in, IntegKey: randBytes(n)})
			iv := v.Bytes(t, "iv")
			esp := espPacket(e, 7, 9, iv, v.Bytes(t, "plaintext"))
			want := append(append(esp[:8:8], iv...), v.Bytes(t, "ciphertext")...)
			sealOpen(t, "RFC 3686 vector "+v.Str(t, "vector")+" "+e.Name(), e, esp, 9, false, want)
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
