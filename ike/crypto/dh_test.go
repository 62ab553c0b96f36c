package ikecrypto

import (
	"bytes"
	"errors"
	"math/big"
	"testing"

	"github.com/sabre-ipsec/sabre/ike/message"
	"github.com/sabre-ipsec/sabre/internal/testutil/vectors"
	"github.com/sabre-ipsec/sabre/xe"
)

func mustGroup(t testing.TB, id message.GroupID) *Group {
	t.Helper()
	g, err := LookupGroup(id, AllowWeakMODP)
	if err != nil {
		t.Fatal(err)
	}
	return g
}

var allGroups = []message.GroupID{message.MODP1024, message.MODP1536, message.MODP2048, message.MODP3072, message.MODP4096, message.ECP256, message.ECP384, message.ECP521, message.Curve25519}

// TestMODPPrimes checks the primes copied from RFC 3526 and RFC 7296
// Appendix B: each p and (p-1)/2 is prime, p has the stated size with its
// top and bottom 64 bits set, and p = 7 mod 8, so that 2 is a square and
// generates the subgroup of order (p-1)/2 (which CheckSubgroup relies on).
func TestMODPPrimes(t *testing.T) {
	for id, bits := range map[message.GroupID]int{message.MODP1024: 1024, message.MODP1536: 1536, message.MODP2048: 2048, message.MODP3072: 3072, message.MODP4096: 4096} {
		m := modp(id)
		if m.p.BitLen() != bits || m.size != bits/8 {
			t.Errorf("%v: %d bits, %d octets", id, m.p.BitLen(), m.size)
		}
		ones := new(big.Int).SetUint64(^uint64(0))
		if new(big.Int).And(m.p, ones).Cmp(ones) != 0 || new(big.Int).Rsh(m.p, uint(bits-64)).Cmp(ones) != 0 {
			t.Errorf("%v: top or bottom 64 bits not all set", id)
		}
		if m.p.Bit(0)|m.p.Bit(1)<<1|m.p.Bit(2)<<2 != 7 {
			t.Errorf("%v: p != 7 mod 8", id)
		}
		if !m.p.ProbablyPrime(8) {
			t.Errorf("%v: p is not prime", id)
		}
		if !m.q.ProbablyPrime(8) {
			t.Errorf("%v: (p-1)/2 is not prime", id)
		}
		if new(big.Int).Lsh(m.q, 1).Add(new(big.Int).Lsh(m.q, 1), big.NewInt(1)).Cmp(m.p) != 0 {
			t.Errorf("%v: q is not (p-1)/2", id)
		}
	}
}

func TestLookupGroup(t *testing.T) {
	for _, id := range []message.GroupID{message.MODP1024, message.MODP1536} {
		if _, err := LookupGroup(id); !errors.Is(err, xe.BadParam) {
			t.Errorf("%v without AllowWeakMODP: %v", id, err)
		}
	}
	for _, id := range []message.GroupID{0, 1, 17, 22, 32} {
		if _, err := LookupGroup(id, AllowWeakMODP); !errors.Is(err, xe.UnknownAlgorithm) {
			t.Errorf("LookupGroup(%d): %v", id, err)
		}
	}
	for id, lens := range map[message.GroupID][2]int{
		message.MODP1024: {128, 128}, message.MODP1536: {192, 192}, message.MODP2048: {256, 256}, message.MODP3072: {384, 384}, message.MODP4096: {512, 512},
		message.ECP256: {64, 32}, message.ECP384: {96, 48}, message.ECP521: {132, 66}, message.Curve25519: {32, 32},
	} {
		g := mustGroup(t, id)
		if g.ID() != id || g.PublicValueLen() != lens[0] || g.SharedSecretLen() != lens[1] {
			t.Errorf("%v: public %d, shared %d; want %v", id, g.PublicValueLen(), g.SharedSecretLen(), lens)
		}
	}
}

