package suite

import (
	"crypto/cipher"
	"encoding/binary"
)

// cbcmacKey holds the keys of a CBC-MAC with a final-block tweak, the shape
// shared by AES-XCBC-MAC (RFC 3566 §4) and AES-CMAC (RFC 4493 §2.4): the
// message is CBC-MACed under b, and before the last encryption the last
// block is XORed with full if it is complete, or padded with 10* and XORed
// with part if not (the empty message counts as one incomplete block).
type cbcmacKey struct {
	b          cipher.Block
	full, part [16]byte
}

func (k *cbcmacKey) newState() macState { return &cbcmacState{k: k} }

func (k *cbcmacKey) zero() {
	clear(k.full[:])
	clear(k.part[:])
}

// cbcmacState is one CBC-MAC computation. The last block seen stays in buf
// until sum, since it is treated differently from the others.
type cbcmacState struct {
	k   *cbcmacKey
	x   [16]byte // chaining value
	buf [16]byte
	n   int // octets in buf
	u32 [4]byte
}

func (s *cbcmacState) reset() {
	clear(s.x[:])
	s.n = 0
}

// block encrypts x ^= m into x.
func (s *cbcmacState) block(m []byte) {
	x0 := binary.LittleEndian.Uint64(s.x[:8]) ^ binary.LittleEndian.Uint64(m[:8])
	x1 := binary.LittleEndian.Uint64(s.x[8:]) ^ binary.LittleEndian.Uint64(m[8:16])
	binary.LittleEndian.PutUint64(s.x[:8], x0)
	binary.LittleEndian.PutUint64(s.x[8:], x1)
	s.k.b.Encrypt(s.x[:], s.x[:])
}

func (s *cbcmacState) write(p []byte) {
	if len(p) == 0 {
		return
	}
	if s.n > 0 {
		m := copy(s.buf[s.n:], p)
		s.n += m
		p = p[m:]
		if len(p) == 0 {
			return
		}
		s.block(s.buf[:]) // full, and more follows
		s.n = 0
	}
	for len(p) > 16 {
		s.block(p[:16])
		p = p[16:]
	}
	s.n = copy(s.buf[:], p)
}

func (s *cbcmacState) writeZeros(n int) {
	for n > 0 {
		m := min(n, len(zeros))
		s.write(zeros[:m])
		n -= m
	}
}

func (s *cbcmacState) writeUint32(v uint32) {
	binary.BigEndian.PutUint32(s.u32[:], v)
	s.write(s.u32[:])
}

func (s *cbcmacState) sum(out []byte) {
	var last [16]byte
	copy(last[:], s.buf[:s.n])
	k := &s.k.full
	if s.n < 16 {
		last[s.n] = 0x80 // RFC 3566 §4 step 3, RFC 4493 §2.4 step 4: 10^i padding
		k = &s.k.part
	}
	for i := range last {
		last[i] ^= k[i]
	}
	x := s.x
	s.block(last[:])
	copy(out, s.x[:])
	s.x = x // sum does not change the state
}

// CBCMAC is AES-XCBC-MAC (RFC 3566) or AES-CMAC (RFC 4493): the CBC-MACs
// that IPsec uses as integrity transforms and IKEv2 as PRFs
// (AES-XCBC-PRF-128, RFC 4434; AES-CMAC-PRF-128, RFC 4615). It implements
// hash.Hash with a 16-octet Size, so IKE can use it wherever it uses HMAC.
// A CBCMAC is not safe for concurrent use.
type CBCMAC struct {
	k cbcmacKey
	s cbcmacState
}

func (m *CBCMAC) init() *CBCMAC {
	m.s.k = &m.k
	return m
}

// Write adds p to the message. It never returns an error.
func (m *CBCMAC) Write(p []byte) (int, error) {
	m.s.write(p)
	return len(p), nil
}

// Sum appends the 16-octet MAC of the message written so far to b.
func (m *CBCMAC) Sum(b []byte) []byte {
	var t [16]byte
	m.s.sum(t[:])
	return append(b, t[:]...)
}

// Reset starts a new message under the same key.
func (m *CBCMAC) Reset() { m.s.reset() }

// Size returns 16, the MAC length.
func (m *CBCMAC) Size() int { return 16 }

// BlockSize returns 16, the AES block size.
func (m *CBCMAC) BlockSize() int { return 16 }

// Zero forgets the derived subkeys and the message state. The AES key
// schedule inside crypto/aes cannot be reached and is left to the garbage
// collector. m must not be used afterwards.
func (m *CBCMAC) Zero() {
	m.k.zero()
	clear(m.s.x[:])
	clear(m.s.buf[:])
}
