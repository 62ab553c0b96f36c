package ikecrypto

import (
	"crypto/aes"
	"crypto/cipher"
	"crypto/rand"
	"crypto/subtle"
	"encoding/binary"
	"fmt"
	"slices"
	"strconv"
	"sync/atomic"

	"golang.org/x/crypto/chacha20poly1305"

	"github.com/sabre-ipsec/sabre/suite"
	"github.com/sabre-ipsec/sabre/xe"
)

// saltLen is the length of the salt that follows the cipher key in SK_e*
// for AES-GCM (RFC 5282 §7.1) and ChaCha20-Poly1305 (RFC 7634 §4).
const saltLen = 4

// aeadIVLen is the length of the explicit IV in the Encrypted payload for
// AES-GCM (RFC 5282 §3.1) and ChaCha20-Poly1305 (RFC 7634 §2).
const aeadIVLen = 8

// aeadSK is an AEAD protecting SK payloads: AES-GCM with a 16-, 12- or
// 8-octet ICV (RFC 5282) or ChaCha20-Poly1305 (RFC 7634). The nonce is the
// salt followed by the 8-octet IV carried in the payload.
type aeadSK struct {
	SKOverhead
	name string
	encr suite.EncrID
	// key is the cipher key without the salt. The AEAD is built for each
	// message: IKE messages are few, an idle IKE SA then holds 32 octets
	// instead of an AES key schedule and GCM tables (about 750 octets),
	// and Close can zero the key itself.
	key []byte
	// truncated: AES-GCM with an ICV shorter than 12 octets, which
	// crypto/cipher does not offer: the 16-octet tag is computed and
	// truncated (SP 800-38D §5.2.1.2).
	truncated bool
	salt      [saltLen]byte
	// iv is the last IV used. It starts at a random value, so that two
	// SKCiphers made from the same key by mistake still do not share IVs
	// in practice, and counts up: RFC 5282 §3.1 and RFC 7634 §2 require
	// only that an IV never repeats under a key.
	iv atomic.Uint64
}

func newAEADSK(encr suite.EncrID, key []byte) (*aeadSK, error) {
	k := len(key) - saltLen
	c := &aeadSK{SKOverhead: SKOverhead{ivLen: aeadIVLen, blockLen: 1}, encr: encr}
	switch encr {
	case suite.EncrChaCha20Poly1305:
		if k != chacha20poly1305.KeySize {
			return nil, xe.Errorf(xe.BadParam, "ikecrypto: %v key is %d octets; want 36 (key and salt, RFC 7634 §4)", encr, len(key))
		}
		c.name, c.icvLen = "chacha20poly1305", chacha20poly1305.Overhead
	default: // AES-GCM
		if k != 16 && k != 24 && k != 32 {
			return nil, xe.Errorf(xe.BadParam, "ikecrypto: %v key is %d octets; want 20, 28 or 36 (key and salt, RFC 5282 §7.1)", encr, len(key))
		}
		c.icvLen = map[suite.EncrID]int{suite.EncrAESGCM8: 8, suite.EncrAESGCM12: 12, suite.EncrAESGCM16: 16}[encr]
		c.truncated = c.icvLen < 12
		c.name = "aes" + strconv.Itoa(k*8) + "gcm" + strconv.Itoa(c.icvLen)
	}
	c.key = slices.Clone(key[:k])
	copy(c.salt[:], key[k:])
	if _, _, err := c.cipher(); err != nil {
		return nil, err
	}
	var r [8]byte
	rand.Read(r[:])
	c.iv.Store(binary.BigEndian.Uint64(r[:]))
	return c, nil
}

