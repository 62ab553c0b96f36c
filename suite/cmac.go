package suite

import (
	"crypto/aes"
	"encoding/binary"

	"github.com/sabre-ipsec/sabre/xe"
)

// NewCMAC returns AES-CMAC (RFC 4493, NIST SP 800-38B) keyed with a 16-, 24-
// or 32-octet AES key. The AES-CMAC-96 integrity transform (RFC 4494) is
// AES-CMAC with a 16-octet key, truncated to 96 bits.
func NewCMAC(key []byte) (*CBCMAC, error) {
	b, err := aes.NewCipher(key)
	if err != nil {
		return nil, xe.Errorf(xe.BadParam, "suite: AES-CMAC key is %d octets; want 16, 24 or 32", len(key))
	}
	m := new(CBCMAC).init()
	m.k.b = b
	// RFC 4493 §2.3: L = AES-128(K, 0^128); K1 = L·x; K2 = K1·x in
	// GF(2^128) with the constant Rb = 0x87.
	var l [16]byte
	b.Encrypt(l[:], l[:])
	dbl(&m.k.full, &l)
	dbl(&m.k.part, &m.k.full)
	clear(l[:])
	return m, nil
}

// dbl sets d to s shifted left by one bit, XORed with Rb when the bit shifted
// out was set (RFC 4493 §2.3), without branching on the secret bit.
func dbl(d, s *[16]byte) {
	hi := binary.BigEndian.Uint64(s[:8])
	lo := binary.BigEndian.Uint64(s[8:])
	rb := 0x87 & -(hi >> 63)
	binary.BigEndian.PutUint64(d[:8], hi<<1|lo>>63)
	binary.BigEndian.PutUint64(d[8:], lo<<1^rb)
}

// NewCMACPRF128 returns AES-CMAC-PRF-128 (RFC 4615 §3) keyed with key of
// any length, the PRF of IKEv2's PRF_AES128_CMAC: a 16-octet key is used as
// is, any other is replaced by its AES-CMAC under the all-zero key.
func NewCMACPRF128(key []byte) *CBCMAC {
	var k [16]byte
	if len(key) == 16 {
		copy(k[:], key)
	} else {
		z, _ := NewCMAC(k[:])
		z.Write(key)
		z.Sum(k[:0])
	}
	m, _ := NewCMAC(k[:])
	clear(k[:])
	return m
}

// CMACPRF128 returns AES-CMAC-PRF-128(key, msg) (RFC 4615).
func CMACPRF128(key, msg []byte) []byte {
	m := NewCMACPRF128(key)
	m.Write(msg)
	defer m.Zero()
	return m.Sum(nil)
}
