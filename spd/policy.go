// Package spd is the Security Policy Database: policies that say, for
// traffic matching their selectors, whether to bypass IPsec, drop, or
// secure it with ESP and/or AH in transport or tunnel mode (RFC 4301 §4.4.1,
// the reference's chapter 3.6).
//
// Readers never lock: the classification trees are an immutable snapshot
// published with atomic.Pointer, and the indexes by ID and name are pubmap
// tables. Writers serialize on one mutex; a write changes the trees' small
// deltas (classify.Set) and a background compaction rebuilds the trees.
package spd

import (
	"fmt"
	"net/netip"
	"strings"
	"time"

	"github.com/sabre-ipsec/sabre/classify"
	"github.com/sabre-ipsec/sabre/rfc4301"
)

// Action is what a policy does with matching packets.
type Action uint8

// The actions; the zero Action is invalid, so that no policy bypasses or
// drops by omission.
const (
	// Bypass lets packets through without IPsec.
	Bypass Action = iota + 1
	// Drop discards packets.
	Drop
	// Secure protects packets with the SAs of the policy's session.
	Secure
)

// String returns "bypass", "drop" or "secure".
func (a Action) String() string {
	switch a {
	case Bypass:
		return "bypass"
	case Drop:
		return "drop"
	case Secure:
		return "secure"
	}
	return fmt.Sprintf("Action(%d)", uint8(a))
}

// Mode is the IPsec mode of a Secure policy: the one definition in
// rfc4301, shared with sad.
type Mode = rfc4301.Mode

// The modes; the zero Mode is invalid for Secure policies.
const (
	// Transport protects the payload of the host's own packets.
	Transport = rfc4301.Transport
	// Tunnel wraps whole packets in an outer header between the tunnel
	// endpoints.
	Tunnel = rfc4301.Tunnel
)

// Direction says which way a packet travels relative to this host: the
// one definition in rfc4301, shared with sad.
type Direction = rfc4301.Direction

// The directions.
const (
	// Outbound packets are sent or forwarded by this host.
	Outbound = rfc4301.Outbound
	// Inbound packets arrive at this host.
	Inbound = rfc4301.Inbound
)

// Priorities, as the reference's SP_PRIORITY_* values: 1 is the highest.
const (
	PriorityHighest = 1
	PriorityHigh    = 2
	PriorityMedHigh = 3
	PriorityMedium  = 4 // the default (`ipsec policy -l`)
	PriorityMedLow  = 5
	PriorityLow     = 6
	PriorityLowest  = 7
)

var priorityNames = [...]string{
	PriorityHighest: "SP_PRIORITY_HIGHEST",
	PriorityHigh:    "SP_PRIORITY_HIGH",
	PriorityMedHigh: "SP_PRIORITY_MED_HIGH",
	PriorityMedium:  "SP_PRIORITY_MEDIUM",
	PriorityMedLow:  "SP_PRIORITY_MED_LOW",
	PriorityLow:     "SP_PRIORITY_LOW",
	PriorityLowest:  "SP_PRIORITY_LOWEST",
}

// PriorityName returns the reference's name of priority p, such as
// "SP_PRIORITY_MEDIUM" for 4.
func PriorityName(p uint8) string {
	if p >= PriorityHighest && p <= PriorityLowest {
		return priorityNames[p]
	}
	return fmt.Sprintf("SP_PRIORITY(%d)", p)
}

// Defaults applied by Add.
const (
	DefaultPriority     = PriorityMedium
	DefaultReplayWindow = 64
	DefaultLifetime     = 3600 * time.Second // `ipsec policy -k`
)

