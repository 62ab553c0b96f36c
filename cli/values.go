package cli

import (
	"math"
	"net/netip"
	"strconv"
	"strings"

	"github.com/sabre-ipsec/sabre/classify"
	"github.com/sabre-ipsec/sabre/spd"
	"github.com/sabre-ipsec/sabre/xe"
)

// Parsers of option values shared by the commands. Each error names the
// command, the option and the offending value.

// protoNames are the names -p takes besides a number.
var protoNames = map[string]uint8{
	"any":    0,
	"icmp":   classify.ProtoICMP,
	"tcp":    6,
	"udp":    17,
	"icmp6":  classify.ProtoICMPv6,
	"icmpv6": classify.ProtoICMPv6,
}

// protoName returns the name netstat shows for protocol number p.
func protoName(p uint8) string {
	switch p {
	case 0:
		return "any"
	case classify.ProtoICMP:
		return "icmp"
	case 6:
		return "tcp"
	case 17:
		return "udp"
	case classify.ProtoICMPv6:
		return "icmp6"
	}
	return strconv.Itoa(int(p))
}

// parseProto parses -p: udp, tcp, icmp, icmp6, any or a number 0..255.
func parseProto(cmd, v string) (uint8, error) {
	if p, ok := protoNames[strings.ToLower(v)]; ok {
		return p, nil
	}
	n, err := strconv.ParseUint(v, 10, 8)
	if err != nil {
		return 0, errorf(xe.UnknownIPProtocol, "%s: -p %q: not udp, tcp, icmp, icmp6, any or a protocol number 0..255", cmd, v)
	}
	return uint8(n), nil
}

// parseSelectorOpt parses the selector of option opt (-s or -d).
func parseSelectorOpt(cmd, opt, v string) (classify.Selector, error) {
	s, err := classify.ParseSelector(v)
	if err != nil {
		return s, errorf(xe.CodeOf(err), "%s: %s %q: %s", cmd, opt, v, detail(err))
	}
	return s, nil
}

// detail returns the text of err without its XE_ name and package prefix,
// for messages that name the offending word themselves.
func detail(err error) string {
	msg := err.Error()
	if i := strings.Index(msg, ": "); i > 0 && strings.HasPrefix(msg, "XE_") {
		msg = msg[i+2:]
	}
	for _, pkg := range []string{"classify: ", "suite: ", "spd: ", "sad: "} {
		msg = strings.TrimPrefix(msg, pkg)
	}
	// classify repeats the selector: `selector "x": ...`.
	if strings.HasPrefix(msg, "selector ") {
		if i := strings.Index(msg, ": "); i > 0 {
			msg = msg[i+2:]
		}
	}
	return msg
}

// checkFamilies refuses source and destination selectors of different
// address families.
func checkFamilies(cmd string, src, dst classify.Selector, srcText, dstText string) error {
	if src.Is4() != dst.Is4() {
		return errorf(xe.BadAddrRange, "%s: -s %q and -d %q are of different address families", cmd, srcText, dstText)
	}
	return nil
}

// checkProtoFamily refuses ICMP with IPv6 selectors and ICMPv6 with IPv4.
func checkProtoFamily(cmd string, proto uint8, protoText string, v4 bool) error {
	switch {
	case proto == classify.ProtoICMP && !v4:
		return errorf(xe.UnknownIPProtocol, "%s: -p %q with IPv6 selectors: use icmp6", cmd, protoText)
	case proto == classify.ProtoICMPv6 && v4:
		return errorf(xe.UnknownIPProtocol, "%s: -p %q with IPv4 selectors: use icmp", cmd, protoText)
	}
	return nil
}

// parseAddrOpt parses an IP address option (-r, -L).
func parseAddrOpt(cmd, opt, v string) (netip.Addr, error) {
	a, err := netip.ParseAddr(v)
	if err != nil {
		return a, errorf(xe.BadParam, "%s: %s %q: not an IPv4 or IPv6 address", cmd, opt, v)
	}
	if a.Zone() != "" {
		return a, errorf(xe.BadParam, "%s: %s %q: zones are not supported", cmd, opt, v)
	}
	return a.Unmap(), nil
}

