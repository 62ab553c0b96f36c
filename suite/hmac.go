package suite

import (
	"encoding"
	"encoding/binary"
	"hash"
)

// hmacKey is an HMAC key (RFC 2104) prepared for per-packet use: the hash
// states after absorbing the ipad and the opad block are computed once and
// kept marshaled, so each ICV starts from them instead of hashing the pads
// again. They are derived from the key and are zeroed by zero.
//
// crypto/hmac would do the same, but keeps the pads where Close cannot
// reach them.
type hmacKey struct {
	newHash      func() hash.Hash
	inner, outer []byte // marshaled states after H(K^ipad) and H(K^opad)
}

// newHMAC prepares key for HMAC with the hash h. Keys longer than the hash
// block are hashed first (RFC 2104 §3).
func newHMAC(h func() hash.Hash, key []byte) *hmacKey {
	k := &hmacKey{newHash: h}
	d := h()
	bs := d.BlockSize()
	pad := make([]byte, bs)
	if len(key) > bs {
		d.Write(key)
		copy(pad, d.Sum(nil))
		d.Reset()
	} else {
		copy(pad, key)
	}
	for i := range pad {
		pad[i] ^= 0x36 // ipad
	}
	d.Write(pad)
	k.inner = marshal(d)
	d.Reset()
	for i := range pad {
		pad[i] ^= 0x36 ^ 0x5c // opad
	}
	d.Write(pad)
	k.outer = marshal(d)
	clear(pad)
	d.Reset()
	return k
}

func marshal(h hash.Hash) []byte {
	b, err := h.(encoding.BinaryMarshaler).MarshalBinary()
	if err != nil {
		panic("suite: cannot save hash state: " + err.Error())
	}
	return b
}

// states returns the constructor of per-packet computations under k and
// the function that zeroes k.
func (k *hmacKey) states() (func() macState, func()) {
	return k.newState, k.zero
}

func (k *hmacKey) newState() macState {
	h := k.newHash()
	return &hmacState{k: k, h: h, u: h.(encoding.BinaryUnmarshaler)}
}

func (k *hmacKey) zero() {
	clear(k.inner)
	clear(k.outer)
}

// hmacState computes one HMAC under its key.
type hmacState struct {
	k   *hmacKey
	h   hash.Hash
	u   encoding.BinaryUnmarshaler // h
	d   [64]byte                   // inner hash, then the MAC
	u32 [4]byte
}

func (s *hmacState) reset() {
	if err := s.u.UnmarshalBinary(s.k.inner); err != nil {
		panic("suite: cannot restore hash state: " + err.Error())
	}
}

func (s *hmacState) write(p []byte) { s.h.Write(p) }

func (s *hmacState) writeZeros(n int) {
	for n > 0 {
		m := min(n, len(zeros))
		s.h.Write(zeros[:m])
		n -= m
	}
}

func (s *hmacState) writeUint32(v uint32) {
	binary.BigEndian.PutUint32(s.u32[:], v)
	s.h.Write(s.u32[:])
}

// sum finishes HMAC = H(K^opad || H(K^ipad || m)) (RFC 2104 §2).
func (s *hmacState) sum(out []byte) {
	inner := s.h.Sum(s.d[:0])
	if err := s.u.UnmarshalBinary(s.k.outer); err != nil {
		panic("suite: cannot restore hash state: " + err.Error())
	}
	s.h.Write(inner)
	copy(out, s.h.Sum(s.d[:0]))
}
