package ike

import (
	"errors"
	"net/netip"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/sabre-ipsec/sabre/ike/message"
	"github.com/sabre-ipsec/sabre/ipsec"
)

// deadPeerPair establishes an IKE SA from A (remote options extra) and
// then cuts the network both ways until restore is called; ikeInits counts
// the IKE_SA_INIT requests A sends after the cut.
func deadPeerPair(t *testing.T, extra string) (a, b *testHost, ikeInits *atomic.Int32, restore func()) {
	n, a, b := pair(t, fastSuite+" "+extra, fastSuite, []string{"AES128-GCM16"})
	handshake(t, a, 10*time.Second)
	waitFor(t, "B's Child SA", func() bool { return len(b.e.SAD().All()) == 2 })
	var cut atomic.Bool
	ikeInits = &atomic.Int32{}
	cut.Store(true)
	n.mu.Lock()
	n.filter = func(m []byte, from, _ netip.AddrPort) [][]byte {
		if from.Addr() == a.addr && m[18] == byte(message.IKESAInit) && m[19]&0x20 == 0 {
			ikeInits.Add(1)
		}
		if cut.Load() {
			return nil
		}
		return [][]byte{m}
	}
	n.mu.Unlock()
	return a, b, ikeInits, func() { cut.Store(false) }
}

// TestDPDTimeoutAndActions: with -D 100ms -T 400ms a peer that stopped
// answering is found dead within about half a second (not after the
// retransmission schedule), with ErrPeerTimeout; then -A trap waits for
// traffic, -A restart negotiates again at once, and -A clear ignores
// traffic for the remote.
func TestDPDTimeoutAndActions(t *testing.T) {
	for _, action := range []string{"trap", "restart", "clear"} {
		t.Run(action, func(t *testing.T) {
			a, _, inits, restore := deadPeerPair(t, "-D 100ms -T 400ms -A "+action)
			start := time.Now()
			waitFor(t, "A to find its peer dead", func() bool { _, ok := findFailure(a, false, ErrPeerTimeout); return ok })
			if d := time.Since(start); d > 3*time.Second {
				t.Fatalf("dead peer found after %v", d)
			}
			// Config.Failure is told before the IKE SA is removed: wait
			// for its Child SAs to leave the engine too (the cut is still
			// on, so -A restart cannot have added new ones).
			waitFor(t, "A's Child SAs to go", func() bool { return len(a.e.SAD().All()) == 0 })
			f, _ := findFailure(a, false, ErrPeerTimeout)
			if !strings.Contains(f.Err.Error(), "INFORMATIONAL liveness") {
				t.Fatalf("failure %v is not the liveness check's", f.Err)
			}
			restore()
			switch action {
			case "restart":
				waitFor(t, "A to negotiate again", func() bool { e, _ := establishedCount(a); return e == 1 })
				if inits.Load() == 0 {
					t.Fatal("no IKE_SA_INIT after the restart")
				}
			case "trap", "clear":
				if inits.Load() != 0 {
					t.Fatalf("%d IKE_SA_INIT requests without traffic", inits.Load())
				}
				if action == "trap" {
					if res, _ := a.e.Encapsulate(udpPacket("10.1.0.5", "10.2.0.9", "traffic")); res != ipsec.Pending {
						t.Fatalf("traffic: %v", res)
					}
					waitFor(t, "traffic to bring the tunnel back", func() bool { e, _ := establishedCount(a); return e == 1 })
					return
				}
				// clear: the engine's ACQUIRE is refused; nothing is
				// negotiated until the peer comes back.
				if err := a.d.acquireOnTraffic(a.e.SPD().Get(a.policy)); err == nil || !strings.Contains(err.Error(), "-A clear") {
					t.Fatalf("ACQUIRE after clear: %v", err)
				}
				if e, all := establishedCount(a); e != 0 || all != 0 || inits.Load() != 0 {
					t.Fatalf("after traffic: %d IKE SAs, %d IKE_SA_INIT", all, inits.Load())
				}
				// The operator brings it back: the remote is no longer
				// cleared.
				if err := a.d.Initiate(a.e.SPD().Get(a.policy)); err != nil {
					t.Fatal(err)
				}
				waitFor(t, "the operator's IKE SA", func() bool { e, _ := establishedCount(a); return e == 1 })
				a.d.mu.Lock()
				cleared := a.d.cleared["b"]
				a.d.mu.Unlock()
				if cleared {
					t.Fatal("the remote stayed cleared after the peer came back")
				}
			}
		})
	}
}

// TestStartActionStart: a remote with -S start negotiates its policy with
// no traffic, and again after the peer deleted the IKE SA.
func TestStartActionStart(t *testing.T) {
	_, a, b := pair(t, fastSuite+" -S start", fastSuite, []string{"AES128-GCM16"})
	// The policy was added after the remote: the start timer finds it.
	waitFor(t, "the tunnel without traffic", func() bool { return len(a.e.SAD().All()) == 2 && len(b.e.SAD().All()) == 2 })
	for _, s := range b.d.Status() {
		key := SAKey{}
		for i, x := range []string{s.SPIi, s.SPIr} {
			var v uint64
			for _, c := range x {
				v = v<<4 | uint64(strings.IndexRune("0123456789abcdef", c))
			}
			if i == 0 {
				key.SPIi = v
			} else {
				key.SPIr = v
			}
		}
		if err := b.d.DeleteIKESA(key); err != nil {
			t.Fatal(err)
		}
	}
	waitFor(t, "the IKE SA to go", func() bool { return len(a.d.Status()) == 0 })
	waitFor(t, "the tunnel back", func() bool { e, _ := establishedCount(a); return e == 1 && len(a.e.SAD().All()) == 2 })
}

// TestStartActionNone: traffic does not negotiate for a remote with -S
// none; the operator's Initiate does.
func TestStartActionNone(t *testing.T) {
	_, a, _ := pair(t, fastSuite+" -S none", fastSuite, []string{"AES128-GCM16"})
	if err := a.d.acquireOnTraffic(a.e.SPD().Get(a.policy)); err == nil || !strings.Contains(err.Error(), "start action none") {
		t.Fatalf("ACQUIRE: %v", err)
	}
	if len(a.d.Status()) != 0 {
		t.Fatal("traffic negotiated")
	}
	if err := a.d.Initiate(a.e.SPD().Get(a.policy)); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "the operator's tunnel", func() bool { e, _ := establishedCount(a); return e == 1 })
	if err := a.d.acquireOnTraffic(nil); !errors.Is(err, ErrNoRemote) {
		t.Fatalf("ACQUIRE without a policy: %v", err)
	}
}
