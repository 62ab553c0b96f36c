package ike

import (
	"errors"
	"fmt"
	"net/netip"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/sabre-ipsec/sabre/ike/message"
	"github.com/sabre-ipsec/sabre/spd"
)

// TestNotifyErrorsTable: each error of the table is answered with its
// notify type, wrapped or not, and a peer's notification of that type
// matches the error with errors.Is.
func TestNotifyErrorsTable(t *testing.T) {
	for _, e := range notifyErrors {
		for _, err := range []error{e.err, fmt.Errorf("context: %w", e.err)} {
			if got := notifyFor(err).Type; got != e.notify {
				t.Errorf("notifyFor(%v) = %v, want %v", err, got, e.notify)
			}
		}
		pe := &PeerError{Exchange: message.CreateChildSA, Notify: e.notify}
		if want := errorForNotify(e.notify); !errors.Is(pe, want) || !errors.Is(fmt.Errorf("x: %w", pe), want) {
			t.Errorf("PeerError %v does not match %v", e.notify, want)
		}
	}
	if got := notifyFor(errors.New("other")).Type; got != message.InvalidSyntax {
		t.Errorf("an unlisted error is answered with %v, want INVALID_SYNTAX", got)
	}
	if got := notifyFor(&message.NotifyError{Type: message.UnsupportedCriticalPayload, Data: []byte{99}}); got.Type != message.UnsupportedCriticalPayload || len(got.Data) != 1 {
		t.Errorf("a payload-rules error is answered with %v", got)
	}
	if errors.Is(&PeerError{Notify: message.InvalidKEPayload}, ErrNoProposalChosen) {
		t.Error("INVALID_KE_PAYLOAD matches ErrNoProposalChosen")
	}
	if errors.Is(&PeerError{Notify: message.NotifyType(12345)}, nil) {
		t.Error("an unknown notify type matches nil")
	}
}

// TestStateTransitions: every state may end, and a transition the table
// does not list is refused with a *StateError matching ErrInvalidState,
// leaving the state as it was.
func TestStateTransitions(t *testing.T) {
	d := &Daemon{log: quietLog}
	for from := range validTransitions {
		sa := &SA{d: d, state: from}
		if err := sa.set(StateDead); err != nil || sa.state != StateDead {
			t.Errorf("%v -> DEAD: %v", from, err)
		}
	}
	for _, tc := range []struct{ from, to State }{
		{StateDead, StateEstablished},
		{StateDeleting, StateEstablished},
		{StateInitSent, StateEstablished},
		{StateEstablished, StateInitDone},
	} {
		sa := &SA{d: d, state: tc.from}
		err := sa.set(tc.to)
		var se *StateError
		if !errors.As(err, &se) || !errors.Is(err, ErrInvalidState) || se.From != tc.from || se.To != tc.to {
			t.Errorf("%v -> %v: %v", tc.from, tc.to, err)
		}
		if sa.state != tc.from {
			t.Errorf("%v -> %v refused but the state is %v", tc.from, tc.to, sa.state)
		}
	}
}

// findFailure returns the first failure reported to h that matches target.
func findFailure(h *testHost, child bool, target error) (Failure, bool) {
	for _, f := range h.failed() {
		if f.Child == child && errors.Is(f.Err, target) {
			return f, true
		}
	}
	return Failure{}, false
}

