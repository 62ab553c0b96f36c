package gvisor

import (
	"fmt"
	"testing"

	"github.com/sabre-ipsec/sabre/classify"
	hdr "github.com/sabre-ipsec/sabre/header"
	"github.com/sabre-ipsec/sabre/spd"
)

// TestOuterFragmentation sends UDP datagrams larger than the MTU. The stack
// fragments them; the Endpoint reassembles, encapsulates the datagram
// whole (transport mode cannot protect a fragment) and fragments the outer
// packet to the link's MTU; the peer's engine reassembles the outer
// fragments before decapsulating.
func TestOuterFragmentation(t *testing.T) {
	for _, m := range modes {
		for _, v6 := range []bool{false, true} {
			t.Run(fmt.Sprintf("%s/v6=%v", m.name, v6), func(t *testing.T) {
				n := newNet(t, netConfig{mode: m.mode, ethernet: true})
				n.wire.capturing.Store(true)
				udpExchange(t, n.a, n.b, v6, 4000)
				s := summarize(n.wire.captured())
				if s.other != "" {
					t.Errorf("cleartext on the wire: %s", s.other)
				}
				if s.fragments < 4 || s.largest > 1500 {
					t.Errorf("wire: %d fragments, largest %d bytes; want 3 + 2 fragments of at most 1500", s.fragments, s.largest)
				}
				a, b := n.a.ep.Stats().Snapshot(), n.b.ep.Engine().Stats().Snapshot()
				if a.InnerReassembled != 1 || a.OuterFragmented != 1 || a.OuterFragments != 3 {
					t.Errorf("A: reassembled %d stack datagrams, fragmented %d outer packets into %d; want 1, 1, 3",
						a.InnerReassembled, a.OuterFragmented, a.OuterFragments)
				}
				if b.Reassembled != 1 {
					t.Errorf("B's engine reassembled %d datagrams, want 1", b.Reassembled)
				}
			})
		}
	}
}

// TestOuterDFTooBig: a tunnel whose outer header sets DF cannot be
// fragmented; the Endpoint drops the packet and counts it.
func TestOuterDFTooBig(t *testing.T) {
	n := newNet(t, netConfig{mode: spd.Tunnel, ethernet: true, flags: spd.FlagDFSet})
	udpExchange(t, n.a, n.b, false, 500) // small packets pass
	sendUDP(t, n.a, n.b, false, 3000)
	waitFor(t, "a TooBig drop", func() bool { return n.a.ep.Stats().TooBig.Load() == 1 })
}

// TestBypassFragments: a datagram that bypasses IPsec goes out in
// cleartext fragments and arrives whole.
func TestBypassFragments(t *testing.T) {
	n := newNet(t, netConfig{mode: spd.Transport, ethernet: true})
	for _, h := range []struct {
		h      *host
		peer   *host
		local  uint16
		remote uint16
	}{{n.a, n.b, 4001, 4002}, {n.b, n.a, 4002, 4001}} {
		src, _ := classify.SelectorFromAddr(h.h.addr4)
		dst, _ := classify.SelectorFromAddr(h.peer.addr4)
		src, _ = src.WithPorts(h.local, h.local)
		dst, _ = dst.WithPorts(h.remote, h.remote)
		if _, err := h.h.ep.Engine().SPD().Add(spd.Policy{Action: spd.Bypass, Priority: spd.PriorityHigh, Proto: hdr.ProtoUDP, Src: src, Dst: dst}); err != nil {
			t.Fatal(err)
		}
	}
	n.wire.capturing.Store(true)
	udpExchange(t, n.a, n.b, false, 3000)
	s := summarize(n.wire.captured())
	if s.esp != 0 || s.fragments < 4 {
		t.Errorf("wire: %d ESP packets, %d fragments; want cleartext fragments only", s.esp, s.fragments)
	}
	if got := n.b.ep.Engine().Stats().Reassembled.Load(); got != 1 {
		t.Errorf("B reassembled %d datagrams, want 1", got)
	}
}
