package ipsec

import (
	"bytes"
	"fmt"
	"testing"

	"github.com/sabre-ipsec/sabre/xe"
)

// TestEncapsulationMismatch sends ESP-in-UDP to an SA without UDP
// encapsulation and plain ESP to a UDP-encapsulated SA: both are dropped
// as XE_ENCAP_MISMATCH before the ICV is checked or the replay window
// moves (Linux counts them as XfrmInStateMismatch), and the SA still
// accepts the packets it was set up for.
func TestEncapsulationMismatch(t *testing.T) {
	for _, g := range []geometry{geometries[0], geometries[1], geometries[4], geometries[5]} {
		for _, sentEncap := range []bool{true, false} {
			t.Run(fmt.Sprintf("%s/sent-udp=%v", g.name, sentEncap), func(t *testing.T) {
				sender := g.config(espAlgos[0])
				sender.encap = sentEncap
				receiver := sender
				receiver.encap = !sentEncap
				// The fixture's keys and SPIs depend on nothing else, so
				// A of one pair talks to B of the other.
				ha, _ := newPair(t, sender)
				ha2, hb := newPair(t, receiver)
				p := testPacket{src: g.inSrc, dst: g.inDr, sport: 1, dport: 2, payloadLen: 40}
				buf := p.build(t)
				if res, err := ha.e.Encapsulate(buf); res != SecureTunnel && res != SecureTransport {
					t.Fatal(res, err)
				}
				expectDrop(t, hb.e, bytes.Clone(buf.Bytes()), xe.EncapMismatch)
				if n := hb.e.Stats().Dropped(xe.EncapMismatch); n != 1 {
					t.Fatalf("XE_ENCAP_MISMATCH counted %d", n)
				}
				// The same sequence number, rightly encapsulated, is still
				// accepted: the mismatch did not touch the replay window.
				buf = p.build(t)
				want, err := ha2.e.Encapsulate(buf)
				if err != nil {
					t.Fatal(err)
				}
				if res, err := hb.e.Decapsulate(buf); res != want {
					t.Fatalf("matching packet after the mismatch: %v, %v", res, err)
				}
			})
		}
	}
}