// TestKeyExchange runs both sides of an exchange in every group.
func TestKeyExchange(t *testing.T) {
	for _, id := range allGroups {
		t.Run(id.String(), func(t *testing.T) {
			g := mustGroup(t, id)
			a, err := g.GenerateKey()
			if err != nil {
				t.Fatal(err)
			}
			b, _ := g.GenerateKey()
			if len(a.PublicValue()) != g.PublicValueLen() {
				t.Fatalf("public value %d octets, want %d", len(a.PublicValue()), g.PublicValueLen())
			}
			if bytes.Equal(a.PublicValue(), b.PublicValue()) {
				t.Fatal("two keys with one public value")
			}
			sa, err := a.SharedSecret(b.PublicValue())
			if err != nil {
				t.Fatal(err)
			}
			sb, err := b.SharedSecret(a.PublicValue())
			if err != nil {
				t.Fatal(err)
			}
			if !bytes.Equal(sa, sb) || len(sa) != g.SharedSecretLen() {
				t.Fatalf("shared secrets %x and %x (want %d octets)", sa, sb, g.SharedSecretLen())
			}
			if err := g.CheckSubgroup(b.PublicValue()); err != nil {
				t.Errorf("CheckSubgroup of an honest value: %v", err)
			}
			for _, n := range []int{0, g.PublicValueLen() - 1, g.PublicValueLen() + 1} {
				if _, err := a.SharedSecret(make([]byte, n)); !errors.Is(err, ErrInvalidKE) {
					t.Errorf("%d-octet peer value: %v", n, err)
				}
			}
			a.Zero()
			b.Zero()
		})
	}
}

// TestMODPValidation refuses the peer values RFC 6989 §2 excludes.
func TestMODPValidation(t *testing.T) {
	for _, id := range []message.GroupID{message.MODP1024, message.MODP1536, message.MODP2048, message.MODP3072, message.MODP4096} {
		g := mustGroup(t, id)
		m := g.modp
		k, _ := g.GenerateKey()
		enc := func(x *big.Int) []byte { return x.FillBytes(make([]byte, m.size)) }
		for name, y := range map[string][]byte{
			"0":      make([]byte, m.size),
			"1":      enc(big.NewInt(1)),
			"p-1":    enc(m.pMinus1),
			"p":      enc(m.p),
			"all ff": bytes.Repeat([]byte{0xff}, m.size),
		} {
			if _, err := k.SharedSecret(y); !errors.Is(err, ErrInvalidKE) {
				t.Errorf("%v: peer value %s: %v", id, name, err)
			}
			if err := g.CheckSubgroup(y); !errors.Is(err, ErrInvalidKE) {
				t.Errorf("%v: CheckSubgroup(%s): %v", id, name, err)
			}
		}
		// p-2 = -2 is not a square for p = 7 mod 8: in range, but outside
		// the subgroup of order q, which only the full check sees.
		pm2 := enc(new(big.Int).Sub(m.p, two))
		if _, err := k.SharedSecret(pm2); err != nil {
			t.Errorf("%v: p-2 refused by the range check: %v", id, err)
		}
		if err := g.CheckSubgroup(pm2); !errors.Is(err, ErrInvalidKE) {
			t.Errorf("%v: CheckSubgroup(p-2): %v", id, err)
		}
		if err := g.CheckSubgroup(enc(big.NewInt(4))); err != nil {
			t.Errorf("%v: CheckSubgroup(4): %v", id, err)
		}
	}
}

// TestMODPPadding checks that public values and shared secrets keep the
// length of the prime when they are numerically short (RFC 7296 §3.4,
// §2.14): with exponent 8, 2^8 = 256 and 2^(8*8) fit in a few octets.
func TestMODPPadding(t *testing.T) {
	g := mustGroup(t, message.MODP2048)
	k, err := g.NewPrivateKey([]byte{8})
	if err != nil {
		t.Fatal(err)
	}
	want := make([]byte, 256)
	want[254] = 1 // 256
	if !bytes.Equal(k.PublicValue(), want) {
		t.Errorf("2^8 = %x", k.PublicValue())
	}
	z, err := k.SharedSecret(want)
	if err != nil {
		t.Fatal(err)
	}
	want = make([]byte, 256)
	want[247] = 1 // 256^8 = 2^64
	if !bytes.Equal(z, want) {
		t.Errorf("256^8 = %x", z)
	}
	for _, x := range [][]byte{{1}, {0}, g.modp.q.Bytes()} {
		if _, err := g.NewPrivateKey(x); !errors.Is(err, xe.BadParam) {
			t.Errorf("exponent %x: %v", x, err)
		}
	}
}

