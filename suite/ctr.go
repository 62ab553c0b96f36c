package suite

import (
	"crypto/aes"
	"crypto/cipher"
	"crypto/subtle"
	"encoding/binary"

	"github.com/sabre-ipsec/sabre/xe"
)

// ctrEngine makes the AES counter-mode keystream (NIST SP 800-38A §6.5)
// with a 32-bit big-endian block counter, for counter blocks
// prefix || be32(first), prefix || be32(first+1), ... where prefix is 12
// octets. RFC 3686 §4 (AES-CTR) and GCM (SP 800-38D §7.1) both use it.
//
// crypto/cipher's CTR allocates for every IV, so the bulk of the keystream
// comes from AES-GCM instead: GCM encrypts a plaintext under a 96-bit nonce
// N with exactly this keystream from counter block N || be32(2) on (SP
// 800-38D §7.1 steps 2-3, GCTR from inc32(J0)), hardware-accelerated and
// without allocating. The tag GCM appends is thrown away. The block at
// counter 1, and the last octets where the 16-octet tag would not fit in the
// buffer, are made one block at a time with the block cipher.
type ctrEngine struct {
	block cipher.Block
	gcm   cipher.AEAD // 12-octet nonce, 16-octet tag
}

func newCTREngine(key []byte) (ctrEngine, error) {
	b, err := aes.NewCipher(key)
	if err != nil {
		return ctrEngine{}, err
	}
	g, err := cipher.NewGCM(b)
	if err != nil {
		return ctrEngine{}, err
	}
	return ctrEngine{block: b, gcm: g}, nil
}

// ctrScratch is a goroutine's working memory for ctrEngine.xor. The caller
// sets prefix.
type ctrScratch struct {
	prefix [12]byte
	ctr    [16]byte
	ks     [16]byte
	save   [16]byte
}

// xor XORs b[:n] in place with the keystream whose first block has counter
// first, which is 1 (RFC 3686) or 2 (GCM's encryption). The octets
// b[n:len(b)] may be overwritten meanwhile and are restored.
func (e *ctrEngine) xor(s *ctrScratch, first uint32, b []byte, n int) {
	if first != 1 && first != 2 {
		panic("suite: CTR keystream must start at counter 1 or 2")
	}
	gStart := 16 * int(2-first) // where counter 2 begins
	gEnd := min(n, len(b)-16)   // GCM writes a 16-octet tag behind its output
	if gEnd <= gStart {
		e.xorBlocks(s, first, b, 0, n)
		return
	}
	e.xorBlocks(s, first, b, 0, gStart)
	copy(s.save[:], b[gEnd:gEnd+16])
	e.gcm.Seal(b[gStart:gStart], s.prefix[:], b[gStart:gEnd], nil)
	copy(b[gEnd:gEnd+16], s.save[:])
	e.xorBlocks(s, first, b, gEnd, n)
}

// xorBlocks XORs b[from:to] with the keystream one block cipher call per
// block, b[0] being the first octet of counter first.
func (e *ctrEngine) xorBlocks(s *ctrScratch, first uint32, b []byte, from, to int) {
	copy(s.ctr[:12], s.prefix[:])
	for from < to {
		binary.BigEndian.PutUint32(s.ctr[12:], first+uint32(from/16))
		e.block.Encrypt(s.ks[:], s.ctr[:])
		off := from % 16
		m := min(to-from, 16-off)
		subtle.XORBytes(b[from:from+m], b[from:from+m], s.ks[off:off+m])
		from += m
	}
}

// ctrCipher is AES-CTR for ESP (RFC 3686): an 8-octet IV per packet, and
// counter blocks nonce || IV || be32(1), ... where the 4-octet nonce follows
// the AES key in the keying material (RFC 3686 §5.1).
type ctrCipher struct {
	nm    string
	e     ctrEngine
	nonce [4]byte
}

func newCTRCipher(key []byte) (*ctrCipher, error) {
	if n := len(key) - saltLen; n != 16 && n != 24 && n != 32 {
		return nil, xe.Errorf(xe.BadParam, "suite: %v key is %d octets; want 20, 28 or 36 (AES key and 4-octet nonce, RFC 3686 §5.1)", EncrAESCTR, len(key))
	}
	k := len(key) - saltLen
	e, err := newCTREngine(key[:k])
	if err != nil {
		return nil, err
	}
	c := &ctrCipher{nm: EncrName(EncrAESCTR, k*8), e: e}
	copy(c.nonce[:], key[k:])
	return c, nil
}

func (c *ctrCipher) name() string  { return c.nm }
func (c *ctrCipher) ivLen() int    { return 8 }
func (c *ctrCipher) blockLen() int { return 4 } // RFC 3686 §3: no block alignment beyond ESP's 4 octets

// fillIV uses the sequence number: RFC 3686 §3 only asks that an IV never
// repeats under a key.
func (c *ctrCipher) fillIV(iv []byte, seq uint64) { binary.BigEndian.PutUint64(iv, seq) }

func (c *ctrCipher) newScratch() any { return new(ctrScratch) }

func (c *ctrCipher) crypt(scratch any, esp []byte, start, end int, _ bool) {
	s := scratch.(*ctrScratch)
	copy(s.prefix[:4], c.nonce[:])
	copy(s.prefix[4:], esp[espHeaderLen:start])
	c.e.xor(s, 1, esp[start:], end-start)
}

func (c *ctrCipher) zero() { clear(c.nonce[:]) }
