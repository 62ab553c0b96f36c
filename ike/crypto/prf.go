package ikecrypto

import (
	"crypto/hmac"
	"crypto/sha1"
	"crypto/sha256"
	"crypto/sha512"
	"hash"

	"github.com/sabre-ipsec/sabre/ike/message"
	"github.com/sabre-ipsec/sabre/suite"
)

// PRF is one of IKEv2's pseudorandom functions (RFC 7296 §2.13, §3.3.2).
// A PRF holds no key; it is safe for concurrent use.
type PRF struct {
	id   message.PRFID
	size int
	// newHash is the hash under HMAC; nil for the AES-based PRFs, whose
	// key is fixed at 16 octets.
	newHash func() hash.Hash
}

// NewPRF returns the PRF with transform ID id: PRF_HMAC_SHA1,
// PRF_HMAC_SHA2_256/384/512, PRF_AES128_XCBC or PRF_AES128_CMAC.
func NewPRF(id message.PRFID) (*PRF, error) {
	switch id {
	case message.PRFHMACSHA1:
		return &PRF{id: id, size: sha1.Size, newHash: sha1.New}, nil
	case message.PRFHMACSHA2256:
		return &PRF{id: id, size: sha256.Size, newHash: sha256.New}, nil
	case message.PRFHMACSHA2384:
		return &PRF{id: id, size: sha512.Size384, newHash: sha512.New384}, nil
	case message.PRFHMACSHA2512:
		return &PRF{id: id, size: sha512.Size, newHash: sha512.New}, nil
	case message.PRFAES128XCBC, message.PRFAES128CMAC:
		return &PRF{id: id, size: 16}, nil
	}
	return nil, errUnknownPRF(id)
}

// ID returns the PRF's transform ID.
func (p *PRF) ID() message.PRFID { return p.id }

// Size returns the length of the PRF's output in octets.
func (p *PRF) Size() int { return p.size }

// KeyLen returns the PRF's preferred key length, the length of SK_d, SK_pi
// and SK_pr (RFC 7296 §2.14): the output length for the HMAC PRFs
// (RFC 4868 §2.1.2), 16 octets for AES-XCBC-PRF-128 and AES-CMAC-PRF-128.
func (p *PRF) KeyLen() int { return p.size }

// fixedKey reports whether the PRF takes a fixed-length key, for which
// RFC 7296 §2.14 builds the SKEYSEED key from halves of the nonces.
func (p *PRF) fixedKey() bool { return p.newHash == nil }

// New returns the PRF keyed with key, as a hash.Hash: write the data, then
// Sum. Keys of any length are accepted: HMAC hashes long keys and pads
// short ones (RFC 2104 §2); AES-XCBC-PRF-128 and AES-CMAC-PRF-128 derive a
// 16-octet key from any other length (RFC 4434 §2, RFC 4615 §3). The
// returned hash is not safe for concurrent use.
func (p *PRF) New(key []byte) hash.Hash {
	switch p.id {
	case message.PRFAES128XCBC:
		return suite.NewXCBCPRF128(key)
	case message.PRFAES128CMAC:
		return suite.NewCMACPRF128(key)
	}
	return hmac.New(p.newHash, key)
}

// Compute returns prf(key, data[0] | data[1] | ...), the concatenation of
// the data parts being the PRF's input.
func (p *PRF) Compute(key []byte, data ...[]byte) []byte {
	h := p.New(key)
	for _, d := range data {
		h.Write(d)
	}
	return h.Sum(make([]byte, 0, p.size))
}
