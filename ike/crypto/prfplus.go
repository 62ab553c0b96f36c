package ikecrypto

import "github.com/sabre-ipsec/sabre/xe"

// maxPlusBlocks is the number of prf+ blocks: the counter is one octet
// that starts at 0x01 and must not wrap (RFC 7296 §2.13).
const maxPlusBlocks = 255

// MaxPlusLen returns the most octets prf+ can produce with p: 255 times
// the PRF's output length.
func (p *PRF) MaxPlusLen() int { return maxPlusBlocks * p.size }

// Plus returns the first n octets of prf+(key, S), where the seed S is the
// concatenation of the seed parts (RFC 7296 §2.13):
//
//	prf+ (K,S) = T1 | T2 | T3 | T4 | ...
//	T1 = prf (K, S | 0x01)
//	T2 = prf (K, T1 | S | 0x02)
//	...
//
// n may be at most MaxPlusLen.
func (p *PRF) Plus(key []byte, n int, seed ...[]byte) ([]byte, error) {
	if n < 0 || n > p.MaxPlusLen() {
		return nil, xe.Errorf(xe.BadParam, "ikecrypto: prf+ with %v cannot produce %d octets; at most %d", p.id, n, p.MaxPlusLen())
	}
	blocks := (n + p.size - 1) / p.size
	buf := make([]byte, blocks*p.size)
	h := p.New(key)
	var prev []byte // T(i-1), empty for T1
	var ctr [1]byte
	for i := range blocks {
		h.Reset()
		h.Write(prev)
		for _, s := range seed {
			h.Write(s)
		}
		ctr[0] = byte(i + 1)
		h.Write(ctr[:])
		t := buf[i*p.size : i*p.size : (i+1)*p.size]
		prev = h.Sum(t)
	}
	out := buf[:n:n]
	clear(buf[n:])
	return out, nil
}
