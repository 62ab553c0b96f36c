// Package classify matches packets against traffic selectors: it parses the
// reference design's selector strings ("192.168.10.0/24,1500", "any6", ...)
// into Selectors, and builds from a set of Rules an immutable classification
// tree whose Lookup finds the best matching rule for a packet without
// allocating and without locks.
package classify

import (
	"net/netip"
	"strconv"
	"strings"

	"github.com/sabre-ipsec/sabre/xe"
)

// Selector is one side of a traffic selector: an inclusive range of
// addresses of one family and an inclusive range of ports.
//
// Selectors are comparable with ==; two Selectors are equal exactly when
// they select the same addresses and ports. The zero Selector is invalid.
//
// For ICMP and ICMPv6 the "port" of the source selector holds the ICMP type
// and the "port" of the destination selector the ICMP code, as Linux xfrm
// does (see Packet).
type Selector struct {
	from, to       netip.Addr // same family, no zone, from <= to; invalid in the zero Selector
	portLo, portHi uint16
}

// The port range of a selector that matches every port.
const (
	minPort = 0
	maxPort = 65535
)

var (
	v4Min = netip.IPv4Unspecified()
	v4Max = netip.AddrFrom4([4]byte{255, 255, 255, 255})
	v6Min = netip.IPv6Unspecified()
	v6Max = netip.AddrFrom16([16]byte{
		255, 255, 255, 255, 255, 255, 255, 255,
		255, 255, 255, 255, 255, 255, 255, 255,
	})
)

// AnyIPv4 returns the selector "any": every IPv4 address and every port.
func AnyIPv4() Selector { return Selector{from: v4Min, to: v4Max, portHi: maxPort} }

// AnyIPv6 returns the selector "any6": every IPv6 address and every port.
func AnyIPv6() Selector { return Selector{from: v6Min, to: v6Max, portHi: maxPort} }

// SelectorFromAddr returns the selector of the single address a, any port.
// a must be valid and have no zone.
func SelectorFromAddr(a netip.Addr) (Selector, error) {
	return SelectorFromRange(a, a)
}

// SelectorFromPrefix returns the selector of the addresses of p, any port.
// Host bits of p are ignored.
func SelectorFromPrefix(p netip.Prefix) (Selector, error) {
	if !p.IsValid() {
		return Selector{}, xe.Errorf(xe.BadAddrRange, "classify: prefix %v is invalid", p)
	}
	p = p.Masked()
	return SelectorFromRange(p.Addr(), lastAddr(p))
}

// SelectorFromRange returns the selector of the addresses from..to
// (inclusive), any port. Both must be valid, of one family, without zone,
// and from must not be above to.
func SelectorFromRange(from, to netip.Addr) (Selector, error) {
	switch {
	case !from.IsValid() || !to.IsValid():
		return Selector{}, xe.Errorf(xe.BadAddrRange, "classify: range %v-%v: invalid address", from, to)
	case from.Is4() != to.Is4():
		return Selector{}, xe.Errorf(xe.BadAddrRange, "classify: range %v-%v: mixed address families", from, to)
	case from.Zone() != "" || to.Zone() != "":
		return Selector{}, xe.Errorf(xe.BadAddrRange, "classify: range %v-%v: zones are not allowed in selectors", from, to)
	case to.Less(from):
		return Selector{}, xe.Errorf(xe.BadAddrRange, "classify: range %v-%v: start above end", from, to)
	}
	return Selector{from: from, to: to, portHi: maxPort}, nil
}

// MustParseSelector is ParseSelector for constants in code and tests: it
// panics if s does not parse.
func MustParseSelector(s string) Selector {
	sel, err := ParseSelector(s)
	if err != nil {
		panic(err)
	}
	return sel
}

// WithPorts returns s restricted to the ports lo..hi (inclusive). lo=0,
// hi=65535 means any port.
func (s Selector) WithPorts(lo, hi uint16) (Selector, error) {
	if !s.IsValid() {
		return Selector{}, xe.Errorf(xe.BadParam, "classify: ports %d-%d on an invalid selector", lo, hi)
	}
	if lo > hi {
		return Selector{}, xe.Errorf(xe.BadPortNumber, "classify: selector %v: port range %d-%d: start above end", s, lo, hi)
	}
	s.portLo, s.portHi = lo, hi
	return s, nil
}

// IsValid reports whether s is a selector, not the zero Selector.
func (s Selector) IsValid() bool { return s.from.IsValid() }

// Is4 reports whether s selects IPv4 addresses.
func (s Selector) Is4() bool { return s.from.Is4() }

