package sad

import (
	"fmt"
	"net/netip"
)

// EventKind says what happened to an SA. The messaging layer turns these into
// the reference's SA_EXPIRED and SA_DELETED notifications (§3.14).
type EventKind uint8

// Event kinds.
const (
	// SoftExpired: a soft lifetime was reached or the sequence number
	// space was exhausted; the SA is Dying and should be rekeyed.
	SoftExpired EventKind = iota + 1
	// HardExpired: a hard lifetime was reached; the SA has been deleted
	// (no Deleted event follows).
	HardExpired
	// Deleted: the SA was deleted by a DB call (Delete, DeletePolicy,
	// DeleteSPIs, DeleteSA, Flush).
	Deleted
)

// String returns the kind's name.
func (k EventKind) String() string {
	switch k {
	case SoftExpired:
		return "soft-expired"
	case HardExpired:
		return "hard-expired"
	case Deleted:
		return "deleted"
	}
	return fmt.Sprintf("EventKind(%d)", uint8(k))
}

// Event reports a change to an SA to the DB's event handler.
type Event struct {
	Kind      EventKind
	SPI       uint32
	Protocol  Protocol
	Direction Direction
	PolicyID  uint32
	Dst       netip.Addr // the SA's destination: Local if inbound, Remote if outbound
	Reason    string     // e.g. "hard lifetime of 1000 packets reached"
	SA        *SA
}

// String describes the event for a log.
func (e Event) String() string {
	return fmt.Sprintf("%v: %v %v SA SPI %#08x to %v (policy %d): %s",
		e.Kind, e.Protocol, e.Direction, e.SPI, e.Dst, e.PolicyID, e.Reason)
}

func newEvent(k EventKind, sa *SA, reason string) Event {
	return Event{
		Kind:      k,
		SPI:       sa.cfg.SPI,
		Protocol:  sa.cfg.Protocol,
		Direction: sa.cfg.Direction,
		PolicyID:  sa.cfg.PolicyID,
		Dst:       sa.Dst(),
		Reason:    reason,
		SA:        sa,
	}
}
