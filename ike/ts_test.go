package ike

import (
	"net/netip"
	"testing"
)

func ts(proto uint8, from, to string, lo, hi uint16) TrafficSelector {
	return TrafficSelector{Proto: proto, Start: netip.MustParseAddr(from), End: netip.MustParseAddr(to), StartPort: lo, EndPort: hi}
}

func TestNarrow(t *testing.T) {
	// The responder's policy: 10.2.0.0/24 (ours) <-> 10.1.0.0/24 (theirs), TCP only.
	polRemote := ts(6, "10.1.0.0", "10.1.0.255", 0, 65535)
	polLocal := ts(6, "10.2.0.0", "10.2.0.255", 0, 65535)
	tests := []struct {
		name     string
		tsi, tsr []TrafficSelector
		ok       bool
		ni, nr   TrafficSelector
	}{
		{"exact", []TrafficSelector{polRemote}, []TrafficSelector{polLocal}, true, polRemote, polLocal},
		{"initiator asks for more: narrowed",
			[]TrafficSelector{ts(0, "10.0.0.0", "10.255.255.255", 0, 65535)}, []TrafficSelector{ts(0, "0.0.0.0", "255.255.255.255", 0, 65535)},
			true, polRemote, polLocal},
		{"specific packet first",
			[]TrafficSelector{ts(6, "10.1.0.5", "10.1.0.5", 1234, 1234), ts(0, "10.1.0.0", "10.1.0.255", 0, 65535)}, []TrafficSelector{ts(6, "10.2.0.9", "10.2.0.9", 80, 80)},
			true, ts(6, "10.1.0.5", "10.1.0.5", 1234, 1234), ts(6, "10.2.0.9", "10.2.0.9", 80, 80)},
		{"disjoint", []TrafficSelector{ts(0, "10.9.0.0", "10.9.0.255", 0, 65535)}, []TrafficSelector{polLocal}, false, TrafficSelector{}, TrafficSelector{}},
		{"wrong protocol", []TrafficSelector{ts(17, "10.1.0.0", "10.1.0.255", 0, 65535)}, []TrafficSelector{polLocal}, false, TrafficSelector{}, TrafficSelector{}},
		{"IPv6 against IPv4", []TrafficSelector{ts(0, "::", "ffff::", 0, 65535)}, []TrafficSelector{polLocal}, false, TrafficSelector{}, TrafficSelector{}},
	}
	for _, tt := range tests {
		ni, nr, ok := Narrow(tt.tsi, tt.tsr, polRemote, polLocal)
		if ok != tt.ok {
			t.Errorf("%s: ok = %v", tt.name, ok)
			continue
		}
		if ok && (ni[0] != tt.ni || nr[0] != tt.nr) {
			t.Errorf("%s: got %v %v, want %v %v", tt.name, ni[0], nr[0], tt.ni, tt.nr)
		}
		if ok && !Acceptable(tt.tsi, tt.tsr, ni, nr) {
			t.Errorf("%s: narrowed result not acceptable to the initiator", tt.name)
		}
	}
	if Acceptable([]TrafficSelector{polRemote}, []TrafficSelector{polLocal}, []TrafficSelector{ts(0, "10.1.0.0", "10.1.1.255", 0, 65535)}, []TrafficSelector{polLocal}) {
		t.Error("a widened selector was acceptable")
	}
}
