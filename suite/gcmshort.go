package suite

import (
	"crypto/subtle"
	"encoding/binary"
	"sync"
)

// gcmShort computes AES-GCM tags for buffers laid out as pad(A) || C, the
// AAD zero-padded to a multiple of 16 octets and the ciphertext, using the
// 16-octet-tag AES-GCM of crypto/cipher. It serves AES-GCM with an 8-octet
// ICV (RFC 4106 §6), which crypto/cipher refuses: it allows no tag shorter
// than 12 octets. A truncated GCM tag is the leading octets of the full one
// (SP 800-38D §7.1 step 7).
//
// The tag of (A, C) is E(K, J0) ^ GHASH(pad(A) || pad(C) || len(A) || len(C))
// (SP 800-38D §7.1 steps 5-6). crypto/cipher, asked to authenticate the AAD
// X = pad(A) || C with an empty plaintext, returns
// E(K, J0) ^ GHASH(pad(A) || pad(C) || len(X) || 0): the same blocks but the
// last. GHASH is linear, and its last block is multiplied by H once, so the
// two tags differ by (L ^ L')·H, which depends only on the lengths.
type gcmShort struct {
	ctr ctrEngine
	// hx[i] is H·x^i as two big-endian halves, H = E(K, 0^128): the values V
	// takes in SP 800-38D §6.3 Algorithm 1. A product with a public factor
	// is the XOR of the entries its set bits select.
	hx [128][2]uint64
}

func newGCMShort(key []byte) (*gcmShort, error) {
	e, err := newCTREngine(key)
	if err != nil {
		return nil, err
	}
	g := &gcmShort{ctr: e}
	var h [16]byte
	e.block.Encrypt(h[:], h[:])
	v0, v1 := binary.BigEndian.Uint64(h[:8]), binary.BigEndian.Uint64(h[8:])
	clear(h[:])
	for i := range g.hx {
		g.hx[i] = [2]uint64{v0, v1}
		// V = V·x: shift towards the x^127 end, reduce by R = 11100001 || 0^120.
		r := 0xe1 << 56 & -(v1 & 1)
		v1 = v1>>1 | v0<<63
		v0 = v0>>1 ^ r
	}
	return g, nil
}

// tag writes into t the 16-octet GCM tag of an AAD of aLen octets and the
// ciphertext C under nonce, given x = pad(A) || C.
func (g *gcmShort) tag(t *[16]byte, nonce []byte, x []byte, aLen int) {
	cLen := len(x) - (aLen+15)/16*16
	g.ctr.gcm.Seal(t[:0], nonce, nil, x)
	// L ^ L', the lengths in bits (SP 800-38D §7.1 step 5).
	d := [2]uint64{uint64(aLen*8) ^ uint64(len(x)*8), uint64(cLen * 8)}
	var z0, z1 uint64
	for w := range 2 {
		for i := range 64 {
			if d[w]>>(63-i)&1 == 1 { // the lengths are public
				z0 ^= g.hx[64*w+i][0]
				z1 ^= g.hx[64*w+i][1]
			}
		}
	}
	binary.BigEndian.PutUint64(t[:8], binary.BigEndian.Uint64(t[:8])^z0)
	binary.BigEndian.PutUint64(t[8:], binary.BigEndian.Uint64(t[8:])^z1)
}

func (g *gcmShort) zero() { clear(g.hx[:]) }

// gcmShortESP is ENCR_AES_GCM_8 (RFC 4106): AES-GCM ESP with the tag
// truncated to 8 octets, the leading 8 of the 16 (RFC 4106 §6).
type gcmShortESP struct {
	espBase
	g    *gcmShort
	salt [4]byte
	pool sync.Pool // of *gcmShortScratch
}

type gcmShortScratch struct {
	ctr ctrScratch // ctr.prefix is the nonce
	aad [12]byte
	hdr [16]byte
	tag [16]byte
}

func newGCMShortESP(key []byte) (*gcmShortESP, error) {
	if err := checkAESSaltKey(EncrAESGCM8, key, "RFC 4106 §8.1"); err != nil {
		return nil, err
	}
	k := len(key) - saltLen
	g, err := newGCMShort(key[:k])
	if err != nil {
		return nil, err
	}
	e := &gcmShortESP{
		espBase: espBase{name: EncrName(EncrAESGCM8, k*8), ivLen: 8, blockLen: 4, icvLen: 8},
		g:       g,
	}
	copy(e.salt[:], key[k:])
	e.pool.New = func() any { return new(gcmShortScratch) }
	return e, nil
}

func (e *gcmShortESP) FillIV(iv []byte, seq uint64) { counterIV(iv, seq) }

// tag computes the full GCM tag of the ESP packet's AAD and ciphertext
// esp[16:end] into s.tag. For the moment it replaces the header and IV by
// pad16(AAD): the SPI and sequence number with 8 zero octets, or with ESN
// the SPI, both halves of the sequence number and 4 zero octets.
func (e *gcmShortESP) tag(s *gcmShortScratch, esp []byte, end int, seqHigh uint32, esn bool) {
	copy(s.hdr[:], esp[:16])
	aLen := 8
	if esn {
		aLen = 12
		binary.BigEndian.PutUint32(esp[4:8], seqHigh)
		copy(esp[8:12], s.hdr[4:8])
	}
	clear(esp[aLen:16])
	e.g.tag(&s.tag, s.ctr.prefix[:], esp[:end], aLen)
	copy(esp[:16], s.hdr[:])
}

// Seal encrypts with crypto/cipher's AES-GCM directly. It writes the whole
// 16-octet tag behind the ciphertext, 8 octets more than the ICV field
// holds, so the payload is encrypted moved 8 octets forward, over the IV
// (which is in the nonce by then), and moved back.
func (e *gcmShortESP) Seal(esp []byte, seq uint64, esn bool) {
	start, end := e.sealBounds(esp)
	s := e.pool.Get().(*gcmShortScratch)
	espNonce(&s.ctr.prefix, &e.salt, esp)
	aad := espAAD(&s.aad, esp, uint32(seq>>32), esn)
	copy(esp[start-8:end-8], esp[start:end])
	e.g.ctr.gcm.Seal(esp[start-8:start-8], s.ctr.prefix[:], esp[start-8:end-8], aad)
	copy(s.tag[:8], esp[end-8:end]) // the leading 8 octets of the tag
	copy(esp[start:end], esp[start-8:end-8])
	copy(esp[espHeaderLen:start], s.ctr.prefix[4:])
	copy(esp[end:], s.tag[:8])
	e.pool.Put(s)
}

// Open needs the whole tag to check its first 8 octets, and crypto/cipher's
// Open does not return it: the tag comes from gcmShort.tag, and after it
// has been checked the payload is decrypted with the GCM keystream.
func (e *gcmShortESP) Open(esp []byte, seqHigh uint32, esn bool) error {
	start, end, ok := e.payload(esp)
	if !ok {
		return e.short(esp)
	}
	s := e.pool.Get().(*gcmShortScratch)
	defer e.pool.Put(s)
	espNonce(&s.ctr.prefix, &e.salt, esp)
	e.tag(s, esp, end, seqHigh, esn)
	if subtle.ConstantTimeCompare(s.tag[:8], esp[end:]) != 1 {
		return e.mismatch(esp)
	}
	e.g.ctr.xor(&s.ctr, 2, esp[start:], end-start)
	return nil
}

// Close zeroes the salt and the powers of H.
func (e *gcmShortESP) Close() {
	clear(e.salt[:])
	e.g.zero()
}