// Policy is one SPD entry. Policies are immutable once added; change one by
// deleting it and adding its replacement.
//
// Selectors are written from this host's outbound view: Src is the local
// side. Outbound packets match (Src, Dst) as written; inbound packets match
// the mirror image: the packet's source must be in Dst and its destination
// in Src, with ports swapped likewise (for ICMP only the addresses swap:
// the ports hold type and code, see classify.Rule).
type Policy struct {
	// ID identifies the policy. Add assigns one when it is zero: one above
	// the highest ID in use so far, so that assigned IDs follow the order
	// of adding and, among equal priorities, the policy added first wins.
	ID       uint32
	Name     string // unique when set (`ipsec policy -n`)
	Action   Action
	Mode     Mode  // Secure policies only
	Priority uint8 // 1 (highest) .. 7 (lowest); 0 means DefaultPriority
	Proto    uint8 // upper-layer protocol; 0 = any
	Src, Dst classify.Selector
	Flags    Flags
	// TunnelLocal and TunnelRemote are the tunnel endpoints (`-r` is the
	// remote). In transport mode TunnelRemote optionally names the peer.
	TunnelLocal, TunnelRemote netip.Addr
	// RemoteName is the IKE peer that negotiates this policy's SAs (`-g`).
	RemoteName string
	// ESPAlgorithms and AHAlgorithms list, in order of preference and by
	// the reference's names, the algorithms IKE may negotiate:
	// ESPAlgorithms the encryption algorithms (`-e`, "AES128-CBC"),
	// AHAlgorithms the authentication algorithms (`-a`, "HMAC-SHA-1"),
	// which serve as ESP's integrity algorithms as well as AH's.
	ESPAlgorithms, AHAlgorithms []string
	// Lifetime of negotiated SAs (`-k`), their hard lifetime (strongSwan's
	// life_time); 0 means DefaultLifetime.
	Lifetime time.Duration
	// RekeyTime is the soft lifetime of negotiated SAs (`-K`, strongSwan's
	// rekey_time), below Lifetime; 0: none, see RekeyWindow.
	RekeyTime time.Duration
	// ReplayWindow is the anti-replay window in packets, used with
	// FlagCheckReplay; 0 means DefaultReplayWindow.
	ReplayWindow int
}

// RekeyWindow returns when IKE rekeys p's SAs, counted from their
// creation: at a random point in [lo, hi], so that the two ends rarely
// start rekeying one SA at once. With RekeyTime that is its last tenth,
// [0.9 RekeyTime, RekeyTime]; without, 80% to 90% of Lifetime
// (DefaultLifetime if 0).
func (p *Policy) RekeyWindow() (lo, hi time.Duration) {
	if p.RekeyTime > 0 {
		return p.RekeyTime - p.RekeyTime/10, p.RekeyTime
	}
	life := p.Lifetime
	if life <= 0 {
		life = DefaultLifetime
	}
	return life / 10 * 8, life / 10 * 9
}

// Rule returns the classification rule of p in direction d.
func (p *Policy) Rule(d Direction) classify.Rule {
	r := classify.Rule{ID: p.ID, Priority: p.Priority, Proto: p.Proto, Src: p.Src, Dst: p.Dst}
	if d == Inbound {
		r.Src, r.Dst = p.Dst, p.Src
		if p.Proto == classify.ProtoICMP || p.Proto == classify.ProtoICMPv6 {
			// Type and code do not swap with the addresses.
			slo, shi := p.Src.Ports()
			dlo, dhi := p.Dst.Ports()
			r.Src, _ = p.Dst.WithPorts(slo, shi)
			r.Dst, _ = p.Src.WithPorts(dlo, dhi)
		}
	}
	return r
}

// String formats p as one line for logs.
func (p *Policy) String() string {
	var b strings.Builder
	fmt.Fprintf(&b, "policy %d", p.ID)
	if p.Name != "" {
		fmt.Fprintf(&b, " %q", p.Name)
	}
	fmt.Fprintf(&b, " %v", p.Action)
	if p.Action == Secure {
		fmt.Fprintf(&b, " %v", p.Mode)
	}
	fmt.Fprintf(&b, " prio %d proto %d %v -> %v", p.Priority, p.Proto, p.Src, p.Dst)
	if p.TunnelRemote.IsValid() {
		fmt.Fprintf(&b, " remote %v", p.TunnelRemote)
	}
	if p.Flags != 0 {
		fmt.Fprintf(&b, " flags %v", p.Flags)
	}
	return b.String()
}

// sameTraffic reports whether p and q select the same traffic at the same
// priority, which the reference refuses as XE_EXIST.
func (p *Policy) sameTraffic(q *Policy) bool {
	return p.Priority == q.Priority && p.Proto == q.Proto && p.Src == q.Src && p.Dst == q.Dst
}
