package spd

import (
	"errors"
	"net/netip"
	"strings"
	"testing"
	"time"

	"github.com/sabre-ipsec/sabre/classify"
	"github.com/sabre-ipsec/sabre/xe"
)

// TestValidationErrors checks that Add refuses each inconsistent policy
// with the right code and a message naming the offending value.
func TestValidationErrors(t *testing.T) {
	any4, any6 := classify.AnyIPv4(), classify.AnyIPv6()
	net := classify.MustParseSelector("10.0.0.0/24")
	remote := netip.MustParseAddr("192.0.2.1")
	secure := func(p Policy) Policy {
		p.Action, p.Src, p.Dst = Secure, net, net
		if p.Mode == 0 {
			p.Mode = Tunnel
		}
		if !p.TunnelRemote.IsValid() {
			p.TunnelRemote = remote
		}
		return p
	}
	for _, tt := range []struct {
		name string
		p    Policy
		code xe.Code
		msg  string
	}{
		{"priority 8", Policy{Action: Bypass, Priority: 8, Src: any4, Dst: any4}, xe.BadParam, "priority 8"},
		{"priority 255", Policy{Action: Drop, Priority: 255, Src: any4, Dst: any4}, xe.BadParam, "priority 255"},
		{"no selectors", Policy{Action: Bypass}, xe.BadIDType, "selectors"},
		{"no destination", Policy{Action: Bypass, Src: any4}, xe.BadIDType, "selectors"},
		{"mixed families", Policy{Action: Bypass, Src: any4, Dst: any6}, xe.BadAddrRange, "any and destination any6"},
		{"no action", Policy{Src: any4, Dst: any4}, xe.BadParam, "action"},
		{"action 9", Policy{Action: 9, Src: any4, Dst: any4}, xe.BadParam, "Action(9)"},
		{"reserved name", Policy{Name: AllPoliciesName, Action: Bypass, Src: any4, Dst: any4}, xe.BadParam, `"ALLPOLICIES"`},
		{"control character in name", Policy{Name: "a\nb", Action: Bypass, Src: any4, Dst: any4}, xe.BadParam, `"a\nb"`},
		{"undefined flag", secure(Policy{Flags: 1 << 20}), xe.BadParam, "0x100000"},
		{"negative lifetime", secure(Policy{Lifetime: -time.Second}), xe.BadParam, "-1s"},
		{"negative rekey time", secure(Policy{RekeyTime: -time.Second}), xe.BadParam, "rekey time -1s"},
		{"rekey time at the lifetime", secure(Policy{Lifetime: time.Minute, RekeyTime: time.Minute}), xe.BadParam, "rekey time 1m0s is not below the SA lifetime 1m0s"},
		{"rekey time past the default lifetime", secure(Policy{RekeyTime: 2 * time.Hour}), xe.BadParam, "lifetime 1h0m0s"},
		{"secure without mode", Policy{Action: Secure, Src: net, Dst: net, TunnelRemote: remote}, xe.BadParam, "Mode(0)"},
		{"tunnel without remote", Policy{Action: Secure, Mode: Tunnel, Src: net, Dst: net}, xe.BadParam, "remote endpoint"},
		{"unspecified remote", secure(Policy{TunnelRemote: netip.IPv4Unspecified()}), xe.BadParam, "0.0.0.0"},
		{"multicast remote", secure(Policy{TunnelRemote: netip.MustParseAddr("224.0.0.5")}), xe.BadParam, "224.0.0.5"},
		{"tunnel endpoints of two families", secure(Policy{TunnelLocal: netip.MustParseAddr("::1")}), xe.BadAddrRange, "::1"},
		{"transport peer of another family", secure(Policy{Mode: Transport, TunnelRemote: netip.MustParseAddr("2001:db8::1")}), xe.BadAddrRange, "2001:db8::1"},
		{"dummy packets in transport", secure(Policy{Mode: Transport, Flags: FlagTxDummyPkt}), xe.BadParam, "SP_TX_DUMMY_PKT"},
		{"dummy packets with AH only", secure(Policy{Flags: FlagProtoAH | FlagTxDummyPkt}), xe.BadParam, "SP_TX_DUMMY_PKT"},
		{"TFC padding in transport", secure(Policy{Mode: Transport, Flags: FlagTxTFCPadding}), xe.BadParam, "SP_TX_TFC_PADDING"},
		{"both DF flags", secure(Policy{Flags: FlagDFCopy | FlagDFSet}), xe.BadParam, "SP_DF_COPY and SP_DF_SET"},
		{"replay window too big", secure(Policy{Flags: FlagCheckReplay, ReplayWindow: MaxReplayWindow + 1}), xe.BadParam, "65537"},
		{"negative replay window", secure(Policy{Flags: FlagCheckReplay, ReplayWindow: -1}), xe.BadParam, "-1"},
	} {
		_, err := NewDB().Add(tt.p)
		if !errors.Is(err, tt.code) {
			t.Errorf("%s: err = %v, want %v", tt.name, err, tt.code.Name())
			continue
		}
		if !strings.Contains(err.Error(), tt.msg) {
			t.Errorf("%s: err = %q, want it to name %q", tt.name, err, tt.msg)
		}
	}
}

