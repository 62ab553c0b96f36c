package ike

import (
	"bytes"
	"log/slog"
	"math/rand/v2"
	"net/netip"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/sabre-ipsec/sabre/ipsec"
	"github.com/sabre-ipsec/sabre/ipsec/messaging"
	"github.com/sabre-ipsec/sabre/pktbuf"
	"github.com/sabre-ipsec/sabre/sad"
)

const fastSuite = "-e AES128-GCM16 -p PRFSHA256 -d CURVE25519 -i 20ms"

// handshake sends one packet from A and waits until it leaves on new SAs.
func handshake(t testing.TB, a *testHost, timeout time.Duration) *pktbuf.Buffer {
	t.Helper()
	res, err := a.e.Encapsulate(udpPacket("10.1.0.5", "10.2.0.9", "ping"))
	if res != ipsec.Pending {
		t.Fatalf("first packet: %v %v", res, err)
	}
	select {
	case b := <-a.out:
		return b
	case <-time.After(timeout):
		t.Fatalf("no SA after %v: %+v", timeout, a.d.Status())
	}
	return nil
}

func TestHandshakeUnderLoss(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	var dropped atomic.Int64
	for i := range 20 {
		n, a, b := pair(t, fastSuite, fastSuite, []string{"AES128-GCM16"})
		n.filter = func(m []byte, _, _ netip.AddrPort) [][]byte {
			n.mu.Lock()
			defer n.mu.Unlock()
			if rng.IntN(10) < 3 {
				dropped.Add(1)
				return nil
			}
			return [][]byte{m}
		}
		sent := handshake(t, a, 20*time.Second)
		if res, err := b.e.Decapsulate(sent); res != ipsec.SecureTunnel {
			t.Fatalf("handshake %d: B decapsulates %v %v", i, res, err)
		}
		a.d.Close()
		b.d.Close()
		n.wg.Wait()
	}
	if dropped.Load() == 0 {
		t.Fatal("the filter dropped nothing")
	}
	t.Logf("%d messages dropped over 20 handshakes", dropped.Load())
}

// TestTamperedAndReplayedMessages: every message is delivered twice, and
// the first IKE_AUTH request arrives with a flipped byte; the handshake
// still completes once, with one Child SA per side.
func TestTamperedAndReplayedMessages(t *testing.T) {
	n, a, b := pair(t, fastSuite, fastSuite, []string{"AES128-GCM16"})
	var tampered atomic.Bool
	n.filter = func(m []byte, _, _ netip.AddrPort) [][]byte {
		if m[18] == 35 && m[19]&0x20 == 0 && !tampered.Swap(true) { // IKE_AUTH request
			bad := bytes.Clone(m)
			bad[len(bad)-5] ^= 1
			return [][]byte{bad}
		}
		return [][]byte{m, bytes.Clone(m)}
	}
	sent := handshake(t, a, 10*time.Second)
	if res, err := b.e.Decapsulate(sent); res != ipsec.SecureTunnel {
		t.Fatalf("B decapsulates %v %v", res, err)
	}
	n.wg.Wait()
	if !tampered.Load() {
		t.Fatal("no IKE_AUTH was tampered")
	}
	for _, h := range []*testHost{a, b} {
		st := h.d.Status()
		if len(st) != 1 || len(st[0].Children) != 1 {
			t.Fatalf("%s: %+v", h.name, st)
		}
		if got := len(h.e.SAD().All()); got != 2 {
			t.Fatalf("%s: %d SAs in the SAD, want 2", h.name, got)
		}
	}
}

func TestInvalidKEPayloadRetry(t *testing.T) {
	_, a, b := pair(t, "-e AES128-GCM16 -p PRFSHA256 -d CURVE25519,ECP256 -i 20ms", "-e AES128-GCM16 -p PRFSHA256 -d ECP256", []string{"AES128-GCM16"})
	sent := handshake(t, a, 10*time.Second)
	if res, _ := b.e.Decapsulate(sent); res != ipsec.SecureTunnel {
		t.Fatal(res)
	}
	if st := a.d.Status(); !strings.Contains(st[0].Algorithms, "ECP256") {
		t.Fatalf("negotiated %q, want ECP256", st[0].Algorithms)
	}
}

func TestWrongPSKFails(t *testing.T) {
	n := &network{hosts: map[netip.Addr]*testHost{}}
	a := newHost(t, n, "a", "192.0.2.1", "10.1.0.0/24", "10.2.0.0/24", "192.0.2.2",
		"-n b -w "+fastSuite+" -m PSK -h "+writePSK(t, "one")+" -r 192.0.2.2", nil)
	b := newHost(t, n, "b", "192.0.2.2", "10.2.0.0/24", "10.1.0.0/24", "192.0.2.1",
		"-n a -u "+fastSuite+" -m PSK -h "+writePSK(t, "two"), nil)
	a.e.Encapsulate(udpPacket("10.1.0.5", "10.2.0.9", "x"))
	waitFor(t, "the failure", func() bool { return b.d.Stats().AuthFailures.Load() == 1 && a.d.Stats().AuthFailures.Load() == 1 })
	waitFor(t, "the IKE SAs to go", func() bool { return len(a.d.Status()) == 0 && len(b.d.Status()) == 0 })
	if len(a.e.SAD().All())+len(b.e.SAD().All()) != 0 {
		t.Fatal("SAs installed after a failed authentication")
	}
}