// parsePriority parses -l: 1 (highest) .. 7 (lowest).
func parsePriority(cmd, v string) (uint8, error) {
	n, err := strconv.Atoi(v)
	if err != nil || n < spd.PriorityHighest || n > spd.PriorityLowest {
		return 0, errorf(xe.BadParam, "%s: -l %q: priority must be %d (highest) .. %d (lowest)", cmd, v, spd.PriorityHighest, spd.PriorityLowest)
	}
	return uint8(n), nil
}

// parseMode parses -m: transport or tunnel.
func parseMode(cmd, v string) (spd.Mode, error) {
	switch strings.ToLower(v) {
	case "transport":
		return spd.Transport, nil
	case "tunnel":
		return spd.Tunnel, nil
	}
	return 0, errorf(xe.BadParam, "%s: -m %q: mode must be transport or tunnel", cmd, v)
}

// parseSeconds parses a positive number of seconds (-k).
func parseSeconds(cmd, opt, v string) (int64, error) {
	n, err := strconv.ParseInt(v, 10, 64)
	if err != nil || n <= 0 || n > math.MaxInt32 {
		return 0, errorf(xe.BadParam, "%s: %s %q: want seconds, 1..%d", cmd, opt, v, math.MaxInt32)
	}
	return n, nil
}

// parseWindow parses a replay window size (-R): 0..65536 packets.
func parseWindow(cmd, v string) (int, error) {
	n, err := strconv.Atoi(v)
	if err != nil || n < 0 || n > 1<<16 {
		return 0, errorf(xe.BadParam, "%s: -R %q: replay window must be 0..65536 packets", cmd, v)
	}
	return n, nil
}

// parseName checks a policy name (-n).
func parseName(cmd, v string) (string, error) {
	switch {
	case v == "":
		return "", errorf(xe.BadParam, "%s: -n \"\": empty name", cmd)
	case v == allPolicies:
		return "", errorf(xe.BadParam, "%s: -n %q: the name is reserved for -x", cmd, v)
	case strings.ContainsAny(v, "\"\n"):
		return "", errorf(xe.BadParam, "%s: -n %q: a name cannot contain quotes or newlines", cmd, v)
	}
	return v, nil
}

// parseSPI parses an SPI: decimal, or hex with 0x. 0..255 are reserved
// (RFC 4303 §2.1, RFC 4302 §2.4).
func parseSPI(cmd, opt, v string) (uint32, error) {
	var n uint64
	var err error
	if h, ok := strings.CutPrefix(strings.ToLower(v), "0x"); ok {
		n, err = strconv.ParseUint(h, 16, 32)
	} else {
		n, err = strconv.ParseUint(v, 10, 32)
	}
	if err != nil {
		return 0, errorf(xe.BadParam, "%s: %s %q: an SPI is a 32-bit number, decimal or 0x hex", cmd, opt, v)
	}
	if n <= 255 {
		return 0, errorf(xe.BadParam, "%s: %s %q: SPIs 0..255 are reserved (RFC 4303 §2.1)", cmd, opt, v)
	}
	return uint32(n), nil
}

// parseEncapPorts parses -u: "p" or "p:q", the local and remote UDP ports.
func parseEncapPorts(cmd, v string) (src, dst uint16, err error) {
	a, b, two := strings.Cut(v, ":")
	if !two {
		b = a
	}
	p, err1 := strconv.ParseUint(a, 10, 16)
	q, err2 := strconv.ParseUint(b, 10, 16)
	if err1 != nil || err2 != nil || p == 0 || q == 0 {
		return 0, 0, errorf(xe.BadPortNumber, "%s: -u %q: want a UDP port 1..65535, or local:remote ports", cmd, v)
	}
	return uint16(p), uint16(q), nil
}

// splitList splits a comma-separated list of option opt.
func splitList(cmd, opt, v string) ([]string, error) {
	parts := strings.Split(v, ",")
	for _, p := range parts {
		if strings.TrimSpace(p) == "" {
			return nil, errorf(xe.BadParam, "%s: %s %q: empty name in the list", cmd, opt, v)
		}
	}
	return parts, nil
}
