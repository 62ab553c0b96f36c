package suite

import (
	"crypto/aes"

	"github.com/sabre-ipsec/sabre/xe"
)

// NewXCBC returns AES-XCBC-MAC-128 (RFC 3566 §4) keyed with the 16-octet
// key: the MAC behind the AES-XCBC-MAC-96 integrity transform, which is its
// output truncated to 96 bits.
func NewXCBC(key []byte) (*CBCMAC, error) {
	if len(key) != 16 {
		return nil, xe.Errorf(xe.BadParam, "suite: AES-XCBC-MAC key is %d octets; want 16 (RFC 3566 §4)", len(key))
	}
	m := new(CBCMAC).init()
	k, _ := aes.NewCipher(key)
	// RFC 3566 §4 step 1: K1, K2 and K3 are the encryptions under K of
	// 16 octets of 0x01, 0x02 and 0x03.
	var k1 [16]byte
	for i := range 16 {
		k1[i], m.k.full[i], m.k.part[i] = 0x01, 0x02, 0x03
	}
	k.Encrypt(k1[:], k1[:])
	k.Encrypt(m.k.full[:], m.k.full[:])
	k.Encrypt(m.k.part[:], m.k.part[:])
	m.k.b, _ = aes.NewCipher(k1[:]) // step 2: the CBC-MAC runs under K1
	clear(k1[:])
	return m, nil
}

// NewXCBCPRF128 returns AES-XCBC-PRF-128 (RFC 4434 §2) keyed with key of
// any length, the PRF of IKEv2's PRF_AES128_XCBC: a 16-octet key is used
// as is, a shorter one is padded with zeros, and a longer one is replaced by
// its AES-XCBC-MAC-128 under the all-zero key.
func NewXCBCPRF128(key []byte) *CBCMAC {
	var k [16]byte
	switch {
	case len(key) <= 16:
		copy(k[:], key)
	default:
		z, _ := NewXCBC(k[:])
		z.Write(key)
		z.Sum(k[:0])
	}
	m, _ := NewXCBC(k[:])
	clear(k[:])
	return m
}

// XCBCPRF128 returns AES-XCBC-PRF-128(key, msg) (RFC 4434).
func XCBCPRF128(key, msg []byte) []byte {
	m := NewXCBCPRF128(key)
	m.Write(msg)
	defer m.Zero()
	return m.Sum(nil)
}
