package suite

import (
	"crypto/aes"
	"crypto/cipher"
	"encoding/binary"
	"sync"

	"golang.org/x/crypto/chacha20poly1305"

	"github.com/sabre-ipsec/sabre/xe"
)

// aeadESP is a combined-mode ESP transform whose ICV is the whole AEAD
// tag: AES-GCM with a 16- or 12-octet ICV (RFC 4106) and ChaCha20-Poly1305
// (RFC 7634). The nonce is the salt followed by the 8-octet IV; the AAD is
// the SPI and sequence number, 8 octets, or with ESN the SPI, high and low
// halves of the sequence number, 12 octets (RFC 4106 §4-§5, RFC 7634 §2).
// The payload and trailer are the AEAD plaintext, encrypted in place.
type aeadESP struct {
	espBase
	aead cipher.AEAD
	salt [4]byte
	pool sync.Pool // of *aeadScratch
}

type aeadScratch struct {
	nonce [12]byte
	aad   [12]byte
}

func newAEADESP(id EncrID, key []byte) (*aeadESP, error) {
	e := &aeadESP{espBase: espBase{ivLen: 8, blockLen: 4}}
	k := len(key) - saltLen
	switch id {
	case EncrChaCha20Poly1305:
		if len(key) != chacha20poly1305.KeySize+saltLen {
			return nil, xe.Errorf(xe.BadParam, "suite: %v key is %d octets; want 36 (256-bit key and 4-octet salt, RFC 7634 §4)", id, len(key))
		}
		a, err := chacha20poly1305.New(key[:k])
		if err != nil {
			return nil, err
		}
		e.aead, e.name, e.icvLen = a, EncrName(EncrChaCha20Poly1305, 256), chacha20poly1305.Overhead
	default: // AES-GCM-16, AES-GCM-12
		if err := checkAESSaltKey(id, key, "RFC 4106 §8.1"); err != nil {
			return nil, err
		}
		b, err := aes.NewCipher(key[:k])
		if err != nil {
			return nil, err
		}
		icv := 16
		if id == EncrAESGCM12 {
			icv = 12
		}
		a, err := cipher.NewGCMWithTagSize(b, icv)
		if err != nil {
			return nil, err
		}
		e.aead, e.icvLen = a, icv
		e.name = EncrName(id, k*8)
	}
	copy(e.salt[:], key[k:])
	e.pool.New = func() any { return new(aeadScratch) }
	return e, nil
}

// checkAESSaltKey checks that key is an AES key followed by a 4-octet salt.
func checkAESSaltKey(id any, key []byte, ref string) error {
	if n := len(key) - saltLen; n != 16 && n != 24 && n != 32 {
		return xe.Errorf(xe.BadParam, "suite: %v key is %d octets; want 20, 28 or 36 (AES key and 4-octet salt, %s)", id, len(key), ref)
	}
	return nil
}

// espNonce writes salt || IV, the nonce of RFC 4106 §4, RFC 4543 §3.2 and
// RFC 7634 §2.
func espNonce(nonce *[12]byte, salt *[4]byte, esp []byte) {
	copy(nonce[:4], salt[:])
	copy(nonce[4:], esp[espHeaderLen:espHeaderLen+8])
}

// espAAD returns the AAD of RFC 4106 §5 and RFC 7634 §2.1: the ESP header
// itself, or with ESN the SPI, the high and the low half of the sequence
// number, assembled in buf.
func espAAD(buf *[12]byte, esp []byte, seqHigh uint32, esn bool) []byte {
	if !esn {
		return esp[:espHeaderLen]
	}
	copy(buf[0:4], esp[0:4])
	binary.BigEndian.PutUint32(buf[4:8], seqHigh)
	copy(buf[8:12], esp[4:8])
	return buf[:]
}

func (e *aeadESP) FillIV(iv []byte, seq uint64) { counterIV(iv, seq) }

func (e *aeadESP) Seal(esp []byte, seq uint64, esn bool) {
	start, end := e.sealBounds(esp)
	s := e.pool.Get().(*aeadScratch)
	espNonce(&s.nonce, &e.salt, esp)
	e.aead.Seal(esp[start:start], s.nonce[:], esp[start:end], espAAD(&s.aad, esp, uint32(seq>>32), esn))
	e.pool.Put(s)
}

// Open decrypts in place. On a bad ICV the AEAD clears the payload, which
// is dropped anyway.
func (e *aeadESP) Open(esp []byte, seqHigh uint32, esn bool) error {
	start, _, ok := e.payload(esp)
	if !ok {
		return e.short(esp)
	}
	s := e.pool.Get().(*aeadScratch)
	defer e.pool.Put(s)
	espNonce(&s.nonce, &e.salt, esp)
	if _, err := e.aead.Open(esp[start:start], s.nonce[:], esp[start:], espAAD(&s.aad, esp, seqHigh, esn)); err != nil {
		return e.mismatch(esp)
	}
	return nil
}

// Close zeroes the salt. The AEAD's key schedule cannot be reached and is
// left to the garbage collector.
func (e *aeadESP) Close() { clear(e.salt[:]) }
