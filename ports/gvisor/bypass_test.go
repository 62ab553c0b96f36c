package gvisor

import (
	"errors"
	"net/netip"
	"testing"

	hdr "github.com/sabre-ipsec/sabre/header"
	"github.com/sabre-ipsec/sabre/ipsec"
	"github.com/sabre-ipsec/sabre/sad"
	"github.com/sabre-ipsec/sabre/spd"
	"github.com/sabre-ipsec/sabre/xe"
)

// TestNeighbourDiscoveryBypass: InstallDefaultBypass lets ICMPv6 types
// 133..137 through in both directions and nothing else.
func TestNeighbourDiscoveryBypass(t *testing.T) {
	db := spd.NewDB()
	if err := InstallDefaultBypass(db); err != nil {
		t.Fatal(err)
	}
	if err := InstallDefaultBypass(db); !errors.Is(err, xe.Exist) {
		t.Errorf("second InstallDefaultBypass: %v, want XE_EXIST", err)
	}
	p := db.ByName(NDBypassName)
	if p == nil || p.Priority != spd.PriorityHighest {
		t.Fatalf("policy %v, want priority 1", p)
	}
	e := ipsec.New(db, sad.NewDB(), ipsec.Config{})
	defer e.Close()
	src, dst := netip.MustParseAddr("fe80::1"), netip.MustParseAddr("ff02::1:ff00:78")
	for typ := 128; typ <= 143; typ++ {
		pkt := make([]byte, hdr.IPv6Len+8)
		hdr.IPv6(pkt).Encode(&hdr.IPv6Fields{PayloadLength: 8, NextHeader: hdr.ProtoICMPv6, HopLimit: 255, Src: src, Dst: dst})
		pkt[hdr.IPv6Len] = byte(typ)
		want := ipsec.Drop
		if typ >= 133 && typ <= 137 {
			want = ipsec.Bypass
		}
		for _, d := range []spd.Direction{spd.Outbound, spd.Inbound} {
			if got, _, err := e.GetPolicy(pkt, d); got != want {
				t.Errorf("ICMPv6 type %d %v: %v (%v), want %v", typ, d, got, err, want)
			}
		}
	}
}

// TestIPv6NeedsNDBypass: without the neighbour discovery bypass an IPv6
// host cannot resolve its peer over Ethernet, and the engine counts the
// neighbour solicitations it drops.
func TestIPv6NeedsNDBypass(t *testing.T) {
	n := newNet(t, netConfig{mode: spd.Transport, ethernet: true, noBypass: true})
	sendUDP(t, n.a, n.b, true, 100)
	waitFor(t, "a dropped neighbour solicitation", func() bool {
		return n.a.ep.Engine().Stats().Dropped(xe.PolicyDrop) > 0
	})
	if got := n.b.ep.Engine().Stats().InBypass.Load(); got != 0 {
		t.Errorf("B let %d packets through, want 0", got)
	}
}
