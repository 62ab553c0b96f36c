package gvisor

import (
	"testing"

	"gvisor.dev/gvisor/pkg/tcpip/header"

	"github.com/sabre-ipsec/sabre/spd"
)

// TestLinkHeadersOfRebuiltPackets: the child's AddHeader runs on the
// packets the Endpoint builds, so their Ethernet frames go from one host's
// address to the other's with the EtherType of the outer packet.
func TestLinkHeadersOfRebuiltPackets(t *testing.T) {
	n := newNet(t, netConfig{mode: spd.Tunnel, ethernet: true})
	n.wire.capturing.Store(true)
	udpExchange(t, n.a, n.b, false, 100)
	udpExchange(t, n.a, n.b, true, 100)
	macs := map[string]bool{"\x02\x00\x00\x00\x00\x77": true, "\x02\x00\x00\x00\x00\x78": true}
	esp := 0
	for _, f := range n.wire.captured() {
		if len(f.link) != header.EthernetMinimumSize {
			t.Fatalf("frame with a %d-byte link header", len(f.link))
		}
		eth := header.Ethernet(f.link)
		if eth.Type() != f.proto {
			t.Errorf("EtherType %#x on a packet of protocol %#x", eth.Type(), f.proto)
		}
		if f.proto == header.ARPProtocolNumber || summarize([]frame{f}).esp == 0 {
			continue
		}
		esp++
		src, dst := string(eth.SourceAddress()), string(eth.DestinationAddress())
		if !macs[src] || !macs[dst] || src == dst {
			t.Errorf("ESP frame from %x to %x, want between the two hosts", src, dst)
		}
	}
	if esp != 4 {
		t.Errorf("%d ESP frames, want 4 (two exchanges of two datagrams)", esp)
	}
}