// Is6 reports whether s selects IPv6 addresses (IPv4-mapped IPv6 addresses
// such as ::ffff:10.0.0.1 are IPv6 addresses).
func (s Selector) Is6() bool { return s.from.Is6() }

// From returns the first address of s.
func (s Selector) From() netip.Addr { return s.from }

// To returns the last address of s.
func (s Selector) To() netip.Addr { return s.to }

// Ports returns the port range of s; 0 and 65535 when s matches any port.
func (s Selector) Ports() (lo, hi uint16) { return s.portLo, s.portHi }

// AnyPort reports whether s matches every port.
func (s Selector) AnyPort() bool { return s.portLo == minPort && s.portHi == maxPort }

// IsAny reports whether s is "any" or "any6": every address of its family
// and every port.
func (s Selector) IsAny() bool { return s.IsValid() && s.anyAddr() && s.AnyPort() }

func (s Selector) anyAddr() bool {
	if s.from.Is4() {
		return s.from == v4Min && s.to == v4Max
	}
	return s.from == v6Min && s.to == v6Max
}

// Prefix returns the prefix whose addresses are exactly those of s, and
// false when the address range of s is not a prefix.
func (s Selector) Prefix() (netip.Prefix, bool) {
	if !s.IsValid() {
		return netip.Prefix{}, false
	}
	bits := s.from.BitLen()
	f, t := s.from.AsSlice(), s.to.AsSlice()
	// The range is a prefix when from and to share a prefix and from has
	// only zeros and to only ones after it.
	n := 0
	for n < bits && bit(f, n) == bit(t, n) {
		n++
	}
	for i := n; i < bits; i++ {
		if bit(f, i) != 0 || bit(t, i) != 1 {
			return netip.Prefix{}, false
		}
	}
	return netip.PrefixFrom(s.from, n), true
}

func bit(b []byte, i int) byte { return b[i/8] >> (7 - i%8) & 1 }

// ContainsAddr reports whether a is one of the addresses of s.
func (s Selector) ContainsAddr(a netip.Addr) bool {
	return s.IsValid() && a.Is4() == s.from.Is4() && a.Zone() == "" &&
		s.from.Compare(a) <= 0 && a.Compare(s.to) <= 0
}

// Contains reports whether s contains the address a and port.
func (s Selector) Contains(a netip.Addr, port uint16) bool {
	return s.ContainsAddr(a) && s.portLo <= port && port <= s.portHi
}

// String returns the canonical form of s, which ParseSelector turns back
// into s: "any" or "any6" for a whole family, a single address, a prefix
// "a/n" (never a dotted mask), or a range "a-b"; then ",port" for one port
// or ",lo-hi" for a port range, nothing for any port. The exact port 0 is
// written ",0-0" because ",0" means any port.
func (s Selector) String() string {
	if !s.IsValid() {
		return "invalid"
	}
	var b strings.Builder
	switch p, isPrefix := s.Prefix(); {
	case s.anyAddr() && s.from.Is4():
		b.WriteString("any")
	case s.anyAddr():
		b.WriteString("any6")
	case s.from == s.to:
		b.WriteString(s.from.String())
	case isPrefix:
		b.WriteString(p.String())
	default:
		b.WriteString(s.from.String())
		b.WriteByte('-')
		b.WriteString(s.to.String())
	}
	switch {
	case s.AnyPort():
	case s.portLo == s.portHi && s.portLo != 0:
		b.WriteByte(',')
		b.WriteString(strconv.Itoa(int(s.portLo)))
	default:
		b.WriteByte(',')
		b.WriteString(strconv.Itoa(int(s.portLo)))
		b.WriteByte('-')
		b.WriteString(strconv.Itoa(int(s.portHi)))
	}
	return b.String()
}

// MarshalText implements encoding.TextMarshaler with the canonical form.
func (s Selector) MarshalText() ([]byte, error) {
	if !s.IsValid() {
		return nil, xe.Errorf(xe.BadParam, "classify: marshal of the zero Selector")
	}
	return []byte(s.String()), nil
}

// UnmarshalText implements encoding.TextUnmarshaler with ParseSelector.
func (s *Selector) UnmarshalText(text []byte) error {
	sel, err := ParseSelector(string(text))
	if err != nil {
		return err
	}
	*s = sel
	return nil
}

// lastAddr returns the last address of the masked prefix p.
func lastAddr(p netip.Prefix) netip.Addr {
	b := p.Addr().AsSlice()
	for i := p.Bits(); i < len(b)*8; i++ {
		b[i/8] |= 1 << (7 - i%8)
	}
	a, _ := netip.AddrFromSlice(b)
	return a
}