// TestDeleteReachesPeer: deleting the IKE SA at A removes B's IKE and Child
// SAs too.
func TestDeleteReachesPeer(t *testing.T) {
	_, a, b := pair(t, fastSuite, fastSuite, []string{"AES128-GCM16"})
	handshake(t, a, 10*time.Second)
	waitFor(t, "B's Child SA", func() bool { return len(b.e.SAD().All()) == 2 })
	st := a.d.Status()
	var key SAKey
	for i, s := range []string{st[0].SPIi, st[0].SPIr} {
		var v uint64
		for _, c := range s {
			v = v<<4 | uint64(strings.IndexRune("0123456789abcdef", c))
		}
		if i == 0 {
			key.SPIi = v
		} else {
			key.SPIr = v
		}
	}
	if err := a.d.DeleteIKESA(key); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "B to remove its SAs", func() bool { return len(b.d.Status()) == 0 && len(b.e.SAD().All()) == 0 })
	if len(a.e.SAD().All()) != 0 {
		t.Fatal("A kept Child SAs")
	}
}

// TestSecondPolicyUsesCreateChildSA: a second policy with the same peer
// gets its Child SA through CREATE_CHILD_SA on the existing IKE SA.
func TestSecondPolicyUsesCreateChildSA(t *testing.T) {
	_, a, b := pair(t, fastSuite, fastSuite, []string{"AES128-GCM16"})
	handshake(t, a, 10*time.Second)
	for _, h := range []*testHost{a, b} {
		src, dst := "10.3.0.0/24", "10.4.0.0/24"
		peer := "192.0.2.2"
		if h == b {
			src, dst, peer = dst, src, "192.0.2.1"
		}
		p := *h.e.SPD().Get(h.policy)
		p.ID, p.Name = 0, ""
		p.Src, p.Dst = mustSel(src), mustSel(dst)
		p.TunnelRemote = netip.MustParseAddr(peer)
		if _, err := h.e.SPD().Add(p); err != nil {
			t.Fatal(err)
		}
	}
	if res, _ := a.e.Encapsulate(udpPacket("10.3.0.5", "10.4.0.9", "second")); res != ipsec.Pending {
		t.Fatal(res)
	}
	select {
	case sent := <-a.out:
		if res, err := b.e.Decapsulate(sent); res != ipsec.SecureTunnel {
			t.Fatalf("B: %v %v", res, err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("no second Child SA")
	}
	if st := a.d.Status(); len(st) != 1 || len(st[0].Children) != 2 {
		t.Fatalf("status %+v", st)
	}
}

// TestChildRekey: at 90% of the policy lifetime the Child SA is rekeyed
// with CREATE_CHILD_SA (REKEY_SA), the old pair is deleted on both sides,
// and traffic flows on the new one.
func TestChildRekey(t *testing.T) {
	_, a, b := pair(t, fastSuite, fastSuite, []string{"AES128-GCM16"})
	for _, h := range []*testHost{a, b} {
		p := *h.e.SPD().Get(h.policy)
		h.e.SPD().Delete(p.ID)
		p.ID, p.Lifetime = 0, 1500*time.Millisecond
		id, err := h.e.SPD().Add(p)
		if err != nil {
			t.Fatal(err)
		}
		h.policy = id
	}
	sent := handshake(t, a, 10*time.Second)
	if res, _ := b.e.Decapsulate(sent); res != ipsec.SecureTunnel {
		t.Fatal(res)
	}
	first := a.d.Status()[0].Children[0].SPIIn
	waitFor(t, "the rekey", func() bool {
		st := a.d.Status()
		return len(st) == 1 && len(st[0].Children) == 1 && st[0].Children[0].SPIIn != first && len(b.d.Status()[0].Children) == 1
	})
	waitFor(t, "the old SAs to go", func() bool { return len(a.e.SAD().All()) == 2 && len(b.e.SAD().All()) == 2 })
	out := udpPacket("10.1.0.5", "10.2.0.9", "after rekey")
	if res, err := a.e.Encapsulate(out); res != ipsec.SecureTunnel {
		t.Fatalf("A after rekey: %v %v", res, err)
	}
	if res, err := b.e.Decapsulate(out); res != ipsec.SecureTunnel {
		t.Fatalf("B after rekey: %v %v", res, err)
	}
}

// TestSimultaneousRekey: both ends rekey the same Child SA at once; their
// CREATE_CHILD_SA requests cross, and RFC 7296 §2.8.1's lowest-nonce rule
// leaves exactly one new pair on each side.
func TestSimultaneousRekey(t *testing.T) {
	n, a, b := pair(t, fastSuite, fastSuite, []string{"AES128-GCM16"})
	for _, h := range []*testHost{a, b} {
		h.d.cfg.RekeyGrace = 50 * time.Millisecond
	}
	handshake(t, a, 10*time.Second)
	n.wg.Wait()
	n.mu.Lock()
	n.queued = true
	n.mu.Unlock()
	for _, h := range []*testHost{a, b} {
		spi := h.d.Status()[0].Children[0].SPIIn
		v, _ := strconv.ParseUint(spi, 16, 32)
		h.d.childExpiring(messaging.Event{Type: messaging.MsgSAExpired, SPI: uint32(v), Direction: sad.Inbound})
	}
	n.drain()
	for _, h := range []*testHost{a, b} {
		st := h.d.Status()
		if len(st) != 1 || len(st[0].Children) != 1 {
			t.Fatalf("%s after the crossed rekeys: %+v", h.name, st)
		}
	}
	for _, dir := range []struct {
		from, to *testHost
		src, dst string
	}{{a, b, "10.1.0.5", "10.2.0.9"}, {b, a, "10.2.0.9", "10.1.0.5"}} {
		out := udpPacket(dir.src, dir.dst, "after the collision")
		if res, err := dir.from.e.Encapsulate(out); res != ipsec.SecureTunnel {
			t.Fatalf("%s: %v %v", dir.from.name, res, err)
		}
		if res, err := dir.to.e.Decapsulate(out); res != ipsec.SecureTunnel {
			t.Fatalf("%s: %v %v", dir.to.name, res, err)
		}
	}
	// The old and the redundant pairs' inbound SAs go after the grace.
	waitFor(t, "one SA pair on each side", func() bool { return len(a.e.SAD().All()) == 2 && len(b.e.SAD().All()) == 2 })
}

// TestCookiesUnderHalfOpenLoad: with half of the half-open limit in use
// the responder answers IKE_SA_INIT with a COOKIE (RFC 7296 §2.6), a real
// initiator repeats its request with it and completes; at the limit new
// IKE SAs are refused.
func TestCookiesUnderHalfOpenLoad(t *testing.T) {
	_, a, b := pair(t, fastSuite, fastSuite, []string{"AES128-GCM16"})
	b.d.mgr.MaxHalfOpen = 4
	peer := netip.MustParseAddrPort("198.51.100.1:500")
	for i := range 2 { // spoofed half-open SAs
		key := SAKey{SPIi: uint64(1000 + i), SPIr: uint64(2000 + i)}
		if err := b.d.mgr.Add(key, peer, true, &SA{key: key}); err != nil {
			t.Fatal(err)
		}
		b.d.mgr.Checkin(key)
	}
	sent := handshake(t, a, 10*time.Second)
	if res, _ := b.e.Decapsulate(sent); res != ipsec.SecureTunnel {
		t.Fatal(res)
	}
	if b.d.Stats().CookiesSent.Load() == 0 {
		t.Fatal("no cookie demanded at half the half-open limit")
	}
	// Fill the table: the next initiator is refused.
	for i := range 2 {
		key := SAKey{SPIi: uint64(3000 + i), SPIr: uint64(4000 + i)}
		b.d.mgr.Add(key, peer, true, &SA{key: key})
		b.d.mgr.Checkin(key)
	}
	a.d.Flush()
	before := b.d.Stats().HalfOpenRefused.Load()
	a.e.Encapsulate(udpPacket("10.1.0.5", "10.2.0.9", "again"))
	waitFor(t, "the refusal", func() bool { return b.d.Stats().HalfOpenRefused.Load() > before })
}

// TestTraceDecodesInsideSK: `ike debug -t` shows the payloads inside the
// SK payload, decrypted, and never key material.
func TestTraceDecodesInsideSK(t *testing.T) {
	_, a, b := pair(t, fastSuite, fastSuite, []string{"AES128-GCM16"})
	var buf syncBuffer
	a.d.log = slog.New(slog.NewTextHandler(&buf, nil))
	a.d.SetDebug(false, true)
	sent := handshake(t, a, 10*time.Second)
	if res, _ := b.e.Decapsulate(sent); res != ipsec.SecureTunnel {
		t.Fatal(res)
	}
	out := buf.String()
	for _, want := range []string{"sending IKE_AUTH, inside SK", "received IKE_AUTH, inside SK", "Authentication", "Traffic Selector"} {
		if !strings.Contains(out, want) {
			t.Errorf("trace lacks %q", want)
		}
	}
}

// syncBuffer is a bytes.Buffer safe for the daemon's goroutines.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}
func (s *syncBuffer) String() string { s.mu.Lock(); defer s.mu.Unlock(); return s.b.String() }
