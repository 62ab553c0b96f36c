package gvisor

import (
	"fmt"
	"testing"

	"github.com/sabre-ipsec/sabre/spd"
)

var modes = []struct {
	name string
	mode spd.Mode
}{{"transport", spd.Transport}, {"tunnel", spd.Tunnel}}

// TestTCPEchoAsyncLink runs the echo over a link whose receive side runs
// on its own goroutines, as a NIC's does.
func TestTCPEchoAsyncLink(t *testing.T) {
	for _, m := range modes {
		t.Run(m.name, func(t *testing.T) {
			n := newNet(t, netConfig{mode: m.mode, ethernet: true, async: true})
			tcpEcho(t, n.a, n.b, false, 200<<10)
			tcpEcho(t, n.a, n.b, true, 200<<10)
		})
	}
}

// TestTCPEcho sends a few hundred KB through a TCP echo server between two
// stacks joined by Ethernet, secured by mirrored manual ESP SAs.
func TestTCPEcho(t *testing.T) {
	for _, m := range modes {
		for _, v6 := range []bool{false, true} {
			t.Run(fmt.Sprintf("%s/v6=%v", m.name, v6), func(t *testing.T) {
				n := newNet(t, netConfig{mode: m.mode, ethernet: true})
				tcpEcho(t, n.a, n.b, v6, 300<<10)
				sa, sb := n.a.ep.Engine().Stats().Snapshot(), n.b.ep.Engine().Stats().Snapshot()
				if sa.OutPackets == 0 || sb.InPackets == 0 || sb.OutPackets == 0 || sa.InPackets == 0 {
					t.Errorf("engines secured nothing: A %+v B %+v", sa, sb)
				}
			})
		}
	}
}
