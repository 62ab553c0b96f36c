package ike

import (
	"testing"
	"time"

	"github.com/sabre-ipsec/sabre/ipsec"
)

// TestForceEncap: `ike remote -U` on either end (the initiator, the
// responder) makes both ends UDP-encapsulate ESP with no NAT between them
// (strongSwan's encap = yes): the faking end counts itself behind a NAT,
// the other sees its peer behind one, the IKE SA floats to port 4500 and
// every Child SA has UDP encapsulation. Without -U, no encapsulation.
func TestForceEncap(t *testing.T) {
	for _, c := range []struct {
		name         string
		suiteA       string
		suiteB       string
		natA, natB   string
		wantEncap    bool
		wantPeerPort uint16
	}{
		{"initiator", fastSuite + " -U", fastSuite, "local", "peer", true, NATTPort},
		{"responder", fastSuite, fastSuite + " -U", "peer", "local", true, NATTPort},
		{"neither", fastSuite, fastSuite, "", "", false, 500},
	} {
		t.Run(c.name, func(t *testing.T) {
			_, a, b := pair(t, c.suiteA, c.suiteB, []string{"AES128-GCM16"})
			sent := handshake(t, a, 10*time.Second)
			if res, err := b.e.Decapsulate(sent); res != ipsec.SecureTunnel {
				t.Fatalf("B: %v %v", res, err)
			}
			sa, sb := a.d.Status(), b.d.Status()
			if len(sa) != 1 || len(sb) != 1 {
				t.Fatalf("IKE SAs: %+v / %+v", sa, sb)
			}
			if sa[0].NAT != c.natA || sb[0].NAT != c.natB {
				t.Errorf("NAT seen by A %q, by B %q; want %q, %q", sa[0].NAT, sb[0].NAT, c.natA, c.natB)
			}
			if sa[0].Peer.Port() != c.wantPeerPort {
				t.Errorf("A talks to B on %v, want port %d", sa[0].Peer, c.wantPeerPort)
			}
			for _, h := range []*testHost{a, b} {
				for _, s := range h.e.SAD().All() {
					if _, encap := s.Encap(); encap != c.wantEncap {
						t.Errorf("%s: SA %v UDP-encapsulated %v, want %v", h.name, s, encap, c.wantEncap)
					}
				}
			}
		})
	}
}
