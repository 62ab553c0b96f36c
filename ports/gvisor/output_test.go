package gvisor

import (
	"testing"
	"time"

	"gvisor.dev/gvisor/pkg/tcpip"

	"github.com/sabre-ipsec/sabre/spd"
)

// TestDummyPacketsLeaveThroughOutput: the engine's dummy packets go to the
// child with the link addresses of the traffic secured before; before any,
// there are none to use and the packet is counted.
func TestDummyPacketsLeaveThroughOutput(t *testing.T) {
	n := newNet(t, netConfig{mode: spd.Tunnel, ethernet: true})
	p := n.a.ep.Engine().SPD().Get(n.a.policy4)
	if err := n.a.ep.Engine().SendDummy(p); err != nil {
		t.Fatal(err)
	}
	if got := n.a.ep.Stats().NoLinkAddress.Load(); got != 1 {
		t.Errorf("dummy before any traffic: NoLinkAddress = %d, want 1", got)
	}
	udpExchange(t, n.a, n.b, false, 100)
	n.wire.capturing.Store(true)
	if err := n.a.ep.Engine().SendDummy(p); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "B to discard a dummy packet", func() bool { return n.b.ep.Engine().Stats().DummyRx.Load() == 1 })
	if s := summarize(n.wire.captured()); s.esp != 1 || s.other != "" {
		t.Errorf("wire: %+v, want one ESP packet", s)
	}
}

// TestHeldPacketsLeaveThroughOutput: a packet whose SAs do not exist yet
// is held by the engine (Pending) and sent through Output when they are
// added.
func TestHeldPacketsLeaveThroughOutput(t *testing.T) {
	for _, m := range modes {
		t.Run(m.name, func(t *testing.T) {
			c := netConfig{mode: m.mode, ethernet: true, holdA4: true}
			n := newNet(t, c)
			lb := tcpip.FullAddress{NIC: nicID, Addr: gaddr(n.b.addr4), Port: 4002}
			cb := listenUDP(t, n.b, lb)
			sendUDP(t, n.a, n.b, false, 300)
			waitFor(t, "the engine to hold the packet", func() bool { return n.a.ep.Engine().Stats().AcquireQueued.Load() == 1 })
			if err := n.a.ep.Engine().AddManualSA(n.a.policy4, manualSA(c, n.a.addr4, n.b.addr4)); err != nil {
				t.Fatal(err)
			}
			buf := make([]byte, 1000)
			cb.SetDeadline(time.Now().Add(10 * time.Second))
			if k, err := cb.Read(buf); err != nil || k != 300 {
				t.Fatalf("B received %d bytes, %v; want the 300 held", k, err)
			}
			if got := n.a.ep.Stats().OutputPackets.Load(); got != 1 {
				t.Errorf("OutputPackets = %d, want 1", got)
			}
		})
	}
}
