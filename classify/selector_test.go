package classify

import (
	"errors"
	"net/netip"
	"strings"
	"testing"

	"github.com/sabre-ipsec/sabre/xe"
)

func TestParseSelector(t *testing.T) {
	for _, tc := range []struct {
		in       string
		from, to string
		lo, hi   uint16
		canon    string
	}{
		// The examples of IPSecAdminAddPolicy, in its order.
		{"192.168.10.1", "192.168.10.1", "192.168.10.1", 0, 65535, "192.168.10.1"},
		{"192.168.10.0/255.255.255.0", "192.168.10.0", "192.168.10.255", 0, 65535, "192.168.10.0/24"},
		{"192.168.10.0/24", "192.168.10.0", "192.168.10.255", 0, 65535, "192.168.10.0/24"},
		{"192.168.10.40-192.168.10.60", "192.168.10.40", "192.168.10.60", 0, 65535, "192.168.10.40-192.168.10.60"},
		{"192.168.10.1,1500", "192.168.10.1", "192.168.10.1", 1500, 1500, "192.168.10.1,1500"},
		{"192.168.10.0,1500/255.255.255.0", "192.168.10.0", "192.168.10.255", 1500, 1500, "192.168.10.0/24,1500"},
		{"192.168.10.0/24,1500", "192.168.10.0", "192.168.10.255", 1500, 1500, "192.168.10.0/24,1500"},
		{"192.168.10.40-192.168.10.60,1500", "192.168.10.40", "192.168.10.60", 1500, 1500, "192.168.10.40-192.168.10.60,1500"},
		{"3ffe:501:ffff::211:11ff:febe:7f61", "3ffe:501:ffff::211:11ff:febe:7f61", "3ffe:501:ffff::211:11ff:febe:7f61", 0, 65535, "3ffe:501:ffff:0:211:11ff:febe:7f61"}, // RFC 5952 form
		{"fe80::211:11ff:febe:7f61", "fe80::211:11ff:febe:7f61", "fe80::211:11ff:febe:7f61", 0, 65535, "fe80::211:11ff:febe:7f61"},
		{"3ffe:501:ffff:2::/64", "3ffe:501:ffff:2::", "3ffe:501:ffff:2:ffff:ffff:ffff:ffff", 0, 65535, "3ffe:501:ffff:2::/64"},
		{"any", "0.0.0.0", "255.255.255.255", 0, 65535, "any"},
		{"any6", "::", "ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff", 0, 65535, "any6"},

		// Sabre's additions and the edges.
		{"ANY,500", "0.0.0.0", "255.255.255.255", 500, 500, "any,500"},
		{"any6,1000-2000", "::", "ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff", 1000, 2000, "any6,1000-2000"},
		{"10.0.0.0/8,1000-2000", "10.0.0.0", "10.255.255.255", 1000, 2000, "10.0.0.0/8,1000-2000"},
		{"10.0.0.0,1000-2000/8", "10.0.0.0", "10.255.255.255", 1000, 2000, "10.0.0.0/8,1000-2000"},
		{"10.0.0.0,500/16", "10.0.0.0", "10.0.255.255", 500, 500, "10.0.0.0/16,500"},
		{"10.1.2.3/8", "10.0.0.0", "10.255.255.255", 0, 65535, "10.0.0.0/8"},
		{"10.0.0.1,0", "10.0.0.1", "10.0.0.1", 0, 65535, "10.0.0.1"},
		{"10.0.0.1,0-0", "10.0.0.1", "10.0.0.1", 0, 0, "10.0.0.1,0-0"},
		{"10.0.0.1,0-65535", "10.0.0.1", "10.0.0.1", 0, 65535, "10.0.0.1"},
		{"10.0.0.1,65535", "10.0.0.1", "10.0.0.1", 65535, 65535, "10.0.0.1,65535"},
		{"10.0.0.1/32", "10.0.0.1", "10.0.0.1", 0, 65535, "10.0.0.1"},
		{"0.0.0.0/0", "0.0.0.0", "255.255.255.255", 0, 65535, "any"},
		{"0.0.0.0/0.0.0.0", "0.0.0.0", "255.255.255.255", 0, 65535, "any"},
		{"10.0.0.0-10.0.0.255", "10.0.0.0", "10.0.0.255", 0, 65535, "10.0.0.0/24"},
		{"10.0.0.5-10.0.0.5", "10.0.0.5", "10.0.0.5", 0, 65535, "10.0.0.5"},
		{"3ffe::1-3ffe::9,500", "3ffe::1", "3ffe::9", 500, 500, "3ffe::1-3ffe::9,500"},
		{"3ffe::/ffff:ffff::", "3ffe::", "3ffe:0:ffff:ffff:ffff:ffff:ffff:ffff", 0, 65535, "3ffe::/32"},
		{"::ffff:10.0.0.1", "::ffff:10.0.0.1", "::ffff:10.0.0.1", 0, 65535, "::ffff:10.0.0.1"},
	} {
		s, err := ParseSelector(tc.in)
		if err != nil {
			t.Errorf("ParseSelector(%q): %v", tc.in, err)
			continue
		}
		lo, hi := s.Ports()
		if s.From() != netip.MustParseAddr(tc.from) || s.To() != netip.MustParseAddr(tc.to) || lo != tc.lo || hi != tc.hi {
			t.Errorf("ParseSelector(%q) = %v-%v ports %d-%d, want %s-%s ports %d-%d", tc.in, s.From(), s.To(), lo, hi, tc.from, tc.to, tc.lo, tc.hi)
		}
		if got := s.String(); got != tc.canon {
			t.Errorf("ParseSelector(%q).String() = %q, want %q", tc.in, got, tc.canon)
		}
		if again, err := ParseSelector(s.String()); err != nil || again != s {
			t.Errorf("ParseSelector(%q) = %v, %v; want %v", s.String(), again, err, s)
		}
	}
}

