package gvisor

import (
	"fmt"
	"sync"
	"testing"

	"github.com/sabre-ipsec/sabre/spd"
)

// TestUDPAndPing exchanges UDP datagrams and ICMP echoes in both modes and
// families.
func TestUDPAndPing(t *testing.T) {
	for _, m := range modes {
		for _, v6 := range []bool{false, true} {
			t.Run(fmt.Sprintf("%s/v6=%v", m.name, v6), func(t *testing.T) {
				n := newNet(t, netConfig{mode: m.mode, ethernet: true})
				udpExchange(t, n.a, n.b, v6, 1000)
				ping(t, n.a, n.b, v6, 56)
				ping(t, n.b, n.a, v6, 1200)
			})
		}
	}
}

// TestPingOnBarePipe pings without Ethernet: the echo reply is written by
// the peer's stack on the very goroutine that is still inside the first
// host's WritePackets, which only works if the Endpoint holds no lock
// while it calls the child or the stack.
func TestPingOnBarePipe(t *testing.T) {
	for _, m := range modes {
		t.Run(m.name, func(t *testing.T) {
			n := newNet(t, netConfig{mode: m.mode})
			ping(t, n.a, n.b, false, 100)
			ping(t, n.a, n.b, true, 100)
			tcpEcho(t, n.a, n.b, false, 64<<10)
		})
	}
}

// TestWireCarriesOnlyESP captures the link while TCP, UDP and ICMP run in
// both families: only ESP, IPv6 neighbour discovery and ARP may cross it.
func TestWireCarriesOnlyESP(t *testing.T) {
	for _, m := range modes {
		t.Run(m.name, func(t *testing.T) {
			n := newNet(t, netConfig{mode: m.mode, ethernet: true})
			n.wire.capturing.Store(true)
			for _, v6 := range []bool{false, true} {
				tcpEcho(t, n.a, n.b, v6, 100<<10)
				udpExchange(t, n.a, n.b, v6, 500)
				ping(t, n.a, n.b, v6, 64)
			}
			s := summarize(n.wire.captured())
			t.Logf("wire: %d ESP, %d ND, %d ARP, largest %d bytes", s.esp, s.nd, s.arp, s.largest)
			if s.other != "" {
				t.Errorf("cleartext on the wire: %s", s.other)
			}
			if s.esp < 100 || s.arp == 0 || s.nd == 0 {
				t.Errorf("want ESP, ARP and neighbour discovery on the wire: %+v", s)
			}
			if s.fragments != 0 {
				t.Errorf("%d fragments on the wire: MTU leaves too little room for ESP", s.fragments)
			}
		})
	}
}

// TestConcurrentStreams runs TCP echoes in both directions and families at
// once, so that WritePackets and DeliverNetworkPacket run concurrently.
func TestConcurrentStreams(t *testing.T) {
	n := newNet(t, netConfig{mode: spd.Tunnel, ethernet: true})
	var wg sync.WaitGroup
	for i, v6 := range []bool{false, true, false, true} {
		wg.Add(1)
		go func() {
			defer wg.Done()
			a, b := n.a, n.b
			if i >= 2 {
				a, b = b, a
			}
			tcpEchoPort(t, a, b, v6, 128<<10, uint16(100+i))
		}()
	}
	wg.Wait()
}
