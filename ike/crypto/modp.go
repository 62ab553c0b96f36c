package ikecrypto

import (
	"crypto/rand"
	"fmt"
	"math/big"
	"strings"
)

// The MODP primes, copied from RFC 7296 Appendix B.2 (group 2) and
// RFC 3526 §2-§5 (groups 5, 14, 15, 16). Each is 2^n - 2^(n-64) - 1 +
// 2^64 * ([2^(n-130) pi] + k), a safe prime: (p-1)/2 is prime as well,
// which TestMODPPrimes checks. The generator of every group is 2.
const (
	modp1024Hex = `
	FFFFFFFF FFFFFFFF C90FDAA2 2168C234 C4C6628B 80DC1CD1
	29024E08 8A67CC74 020BBEA6 3B139B22 514A0879 8E3404DD
	EF9519B3 CD3A431B 302B0A6D F25F1437 4FE1356D 6D51C245
	E485B576 625E7EC6 F44C42E9 A637ED6B 0BFF5CB6 F406B7ED
	EE386BFB 5A899FA5 AE9F2411 7C4B1FE6 49286651 ECE65381
	FFFFFFFF FFFFFFFF`

	modp1536Hex = `
	FFFFFFFF FFFFFFFF C90FDAA2 2168C234 C4C6628B 80DC1CD1
	29024E08 8A67CC74 020BBEA6 3B139B22 514A0879 8E3404DD
	EF9519B3 CD3A431B 302B0A6D F25F1437 4FE1356D 6D51C245
	E485B576 625E7EC6 F44C42E9 A637ED6B 0BFF5CB6 F406B7ED
	EE386BFB 5A899FA5 AE9F2411 7C4B1FE6 49286651 ECE45B3D
	C2007CB8 A163BF05 98DA4836 1C55D39A 69163FA8 FD24CF5F
	83655D23 DCA3AD96 1C62F356 208552BB 9ED52907 7096966D
	670C354E 4ABC9804 F1746C08 CA237327 FFFFFFFF FFFFFFFF`

	modp2048Hex = `
	FFFFFFFF FFFFFFFF C90FDAA2 2168C234 C4C6628B 80DC1CD1
	29024E08 8A67CC74 020BBEA6 3B139B22 514A0879 8E3404DD
	EF9519B3 CD3A431B 302B0A6D F25F1437 4FE1356D 6D51C245
	E485B576 625E7EC6 F44C42E9 A637ED6B 0BFF5CB6 F406B7ED
	EE386BFB 5A899FA5 AE9F2411 7C4B1FE6 49286651 ECE45B3D
	C2007CB8 A163BF05 98DA4836 1C55D39A 69163FA8 FD24CF5F
	83655D23 DCA3AD96 1C62F356 208552BB 9ED52907 7096966D
	670C354E 4ABC9804 F1746C08 CA18217C 32905E46 2E36CE3B
	E39E772C 180E8603 9B2783A2 EC07A28F B5C55DF0 6F4C52C9
	DE2BCBF6 95581718 3995497C EA956AE5 15D22618 98FA0510
	15728E5A 8AACAA68 FFFFFFFF FFFFFFFF`

	modp3072Hex = `
	FFFFFFFF FFFFFFFF C90FDAA2 2168C234 C4C6628B 80DC1CD1
	29024E08 8A67CC74 020BBEA6 3B139B22 514A0879 8E3404DD
	EF9519B3 CD3A431B 302B0A6D F25F1437 4FE1356D 6D51C245
	E485B576 625E7EC6 F44C42E9 A637ED6B 0BFF5CB6 F406B7ED
	EE386BFB 5A899FA5 AE9F2411 7C4B1FE6 49286651 ECE45B3D
	C2007CB8 A163BF05 98DA4836 1C55D39A 69163FA8 FD24CF5F
	83655D23 DCA3AD96 1C62F356 208552BB 9ED52907 7096966D
	670C354E 4ABC9804 F1746C08 CA18217C 32905E46 2E36CE3B
	E39E772C 180E8603 9B2783A2 EC07A28F B5C55DF0 6F4C52C9
	DE2BCBF6 95581718 3995497C EA956AE5 15D22618 98FA0510
	15728E5A 8AAAC42D AD33170D 04507A33 A85521AB DF1CBA64
	ECFB8504 58DBEF0A 8AEA7157 5D060C7D B3970F85 A6E1E4C7
	ABF5AE8C DB0933D7 1E8C94E0 4A25619D CEE3D226 1AD2EE6B
	F12FFA06 D98A0864 D8760273 3EC86A64 521F2B18 177B200C
	BBE11757 7A615D6C 770988C0 BAD946E2 08E24FA0 74E5AB31
	43DB5BFC E0FD108E 4B82D120 A93AD2CA FFFFFFFF FFFFFFFF`

	modp4096Hex = `
	FFFFFFFF FFFFFFFF C90FDAA2 2168C234 C4C6628B 80DC1CD1
	29024E08 8A67CC74 020BBEA6 3B139B22 514A0879 8E3404DD
	EF9519B3 CD3A431B 302B0A6D F25F1437 4FE1356D 6D51C245
	E485B576 625E7EC6 F44C42E9 A637ED6B 0BFF5CB6 F406B7ED
	EE386BFB 5A899FA5 AE9F2411 7C4B1FE6 49286651 ECE45B3D
	C2007CB8 A163BF05 98DA4836 1C55D39A 69163FA8 FD24CF5F
	83655D23 DCA3AD96 1C62F356 208552BB 9ED52907 7096966D
	670C354E 4ABC9804 F1746C08 CA18217C 32905E46 2E36CE3B
	E39E772C 180E8603 9B2783A2 EC07A28F B5C55DF0 6F4C52C9
	DE2BCBF6 95581718 3995497C EA956AE5 15D22618 98FA0510
	15728E5A 8AAAC42D AD33170D 04507A33 A85521AB DF1CBA64
	ECFB8504 58DBEF0A 8AEA7157 5D060C7D B3970F85 A6E1E4C7
	ABF5AE8C DB0933D7 1E8C94E0 4A25619D CEE3D226 1AD2EE6B
	F12FFA06 D98A0864 D8760273 3EC86A64 521F2B18 177B200C
	BBE11757 7A615D6C 770988C0 BAD946E2 08E24FA0 74E5AB31
	43DB5BFC E0FD108E 4B82D120 A9210801 1A723C12 A787E6D7
	88719A10 BDBA5B26 99C32718 6AF4E23C 1A946834 B6150BDA
	2583E9CA 2AD44CE8 DBBBC2DB 04DE8EF9 2E8EFC14 1FBECAA6
	287C5947 4E6BC05D 99B2964F A090C3A2 233BA186 515BE7ED
	1F612970 CEE2D7AF B81BDD76 2170481C D0069127 D5B05AA9
	93B4EA98 8D8FDDC1 86FFB7DC 90A6C08F 4DF435C9 34063199
	FFFFFFFF FFFFFFFF`
)

