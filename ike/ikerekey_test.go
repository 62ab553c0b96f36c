package ike

import (
	"net/netip"
	"slices"
	"testing"
	"time"

	"github.com/sabre-ipsec/sabre/ipsec"
)

// ikeSAs returns h's IKE SAs as "SPIi_SPIr" strings, sorted, and the
// number of Child SAs on them.
func ikeSAs(h *testHost) ([]string, int) {
	var out []string
	children := 0
	for _, s := range h.d.Status() {
		out = append(out, s.SPIi+"_"+s.SPIr+"_"+s.State)
		children += len(s.Children)
	}
	slices.Sort(out)
	return out, children
}

// agreeOnOneIKESA waits until A and B each hold one established IKE SA, the
// same one, other than every key in not, with one Child SA, and returns it.
func agreeOnOneIKESA(t *testing.T, a, b *testHost, not ...string) string {
	t.Helper()
	var sa string
	defer func() {
		if t.Failed() {
			x, cx := ikeSAs(a)
			y, cy := ikeSAs(b)
			t.Logf("A %v %d, B %v %d", x, cx, y, cy)
		}
	}()
	waitFor(t, "one IKE SA on each side, the same, with the Child SA", func() bool {
		x, cx := ikeSAs(a)
		y, cy := ikeSAs(b)
		if len(x) != 1 || len(y) != 1 || x[0] != y[0] || cx != 1 || cy != 1 || slices.Contains(not, x[0]) {
			return false
		}
		sa = x[0]
		return true
	})
	return sa
}

// trafficBothWays checks that packets go through the Child SAs both ways.
func trafficBothWays(t *testing.T, a, b *testHost) {
	t.Helper()
	for _, dir := range []struct {
		from, to *testHost
		src, dst string
	}{{a, b, "10.1.0.5", "10.2.0.9"}, {b, a, "10.2.0.9", "10.1.0.5"}} {
		out := udpPacket(dir.src, dir.dst, "after the IKE SA rekey")
		if res, err := dir.from.e.Encapsulate(out); res != ipsec.SecureTunnel {
			t.Fatalf("%s: %v %v", dir.from.name, res, err)
		}
		if res, err := dir.to.e.Decapsulate(out); res != ipsec.SecureTunnel {
			t.Fatalf("%s: %v %v", dir.to.name, res, err)
		}
	}
}

// rekeyIKE queues a rekey of h's one IKE SA.
func rekeyIKE(t *testing.T, h *testHost) {
	t.Helper()
	keys := h.d.mgr.All()
	if len(keys) != 1 {
		t.Fatalf("%s has %d IKE SAs", h.name, len(keys))
	}
	sa, err := h.d.mgr.Checkout(keys[0], netip.AddrPort{})
	if err != nil {
		t.Fatal(err)
	}
	h.d.queueIKERekey(sa)
	h.d.checkin(sa)
}

// TestIKERekey (RFC 7296 §2.18): either end rekeys the IKE SA; both end
// with one new IKE SA (new SPIs on both sides), the Child SA moved to it
// and carrying traffic, the old IKE SA deleted; no failure.
func TestIKERekey(t *testing.T) {
	_, a, b := pair(t, fastSuite, fastSuite, []string{"AES128-GCM16"})
	handshake(t, a, 10*time.Second)
	first := agreeOnOneIKESA(t, a, b)
	rekeyIKE(t, a)
	second := agreeOnOneIKESA(t, a, b, first)
	trafficBothWays(t, a, b)
	rekeyIKE(t, b) // the responder rekeys; B becomes the new SA's initiator
	agreeOnOneIKESA(t, a, b, first, second)
	trafficBothWays(t, a, b)
	if f := append(a.failed(), b.failed()...); len(f) != 0 {
		t.Fatalf("failures %+v", f)
	}
	if got := len(a.e.SAD().All()) + len(b.e.SAD().All()); got != 4 {
		t.Fatalf("%d SAs in the SADs, want 4", got)
	}
	for _, h := range []*testHost{a, b} {
		if n := indexed(h); n != 1 {
			t.Fatalf("%s: %d IKE SAs in the identity index, want 1", h.name, n)
		}
	}
}

// indexed returns how many IKE SAs h's identity index holds.
func indexed(h *testHost) int {
	h.d.idMu.Lock()
	defer h.d.idMu.Unlock()
	n := 0
	for _, set := range h.d.byIdentity {
		n += len(set)
	}
	return n
}

// TestSimultaneousIKERekey (RFC 7296 §2.8.2): both ends rekey the IKE SA at
// once, the requests crossing; the new IKE SA made with the lowest nonce is
// deleted by its initiator, the old one by the other's, and both ends keep
// the same single IKE SA with the Child SA.
func TestSimultaneousIKERekey(t *testing.T) {
	for i := range 10 {
		n, a, b := pair(t, fastSuite, fastSuite, []string{"AES128-GCM16"})
		handshake(t, a, 10*time.Second)
		first := agreeOnOneIKESA(t, a, b)
		n.wg.Wait()
		n.mu.Lock()
		n.queued = true
		n.mu.Unlock()
		rekeyIKE(t, a)
		rekeyIKE(t, b)
		n.drain()
		agreeOnOneIKESA(t, a, b, first)
		trafficBothWays(t, a, b)
		if f := append(a.failed(), b.failed()...); len(f) != 0 {
			t.Fatalf("run %d: failures %+v", i, f)
		}
		a.d.Close()
		b.d.Close()
	}
}

// TestIKERekeyAtSoftLifetime: with -l 3s the IKE SA is rekeyed between
// 80% and 90% of it, before the hard limit deletes it, and again.
func TestIKERekeyAtSoftLifetime(t *testing.T) {
	_, a, b := pair(t, fastSuite+" -l 3", fastSuite+" -l 3", []string{"AES128-GCM16"})
	handshake(t, a, 10*time.Second)
	first := agreeOnOneIKESA(t, a, b)
	start := time.Now()
	second := agreeOnOneIKESA(t, a, b, first)
	if d := time.Since(start); d > 2900*time.Millisecond {
		t.Fatalf("rekeyed after %v, past 90%% of -l", d)
	}
	agreeOnOneIKESA(t, a, b, first, second)
	trafficBothWays(t, a, b)
	if f := append(a.failed(), b.failed()...); len(f) != 0 {
		t.Fatalf("failures %+v", f)
	}
}
