package ikecrypto

import (
	"fmt"

	"github.com/sabre-ipsec/sabre/suite"
	"github.com/sabre-ipsec/sabre/xe"
)

// SKEYSEED returns SKEYSEED = prf(Ni | Nr, g^ir) (RFC 7296 §2.14). gir is
// the shared secret as SharedSecret returns it (for MODP groups left-padded
// to the length of the prime).
//
// The PRFs with a fixed 16-octet key (PRF_AES128_XCBC, PRF_AES128_CMAC)
// are keyed with the first 8 octets of Ni and the first 8 of Nr: "half the
// bits must come from Ni and half from Nr, taking the first bits of each"
// (§2.14). The HMAC PRFs take Ni | Nr whole.
func (p *PRF) SKEYSEED(ni, nr, gir []byte) []byte {
	key := make([]byte, 0, len(ni)+len(nr))
	if p.fixedKey() {
		half := p.KeyLen() / 2
		key = append(key, ni[:min(half, len(ni))]...)
		key = append(key, nr[:min(half, len(nr))]...)
	} else {
		key = append(append(key, ni...), nr...)
	}
	return p.Compute(key, gir)
}

// RekeySKEYSEED returns the SKEYSEED of an IKE SA that replaces one whose
// SK_d is oldSKd: prf(SK_d (old), g^ir (new) | Ni | Nr), with the nonces of
// the CREATE_CHILD_SA exchange (RFC 7296 §2.18).
func (p *PRF) RekeySKEYSEED(oldSKd, gir, ni, nr []byte) []byte {
	return p.Compute(oldSKd, gir, ni, nr)
}

// IKESAKeys are the seven secrets of an IKE SA (RFC 7296 §2.14). SK_d
// keys Child SA derivation, SK_ai/SK_ar and SK_ei/SK_er protect the SK
// payloads the initiator and the responder send, and SK_pi/SK_pr go into
// their AUTH payloads. With an AEAD encryption algorithm SK_ai and SK_ar
// are empty (RFC 5282 §7).
type IKESAKeys struct {
	SKd, SKai, SKar, SKei, SKer, SKpi, SKpr []byte
}

// DeriveIKESAKeys computes
//
//	{SK_d | SK_ai | SK_ar | SK_ei | SK_er | SK_pi | SK_pr}
//	    = prf+ (SKEYSEED, Ni | Nr | SPIi | SPIr)
//
// (RFC 7296 §2.14). SK_d, SK_pi and SK_pr have the PRF's preferred key
// length; encrKeyLen and integKeyLen are the lengths of SK_e* and SK_a*
// (SKKeyLengths gives them for a transform set).
func DeriveIKESAKeys(p *PRF, skeyseed, ni, nr, spii, spir []byte, encrKeyLen, integKeyLen int) (*IKESAKeys, error) {
	if encrKeyLen < 0 || integKeyLen < 0 {
		return nil, xe.Errorf(xe.BadParam, "ikecrypto: negative key length (encryption %d, integrity %d)", encrKeyLen, integKeyLen)
	}
	pl := p.KeyLen()
	km, err := p.Plus(skeyseed, 3*pl+2*integKeyLen+2*encrKeyLen, ni, nr, spii, spir)
	if err != nil {
		return nil, err
	}
	k := new(IKESAKeys)
	for _, f := range []struct {
		dst *[]byte
		n   int
	}{
		{&k.SKd, pl}, {&k.SKai, integKeyLen}, {&k.SKar, integKeyLen},
		{&k.SKei, encrKeyLen}, {&k.SKer, encrKeyLen}, {&k.SKpi, pl}, {&k.SKpr, pl},
	} {
		*f.dst, km = km[:f.n:f.n], km[f.n:]
	}
	return k, nil
}

// Zero overwrites the keys. k must not be used afterwards.
func (k *IKESAKeys) Zero() {
	for _, b := range [][]byte{k.SKd, k.SKai, k.SKar, k.SKei, k.SKer, k.SKpi, k.SKpr} {
		clear(b)
	}
}

// String describes k by its key lengths; it never shows key material.
func (k *IKESAKeys) String() string {
	return fmt.Sprintf("IKESAKeys{SK_d %d, SK_a %d, SK_e %d, SK_p %d octets}", len(k.SKd), len(k.SKai), len(k.SKei), len(k.SKpi))
}

