package classify

import (
	"net/netip"
	"strconv"
	"strings"

	"github.com/sabre-ipsec/sabre/xe"
)

// ParseSelector parses a traffic selector written as the reference design's
// IPSecAdminAddPolicy writes source and destination identities:
//
//	any                             every IPv4 address
//	any6                            every IPv6 address
//	192.168.10.1                    one address
//	192.168.10.0/255.255.255.0      address and dotted mask
//	192.168.10.0/24                 prefix
//	192.168.10.40-192.168.10.60     inclusive range
//	3ffe:501:ffff::211:11ff:febe:7f61, 3ffe:501:ffff:2::/64, 3ffe::1-3ffe::9
//
// Every form takes a port suffix: ",1500" for one port or ",1000-2000" for
// an inclusive port range; ",0" (and ",0-65535") means any port, as the
// reference's wildcard 0, so the exact port 0 is written ",0-0". The
// reference writes the port of a masked selector before the mask,
// "192.168.10.0,1500/255.255.255.0"; that order is accepted for masks and
// prefix lengths, as is "192.168.10.0/24,1500".
//
// A mask must be contiguous (ones then zeros): a non-contiguous mask such as
// 255.0.255.0 selects a set that is not a range, which the classification
// tree cannot hold, so it is rejected. Host bits under a mask or prefix are
// ignored ("10.1.2.3/8" is 10.0.0.0/8). Addresses with a zone are rejected;
// IPv4-mapped IPv6 addresses stay IPv6. "any" and "any6" are case-insensitive.
//
// Errors carry xe.BadIDType when the text is not a selector at all,
// xe.BadAddrRange for a bad prefix, mask or range and xe.BadPortNumber for a
// bad port.
func ParseSelector(s string) (Selector, error) {
	addrPart, portPart, hasPort := strings.Cut(s, ",")
	if hasPort {
		// "192.168.10.0,1500/255.255.255.0": the mask follows the port.
		if ports, mask, ok := strings.Cut(portPart, "/"); ok {
			if strings.ContainsAny(addrPart, "/-") {
				return Selector{}, xe.Errorf(xe.BadIDType, "classify: selector %q: mask after the port of a prefix or range", s)
			}
			addrPart, portPart = addrPart+"/"+mask, ports
		}
	}
	sel, err := parseAddrs(s, addrPart)
	if err != nil {
		return Selector{}, err
	}
	if hasPort {
		lo, hi, err := parsePorts(s, portPart)
		if err != nil {
			return Selector{}, err
		}
		sel.portLo, sel.portHi = lo, hi
	}
	return sel, nil
}

// parseAddrs parses the address part of selector s.
func parseAddrs(s, a string) (Selector, error) {
	switch {
	case a == "":
		return Selector{}, xe.Errorf(xe.BadIDType, "classify: selector %q: no address", s)
	case strings.EqualFold(a, "any"):
		return AnyIPv4(), nil
	case strings.EqualFold(a, "any6"):
		return AnyIPv6(), nil
	}
	if addr, mask, ok := strings.Cut(a, "/"); ok {
		base, err := parseAddr(s, addr)
		if err != nil {
			return Selector{}, err
		}
		bits, err := parseMask(s, base, mask)
		if err != nil {
			return Selector{}, err
		}
		return SelectorFromPrefix(netip.PrefixFrom(base, bits))
	}
	if from, to, ok := strings.Cut(a, "-"); ok {
		f, err := parseAddr(s, from)
		if err != nil {
			return Selector{}, err
		}
		t, err := parseAddr(s, to)
		if err != nil {
			return Selector{}, err
		}
		if f.Is4() != t.Is4() {
			return Selector{}, xe.Errorf(xe.BadAddrRange, "classify: selector %q: range of mixed address families", s)
		}
		if t.Less(f) {
			return Selector{}, xe.Errorf(xe.BadAddrRange, "classify: selector %q: range start %v above end %v", s, f, t)
		}
		return SelectorFromRange(f, t)
	}
	addr, err := parseAddr(s, a)
	if err != nil {
		return Selector{}, err
	}
	return SelectorFromAddr(addr)
}

// parseAddr parses one address of selector s.
func parseAddr(s, a string) (netip.Addr, error) {
	addr, err := netip.ParseAddr(a)
	if err != nil {
		return netip.Addr{}, xe.Errorf(xe.BadIDType, "classify: selector %q: %q is not an IPv4 or IPv6 address", s, a)
	}
	if addr.Zone() != "" {
		return netip.Addr{}, xe.Errorf(xe.BadIDType, "classify: selector %q: address %q has a zone", s, a)
	}
	return addr, nil
}

// parseMask parses the prefix length or mask after the "/" of selector s
// whose address is base, and returns the prefix length.
func parseMask(s string, base netip.Addr, m string) (int, error) {
	if m == "" {
		return 0, xe.Errorf(xe.BadAddrRange, "classify: selector %q: empty mask", s)
	}
	if isDigits(m) {
		n, err := strconv.Atoi(m)
		if err != nil || n > base.BitLen() {
			return 0, xe.Errorf(xe.BadAddrRange, "classify: selector %q: prefix length %s > %d", s, m, base.BitLen())
		}
		return n, nil
	}
	mask, err := netip.ParseAddr(m)
	if err != nil || mask.Zone() != "" {
		return 0, xe.Errorf(xe.BadAddrRange, "classify: selector %q: mask %q is neither a prefix length nor an address mask", s, m)
	}
	if mask.Is4() != base.Is4() {
		return 0, xe.Errorf(xe.BadAddrRange, "classify: selector %q: mask %v is of another address family than %v", s, mask, base)
	}
	b := mask.AsSlice()
	n := 0
	for n < len(b)*8 && bit(b, n) == 1 {
		n++
	}
	for i := n; i < len(b)*8; i++ {
		if bit(b, i) != 0 {
			return 0, xe.Errorf(xe.BadAddrRange, "classify: selector %q: mask %v is not contiguous", s, mask)
		}
	}
	return n, nil
}

// parsePorts parses the port or port range after the "," of selector s.
func parsePorts(s, p string) (lo, hi uint16, err error) {
	if from, to, ok := strings.Cut(p, "-"); ok {
		if lo, err = parsePort(s, from); err != nil {
			return 0, 0, err
		}
		if hi, err = parsePort(s, to); err != nil {
			return 0, 0, err
		}
		if lo > hi {
			return 0, 0, xe.Errorf(xe.BadPortNumber, "classify: selector %q: port range start %d above end %d", s, lo, hi)
		}
		return lo, hi, nil
	}
	port, err := parsePort(s, p)
	if err != nil {
		return 0, 0, err
	}
	if port == 0 {
		return minPort, maxPort, nil // the reference's wildcard
	}
	return port, port, nil
}

func parsePort(s, p string) (uint16, error) {
	if !isDigits(p) {
		return 0, xe.Errorf(xe.BadPortNumber, "classify: selector %q: port %q is not a decimal number", s, p)
	}
	n, err := strconv.ParseUint(p, 10, 16)
	if err != nil {
		return 0, xe.Errorf(xe.BadPortNumber, "classify: selector %q: port %s > 65535", s, p)
	}
	return uint16(n), nil
}

func isDigits(s string) bool {
	if s == "" {
		return false
	}
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return false
		}
	}
	return true
}