// modpGroup is a MODP group with generator 2 and a safe prime p.
type modpGroup struct {
	p, pMinus1, q *big.Int // q = (p-1)/2, the order of the subgroup of squares
	size          int      // octets of p
	// expBits is the length of the private exponents: at least twice the
	// group's strength, from the larger ("Strength Estimate 2") column of
	// RFC 3526 §8, rounded up. A safe-prime group has no small subgroups
	// to exploit short exponents with (RFC 7296 §2.12, RFC 6989 §2).
	expBits int
}

func newMODPGroup(hexPrime string, expBits int) *modpGroup {
	p, ok := new(big.Int).SetString(strings.Join(strings.Fields(hexPrime), ""), 16)
	if !ok {
		panic("ikecrypto: bad MODP prime constant")
	}
	g := &modpGroup{p: p, pMinus1: new(big.Int).Sub(p, big.NewInt(1)), size: (p.BitLen() + 7) / 8, expBits: expBits}
	g.q = new(big.Int).Rsh(g.pMinus1, 1)
	return g
}

var two = big.NewInt(2)

// generate picks a private exponent x of expBits random bits with the top
// bit set, so that 2 <= x < q.
func (g *modpGroup) generate() *big.Int {
	b := make([]byte, (g.expBits+7)/8)
	rand.Read(b)
	defer clear(b)
	x := new(big.Int).SetBytes(b)
	x.SetBit(x, g.expBits-1, 1)
	return x
}

// public returns 2^x mod p, left-padded to the length of p: RFC 7296 §3.4
// fixes the length of a MODP public value to that of the prime.
func (g *modpGroup) public(x *big.Int) []byte {
	return new(big.Int).Exp(two, x, g.p).FillBytes(make([]byte, g.size))
}

// peer checks a peer's public value: exactly the length of p (RFC 7296
// §3.4), and 1 < y < p-1 (RFC 6989 §2). This refuses 0, values not reduced
// mod p, and 1 and p-1, the only elements of small order when p is a safe
// prime: whatever remains has order q or 2q.
func (g *modpGroup) peer(b []byte) (*big.Int, error) {
	if len(b) != g.size {
		return nil, fmt.Errorf("%w: MODP public value is %d octets; want %d", ErrInvalidKE, len(b), g.size)
	}
	y := new(big.Int).SetBytes(b)
	if y.Cmp(big.NewInt(1)) <= 0 || y.Cmp(g.pMinus1) >= 0 {
		return nil, fmt.Errorf("%w: MODP public value outside 1 < y < p-1", ErrInvalidKE)
	}
	return y, nil
}

// shared returns y^x mod p, left-padded to the length of p as g^ir must be
// (RFC 7296 §2.14).
func (g *modpGroup) shared(x, y *big.Int) ([]byte, error) {
	z := new(big.Int).Exp(y, x, g.p)
	// With 1 < y < p-1 and x < q, z is never 0 or 1; check anyway rather
	// than derive keys from a known value.
	if z.Cmp(big.NewInt(1)) <= 0 {
		return nil, fmt.Errorf("%w: MODP shared secret is trivial", ErrInvalidKE)
	}
	out := z.FillBytes(make([]byte, g.size))
	z.SetInt64(0)
	return out, nil
}

// inSubgroup reports whether y^q = 1 mod p, that is whether y lies in the
// subgroup of prime order q generated by 2 (RFC 6989 §2).
func (g *modpGroup) inSubgroup(y *big.Int) bool {
	return new(big.Int).Exp(y, g.q, g.p).Cmp(big.NewInt(1)) == 0
}