// TestFailuresTyped: the failures of real exchanges reach Config.Failure as
// errors that errors.Is tells apart, on both sides.
func TestFailuresTyped(t *testing.T) {
	t.Run("authentication", func(t *testing.T) {
		n := &network{hosts: map[netip.Addr]*testHost{}}
		a := newHost(t, n, "a", "192.0.2.1", "10.1.0.0/24", "10.2.0.0/24", "192.0.2.2",
			"-n b -w "+fastSuite+" -m PSK -h "+writePSK(t, "one")+" -r 192.0.2.2", nil)
		b := newHost(t, n, "b", "192.0.2.2", "10.2.0.0/24", "10.1.0.0/24", "192.0.2.1",
			"-n a -u "+fastSuite+" -m PSK -h "+writePSK(t, "two"), nil)
		a.e.Encapsulate(udpPacket("10.1.0.5", "10.2.0.9", "x"))
		waitFor(t, "both failures", func() bool {
			_, okA := findFailure(a, false, ErrAuthenticationFailed)
			_, okB := findFailure(b, false, ErrAuthenticationFailed)
			return okA && okB
		})
		n.wg.Wait()
		f, _ := findFailure(a, false, ErrAuthenticationFailed)
		var pe *PeerError
		if !errors.As(f.Err, &pe) || pe.Notify != message.AuthenticationFailed || f.Remote != "b" {
			t.Fatalf("A's failure %+v: not the peer's AUTHENTICATION_FAILED", f)
		}
		if errors.Is(f.Err, ErrNoProposalChosen) || errors.Is(f.Err, ErrPeerTimeout) {
			t.Fatalf("A's failure %v matches other errors", f.Err)
		}
	})
	t.Run("no-proposal-timeout", func(t *testing.T) {
		n := &network{hosts: map[netip.Addr]*testHost{}}
		psk := writePSK(t, "k")
		a := newHost(t, n, "a", "192.0.2.1", "10.1.0.0/24", "10.2.0.0/24", "192.0.2.2",
			"-n b -w -e AES128-GCM16 -p PRFSHA256 -d CURVE25519 -i 20ms -I 40ms -t 1 -m PSK -h "+psk+" -r 192.0.2.2", nil)
		newHost(t, n, "b", "192.0.2.2", "10.2.0.0/24", "10.1.0.0/24", "192.0.2.1",
			"-n a -u -e AES256-CBC -a HMAC-SHA-2-256 -p PRFSHA384 -d ECP384 -m PSK -h "+psk, nil)
		a.e.Encapsulate(udpPacket("10.1.0.5", "10.2.0.9", "x"))
		waitFor(t, "A to give up", func() bool { return a.d.Stats().Failed.Load() == 1 })
		n.wg.Wait()
		// RFC 7296 §2.21.1: the unprotected refusal counts only once the
		// retransmissions ran out; both show.
		f, ok := findFailure(a, false, ErrPeerTimeout)
		if !ok || !errors.Is(f.Err, ErrNoProposalChosen) || errors.Is(f.Err, ErrAuthenticationFailed) {
			t.Fatalf("A's failures %+v", a.failed())
		}
	})
	t.Run("invalid-ke-timeout", func(t *testing.T) {
		n, a, _ := pair(t, "-e AES128-GCM16 -p PRFSHA256 -d ECP256,ECP384 -i 20ms -I 40ms -t 1", fastSuite, []string{"AES128-GCM16"})
		n.filter = func(m []byte, from, to netip.AddrPort) [][]byte {
			if from.Addr() != a.addr || m[18] != byte(message.IKESAInit) {
				return [][]byte{m}
			}
			req := delivery{m, from, to}
			g, _ := requestGroup(t, req)
			resp := initResponse(t, req, message.NewInvalidKEPayload(message.GroupID(map[GroupID]GroupID{19: 20, 20: 19}[g])))
			n.wg.Add(1)
			go func() { defer n.wg.Done(); a.d.HandleMessage(resp.b, resp.to, resp.from) }()
			return nil
		}
		a.e.Encapsulate(udpPacket("10.1.0.5", "10.2.0.9", "x"))
		waitFor(t, "A to give up", func() bool { return a.d.Stats().Failed.Load() == 1 })
		n.wg.Wait()
		f, ok := findFailure(a, false, ErrInvalidKE)
		var pe *PeerError
		if !ok || !errors.Is(f.Err, ErrPeerTimeout) || !errors.As(f.Err, &pe) || len(pe.Data) != 2 {
			t.Fatalf("A's failures %+v", a.failed())
		}
	})
	t.Run("ts-unacceptable", func(t *testing.T) {
		n := &network{hosts: map[netip.Addr]*testHost{}}
		psk := writePSK(t, "k")
		a := newHost(t, n, "a", "192.0.2.1", "10.1.0.0/24", "10.2.0.0/24", "192.0.2.2",
			"-n b -w -u "+fastSuite+" -m PSK -h "+psk+" -r 192.0.2.2", nil)
		b := newHost(t, n, "b", "192.0.2.2", "10.2.0.0/24", "10.3.0.0/24", "192.0.2.1",
			"-n a -u "+fastSuite+" -m PSK -h "+psk, nil)
		a.e.Encapsulate(udpPacket("10.1.0.5", "10.2.0.9", "x"))
		waitFor(t, "both Child SA failures", func() bool {
			_, okA := findFailure(a, true, ErrTSUnacceptable)
			_, okB := findFailure(b, true, ErrTSUnacceptable)
			return okA && okB
		})
		n.wg.Wait()
		if f, _ := findFailure(a, true, ErrTSUnacceptable); f.PolicyID != a.policy {
			t.Fatalf("A's Child SA failure names policy %d, want %d", f.PolicyID, a.policy)
		}
		if e, _ := establishedCount(a); e != 1 {
			t.Fatal("the IKE SA did not survive its Child SA's refusal")
		}
	})
	t.Run("no-remote", func(t *testing.T) {
		_, a, _ := pair(t, fastSuite, fastSuite, nil)
		p := *a.e.SPD().Get(a.policy)
		p.RemoteName = "nobody"
		if err := a.d.Initiate(&p); !errors.Is(err, ErrNoRemote) || !strings.Contains(err.Error(), `"nobody"`) {
			t.Fatalf("Initiate: %v", err)
		}
		if err := a.d.Initiate(&spd.Policy{ID: 7}); !errors.Is(err, ErrNoRemote) {
			t.Fatalf("Initiate: %v", err)
		}
	})
}

