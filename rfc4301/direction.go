package rfc4301

import "fmt"

// Direction is which way a packet travels relative to this host, and so
// which packets an SA protects (RFC 4301 §4.4: inbound and outbound SPD
// processing, inbound and outbound SAs). The zero Direction is invalid, so
// that an SA must say.
type Direction uint8

// The directions.
const (
	// Inbound packets arrive at this host.
	Inbound Direction = iota + 1
	// Outbound packets are sent or forwarded by this host.
	Outbound
)

// String returns "inbound" or "outbound".
func (d Direction) String() string {
	switch d {
	case Inbound:
		return "inbound"
	case Outbound:
		return "outbound"
	}
	return fmt.Sprintf("Direction(%d)", uint8(d))
}
