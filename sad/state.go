package sad

import "fmt"

// State is where an SA is in its life.
type State uint32

// SA states.
const (
	// Larval: an inbound SPI reserved for an SA being negotiated
	// (ReserveSPI); it carries no keys and is never looked up.
	Larval State = iota
	// Mature: usable.
	Mature
	// Dying: a soft lifetime was reached or the sequence number space is
	// exhausted; still usable while a replacement is negotiated.
	Dying
	// Dead: a hard lifetime was reached or the SA was deleted; every
	// packet on it fails with xe.SAExpired.
	Dead
)

// String returns the state's name.
func (s State) String() string {
	switch s {
	case Larval:
		return "larval"
	case Mature:
		return "mature"
	case Dying:
		return "dying"
	case Dead:
		return "dead"
	}
	return fmt.Sprintf("State(%d)", uint32(s))
}

// allowed lists every state transition. Each transition happens once: the
// goroutine whose compare-and-swap wins it raises the event that goes with it.
var allowed = [4][4]bool{
	Larval: {Dead: true},              // reservation filled, released or timed out
	Mature: {Dying: true, Dead: true}, // soft expiry; hard expiry or delete
	Dying:  {Dead: true},              // hard expiry or delete
}

// transition moves s to state to if that is allowed from its current state.
// It reports whether this call made the change.
func (s *SA) transition(to State) bool {
	for {
		from := State(s.state.Load())
		if from > Dead || to > Dead || !allowed[from][to] {
			return false
		}
		if s.state.CompareAndSwap(uint32(from), uint32(to)) {
			return true
		}
	}
}