// cipher builds the AEAD (with a 16-octet tag when truncated) and, for a
// truncated GCM, its AES block cipher.
func (c *aeadSK) cipher() (cipher.AEAD, cipher.Block, error) {
	if c.encr == suite.EncrChaCha20Poly1305 {
		a, err := chacha20poly1305.New(c.key)
		return a, nil, err
	}
	b, err := aes.NewCipher(c.key)
	if err != nil {
		return nil, nil, err
	}
	tag := c.icvLen
	if c.truncated {
		tag = 16
	}
	a, err := cipher.NewGCMWithTagSize(b, tag)
	if err != nil {
		return nil, nil, xe.Errorf(xe.BadParam, "ikecrypto: %v: %v", c.encr, err)
	}
	if !c.truncated {
		b = nil
	}
	return a, b, nil
}

func (c *aeadSK) Name() string { return c.name }

// nonce builds salt | IV (RFC 5282 §4, RFC 7634 §2).
func (c *aeadSK) nonce(n *[12]byte, iv []byte) []byte {
	copy(n[:saltLen], c.salt[:])
	copy(n[saltLen:], iv)
	return n[:]
}

func (c *aeadSK) Seal(dst, aad, plaintext []byte) []byte {
	n := len(plaintext)
	body := c.SealedLen(n)
	ret, out := sliceForAppend(dst, body)
	iv := out[:aeadIVLen]
	binary.BigEndian.PutUint64(iv, c.iv.Add(1))
	var nb [12]byte
	nonce := c.nonce(&nb, iv)
	pt := out[aeadIVLen : aeadIVLen+n+1]
	copy(pt, plaintext)
	pt[n] = 0                // Pad Length: no Padding is needed
	aead, _, _ := c.cipher() // the key was checked by newAEADSK
	if !c.truncated {
		aead.Seal(pt[:0], nonce, pt, aad)
		return ret
	}
	// Truncated tag: the 16-octet one does not fit, so seal elsewhere.
	sealed := aead.Seal(nil, nonce, pt, aad)
	copy(out[aeadIVLen:], sealed[:n+1+c.icvLen])
	clear(sealed)
	return ret
}

func (c *aeadSK) Open(dst, aad, body []byte) ([]byte, error) {
	if len(body) < c.ivLen+1+c.icvLen {
		return nil, fmt.Errorf("%w: %s body of %d octets is shorter than IV, Pad Length and %d-octet ICV",
			ErrMalformed, c.name, len(body), c.icvLen)
	}
	var nb [12]byte
	nonce := c.nonce(&nb, body[:aeadIVLen])
	ct := body[aeadIVLen:]
	aead, block, _ := c.cipher()
	if !c.truncated {
		ret, err := aead.Open(dst, nonce, ct, aad)
		if err != nil {
			return nil, fmt.Errorf("%w: %s tag mismatch", ErrIntegrity, c.name)
		}
		return trimPadding(ret, ret[len(dst):], c.name)
	}
	return c.openTruncated(aead, block, dst, aad, nonce, ct)
}

// openTruncated opens AES-GCM with an 8-octet ICV: the ciphertext is
// decrypted with the GCM keystream (counter blocks from nonce | 2,
// SP 800-38D §7.2), sealed again to get the full tag, and the plaintext
// is released only if the tag's first octets match the ICV.
func (c *aeadSK) openTruncated(aead cipher.AEAD, block cipher.Block, dst, aad, nonce, ct []byte) ([]byte, error) {
	ctLen := len(ct) - c.icvLen
	ret, out := sliceForAppend(dst, ctLen)
	var j [16]byte
	copy(j[:], nonce)
	j[15] = 2
	cipher.NewCTR(block, j[:]).XORKeyStream(out, ct[:ctLen])
	sealed := aead.Seal(nil, nonce, out, aad)
	ok := subtle.ConstantTimeCompare(sealed[ctLen:ctLen+c.icvLen], ct[ctLen:]) == 1
	clear(sealed)
	if !ok {
		clear(out)
		return nil, fmt.Errorf("%w: %s tag mismatch", ErrIntegrity, c.name)
	}
	return trimPadding(ret, out, c.name)
}

func (c *aeadSK) Close() {
	clear(c.salt[:])
	clear(c.key)
}
