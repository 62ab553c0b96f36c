package ikecrypto

import "fmt"

// PRFID is an IKEv2 Transform Type 2 (pseudorandom function) ID
// (RFC 7296 §3.3.2, IANA "Transform Type 2 - Pseudorandom Function
// Transform IDs").
type PRFID uint16

// Pseudorandom function transform IDs.
const (
	PRFHMACMD5     PRFID = 1 // RFC 2104; not implemented
	PRFHMACSHA1    PRFID = 2 // RFC 2104
	PRFAES128XCBC  PRFID = 4 // RFC 4434
	PRFHMACSHA2256 PRFID = 5 // RFC 4868
	PRFHMACSHA2384 PRFID = 6 // RFC 4868
	PRFHMACSHA2512 PRFID = 7 // RFC 4868
	PRFAES128CMAC  PRFID = 8 // RFC 4615
)

// String returns the IANA name of id, such as "PRF_HMAC_SHA2_256".
func (id PRFID) String() string {
	switch id {
	case PRFHMACMD5:
		return "PRF_HMAC_MD5"
	case PRFHMACSHA1:
		return "PRF_HMAC_SHA1"
	case PRFAES128XCBC:
		return "PRF_AES128_XCBC"
	case PRFHMACSHA2256:
		return "PRF_HMAC_SHA2_256"
	case PRFHMACSHA2384:
		return "PRF_HMAC_SHA2_384"
	case PRFHMACSHA2512:
		return "PRF_HMAC_SHA2_512"
	case PRFAES128CMAC:
		return "PRF_AES128_CMAC"
	}
	return fmt.Sprintf("PRF_%d", uint16(id))
}

// GroupID is an IKEv2 Transform Type 4 (key exchange method, formerly
// Diffie-Hellman group) ID (RFC 7296 §3.3.2, IANA "Transform Type 4").
type GroupID uint16

// Key exchange method transform IDs.
const (
	MODP1024   GroupID = 2  // RFC 7296 App. B.2; only with AllowWeakMODP
	MODP1536   GroupID = 5  // RFC 3526 §2; only with AllowWeakMODP
	MODP2048   GroupID = 14 // RFC 3526 §3
	MODP3072   GroupID = 15 // RFC 3526 §4
	MODP4096   GroupID = 16 // RFC 3526 §5
	ECP256     GroupID = 19 // RFC 5903 §3.1 (NIST P-256)
	ECP384     GroupID = 20 // RFC 5903 §3.2 (NIST P-384)
	ECP521     GroupID = 21 // RFC 5903 §3.3 (NIST P-521)
	Curve25519 GroupID = 31 // RFC 8031
)

// String returns the IANA description of id, such as "2048-bit MODP Group".
func (id GroupID) String() string {
	switch id {
	case MODP1024:
		return "1024-bit MODP Group"
	case MODP1536:
		return "1536-bit MODP Group"
	case MODP2048:
		return "2048-bit MODP Group"
	case MODP3072:
		return "3072-bit MODP Group"
	case MODP4096:
		return "4096-bit MODP Group"
	case ECP256:
		return "256-bit random ECP group"
	case ECP384:
		return "384-bit random ECP group"
	case ECP521:
		return "521-bit random ECP group"
	case Curve25519:
		return "Curve25519"
	}
	return fmt.Sprintf("group %d", uint16(id))
}
