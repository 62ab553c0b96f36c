package gvisor

import (
	"fmt"
	"io"
	"sync/atomic"
)

// Stats are an Endpoint's counters. The engine counts the packets it
// drops under their XE_* reasons (Engine().Stats()); these count what
// happens around it.
type Stats struct {
	OutPackets       atomic.Uint64 // IP packets from the stack given to Encapsulate
	InPackets        atomic.Uint64 // IP packets from the child given to Decapsulate
	OutNonIP         atomic.Uint64 // non-IP packets (ARP) passed down untouched
	InNonIP          atomic.Uint64 // non-IP packets passed up untouched
	InnerFragments   atomic.Uint64 // fragments the stack made, held for reassembly
	InnerReassembled atomic.Uint64 // datagrams reassembled from them before Encapsulate
	InnerFragDropped atomic.Uint64 // stack fragments the reassembler refused
	OuterFragmented  atomic.Uint64 // outer packets split to fit the child's MTU
	OuterFragments   atomic.Uint64 // fragments written for them
	TooBig           atomic.Uint64 // dropped: larger than the child's MTU with DF set
	OutputPackets    atomic.Uint64 // engine-generated packets written (dummy, held)
	NoLinkAddress    atomic.Uint64 // engine-generated packets dropped: no link address known
	LinkWriteErrors  atomic.Uint64 // batches the child refused
	Malformed        atomic.Uint64 // packets to write that could not be parsed or fragmented
}

// StatsSnapshot is a copy of Stats in plain integers.
type StatsSnapshot struct {
	OutNonIP, InNonIP                                  uint64
	InnerFragments, InnerReassembled, InnerFragDropped uint64
	OuterFragmented, OuterFragments, TooBig            uint64
	OutputPackets, NoLinkAddress, LinkWriteErrors      uint64
	Malformed                                          uint64
}

// Snapshot copies the counters.
func (s *Stats) Snapshot() StatsSnapshot {
	return StatsSnapshot{
		OutNonIP: s.OutNonIP.Load(), InNonIP: s.InNonIP.Load(),
		InnerFragments: s.InnerFragments.Load(), InnerReassembled: s.InnerReassembled.Load(),
		InnerFragDropped: s.InnerFragDropped.Load(),
		OuterFragmented:  s.OuterFragmented.Load(), OuterFragments: s.OuterFragments.Load(),
		TooBig:        s.TooBig.Load(),
		OutputPackets: s.OutputPackets.Load(), NoLinkAddress: s.NoLinkAddress.Load(),
		LinkWriteErrors: s.LinkWriteErrors.Load(), Malformed: s.Malformed.Load(),
	}
}

// WriteTo prints the counters, one per line.
func (s StatsSnapshot) WriteTo(w io.Writer) (int64, error) {
	n, err := fmt.Fprintf(w, "non-IP out/in      %d/%d\n"+
		"inner fragments    %d (reassembled %d, dropped %d)\n"+
		"outer fragmented   %d (into %d fragments)\n"+
		"too big (DF)       %d\n"+
		"engine output      %d (no link address %d)\n"+
		"link write errors  %d\n"+
		"unfragmentable     %d\n",
		s.OutNonIP, s.InNonIP,
		s.InnerFragments, s.InnerReassembled, s.InnerFragDropped,
		s.OuterFragmented, s.OuterFragments, s.TooBig,
		s.OutputPackets, s.NoLinkAddress, s.LinkWriteErrors, s.Malformed)
	return int64(n), err
}
