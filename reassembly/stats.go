package reassembly

import "sync/atomic"

// Stats is a snapshot of a Reassembler's counters.
type Stats struct {
	// FragmentsReceived counts every fragment given to Process, including
	// atomic fragments and fragments that were then rejected.
	FragmentsReceived uint64
	// DatagramsReassembled counts datagrams completed from fragments.
	DatagramsReassembled uint64
	// AtomicFragments counts IPv6 atomic fragments (offset 0, M=0) returned
	// as complete packets (RFC 6946).
	AtomicFragments uint64
	// Duplicates counts exact duplicate fragments that were ignored.
	Duplicates uint64
	// Timeouts counts datagrams dropped because they were not complete in
	// time.
	Timeouts uint64
	// Overlaps counts datagrams dropped because two of their fragments
	// overlapped (RFC 5722).
	Overlaps uint64
	// Evictions counts incomplete datagrams dropped to stay within MaxBytes
	// or MaxDatagrams.
	Evictions uint64
	// Malformed counts fragments rejected for a truncated or inconsistent
	// header, a bad length or offset, or a conflict with other fragments
	// of their datagram other than an overlap.
	Malformed uint64

	// Datagrams is the number of incomplete datagrams held now.
	Datagrams int
	// BytesHeld is the memory charged to them now; it never exceeds
	// Config.MaxBytes.
	BytesHeld int
}

// counters are updated under the Reassembler's mutex but read without it.
type counters struct {
	fragmentsReceived    atomic.Uint64
	datagramsReassembled atomic.Uint64
	atomicFragments      atomic.Uint64
	duplicates           atomic.Uint64
	timeouts             atomic.Uint64
	overlaps             atomic.Uint64
	evictions            atomic.Uint64
	malformed            atomic.Uint64
	datagrams            atomic.Int64
	bytesHeld            atomic.Int64
}

// Stats returns a snapshot of the counters. It does not take the
// Reassembler's lock.
func (r *Reassembler) Stats() Stats {
	c := &r.stats
	return Stats{
		FragmentsReceived:    c.fragmentsReceived.Load(),
		DatagramsReassembled: c.datagramsReassembled.Load(),
		AtomicFragments:      c.atomicFragments.Load(),
		Duplicates:           c.duplicates.Load(),
		Timeouts:             c.timeouts.Load(),
		Overlaps:             c.overlaps.Load(),
		Evictions:            c.evictions.Load(),
		Malformed:            c.malformed.Load(),
		Datagrams:            int(c.datagrams.Load()),
		BytesHeld:            int(c.bytesHeld.Load()),
	}
}
