package suite

import (
	"bytes"
	"crypto/aes"
	"crypto/cipher"
	"crypto/des"
	"crypto/rand"

	"github.com/sabre-ipsec/sabre/xe"
)

// cbcMode is a CBC BlockMode whose IV can be reset, as crypto/cipher's
// encrypters and decrypters can: pooled modes are reused for every packet
// instead of allocating new ones.
type cbcMode interface {
	cipher.BlockMode
	SetIV([]byte)
}

// cbcCipher is a CBC-mode ESP cipher with an explicit random IV of one
// block: AES-CBC (RFC 3602) and 3DES-CBC (RFC 2451).
type cbcCipher struct {
	nm string
	b  cipher.Block
}

func newAESCBC(key []byte) (*cbcCipher, error) {
	if n := len(key); n != 16 && n != 24 && n != 32 {
		return nil, xe.Errorf(xe.BadParam, "suite: %v key is %d octets; want 16, 24 or 32 (RFC 3602 §2.2)", EncrAESCBC, len(key))
	}
	b, err := aes.NewCipher(key)
	if err != nil {
		return nil, err
	}
	return &cbcCipher{nm: EncrName(EncrAESCBC, len(key)*8), b: b}, nil
}

func new3DESCBC(key []byte) (*cbcCipher, error) {
	if len(key) != 24 {
		return nil, xe.Errorf(xe.BadParam, "suite: %v key is %d octets; want 24 (RFC 2451 §2.2)", Encr3DES, len(key))
	}
	// With K1 = K2 or K2 = K3, EDE collapses to single DES (RFC 2451 §2.3).
	if bytes.Equal(key[:8], key[8:16]) || bytes.Equal(key[8:16], key[16:]) {
		return nil, xe.Errorf(xe.BadParam, "suite: %v key has equal adjacent DES keys, which reduces it to single DES", Encr3DES)
	}
	b, err := des.NewTripleDESCipher(key)
	if err != nil {
		return nil, err
	}
	return &cbcCipher{nm: EncrName(Encr3DES, 192), b: b}, nil
}

func (c *cbcCipher) name() string  { return c.nm }
func (c *cbcCipher) ivLen() int    { return c.b.BlockSize() }
func (c *cbcCipher) blockLen() int { return c.b.BlockSize() }

// fillIV draws an unpredictable IV (RFC 3602 §3, RFC 2451 §3): with a
// predictable one CBC leaks plaintext to a chosen-plaintext attacker.
func (c *cbcCipher) fillIV(iv []byte, _ uint64) { rand.Read(iv) }

// cbcScratch holds a goroutine's encrypter and decrypter.
type cbcScratch struct{ enc, dec cbcMode }

func (c *cbcCipher) newScratch() any {
	iv := make([]byte, c.b.BlockSize())
	enc, ok1 := cipher.NewCBCEncrypter(c.b, iv).(cbcMode)
	dec, ok2 := cipher.NewCBCDecrypter(c.b, iv).(cbcMode)
	if !ok1 || !ok2 {
		panic("suite: crypto/cipher CBC modes cannot reset their IV")
	}
	return &cbcScratch{enc: enc, dec: dec}
}

func (c *cbcCipher) crypt(scratch any, esp []byte, start, end int, decrypt bool) {
	s := scratch.(*cbcScratch)
	m := s.enc
	if decrypt {
		m = s.dec
	}
	m.SetIV(esp[espHeaderLen:start])
	m.CryptBlocks(esp[start:end], esp[start:end])
}

// zero has nothing to forget: the key lives only in the block cipher.
func (c *cbcCipher) zero() {}