func TestParseSelectorErrors(t *testing.T) {
	for _, tc := range []struct {
		in   string
		code xe.Code
		msg  string
	}{
		{"10.0.0.1/33", xe.BadAddrRange, `classify: selector "10.0.0.1/33": prefix length 33 > 32`},
		{"3ffe::/129", xe.BadAddrRange, `prefix length 129 > 128`},
		{"10.0.0.0/255.0.255.0", xe.BadAddrRange, `mask 255.0.255.0 is not contiguous`},
		{"10.0.0.0/0.255.255.255", xe.BadAddrRange, `mask 0.255.255.255 is not contiguous`},
		{"10.0.0.0/ffff::", xe.BadAddrRange, `of another address family`},
		{"10.0.0.0/", xe.BadAddrRange, `empty mask`},
		{"10.0.0.0/x", xe.BadAddrRange, `neither a prefix length nor an address mask`},
		{"10.0.0.9-10.0.0.1", xe.BadAddrRange, `range start 10.0.0.9 above end 10.0.0.1`},
		{"10.0.0.1-3ffe::1", xe.BadAddrRange, `mixed address families`},
		{"10.0.0.300", xe.BadIDType, `"10.0.0.300" is not an IPv4 or IPv6 address`},
		{"", xe.BadIDType, `no address`},
		{",80", xe.BadIDType, `no address`},
		{"host.example", xe.BadIDType, `is not an IPv4 or IPv6 address`},
		{"fe80::1%eth0", xe.BadIDType, `has a zone`},
		{"10.0.0.0/24,500/24", xe.BadIDType, `mask after the port of a prefix or range`},
		{"10.0.0.1,70000", xe.BadPortNumber, `port 70000 > 65535`},
		{"10.0.0.1,", xe.BadPortNumber, `port "" is not a decimal number`},
		{"10.0.0.1,-5", xe.BadPortNumber, `port "" is not a decimal number`},
		{"10.0.0.1,+5", xe.BadPortNumber, `port "+5" is not a decimal number`},
		{"10.0.0.1,0x10", xe.BadPortNumber, `port "0x10" is not a decimal number`},
		{"10.0.0.1,2000-1000", xe.BadPortNumber, `port range start 2000 above end 1000`},
		{"10.0.0.1,80,90", xe.BadPortNumber, `port "80,90" is not a decimal number`},
		{" 10.0.0.1", xe.BadIDType, `is not an IPv4 or IPv6 address`},
	} {
		_, err := ParseSelector(tc.in)
		if !errors.Is(err, tc.code) {
			t.Errorf("ParseSelector(%q) = %v, want %v", tc.in, err, tc.code)
			continue
		}
		if !strings.Contains(err.Error(), tc.msg) {
			t.Errorf("ParseSelector(%q) = %q, want it to say %q", tc.in, err, tc.msg)
		}
	}
}

