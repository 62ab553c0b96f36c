package ikecrypto

import (
	"github.com/sabre-ipsec/sabre/suite"
	"github.com/sabre-ipsec/sabre/xe"
)

// SKCipher protects the body of Encrypted (SK) and Encrypted Fragment (SKF)
// payloads (RFC 7296 §3.14, RFC 7383 §2.5) under one key: SK_ei with SK_ai
// for what the initiator sends, SK_er with SK_ar for what the responder
// sends. An SKCipher is safe for concurrent use.
//
// The message layer lays out a protected message as
//
//	IKE header | [unprotected payloads] | SK header | IV | E(inner payloads | Padding | Pad Length) | ICV
//	<------------------ aad ------------------------> <------------- body -------------------------->
//
// aad is every octet of the message from the start of the IKE header
// through the end of the SK (or SKF, with Fragment Number and Total
// Fragments) payload header, with the length fields already holding their
// final values: SealedLen gives the body length for a plaintext length.
// For AEAD algorithms aad is the associated data (RFC 5282 §5, RFC 7634
// §4); for the others the ICV covers aad, the IV and the ciphertext, that
// is the whole message from the IKE header through the Pad Length
// (RFC 7296 §3.14).
type SKCipher interface {
	// Name is the transform set as an operator reads it, e.g.
	// "aes256gcm16" or "aes128-hmac-sha256-128".
	Name() string
	// IVLen is the length of the IV field.
	IVLen() int
	// BlockLen is the alignment that inner payloads, Padding and Pad
	// Length reach together: the cipher block for CBC, 1 for AEADs.
	BlockLen() int
	// ICVLen is the length of the Integrity Checksum Data field.
	ICVLen() int
	// SealedLen returns the length of the body Seal produces for n octets
	// of inner payloads: IV, encrypted payloads with minimal padding and
	// Pad Length, and ICV. The SK payload length is 4 octets more.
	SealedLen(n int) int
	// Seal encrypts the inner payloads plaintext and appends the body (IV,
	// ciphertext, ICV) to dst, returning the extended slice. dst may be the
	// message built so far, of which aad is a prefix; plaintext must not
	// overlap the appended octets. Seal chooses a fresh IV itself: random
	// for CBC (RFC 7296 §3.14), a counter for the AEADs (RFC 5282 §3.1).
	Seal(dst, aad, plaintext []byte) []byte
	// Open verifies body (IV, ciphertext, ICV) with aad in constant time
	// and, only if it is authentic, decrypts it and appends the inner
	// payloads, without Padding and Pad Length, to dst. To decrypt in
	// place, pass body[IVLen():IVLen()] as dst. A bad ICV returns an error
	// matching ErrIntegrity, a body that cannot be one ErrMalformed.
	Open(dst, aad, body []byte) ([]byte, error)
	// Close zeroes the keys the SKCipher holds. The AEADs keep only the
	// key and build their cipher per message, so nothing is left behind;
	// the CBC ciphers' AES key schedules inside crypto/aes cannot be
	// reached and are left to the garbage collector. The SKCipher must not
	// be used afterwards.
	Close()
}

// SKOverhead describes the fields an SKCipher adds around the inner
// payloads; its methods are those of SKCipher.
type SKOverhead struct {
	ivLen, blockLen, icvLen int
}

// IVLen is the length of the IV field.
func (o SKOverhead) IVLen() int { return o.ivLen }

// BlockLen is the alignment of inner payloads, Padding and Pad Length.
func (o SKOverhead) BlockLen() int { return o.blockLen }

// ICVLen is the length of the Integrity Checksum Data field.
func (o SKOverhead) ICVLen() int { return o.icvLen }

// SealedLen returns the body length for n octets of inner payloads.
func (o SKOverhead) SealedLen(n int) int {
	return o.ivLen + (n+1+o.blockLen-1)/o.blockLen*o.blockLen + o.icvLen
}

// SKOverheadOf returns the overhead of encryption transform encr with
// integrity transform integ (suite.IntegNone for AEADs), for computing
// lengths before the keys exist.
func SKOverheadOf(encr suite.EncrID, integ suite.IntegID) (SKOverhead, error) {
	if err := checkSKTransforms(encr, integ); err != nil {
		return SKOverhead{}, err
	}
	switch encr {
	case suite.EncrAESCBC:
		icv, _ := skICVLen(integ)
		return SKOverhead{ivLen: 16, blockLen: 16, icvLen: icv}, nil
	case suite.EncrAESGCM8:
		return SKOverhead{ivLen: 8, blockLen: 1, icvLen: 8}, nil
	case suite.EncrAESGCM12:
		return SKOverhead{ivLen: 8, blockLen: 1, icvLen: 12}, nil
	}
	return SKOverhead{ivLen: 8, blockLen: 1, icvLen: 16}, nil // GCM-16, ChaCha20-Poly1305
}

// NewSKCipher keys the transform set for SK payloads: encr with encrKey
// (SK_e*, including the salt for AEADs) and integ with integKey (SK_a*;
// suite.IntegNone and nil for AEADs). The AES key size follows from the
// key length. Supported: ENCR_AES_CBC with AUTH_HMAC_SHA1_96,
// AUTH_HMAC_SHA2_256_128/384_192/512_256, AUTH_AES_XCBC_96 or
// AUTH_AES_CMAC_96; ENCR_AES_GCM_8/12/16 (RFC 5282); and
// ENCR_CHACHA20_POLY1305 (RFC 7634). The keys are copied.
func NewSKCipher(encr suite.EncrID, encrKey []byte, integ suite.IntegID, integKey []byte) (SKCipher, error) {
	if err := checkSKTransforms(encr, integ); err != nil {
		return nil, err
	}
	if encr == suite.EncrAESCBC {
		return newCBCSK(encrKey, integ, integKey)
	}
	if len(integKey) != 0 {
		return nil, xe.Errorf(xe.BadParam, "ikecrypto: %v takes no integrity key, got %d octets", encr, len(integKey))
	}
	return newAEADSK(encr, encrKey)
}

// checkSKTransforms refuses transform sets IKEv2 does not allow for SK
// payloads, or this package does not implement.
func checkSKTransforms(encr suite.EncrID, integ suite.IntegID) error {
	switch encr {
	case suite.EncrAESGCM8, suite.EncrAESGCM12, suite.EncrAESGCM16, suite.EncrChaCha20Poly1305:
		if integ != suite.IntegNone {
			// RFC 5282 §8: a combined-mode cipher is proposed without an
			// integrity transform.
			return xe.Errorf(xe.BadParam, "ikecrypto: %v is an AEAD and takes no integrity transform, got %v", encr, integ)
		}
		return nil
	case suite.EncrAESCBC:
		if _, err := skICVLen(integ); err != nil {
			return err
		}
		return nil
	case suite.EncrNull, suite.EncrNullAuthAESGMAC:
		// RFC 7296 §3.3.2: ENCR_NULL is not allowed in IKE; AES-GMAC is
		// defined for ESP only (RFC 4543).
		return xe.Errorf(xe.BadParam, "ikecrypto: %v cannot protect IKE messages", encr)
	}
	return xe.Errorf(xe.UnknownAlgorithm, "ikecrypto: encryption transform %v not supported for SK payloads", encr)
}
