package ikecrypto

import (
	"errors"

	"github.com/sabre-ipsec/sabre/ike/message"
	"github.com/sabre-ipsec/sabre/xe"
)

// The errors a peer's input can cause. Functions wrap them with detail;
// match them with errors.Is.
var (
	// ErrIntegrity: the ICV of an Encrypted payload, or the AEAD tag, did
	// not verify (RFC 7296 §3.14). The message must be dropped as if it had
	// never been received (§2.21.2).
	ErrIntegrity = errors.New("ikecrypto: integrity check failed")
	// ErrMalformed: an Encrypted payload is too short, not a whole number
	// of cipher blocks, or its Pad Length points outside the plaintext.
	ErrMalformed = errors.New("ikecrypto: malformed Encrypted payload")
	// ErrInvalidKE: a peer's key exchange data is of the wrong length or not
	// an acceptable group element (RFC 7296 §2.12, RFC 6989, RFC 8031 §2);
	// the exchange answers INVALID_SYNTAX or is abandoned.
	ErrInvalidKE = errors.New("ikecrypto: invalid key exchange data")
)

// errUnknownPRF reports a PRF transform this package does not implement.
func errUnknownPRF(id message.PRFID) error {
	return xe.Errorf(xe.UnknownAlgorithm, "ikecrypto: unsupported PRF %v", id)
}
