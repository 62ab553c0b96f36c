package ikecrypto

import (
	"crypto/ecdh"
	"crypto/rand"
	"crypto/subtle"
	"fmt"
	"math/big"
	"sync"

	"github.com/sabre-ipsec/sabre/ike/message"
	"github.com/sabre-ipsec/sabre/xe"
)

// Group is a key exchange method of IKEv2 (RFC 7296 §2.12, Transform Type
// 4): a MODP group (RFC 3526), an ECP group (RFC 5903) or Curve25519
// (RFC 8031). A Group is immutable and safe for concurrent use.
type Group struct {
	id   message.GroupID
	modp *modpGroup
	ec   ecdh.Curve
	// coordLen is the length of one ECP coordinate, or of the X25519 value.
	coordLen int
}

// GroupOption widens the set of groups LookupGroup accepts.
type GroupOption int

// AllowWeakMODP lets LookupGroup return the 1024-bit (2) and 1536-bit (5)
// MODP groups, which RFC 8247 §2.4 says SHOULD NOT be used. Configure it
// only for a peer that offers nothing better.
const AllowWeakMODP GroupOption = 1

var (
	modpOnce   sync.Once
	modpGroups map[message.GroupID]*modpGroup
)

func modp(id message.GroupID) *modpGroup {
	modpOnce.Do(func() {
		// Exponent lengths: RFC 3526 §8 "Strength Estimate 2" exponent
		// size (240 for group 5, 320/420/480 for 14/15/16), rounded up to
		// whole octets; group 2 gets 256 bits like group 5.
		modpGroups = map[message.GroupID]*modpGroup{
			message.MODP1024: newMODPGroup(modp1024Hex, 256),
			message.MODP1536: newMODPGroup(modp1536Hex, 256),
			message.MODP2048: newMODPGroup(modp2048Hex, 320),
			message.MODP3072: newMODPGroup(modp3072Hex, 424),
			message.MODP4096: newMODPGroup(modp4096Hex, 480),
		}
	})
	return modpGroups[id]
}

// LookupGroup returns the key exchange group with transform ID id: MODP
// 2048, 3072 or 4096 (14-16), ECP 256, 384 or 521 (19-21), Curve25519 (31),
// and with AllowWeakMODP also MODP 1024 (2) and 1536 (5).
func LookupGroup(id message.GroupID, opts ...GroupOption) (*Group, error) {
	weak := false
	for _, o := range opts {
		weak = weak || o == AllowWeakMODP
	}
	switch id {
	case message.MODP1024, message.MODP1536:
		if !weak {
			return nil, xe.Errorf(xe.BadParam, "ikecrypto: %v (group %d) is too weak to use without AllowWeakMODP (RFC 8247 §2.4)", id, uint16(id))
		}
		return &Group{id: id, modp: modp(id)}, nil
	case message.MODP2048, message.MODP3072, message.MODP4096:
		return &Group{id: id, modp: modp(id)}, nil
	case message.ECP256:
		return &Group{id: id, ec: ecdh.P256(), coordLen: 32}, nil
	case message.ECP384:
		return &Group{id: id, ec: ecdh.P384(), coordLen: 48}, nil
	case message.ECP521:
		return &Group{id: id, ec: ecdh.P521(), coordLen: 66}, nil
	case message.Curve25519:
		return &Group{id: id, ec: ecdh.X25519(), coordLen: 32}, nil
	}
	return nil, xe.Errorf(xe.UnknownAlgorithm, "ikecrypto: unsupported key exchange method %d", uint16(id))
}

// ID returns the group's transform ID.
func (g *Group) ID() message.GroupID { return g.id }

// String returns the group's name, such as "MODP_2048" (message.GroupID's).
func (g *Group) String() string { return g.id.String() }

// isECP reports whether g is one of the RFC 5903 groups, whose values are
// two coordinates.
func (g *Group) isECP() bool { return g.ec != nil && g.id != message.Curve25519 }

// PublicValueLen returns the length of the Key Exchange Data of a KE
// payload in this group: the length of the prime for MODP (RFC 7296 §3.4),
// x | y for ECP (RFC 5903 §7), 32 octets for Curve25519 (RFC 8031 §3.1).
func (g *Group) PublicValueLen() int {
	switch {
	case g.modp != nil:
		return g.modp.size
	case g.isECP():
		return 2 * g.coordLen
	}
	return g.coordLen
}

// SharedSecretLen returns the length of g^ir: the length of the prime for
// MODP (RFC 7296 §2.14), the x coordinate for ECP (RFC 5903 §7), 32 octets
// for Curve25519 (RFC 8031 §3.1).
func (g *Group) SharedSecretLen() int {
	if g.modp != nil {
		return g.modp.size
	}
	return g.coordLen
}

// PrivateKey is one side's ephemeral key exchange secret. Use it for one
// exchange and Zero it.
type PrivateKey struct {
	g   *Group
	x   *big.Int // MODP
	ec  *ecdh.PrivateKey
	pub []byte
}

// GenerateKey returns a fresh private key in g, drawn from crypto/rand.
//
// MODP exponentiation uses math/big, which does not run in constant time;
// the exponent is used for one exchange only, which limits what timing
// can reveal about it.
func (g *Group) GenerateKey() (*PrivateKey, error) {
	if g.modp != nil {
		return g.newMODPKey(g.modp.generate()), nil
	}
	k, err := g.ec.GenerateKey(rand.Reader)
	if err != nil {
		return nil, xe.Errorf(xe.BadParam, "ikecrypto: %v key generation: %v", g.id, err)
	}
	return g.newECKey(k), nil
}

