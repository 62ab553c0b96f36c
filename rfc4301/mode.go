package rfc4301

import "fmt"

// Mode is the IPsec mode of a SECURE policy or an SA (RFC 4301 §4.1). The
// zero Mode is invalid, so that a policy or SA must say.
type Mode uint8

// The modes.
const (
	// Transport protects the payload of the host's own packets.
	Transport Mode = iota + 1
	// Tunnel wraps whole packets in an outer header between the tunnel
	// endpoints.
	Tunnel
)

// String returns "transport" or "tunnel".
func (m Mode) String() string {
	switch m {
	case Transport:
		return "transport"
	case Tunnel:
		return "tunnel"
	}
	return fmt.Sprintf("Mode(%d)", uint8(m))
}