// TestECPVectors reproduces RFC 5903 §8 with private keys made from the
// RFC's i and r: the Key Exchange Data is x | y without the 0x04 octet
// (§7) and the shared secret is the x coordinate of g^ir.
func TestECPVectors(t *testing.T) {
	for _, v := range vectors.Read(t, "testdata/rfc5903-ecp.txt") {
		g := mustGroup(t, message.GroupID(v.Int(t, "group")))
		gi := append(v.Bytes(t, "gix"), v.Bytes(t, "giy")...)
		gr := append(v.Bytes(t, "grx"), v.Bytes(t, "gry")...)
		girx := v.Bytes(t, "girx")
		ki, err := g.NewPrivateKey(v.Bytes(t, "i"))
		if err != nil {
			t.Fatal(err)
		}
		kr, err := g.NewPrivateKey(v.Bytes(t, "r"))
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(ki.PublicValue(), gi) || !bytes.Equal(kr.PublicValue(), gr) {
			t.Errorf("%v: g^i = %x, g^r = %x; want %x, %x", g, ki.PublicValue(), kr.PublicValue(), gi, gr)
		}
		for _, s := range []struct {
			k    *PrivateKey
			peer []byte
		}{{ki, gr}, {kr, gi}} {
			z, err := s.k.SharedSecret(s.peer)
			if err != nil || !bytes.Equal(z, girx) {
				t.Errorf("%v: g^ir = %x, %v; want %x", g, z, err, girx)
			}
		}

		// RFC 6989 §2: points not on the curve are refused, as are the
		// SEC 1 encoding with its 0x04 octet and coordinates >= p.
		off := append([]byte(nil), gr...)
		off[len(off)-1] ^= 1
		ff := bytes.Repeat([]byte{0xff}, len(gr))
		for name, peer := range map[string][]byte{
			"off the curve":    off,
			"SEC 1 encoding":   append([]byte{4}, gr...),
			"all zero":         make([]byte, len(gr)),
			"coordinates >= p": ff,
			"x only":           gr[:len(gr)/2],
		} {
			if _, err := ki.SharedSecret(peer); !errors.Is(err, ErrInvalidKE) {
				t.Errorf("%v: %s: %v", g, name, err)
			}
		}
	}
}

// TestX25519Vectors checks RFC 7748 §5.2 and §6.1 and RFC 8031's example.
func TestX25519Vectors(t *testing.T) {
	g := mustGroup(t, message.Curve25519)
	for _, v := range vectors.Read(t, "testdata/rfc7748-x25519.txt") {
		ref := v.Str(t, "ref")
		if v.Has("scalar") {
			k, err := g.NewPrivateKey(v.Bytes(t, "scalar"))
			if err != nil {
				t.Fatal(err)
			}
			z, err := k.SharedSecret(v.Bytes(t, "u"))
			if want := v.Bytes(t, "out"); err != nil || !bytes.Equal(z, want) {
				t.Errorf("%s: %x, %v; want %x", ref, z, err, want)
			}
			continue
		}
		ki, _ := g.NewPrivateKey(v.Bytes(t, "i"))
		kr, _ := g.NewPrivateKey(v.Bytes(t, "r"))
		gi, gr, shared := v.Bytes(t, "gi"), v.Bytes(t, "gr"), v.Bytes(t, "shared")
		if !bytes.Equal(ki.PublicValue(), gi) || !bytes.Equal(kr.PublicValue(), gr) {
			t.Errorf("%s: public values %x, %x; want %x, %x", ref, ki.PublicValue(), kr.PublicValue(), gi, gr)
		}
		zi, err1 := ki.SharedSecret(gr)
		zr, err2 := kr.SharedSecret(gi)
		if err1 != nil || err2 != nil || !bytes.Equal(zi, shared) || !bytes.Equal(zr, shared) {
			t.Errorf("%s: shared %x (%v), %x (%v); want %x", ref, zi, err1, zr, err2, shared)
		}
	}
}

// TestX25519LowOrder refuses peer values of small order, whose shared
// secret is all zero (RFC 8031 §2, RFC 7748 §6.1): u = 0 and 1, the two
// points of order 8, p-1, and the non-canonical p and p+1. The two order-8
// u-coordinates are the ones libsodium's blocklist and many X25519 test
// suites carry; the test itself shows they are of small order, since every
// clamped scalar sends them to zero.
func TestX25519LowOrder(t *testing.T) {
	g := mustGroup(t, message.Curve25519)
	k, _ := g.GenerateKey()
	for _, u := range []string{
		"0000000000000000000000000000000000000000000000000000000000000000",
		"0100000000000000000000000000000000000000000000000000000000000000",
		"e0eb7a7c3b41b8ae1656e3faf19fc46ada098deb9c32b1fd866205165f49b800",
		"5f9c95bca3508c24b1d0b1559c83ef5b04445cc4581c8e86d8224eddd09f1157",
		"ecffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff7f",
		"edffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff7f",
		"eeffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff7f",
	} {
		if z, err := k.SharedSecret(vectors.Unhex(t, u)); !errors.Is(err, ErrInvalidKE) {
			t.Errorf("u = %s: %x, %v; want ErrInvalidKE", u, z, err)
		}
	}
}
