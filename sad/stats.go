package sad

import (
	"sync/atomic"
	"time"
)

// Counters are an SA's per-packet counters, shown by `ipsec netstat`. Packets
// and Bytes are counted by Account and the replay drops by CheckReplay and
// CommitReplay; the engine adds to the others as it processes packets.
type Counters struct {
	Packets     atomic.Uint64 // packets accounted against the lifetime
	Bytes       atomic.Uint64 // bytes accounted against the lifetime
	ReplayDrops atomic.Uint64 // inbound packets dropped by the replay window
	ICVFailures atomic.Uint64 // inbound packets whose ICV did not verify
	DummyTx     atomic.Uint64 // dummy packets sent (RFC 4303 §2.6)
	DummyRx     atomic.Uint64 // dummy packets received and discarded
	TFCPadded   atomic.Uint64 // packets sent with TFC padding (RFC 4303 §2.4)
	TFCBytes    atomic.Uint64 // TFC padding bytes sent

	lastUsed atomic.Int64 // time of the last Account since timeBase; 0 = never
}

// Stats is a snapshot of an SA's counters and state in plain values.
type Stats struct {
	State       State
	Packets     uint64
	Bytes       uint64
	ReplayDrops uint64
	ICVFailures uint64
	DummyTx     uint64
	DummyRx     uint64
	TFCPadded   uint64
	TFCBytes    uint64
	// Sequence is the last sequence number sent (outbound) or the highest
	// authenticated one received (inbound).
	Sequence uint64
	AddedAt  time.Time // when the SA was added to a DB; zero if never
	LastUsed time.Time // zero if never used
}

// Stats returns a snapshot of the SA's counters. The counters are read one
// by one, so a snapshot taken under traffic is not atomic as a whole.
func (s *SA) Stats() Stats {
	st := Stats{
		State:       s.State(),
		Packets:     s.Counters.Packets.Load(),
		Bytes:       s.Counters.Bytes.Load(),
		ReplayDrops: s.Counters.ReplayDrops.Load(),
		ICVFailures: s.Counters.ICVFailures.Load(),
		DummyTx:     s.Counters.DummyTx.Load(),
		DummyRx:     s.Counters.DummyRx.Load(),
		TFCPadded:   s.Counters.TFCPadded.Load(),
		TFCBytes:    s.Counters.TFCBytes.Load(),
		AddedAt:     s.AddedAt(),
	}
	if s.cfg.Direction == Outbound {
		st.Sequence = s.seq.Load()
	} else if s.replay != nil {
		st.Sequence = s.replay.Highest()
	}
	if d := s.Counters.lastUsed.Load(); d != 0 {
		st.LastUsed = timeBase.Add(time.Duration(d))
	}
	return st
}
