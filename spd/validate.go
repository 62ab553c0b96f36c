package spd

import (
	"cmp"
	"slices"
	"strings"

	"github.com/sabre-ipsec/sabre/xe"
)

// AllPoliciesName is what "ipsec policy -x" takes for "every policy"; no
// policy may be named so.
const AllPoliciesName = "ALLPOLICIES"

// MaxReplayWindow is the largest anti-replay window, in packets.
const MaxReplayWindow = 1 << 16

func isControl(r rune) bool { return r < ' ' || r == 0x7f }

// normalize fills p's defaults and checks that it is complete and
// consistent.
func normalize(p *Policy) error {
	if p.Priority == 0 {
		p.Priority = DefaultPriority
	}
	if p.Priority < PriorityHighest || p.Priority > PriorityLowest {
		return xe.Errorf(xe.BadParam, "spd: priority %d not in %d (highest)..%d (lowest)", p.Priority, PriorityHighest, PriorityLowest)
	}
	if p.Name == AllPoliciesName || strings.ContainsFunc(p.Name, isControl) {
		return xe.Errorf(xe.BadParam, "spd: policy name %q is reserved or has control characters", p.Name)
	}
	if !p.Src.IsValid() || !p.Dst.IsValid() {
		return xe.Errorf(xe.BadIDType, "spd: policy needs source and destination selectors")
	}
	if p.Src.Is4() != p.Dst.Is4() {
		return xe.Errorf(xe.BadAddrRange, "spd: source %v and destination %v are of different address families", p.Src, p.Dst)
	}
	if undefined := p.Flags &^ AllFlags; undefined != 0 {
		return xe.Errorf(xe.BadParam, "spd: undefined flags %#x", uint32(undefined))
	}
	if p.Lifetime < 0 {
		return xe.Errorf(xe.BadParam, "spd: negative SA lifetime %v", p.Lifetime)
	}
	if p.RekeyTime < 0 {
		return xe.Errorf(xe.BadParam, "spd: negative SA rekey time %v", p.RekeyTime)
	}
	if life := cmp.Or(p.Lifetime, DefaultLifetime); p.RekeyTime >= life {
		return xe.Errorf(xe.BadParam, "spd: SA rekey time %v is not below the SA lifetime %v", p.RekeyTime, life)
	}
	// The caller keeps its slices; the DB's copy must not change under it.
	p.ESPAlgorithms = slices.Clone(p.ESPAlgorithms)
	p.AHAlgorithms = slices.Clone(p.AHAlgorithms)
	switch p.Action {
	case Bypass, Drop:
		return nil
	case Secure:
	default:
		return xe.Errorf(xe.BadParam, "spd: action %v is not bypass, drop or secure", p.Action)
	}
	// A Secure policy that names neither protocol uses ESP, the protocol
	// RFC 4301 requires and RFC 8221 recommends.
	if p.Flags&(FlagProtoAH|FlagProtoESP) == 0 {
		p.Flags |= FlagProtoESP
	}
	if p.Flags&FlagDFCopy != 0 && p.Flags&FlagDFSet != 0 {
		return xe.Errorf(xe.BadParam, "spd: SP_DF_COPY and SP_DF_SET exclude each other")
	}
	if r := p.TunnelRemote; r.IsValid() && (r.IsUnspecified() || r.IsMulticast()) {
		return xe.Errorf(xe.BadParam, "spd: remote endpoint %v is not a unicast address", r)
	}
	switch p.Mode {
	case Transport:
		if r := p.TunnelRemote; r.IsValid() && r.Is4() != p.Dst.Is4() {
			return xe.Errorf(xe.BadAddrRange, "spd: transport-mode peer %v is of another address family than destination %v", r, p.Dst)
		}
		if p.Flags&FlagTxDummyPkt != 0 {
			return xe.Errorf(xe.BadParam, "spd: dummy packets (SP_TX_DUMMY_PKT) need ESP in tunnel mode")
		}
		if p.Flags&FlagTxTFCPadding != 0 {
			return xe.Errorf(xe.BadParam, "spd: TFC padding (SP_TX_TFC_PADDING) is supported in tunnel mode only")
		}
	case Tunnel:
		if !p.TunnelRemote.IsValid() {
			return xe.Errorf(xe.BadParam, "spd: tunnel mode needs a remote endpoint")
		}
		if p.TunnelLocal.IsValid() && p.TunnelLocal.Is4() != p.TunnelRemote.Is4() {
			return xe.Errorf(xe.BadAddrRange, "spd: tunnel endpoints %v and %v are of different address families", p.TunnelLocal, p.TunnelRemote)
		}
		if p.Flags&FlagTxDummyPkt != 0 && p.Flags&FlagProtoESP == 0 {
			return xe.Errorf(xe.BadParam, "spd: dummy packets (SP_TX_DUMMY_PKT) need ESP")
		}
	default:
		return xe.Errorf(xe.BadParam, "spd: secure policy needs transport or tunnel mode, not %v", p.Mode)
	}
	if p.ReplayWindow == 0 {
		p.ReplayWindow = DefaultReplayWindow
	}
	if p.ReplayWindow < 0 || p.ReplayWindow > MaxReplayWindow {
		return xe.Errorf(xe.BadParam, "spd: replay window %d not in 1..%d", p.ReplayWindow, MaxReplayWindow)
	}
	if p.Lifetime == 0 {
		p.Lifetime = DefaultLifetime
	}
	return nil
}