func TestSelectorContains(t *testing.T) {
	s := MustParseSelector("192.168.10.40-192.168.10.60,1000-2000")
	for _, tc := range []struct {
		addr string
		port uint16
		want bool
	}{
		{"192.168.10.40", 1000, true},
		{"192.168.10.60", 2000, true},
		{"192.168.10.39", 1500, false},
		{"192.168.10.61", 1500, false},
		{"192.168.10.50", 999, false},
		{"192.168.10.50", 2001, false},
		{"::ffff:192.168.10.50", 1500, false}, // IPv6
		{"fe80::1%eth0", 1500, false},
	} {
		if got := s.Contains(netip.MustParseAddr(tc.addr), tc.port); got != tc.want {
			t.Errorf("%v.Contains(%s, %d) = %v", s, tc.addr, tc.port, got)
		}
	}
	var zero Selector
	if zero.IsValid() || zero.ContainsAddr(netip.MustParseAddr("0.0.0.0")) || zero.String() != "invalid" {
		t.Errorf("zero Selector: valid %v, string %q", zero.IsValid(), zero.String())
	}
}

func TestSelectorConstructors(t *testing.T) {
	if _, err := SelectorFromRange(netip.MustParseAddr("10.0.0.2"), netip.MustParseAddr("10.0.0.1")); !errors.Is(err, xe.BadAddrRange) {
		t.Errorf("reversed range: %v", err)
	}
	if _, err := SelectorFromAddr(netip.MustParseAddr("fe80::1%eth0")); !errors.Is(err, xe.BadAddrRange) {
		t.Errorf("zone: %v", err)
	}
	if _, err := SelectorFromPrefix(netip.Prefix{}); !errors.Is(err, xe.BadAddrRange) {
		t.Errorf("invalid prefix: %v", err)
	}
	if _, err := (Selector{}).WithPorts(1, 2); !errors.Is(err, xe.BadParam) {
		t.Errorf("ports on zero selector: %v", err)
	}
	if _, err := AnyIPv4().WithPorts(2, 1); !errors.Is(err, xe.BadPortNumber) {
		t.Errorf("reversed ports: %v", err)
	}
	p, ok := MustParseSelector("10.0.0.0-10.0.1.255").Prefix()
	if !ok || p != netip.MustParsePrefix("10.0.0.0/23") {
		t.Errorf("Prefix() = %v, %v", p, ok)
	}
	if _, ok := MustParseSelector("10.0.0.1-10.0.0.2").Prefix(); ok {
		t.Errorf("10.0.0.1-10.0.0.2 is no prefix")
	}
	if !MustParseSelector("any6").IsAny() || MustParseSelector("any,80").IsAny() {
		t.Errorf("IsAny")
	}
	var s Selector
	if err := s.UnmarshalText([]byte("10.0.0.0/8,22")); err != nil || s.String() != "10.0.0.0/8,22" {
		t.Errorf("UnmarshalText: %v %v", s, err)
	}
	if b, err := s.MarshalText(); err != nil || string(b) != "10.0.0.0/8,22" {
		t.Errorf("MarshalText: %q %v", b, err)
	}
	if _, err := (Selector{}).MarshalText(); err == nil {
		t.Errorf("MarshalText of zero Selector succeeded")
	}
}

// FuzzSelector checks that parsing never panics and that the canonical
// form of every selector parses back to the same selector.
func FuzzSelector(f *testing.F) {
	for _, s := range []string{
		"192.168.10.1", "192.168.10.0/255.255.255.0", "192.168.10.0/24",
		"192.168.10.40-192.168.10.60", "192.168.10.1,1500",
		"192.168.10.0,1500/255.255.255.0", "192.168.10.0/24,1500",
		"192.168.10.40-192.168.10.60,1500", "3ffe:501:ffff::211:11ff:febe:7f61",
		"3ffe:501:ffff:2::/64", "any", "any6", "10.0.0.1,1000-2000", "10.0.0.1,0-0",
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, in string) {
		s, err := ParseSelector(in)
		if err != nil {
			if s != (Selector{}) {
				t.Fatalf("ParseSelector(%q) failed with a selector %v", in, s)
			}
			return
		}
		if !s.IsValid() {
			t.Fatalf("ParseSelector(%q) = invalid selector", in)
		}
		again, err := ParseSelector(s.String())
		if err != nil {
			t.Fatalf("ParseSelector(%q) = %v, but its String %q: %v", in, s, s.String(), err)
		}
		if again != s {
			t.Fatalf("ParseSelector(%q) = %#v; String %q parses to %#v", in, s, s.String(), again)
		}
	})
}