// NewPrivateKey makes a private key from its encoding: the exponent, big
// endian, for MODP groups; the scalar as crypto/ecdh takes it for the
// others. It exists for known-answer tests; keys for use come from
// GenerateKey.
func (g *Group) NewPrivateKey(b []byte) (*PrivateKey, error) {
	if g.modp != nil {
		x := new(big.Int).SetBytes(b)
		if x.Cmp(two) < 0 || x.Cmp(g.modp.q) >= 0 {
			return nil, xe.Errorf(xe.BadParam, "ikecrypto: %v exponent outside 2 <= x < q", g.id)
		}
		return g.newMODPKey(x), nil
	}
	k, err := g.ec.NewPrivateKey(b)
	if err != nil {
		return nil, xe.Errorf(xe.BadParam, "ikecrypto: %v private key: %v", g.id, err)
	}
	return g.newECKey(k), nil
}

func (g *Group) newMODPKey(x *big.Int) *PrivateKey {
	return &PrivateKey{g: g, x: x, pub: g.modp.public(x)}
}

func (g *Group) newECKey(k *ecdh.PrivateKey) *PrivateKey {
	pub := k.PublicKey().Bytes()
	if g.isECP() {
		// RFC 5903 §7: x | y, without the SEC 1 point-format octet 0x04.
		pub = pub[1:]
	}
	return &PrivateKey{g: g, ec: k, pub: pub}
}

// Group returns the key's group.
func (k *PrivateKey) Group() *Group { return k.g }

// PublicValue returns the Key Exchange Data for the KE payload, of
// Group().PublicValueLen() octets. The caller must not modify it.
func (k *PrivateKey) PublicValue() []byte { return k.pub }

// SharedSecret validates the peer's Key Exchange Data and returns the
// shared secret g^ir, of Group().SharedSecretLen() octets. A peer value of
// the wrong length or not a valid element (RFC 7296 §2.12, RFC 6989)
// returns an error matching ErrInvalidKE:
//   - MODP: 0, 1, p-1 and values >= p are refused (RFC 6989 §2);
//     CheckSubgroup adds the full test, at the cost of a second
//     exponentiation with a full-length exponent.
//   - ECP: points not on the curve, and the point at infinity, are refused
//     by crypto/ecdh (RFC 6989 §2, RFC 5903 §7).
//   - Curve25519: an all-zero result, from a point of small order, is
//     refused (RFC 8031 §2, RFC 7748 §6.1).
func (k *PrivateKey) SharedSecret(peer []byte) ([]byte, error) {
	g := k.g
	if g.modp != nil {
		y, err := g.modp.peer(peer)
		if err != nil {
			return nil, fmt.Errorf("%v: %w", g.id, err)
		}
		return g.modp.shared(k.x, y)
	}
	if len(peer) != g.PublicValueLen() {
		return nil, fmt.Errorf("%w: %v public value is %d octets; want %d", ErrInvalidKE, g.id, len(peer), g.PublicValueLen())
	}
	enc := peer
	if g.isECP() {
		enc = append([]byte{4}, peer...)
	}
	pk, err := g.ec.NewPublicKey(enc)
	if err != nil {
		return nil, fmt.Errorf("%w: %v public value: %v", ErrInvalidKE, g.id, err)
	}
	z, err := k.ec.ECDH(pk)
	if err != nil {
		return nil, fmt.Errorf("%w: %v: %v", ErrInvalidKE, g.id, err)
	}
	var zero [32]byte
	if g.id == message.Curve25519 && subtle.ConstantTimeCompare(z, zero[:]) == 1 {
		// crypto/ecdh already refuses this; RFC 8031 §2 makes it a MUST.
		return nil, fmt.Errorf("%w: Curve25519 shared secret is all zero (small-order peer value)", ErrInvalidKE)
	}
	return z, nil
}

// CheckSubgroup tests, for a MODP group, that the peer's public value y
// satisfies y^q = 1 mod p, q = (p-1)/2: that it lies in the prime-order
// subgroup that 2 generates (RFC 6989 §2). SharedSecret's range check is
// enough for the safe-prime groups here, where the only small subgroups are
// {1} and {1, p-1} (RFC 6989 §2), so this is optional; it costs an
// exponentiation with a (p-1)/2-long exponent, several times the cost of
// the key exchange itself. For other groups it does nothing.
func (g *Group) CheckSubgroup(peer []byte) error {
	if g.modp == nil {
		return nil
	}
	y, err := g.modp.peer(peer)
	if err != nil {
		return fmt.Errorf("%v: %w", g.id, err)
	}
	if !g.modp.inSubgroup(y) {
		return fmt.Errorf("%w: %v public value is not in the subgroup of order (p-1)/2", ErrInvalidKE, g.id)
	}
	return nil
}

// Zero forgets the MODP exponent; crypto/ecdh keys cannot be cleared and
// are dropped for the garbage collector. k must not be used afterwards.
func (k *PrivateKey) Zero() {
	if k.x != nil {
		clear(k.x.Bits())
		k.x.SetInt64(0)
	}
	k.ec = nil
}