// GoString is String, so that %#v does not print keys either.
func (k *IKESAKeys) GoString() string { return k.String() }

// SKKeyLengths returns the lengths of SK_e* and SK_a* for the IKE SA
// encryption transform encr with a keyBits-bit key (the Key Length
// attribute; 0 where the algorithm has one size) and integrity transform
// integ (suite.IntegNone with an AEAD). SK_e* includes the 4-octet salt of
// AES-GCM (RFC 5282 §7.1) and ChaCha20-Poly1305 (RFC 7634 §4). It refuses
// combinations IKEv2 does not allow: an AEAD with an integrity transform,
// another cipher without one (RFC 7296 §3.3.3), ENCR_NULL and the AES-GMAC
// transforms, which are defined for ESP and AH only.
func SKKeyLengths(encr suite.EncrID, keyBits int, integ suite.IntegID) (encrKeyLen, integKeyLen int, err error) {
	if err := checkSKTransforms(encr, integ); err != nil {
		return 0, 0, err
	}
	if encrKeyLen, err = suite.EncrKeyLen(encr, keyBits); err != nil {
		return 0, 0, err
	}
	if integKeyLen, err = suite.IntegKeyLen(integ); err != nil {
		return 0, 0, err
	}
	return encrKeyLen, integKeyLen, nil
}

// Keymat returns the first n octets of the Child SA keying material
//
//	KEYMAT = prf+ (SK_d, [g^ir (new)] | Ni | Nr)
//
// (RFC 7296 §2.17); gir is nil unless the CREATE_CHILD_SA exchange carried
// KE payloads. Ni and Nr are the nonces of that exchange, or of the
// IKE_SA_INIT exchange for the Child SA created with IKE_AUTH.
func Keymat(p *PRF, skd, gir, ni, nr []byte, n int) ([]byte, error) {
	return p.Plus(skd, n, gir, ni, nr)
}

// ChildSAKeys is the keying material of the pair of SAs one Child SA
// negotiation of a single protocol (ESP or AH) creates. EncrI and IntegI
// key the SA carrying traffic from the initiator to the responder, EncrR
// and IntegR the one from the responder to the initiator. The encryption
// keys include the salt of the counter-based algorithms (suite.EncrKeyLen),
// laid out as suite.ESPConfig takes them.
type ChildSAKeys struct {
	EncrI, IntegI, EncrR, IntegR []byte
}

// DeriveChildSAKeys splits KEYMAT (see Keymat) for one ESP or AH SA pair.
// RFC 7296 §2.17: all keys for the initiator-to-responder SA are taken
// before those for the responder-to-initiator SA, and within each the
// encryption key comes first and the integrity key from the bits after it
// (RFC 4301 §5.2, as §2.17 cites it). For AH, encrKeyLen is 0.
func DeriveChildSAKeys(p *PRF, skd, gir, ni, nr []byte, encrKeyLen, integKeyLen int) (*ChildSAKeys, error) {
	if encrKeyLen < 0 || integKeyLen < 0 {
		return nil, xe.Errorf(xe.BadParam, "ikecrypto: negative key length (encryption %d, integrity %d)", encrKeyLen, integKeyLen)
	}
	km, err := Keymat(p, skd, gir, ni, nr, 2*(encrKeyLen+integKeyLen))
	if err != nil {
		return nil, err
	}
	k := new(ChildSAKeys)
	for _, f := range []struct {
		dst *[]byte
		n   int
	}{
		{&k.EncrI, encrKeyLen}, {&k.IntegI, integKeyLen}, {&k.EncrR, encrKeyLen}, {&k.IntegR, integKeyLen},
	} {
		*f.dst, km = km[:f.n:f.n], km[f.n:]
	}
	return k, nil
}

// Zero overwrites the keys. k must not be used afterwards.
func (k *ChildSAKeys) Zero() {
	for _, b := range [][]byte{k.EncrI, k.IntegI, k.EncrR, k.IntegR} {
		clear(b)
	}
}

// String describes k by its key lengths; it never shows key material.
func (k *ChildSAKeys) String() string {
	return fmt.Sprintf("ChildSAKeys{encryption %d, integrity %d octets}", len(k.EncrI), len(k.IntegI))
}

// GoString is String, so that %#v does not print keys either.
func (k *ChildSAKeys) GoString() string { return k.String() }