// TestBackgroundGoroutinesOwned: Close waits for the daemon's goroutines
// and starts none after it has begun.
func TestBackgroundGoroutinesOwned(t *testing.T) {
	defer goleak.VerifyNone(t, goleak.IgnoreCurrent())
	_, a, b := pair(t, fastSuite, fastSuite, nil)
	defer b.d.Close()
	release := make(chan struct{})
	var ended atomic.Bool
	if !a.d.goBackground(func() { <-release; ended.Store(true) }) {
		t.Fatal("goBackground refused before Close")
	}
	closed := make(chan struct{})
	go func() { a.d.Close(); close(closed) }()
	waitFor(t, "Close to begin", a.d.closed.Load)
	select {
	case <-closed:
		t.Fatal("Close returned while a goroutine of the daemon runs")
	case <-time.After(20 * time.Millisecond):
	}
	close(release)
	<-closed
	if !ended.Load() {
		t.Fatal("Close returned before its goroutine ended")
	}
	if a.d.goBackground(func() { t.Error("ran after Close") }) {
		t.Fatal("goBackground started a goroutine after Close")
	}
}

// TestInitialContactGoroutineStops: B removes A's older IKE SA on
// INITIAL_CONTACT on a goroutine; once both daemons are closed no goroutine
// of theirs is left (the engine's process-wide coarse clock in sad is not
// the daemon's).
func TestInitialContactGoroutineStops(t *testing.T) {
	defer goleak.VerifyNone(t, goleak.IgnoreCurrent(),
		goleak.IgnoreAnyFunction("github.com/sabre-ipsec/sabre/sad.coarseSinceBase.func1.1"))
	n, a, b := pair(t, fastSuite, fastSuite, []string{"AES128-GCM16"})
	handshake(t, a, 10*time.Second)
	waitFor(t, "B's IKE SA", func() bool { e, _ := establishedCount(b); return e == 1 })
	// A forgets it had contact (as after a restart): its next IKE SA
	// carries INITIAL_CONTACT, and B drops the first one.
	a.d.mu.Lock()
	clear(a.d.contacted)
	a.d.mu.Unlock()
	if err := a.d.initiate(a.d.remote("b"), a.e.SPD().Get(a.policy)); err != nil {
		t.Fatal(err)
	}
	// B drops the older on INITIAL_CONTACT; A, which made both, keeps the
	// newer (unique.go).
	waitFor(t, "one IKE SA on each side", func() bool {
		e, all := establishedCount(b)
		ea, alla := establishedCount(a)
		return e == 1 && all == 1 && ea == 1 && alla == 1
	})
	a.d.Close()
	b.d.Close()
	n.wg.Wait()
}