// TestValidPolicies checks the defaults Add completes and the settings it
// accepts.
func TestValidPolicies(t *testing.T) {
	net4 := classify.MustParseSelector("10.0.0.0/24")
	net6 := classify.MustParseSelector("2001:db8::/64")
	remote4, remote6 := netip.MustParseAddr("192.0.2.1"), netip.MustParseAddr("2001:db8:1::1")
	for _, tt := range []struct {
		name  string
		p     Policy
		check func(*Policy) bool
	}{
		{"bypass gets the default priority", Policy{Action: Bypass, Src: net4, Dst: net4},
			func(p *Policy) bool { return p.Priority == PriorityMedium && p.Flags == 0 }},
		{"secure gets ESP, lifetime and replay window", Policy{Action: Secure, Mode: Transport, Src: net4, Dst: net4, Flags: FlagCheckReplay},
			func(p *Policy) bool {
				return p.Flags == FlagProtoESP|FlagCheckReplay && p.Lifetime == DefaultLifetime && p.ReplayWindow == DefaultReplayWindow
			}},
		{"AH alone stays AH", Policy{Action: Secure, Mode: Transport, Src: net4, Dst: net4, Flags: FlagProtoAH},
			func(p *Policy) bool { return p.Flags == FlagProtoAH }},
		{"a big replay window", Policy{Action: Secure, Mode: Transport, Src: net4, Dst: net4, Flags: FlagCheckReplay, ReplayWindow: 4096},
			func(p *Policy) bool { return p.ReplayWindow == 4096 }},
		{"IPv6 inside an IPv4 tunnel", Policy{Action: Secure, Mode: Tunnel, Src: net6, Dst: net6, TunnelRemote: remote4, Flags: FlagTxDummyPkt | FlagTxTFCPadding | FlagDFSet},
			func(p *Policy) bool { return p.TunnelRemote == remote4 }},
		{"IPv6 transport peer", Policy{Action: Secure, Mode: Transport, Src: net6, Dst: net6, TunnelRemote: remote6, Lifetime: time.Minute},
			func(p *Policy) bool { return p.Lifetime == time.Minute }},
		{"a name with blanks, as the CLI quotes it", Policy{Name: "any bypass", Action: Bypass, Src: net4, Dst: net4},
			func(p *Policy) bool { return p.Name == "any bypass" }},
	} {
		db := NewDB()
		id, err := db.Add(tt.p)
		if err != nil {
			t.Errorf("%s: %v", tt.name, err)
			continue
		}
		if p := db.Get(id); p == nil || !tt.check(p) {
			t.Errorf("%s: got %+v", tt.name, p)
		}
	}
}

// TestRekeyWindow: `-K` rekeys in its last tenth; without it, at 80-90% of
// `-k` (or of the default lifetime).
func TestRekeyWindow(t *testing.T) {
	for _, tt := range []struct {
		life, rekey time.Duration
		lo, hi      time.Duration
	}{
		{0, 0, 2880 * time.Second, 3240 * time.Second},
		{100 * time.Second, 0, 80 * time.Second, 90 * time.Second},
		{100 * time.Second, 50 * time.Second, 45 * time.Second, 50 * time.Second},
		{6 * time.Second, 4 * time.Second, 3600 * time.Millisecond, 4 * time.Second},
	} {
		p := Policy{Lifetime: tt.life, RekeyTime: tt.rekey}
		if lo, hi := p.RekeyWindow(); lo != tt.lo || hi != tt.hi {
			t.Errorf("-k %v -K %v: rekey window [%v, %v], want [%v, %v]", tt.life, tt.rekey, lo, hi, tt.lo, tt.hi)
		}
	}
}

