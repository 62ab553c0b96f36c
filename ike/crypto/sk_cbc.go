package ikecrypto

import (
	"crypto/aes"
	"crypto/cipher"
	"crypto/rand"
	"crypto/subtle"
	"fmt"
	"strconv"

	"github.com/sabre-ipsec/sabre/suite"
	"github.com/sabre-ipsec/sabre/xe"
)

// cbcSK is ENCR_AES_CBC (RFC 3602) with a separate integrity transform.
type cbcSK struct {
	SKOverhead
	name  string
	block cipher.Block
	integ *skInteg
}

func newCBCSK(key []byte, integ suite.IntegID, integKey []byte) (*cbcSK, error) {
	if l := len(key); l != 16 && l != 24 && l != 32 {
		return nil, xe.Errorf(xe.BadParam, "ikecrypto: %v key is %d octets; want 16, 24 or 32", suite.EncrAESCBC, l)
	}
	in, err := newSKInteg(integ, integKey)
	if err != nil {
		return nil, err
	}
	b, _ := aes.NewCipher(key)
	return &cbcSK{
		SKOverhead: SKOverhead{ivLen: aes.BlockSize, blockLen: aes.BlockSize, icvLen: in.icvLen},
		name:       "aes" + strconv.Itoa(len(key)*8) + "-" + in.name,
		block:      b,
		integ:      in,
	}, nil
}

func (c *cbcSK) Name() string { return c.name }

func (c *cbcSK) Seal(dst, aad, plaintext []byte) []byte {
	n := len(plaintext)
	body := c.SealedLen(n)
	ret, out := sliceForAppend(dst, body)
	iv, ct, icv := out[:c.ivLen], out[c.ivLen:body-c.icvLen], out[body-c.icvLen:]
	// RFC 7296 §3.14: the IV MUST be unpredictable for CBC.
	rand.Read(iv)
	copy(ct, plaintext)
	padLen := len(ct) - n - 1
	// The Padding MAY contain any value; zeros leak nothing.
	clear(ct[n : n+padLen])
	ct[len(ct)-1] = byte(padLen)
	cipher.NewCBCEncrypter(c.block, iv).CryptBlocks(ct, ct)
	sum := c.integ.sum(aad, out[:body-c.icvLen])
	copy(icv, sum)
	clear(sum)
	return ret
}

func (c *cbcSK) Open(dst, aad, body []byte) ([]byte, error) {
	ctLen := len(body) - c.ivLen - c.icvLen
	if ctLen < c.blockLen || ctLen%c.blockLen != 0 {
		return nil, fmt.Errorf("%w: %s body of %d octets is not IV, whole %d-octet blocks and a %d-octet ICV",
			ErrMalformed, c.name, len(body), c.blockLen, c.icvLen)
	}
	iv, ct, icv := body[:c.ivLen], body[c.ivLen:c.ivLen+ctLen], body[c.ivLen+ctLen:]
	// RFC 7296 §3.14: the ICV covers the message from the IKE header
	// through the Pad Length, checked before anything is decrypted.
	sum := c.integ.sum(aad, body[:c.ivLen+ctLen])
	ok := subtle.ConstantTimeCompare(sum[:c.icvLen], icv) == 1
	clear(sum)
	if !ok {
		return nil, fmt.Errorf("%w: %s ICV mismatch", ErrIntegrity, c.name)
	}
	ret, out := sliceForAppend(dst, ctLen)
	cipher.NewCBCDecrypter(c.block, iv).CryptBlocks(out, ct)
	return trimPadding(ret, out, c.name)
}

func (c *cbcSK) Close() { c.integ.zero() }

// trimPadding removes Padding and Pad Length from the decrypted out, the
// tail of ret.
func trimPadding(ret, out []byte, name string) ([]byte, error) {
	padLen := int(out[len(out)-1])
	if padLen+1 > len(out) {
		clear(out)
		return nil, fmt.Errorf("%w: %s Pad Length %d exceeds the %d decrypted octets", ErrMalformed, name, padLen, len(out)-1)
	}
	return ret[:len(ret)-padLen-1], nil
}

// sliceForAppend extends in by n octets, reallocating if its capacity is
// short, and returns the whole slice and the n new octets.
func sliceForAppend(in []byte, n int) (head, tail []byte) {
	if total := len(in) + n; cap(in) >= total {
		head = in[:total]
	} else {
		head = make([]byte, total)
		copy(head, in)
	}
	return head, head[len(in):]
}
