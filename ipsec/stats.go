package ipsec

import (
	"sync/atomic"

	"github.com/sabre-ipsec/sabre/pktbuf"
	"github.com/sabre-ipsec/sabre/xe"
)

// Stats are the engine's counters. Every dropped packet increments exactly
// one Drops entry, named by its XE_* reason.
type Stats struct {
	OutPackets       atomic.Uint64 // secured and sent
	OutBytes         atomic.Uint64
	InPackets        atomic.Uint64 // decapsulated and accepted
	InBytes          atomic.Uint64
	OutBypass        atomic.Uint64
	InBypass         atomic.Uint64
	DummyTx          atomic.Uint64 // dummy packets generated (RFC 4303 §2.6)
	DummyRx          atomic.Uint64 // dummy packets received and discarded
	TFCPadded        atomic.Uint64 // packets that carried TFC padding
	TFCBytes         atomic.Uint64
	NATKeepalives    atomic.Uint64 // RFC 3948 keepalives received
	Fragments        atomic.Uint64 // outer fragments handed to the reassembler
	Reassembled      atomic.Uint64
	AcquireRequested atomic.Uint64 // ACQUIREs raised
	AcquireQueued    atomic.Uint64 // packets held while SAs were negotiated
	EventsDropped    atomic.Uint64 // messaging events lost (only ACQUIREs to a slow application, or unwritable)
	Drops            [xe.NumCodes]atomic.Uint64
}

// StatsSnapshot is a copy of Stats in plain integers.
type StatsSnapshot struct {
	OutPackets, OutBytes, InPackets, InBytes uint64
	OutBypass, InBypass                      uint64
	DummyTx, DummyRx, TFCPadded, TFCBytes    uint64
	NATKeepalives, Fragments, Reassembled    uint64
	AcquireRequested, AcquireQueued          uint64
	EventsDropped                            uint64
	// Drops maps each XE_* name with a non-zero count to the count.
	Drops map[string]uint64
}

// Snapshot copies the counters.
func (s *Stats) Snapshot() StatsSnapshot {
	ss := StatsSnapshot{
		OutPackets: s.OutPackets.Load(), OutBytes: s.OutBytes.Load(),
		InPackets: s.InPackets.Load(), InBytes: s.InBytes.Load(),
		OutBypass: s.OutBypass.Load(), InBypass: s.InBypass.Load(),
		DummyTx: s.DummyTx.Load(), DummyRx: s.DummyRx.Load(),
		TFCPadded: s.TFCPadded.Load(), TFCBytes: s.TFCBytes.Load(),
		NATKeepalives: s.NATKeepalives.Load(), Fragments: s.Fragments.Load(),
		Reassembled: s.Reassembled.Load(), AcquireRequested: s.AcquireRequested.Load(),
		AcquireQueued: s.AcquireQueued.Load(), EventsDropped: s.EventsDropped.Load(),
		Drops: map[string]uint64{},
	}
	for c := range s.Drops {
		if n := s.Drops[c].Load(); n != 0 {
			ss.Drops[xe.Code(c).Name()] = n
		}
	}
	return ss
}

// Dropped returns how many packets were dropped for reason c.
func (s *Stats) Dropped(c xe.Code) uint64 { return s.Drops[c].Load() }

// drop counts a dropped packet under err's code and returns err.
func (s *Stats) drop(err error) error {
	s.Drops[xe.CodeOf(err)].Add(1)
	return err
}

// The packet path records why it drops a packet in the packet's
// b.Reason and returns &b.Reason, which allocates nothing. An error that
// may be &b.Reason is only compared with nil on the way up, never passed to
// a function that calls its methods (xe.CodeOf, stats.drop): that would
// make every caller's buffer escape to the heap.

// dropf records why the packet in b is dropped, counts it, and returns
// b.Reason as the error.
func (e *Engine) dropf(b *pktbuf.Buffer, c xe.Code, format string, args ...xe.Arg) error {
	b.Reason.Set(c, format, args...)
	return e.dropped(b)
}

// dropped counts the drop already recorded in b.Reason and returns it.
func (e *Engine) dropped(b *pktbuf.Buffer) error {
	e.stats.Drops[b.Reason.Code].Add(1)
	return &b.Reason
}

// dropErr records err, made elsewhere (never b.Reason itself), as the
// reason the packet in b is dropped, counts it and returns b.Reason.
func (e *Engine) dropErr(b *pktbuf.Buffer, err error) error {
	b.Reason.Wrap(err)
	return e.dropped(b)
}