// TestAddCopiesSlices checks that a policy's algorithm lists do not change
// when the caller reuses its slices.
func TestAddCopiesSlices(t *testing.T) {
	db := NewDB()
	esp := []string{"AES128-CBC", "3DES-CBC"}
	id, err := db.Add(Policy{Action: Secure, Mode: Transport, Src: classify.AnyIPv4(), Dst: classify.AnyIPv4(), ESPAlgorithms: esp})
	if err != nil {
		t.Fatal(err)
	}
	esp[0] = "NULL_ENC"
	if got := db.Get(id).ESPAlgorithms[0]; got != "AES128-CBC" {
		t.Fatalf("stored algorithm changed to %q", got)
	}
}

func TestFlags(t *testing.T) {
	for _, tt := range []struct {
		f Flags
		s string
	}{
		{0, "0x0"},
		{FlagProtoESP, "SP_PROTO_ESP"},
		{FlagProtoAH | FlagProtoESP | FlagCheckReplay, "SP_PROTO_AH|SP_PROTO_ESP|SP_CHECK_REPLAY"},
		{AllFlags, "SP_PROTO_AH|SP_PROTO_ESP|SP_CHECK_REPLAY|SP_CHECK_ESP_PAD|SP_FULL_ECN|SP_DF_COPY|SP_DF_SET|SP_KEYNEG_MANUAL|SP_TX_DUMMY_PKT|SP_TX_TFC_PADDING|SP_AUTH_SHA2_ICV_SHORT"},
		{FlagDFSet | 1<<30, "SP_DF_SET|0x40000000"},
	} {
		if got := tt.f.String(); got != tt.s {
			t.Errorf("%#x.String() = %q, want %q", uint32(tt.f), got, tt.s)
		}
		if back, err := ParseFlags(tt.s); err != nil || back != tt.f {
			t.Errorf("ParseFlags(%q) = %v, %v; want %#x", tt.s, back, err, uint32(tt.f))
		}
	}
	if f, err := ParseFlags("proto_esp, sp_check_replay|0x100"); err != nil || f != FlagProtoESP|FlagCheckReplay|FlagTxDummyPkt {
		t.Errorf("ParseFlags of lower-case names: %v, %v", f, err)
	}
	if _, err := ParseFlags("SP_PROTO_ESP|SP_WHATEVER"); !errors.Is(err, xe.BadParam) || !strings.Contains(err.Error(), "SP_WHATEVER") {
		t.Errorf("ParseFlags of an unknown name: %v", err)
	}
	if f, ok := ParseFlag("sp_full_ecn"); !ok || f != FlagFullECN {
		t.Errorf("ParseFlag: %v %v", f, ok)
	}
}

func TestNames(t *testing.T) {
	want := []string{"SP_PRIORITY_HIGHEST", "SP_PRIORITY_HIGH", "SP_PRIORITY_MED_HIGH", "SP_PRIORITY_MEDIUM", "SP_PRIORITY_MED_LOW", "SP_PRIORITY_LOW", "SP_PRIORITY_LOWEST"}
	for i, w := range want {
		if got := PriorityName(uint8(i + 1)); got != w {
			t.Errorf("PriorityName(%d) = %q, want %q", i+1, got, w)
		}
	}
	if DefaultPriority != PriorityMedium || PriorityMedium != 4 {
		t.Errorf("default priority %d", DefaultPriority)
	}
	if PriorityName(0) != "SP_PRIORITY(0)" {
		t.Errorf("PriorityName(0) = %q", PriorityName(0))
	}
	if Bypass.String() != "bypass" || Secure.String() != "secure" || Tunnel.String() != "tunnel" || Inbound.String() != "inbound" {
		t.Errorf("names: %v %v %v %v", Bypass, Secure, Tunnel, Inbound)
	}
}
