package tun

import (
	"fmt"
	"io"
	"sync/atomic"
)

// Stats are a Device's counters. The engine counts what it drops under
// XE_* reasons (ipsec netstat); these count what happens around it.
type Stats struct {
	TUNRxPackets   atomic.Uint64 // read from the TUN
	TUNRxBytes     atomic.Uint64
	TUNTxPackets   atomic.Uint64 // decapsulated and written to the TUN
	TUNTxBytes     atomic.Uint64
	WireTxPackets  atomic.Uint64 // secured packets sent on a raw or UDP socket
	WireTxBytes    atomic.Uint64
	WireRxPackets  atomic.Uint64 // packets received on the raw and NAT-T sockets
	WireRxBytes    atomic.Uint64
	BypassDropped  atomic.Uint64 // read from the TUN, matched BYPASS: nowhere to send them
	IKERx          atomic.Uint64 // IKE messages handed to the IKE handler
	IKEDropped     atomic.Uint64 // IKE messages dropped for want of a handler
	Unexpected     atomic.Uint64 // received cleartext that Decapsulate let through: no stack to give it to
	ReadErrors     atomic.Uint64 // failed reads (the reader goes on)
	SendErrors     atomic.Uint64 // packets the kernel refused to send
	TUNWriteErrors atomic.Uint64 // failed TUN writes
	TooManySegs    atomic.Uint64 // TUN super-packets with more segments than a batch holds
	TooBig         atomic.Uint64 // inner packets too big for the path once secured (ICMP sent back)
}

// StatsSnapshot is a copy of Stats in plain integers.
type StatsSnapshot struct {
	TUNRxPackets, TUNRxBytes, TUNTxPackets, TUNTxBytes      uint64
	WireTxPackets, WireTxBytes, WireRxPackets, WireRxBytes  uint64
	BypassDropped, IKERx, IKEDropped, Unexpected            uint64
	ReadErrors, SendErrors, TUNWriteErrors, TooManySegments uint64
	TooBig                                                  uint64
}

// Snapshot copies the counters.
func (s *Stats) Snapshot() StatsSnapshot {
	return StatsSnapshot{
		TUNRxPackets: s.TUNRxPackets.Load(), TUNRxBytes: s.TUNRxBytes.Load(),
		TUNTxPackets: s.TUNTxPackets.Load(), TUNTxBytes: s.TUNTxBytes.Load(),
		WireTxPackets: s.WireTxPackets.Load(), WireTxBytes: s.WireTxBytes.Load(),
		WireRxPackets: s.WireRxPackets.Load(), WireRxBytes: s.WireRxBytes.Load(),
		BypassDropped: s.BypassDropped.Load(), IKERx: s.IKERx.Load(), IKEDropped: s.IKEDropped.Load(),
		Unexpected: s.Unexpected.Load(), ReadErrors: s.ReadErrors.Load(), SendErrors: s.SendErrors.Load(),
		TUNWriteErrors: s.TUNWriteErrors.Load(), TooManySegments: s.TooManySegs.Load(),
		TooBig: s.TooBig.Load(),
	}
}

// WriteTo prints the counters, one per line.
func (s StatsSnapshot) WriteTo(w io.Writer) (int64, error) {
	n, err := fmt.Fprintf(w, "tun rx          %d packets %d bytes\n"+
		"tun tx          %d packets %d bytes\n"+
		"wire tx         %d packets %d bytes\n"+
		"wire rx         %d packets %d bytes\n"+
		"bypass dropped  %d\n"+
		"ike rx          %d (dropped without handler %d)\n"+
		"unexpected      %d\n"+
		"read errors     %d\n"+
		"send errors     %d\n"+
		"tun write errors %d\n"+
		"too many segments %d\n"+
		"too big for path %d (ICMP sent)\n",
		s.TUNRxPackets, s.TUNRxBytes, s.TUNTxPackets, s.TUNTxBytes,
		s.WireTxPackets, s.WireTxBytes, s.WireRxPackets, s.WireRxBytes,
		s.BypassDropped, s.IKERx, s.IKEDropped, s.Unexpected,
		s.ReadErrors, s.SendErrors, s.TUNWriteErrors, s.TooManySegments, s.TooBig)
	return int64(n), err
}
