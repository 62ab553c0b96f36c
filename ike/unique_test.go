package ike

import (
	"log/slog"
	"net/netip"
	"os"
	"testing"
	"time"
)

// bothInitiate makes a pair whose remotes both initiate (-w -r).
func bothInitiate(t *testing.T) (*network, *testHost, *testHost) {
	n := &network{hosts: map[netip.Addr]*testHost{}}
	psk := writePSK(t, "correct horse battery staple")
	a := newHost(t, n, "a", "192.0.2.1", "10.1.0.0/24", "10.2.0.0/24", "192.0.2.2",
		"-n b -w -u "+fastSuite+" -m PSK -h "+psk+" -r 192.0.2.2 -f ipv4:192.0.2.2 -g ipv4:192.0.2.1", []string{"AES128-GCM16"})
	b := newHost(t, n, "b", "192.0.2.2", "10.2.0.0/24", "10.1.0.0/24", "192.0.2.1",
		"-n a -w -u "+fastSuite+" -m PSK -h "+psk+" -r 192.0.2.1 -f ipv4:192.0.2.1 -g ipv4:192.0.2.2", []string{"AES128-GCM16"})
	return n, a, b
}

// TestSimultaneousInitiationOneIKESA: both peers initiate at once (their
// IKE_SA_INIT requests cross); each ends with the same single IKE SA and
// one Child SA pair, and traffic flows both ways (issue 11: before, one
// side kept a zombie: 2 IKE SAs and 4 ESP SAs).
func TestSimultaneousInitiationOneIKESA(t *testing.T) {
	for i := range 10 {
		n, a, b := bothInitiate(t)
		if os.Getenv("UDBG") != "" {
			a.d.log = slog.New(slog.NewTextHandler(os.Stderr, nil)).With("host", "a")
			b.d.log = slog.New(slog.NewTextHandler(os.Stderr, nil)).With("host", "b")
		}
		n.mu.Lock()
		n.queued = true
		n.mu.Unlock()
		for _, h := range []*testHost{a, b} {
			if err := h.d.Initiate(h.e.SPD().Get(h.policy)); err != nil {
				t.Fatal(err)
			}
		}
		n.drain()
		n.mu.Lock()
		n.queued = false
		n.mu.Unlock()
		// The duplicate's Delete is sent from a goroutine of the daemon's
		// (checkUnique), after the drain: deliver what comes.
		deadline := time.Now().Add(10 * time.Second)
		for {
			n.drain()
			x, cx := ikeSAs(a)
			y, cy := ikeSAs(b)
			if len(x) == 1 && len(y) == 1 && x[0] == y[0] && cx == 1 && cy == 1 &&
				len(a.e.SAD().All()) == 2 && len(b.e.SAD().All()) == 2 {
				break
			}
			if time.Now().After(deadline) {
				t.Fatalf("run %d: A %v (%d Child SAs, %d SAs), B %v (%d, %d)", i, x, cx, len(a.e.SAD().All()), y, cy, len(b.e.SAD().All()))
			}
			time.Sleep(5 * time.Millisecond)
		}
		trafficBothWays(t, a, b)
		a.d.Close()
		b.d.Close()
		if indexed(a)+indexed(b) != 0 {
			t.Fatalf("run %d: the identity index keeps IKE SAs after Close", i)
		}
	}
}
