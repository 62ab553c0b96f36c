package ike

import (
	"fmt"
	"net/netip"

	"github.com/sabre-ipsec/sabre/classify"
	"github.com/sabre-ipsec/sabre/spd"
)

// TrafficSelector is one IKEv2 traffic selector (RFC 7296 §3.13.1): an
// address range, a port range and an IP protocol (0: any).
type TrafficSelector struct {
	Proto              uint8
	Start, End         netip.Addr
	StartPort, EndPort uint16
}

func (ts TrafficSelector) String() string {
	ports := ""
	if ts.StartPort != 0 || ts.EndPort != 65535 {
		ports = fmt.Sprintf(",%d-%d", ts.StartPort, ts.EndPort)
	}
	return fmt.Sprintf("%v-%v%s proto %d", ts.Start, ts.End, ports, ts.Proto)
}

// Is4 reports whether ts selects IPv4 addresses.
func (ts TrafficSelector) Is4() bool { return ts.Start.Is4() }

// FromSelector returns the traffic selector of a policy selector and
// protocol.
func FromSelector(s classify.Selector, proto uint8) TrafficSelector {
	lo, hi := s.Ports()
	return TrafficSelector{Proto: proto, Start: s.From(), End: s.To(), StartPort: lo, EndPort: hi}
}

// Selector returns ts as a classification selector.
func (ts TrafficSelector) Selector() (classify.Selector, error) {
	s, err := classify.SelectorFromRange(ts.Start, ts.End)
	if err != nil {
		return s, err
	}
	return s.WithPorts(ts.StartPort, ts.EndPort)
}

// PolicySelectors returns policy p's selectors as this host's traffic
// selectors: local (TSi when we initiate) and remote.
func PolicySelectors(p *spd.Policy) (local, remote TrafficSelector) {
	return FromSelector(p.Src, p.Proto), FromSelector(p.Dst, p.Proto)
}

// Intersect returns the traffic both selectors select, and false when they
// share none.
func (ts TrafficSelector) Intersect(o TrafficSelector) (TrafficSelector, bool) {
	if ts.Start.Is4() != o.Start.Is4() {
		return TrafficSelector{}, false
	}
	var r TrafficSelector
	switch {
	case ts.Proto == o.Proto || o.Proto == 0:
		r.Proto = ts.Proto
	case ts.Proto == 0:
		r.Proto = o.Proto
	default:
		return TrafficSelector{}, false
	}
	r.Start, r.End = maxAddr(ts.Start, o.Start), minAddr(ts.End, o.End)
	r.StartPort, r.EndPort = max(ts.StartPort, o.StartPort), min(ts.EndPort, o.EndPort)
	if r.End.Less(r.Start) || r.EndPort < r.StartPort {
		return TrafficSelector{}, false
	}
	return r, true
}

// Contains reports whether ts selects everything o selects.
func (ts TrafficSelector) Contains(o TrafficSelector) bool {
	r, ok := ts.Intersect(o)
	return ok && r == o
}

func maxAddr(a, b netip.Addr) netip.Addr {
	if a.Less(b) {
		return b
	}
	return a
}

func minAddr(a, b netip.Addr) netip.Addr {
	if a.Less(b) {
		return a
	}
	return b
}

// Narrow is the responder's traffic selector narrowing (RFC 7296 §2.9): of
// what the initiator proposed (tsi, tsr: its side first), it accepts the
// part that this host's policy allows, where policyRemote is the policy's
// selector for the initiator's side and policyLocal for ours. It returns
// the narrowed selectors, or false when nothing is left (TS_UNACCEPTABLE).
// Each proposed selector is intersected with the policy's; the results
// that are not empty are returned, in the proposed order.
func Narrow(tsi, tsr []TrafficSelector, policyRemote, policyLocal TrafficSelector) (ni, nr []TrafficSelector, ok bool) {
	for _, ts := range tsi {
		if r, ok := ts.Intersect(policyRemote); ok {
			ni = append(ni, r)
		}
	}
	for _, ts := range tsr {
		if r, ok := ts.Intersect(policyLocal); ok {
			nr = append(nr, r)
		}
	}
	return ni, nr, len(ni) > 0 && len(nr) > 0
}

// Acceptable reports whether the responder's narrowed selectors (ri, rr)
// are within what the initiator proposed (tsi, tsr), as RFC 7296 §2.9
// requires the initiator to check.
func Acceptable(tsi, tsr, ri, rr []TrafficSelector) bool {
	within := func(got, proposed []TrafficSelector) bool {
		if len(got) == 0 {
			return false
		}
		for _, g := range got {
			ok := false
			for _, p := range proposed {
				if p.Contains(g) {
					ok = true
					break
				}
			}
			if !ok {
				return false
			}
		}
		return true
	}
	return within(ri, tsi) && within(rr, tsr)
}
