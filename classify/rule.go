package classify

import (
	"fmt"
	"net/netip"

	"github.com/sabre-ipsec/sabre/xe"
)

// Priorities of a Rule: 1 is the highest, 7 the lowest, as the reference's
// SP_PRIORITY_HIGHEST .. SP_PRIORITY_LOWEST.
const (
	HighestPriority = 1
	LowestPriority  = 7
)

// IP protocol numbers whose "ports" are the ICMP type and code.
const (
	ProtoICMP   = 1
	ProtoICMPv6 = 58
)

// Rule is one classification rule: a packet matches when its source is in
// Src, its destination in Dst (addresses and ports) and its protocol is
// Proto (0 matches every protocol).
//
// Among the rules a packet matches, the one with the numerically lowest
// Priority (1 = highest) wins; among those of equal priority the one with
// the lowest ID wins. The spd package assigns IDs in increasing order, so
// there "added first wins".
//
// For ICMP and ICMPv6 (Proto 1 and 58) the ports of Src hold the ICMP type
// and those of Dst the ICMP code, as in Linux xfrm selectors; see Packet.
type Rule struct {
	ID       uint32
	Priority uint8 // HighestPriority (1) .. LowestPriority (7)
	Proto    uint8 // IP protocol number; 0 = any
	Src, Dst Selector
}

// Validate reports whether r can be classified: valid selectors of one
// family and a priority in 1..7.
func (r *Rule) Validate() error {
	switch {
	case !r.Src.IsValid() || !r.Dst.IsValid():
		return xe.Errorf(xe.BadIDType, "classify: rule %d: missing source or destination selector", r.ID)
	case r.Src.Is4() != r.Dst.Is4():
		return xe.Errorf(xe.BadAddrRange, "classify: rule %d: source %v and destination %v of different address families", r.ID, r.Src, r.Dst)
	case r.Priority < HighestPriority || r.Priority > LowestPriority:
		return xe.Errorf(xe.BadParam, "classify: rule %d: priority %d not in %d..%d", r.ID, r.Priority, HighestPriority, LowestPriority)
	}
	return nil
}

// Match reports whether p matches r. It is the plain definition that the
// classification tree must agree with.
func (r *Rule) Match(p *Packet) bool {
	return (r.Proto == 0 || r.Proto == p.Proto) &&
		r.Src.Contains(p.Src, p.SrcPort) && r.Dst.Contains(p.Dst, p.DstPort)
}

// String formats r for logs and test failures.
func (r Rule) String() string {
	return fmt.Sprintf("rule %d prio %d proto %d %v -> %v", r.ID, r.Priority, r.Proto, r.Src, r.Dst)
}

// Packet is the classification key of one packet, filled by the engine from
// its headers for each lookup.
//
// Src and Dst must be of one family; a zone, if any, is ignored. An
// IPv4-mapped IPv6 address is IPv6 and matches only IPv6 selectors; callers
// holding an IPv4 packet use netip.AddrFrom4 (or SetAddrs with 4-byte
// slices). SrcPort and DstPort are the TCP, UDP, SCTP or UDP-Lite ports; for
// ICMP and ICMPv6 SrcPort is the ICMP type and DstPort the ICMP code (the
// convention of Linux xfrm); for other protocols and for non-first fragments
// both are 0.
type Packet struct {
	Src, Dst         netip.Addr
	Proto            uint8
	SrcPort, DstPort uint16
}

// SetAddrs sets p.Src and p.Dst from the raw address bytes of an IPv4
// (4-byte) or IPv6 (16-byte) header and reports whether both lengths were
// valid and equal.
func (p *Packet) SetAddrs(src, dst []byte) bool {
	if len(src) != len(dst) {
		return false
	}
	s, ok1 := netip.AddrFromSlice(src)
	d, ok2 := netip.AddrFromSlice(dst)
	if !ok1 || !ok2 {
		return false
	}
	p.Src, p.Dst = s, d
	return true
}

// String formats p for logs and test failures.
func (p Packet) String() string {
	return fmt.Sprintf("proto %d %v,%d -> %v,%d", p.Proto, p.Src, p.SrcPort, p.Dst, p.DstPort)
}
