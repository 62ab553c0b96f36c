package ipsec

import (
	"testing"

	"github.com/sabre-ipsec/sabre/header"
)

// TestOuterIPv4IDNeverZero wraps the outer IPv4 ID counter: raw HDRINCL
// sockets replace an ID of 0 with one of the kernel's (raw(7)), which
// changes the bytes an AH ICV covers over an IPv4 tunnel (RFC 4302 §3.3.3.1.1.1
// treats the ID as immutable).
func TestOuterIPv4IDNeverZero(t *testing.T) {
	c := geometries[0].config(espAlgos[0])
	ha, hb := newPair(t, c)
	ha.e.ipID.Store(0xfffd) // the next IDs are 0xfffe, 0xffff, then the wrap
	seen := map[uint16]bool{}
	for range 5 {
		b := testPacket{src: "10.1.0.5", dst: "10.2.0.9", sport: 1, dport: 2, payloadLen: 10}.build(t)
		if res, err := ha.e.Encapsulate(b); res != SecureTunnel {
			t.Fatal(res, err)
		}
		id := header.IPv4(b.Bytes()).ID()
		if id == 0 {
			t.Fatalf("outer IPv4 ID 0 after %d packets (IDs so far %v)", len(seen), seen)
		}
		seen[id] = true
		if res, err := hb.e.Decapsulate(b); res != SecureTunnel {
			t.Fatal(res, err)
		}
	}
	for _, want := range []uint16{0xfffe, 0xffff, 1, 2, 3} {
		if !seen[want] {
			t.Errorf("ID %#x not used across the wrap; got %v", want, seen)
		}
	}
}
