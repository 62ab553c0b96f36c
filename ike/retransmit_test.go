package ike

import (
	"context"
	"log/slog"
	"net/netip"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/sabre-ipsec/sabre/ike/message"
)

func TestRetransmitSchedule(t *testing.T) {
	s := time.Second
	for _, tc := range []struct {
		opts      string
		intervals []time.Duration // after each send
		total     time.Duration
	}{
		{"", []time.Duration{s / 2, s, 2 * s, 4 * s, 8 * s, 16 * s, 32 * s, 32 * s, 32 * s, 32 * s, 32 * s}, 191500 * time.Millisecond},
		{"-i 4 -t 5 -I 60", []time.Duration{4 * s, 8 * s, 16 * s, 32 * s, 60 * s, 60 * s}, 180 * s},
		{"-i 1 -t 3 -I 2", []time.Duration{s, 2 * s, 2 * s, 2 * s}, 7 * s},
		{"-i 20ms -t 1", []time.Duration{20 * time.Millisecond, 40 * time.Millisecond}, 60 * time.Millisecond},
		// -I below -i, not given: the intervals stay at -i.
		{"-i 60", []time.Duration{60 * s, 60 * s}, 11 * 60 * s},
	} {
		r, err := ParseRemote(strings.Fields("-n x -w -e AES128-GCM16 -p sha256 -d x25519 -m PSK -r 192.0.2.1 " + tc.opts))
		if err != nil {
			t.Fatalf("%q: %v", tc.opts, err)
		}
		for i, want := range tc.intervals {
			if got := r.RetransmitInterval(i + 1); got != want {
				t.Errorf("%q: interval after send %d: %v, want %v", tc.opts, i+1, got, want)
			}
		}
		if got := r.GiveUpAfter(); got != tc.total {
			t.Errorf("%q: gives up after %v, want %v", tc.opts, got, tc.total)
		}
	}
	// RFC 7296 §2.1 leaves the budget to the implementation; Sabre's
	// default is at least strongSwan's (5 retransmissions, timeout 4 s,
	// base 1.8: 165 s).
	var swan time.Duration
	for k, timeout := 0, 4.0; k <= 5; k, timeout = k+1, timeout*1.8 {
		swan += time.Duration(timeout * float64(time.Second))
	}
	if def := (&Remote{}).GiveUpAfter(); def < swan {
		t.Fatalf("default retransmission budget %v, less than strongSwan's %v", def, swan)
	}
}

// recordHandler keeps log records for tests to count.
type recordHandler struct {
	mu   sync.Mutex
	recs []slog.Record
}

func (h *recordHandler) Enabled(context.Context, slog.Level) bool { return true }
func (h *recordHandler) Handle(_ context.Context, r slog.Record) error {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.recs = append(h.recs, r.Clone())
	return nil
}
func (h *recordHandler) WithAttrs([]slog.Attr) slog.Handler { return h }
func (h *recordHandler) WithGroup(string) slog.Handler      { return h }

// find returns the records with message msg.
func (h *recordHandler) find(msg string) []slog.Record {
	h.mu.Lock()
	defer h.mu.Unlock()
	var out []slog.Record
	for _, r := range h.recs {
		if r.Message == msg {
			out = append(out, r)
		}
	}
	return out
}

func attr(r slog.Record, key string) string {
	var v string
	r.Attrs(func(a slog.Attr) bool {
		if a.Key == key {
			v = a.Value.String()
			return false
		}
		return true
	})
	return v
}

// TestInitGivesUpAfterTries: an initiator with -t 2 sends its IKE_SA_INIT
// three times to a responder that refuses it, keeps waiting after each
// unprotected NO_PROPOSAL_CHOSEN (RFC 7296 §2.21.1), and then fails,
// naming the refusal.
func TestInitGivesUpAfterTries(t *testing.T) {
	n := &network{hosts: map[netip.Addr]*testHost{}}
	psk := writePSK(t, "k")
	a := newHost(t, n, "a", "192.0.2.1", "10.1.0.0/24", "10.2.0.0/24", "192.0.2.2",
		"-n b -w -e AES128-GCM16 -p PRFSHA256 -d CURVE25519 -i 20ms -I 40ms -t 2 -m PSK -h "+psk+" -r 192.0.2.2", nil)
	b := newHost(t, n, "b", "192.0.2.2", "10.2.0.0/24", "10.1.0.0/24", "192.0.2.1",
		"-n a -u -e AES256-CBC -a HMAC-SHA-2-256 -p PRFSHA384 -d ECP384 -m PSK -h "+psk, nil)
	var h recordHandler
	a.d.log = slog.New(&h)
	var inits atomic.Int32
	n.filter = func(m []byte, from, _ netip.AddrPort) [][]byte {
		if from.Addr() == a.addr && m[18] == byte(message.IKESAInit) {
			inits.Add(1)
		}
		return [][]byte{m}
	}
	a.e.Encapsulate(udpPacket("10.1.0.5", "10.2.0.9", "x"))
	waitFor(t, "A to give up", func() bool { return a.d.Stats().Failed.Load() == 1 })
	n.wg.Wait()
	if got := inits.Load(); got != 3 {
		t.Fatalf("A sent IKE_SA_INIT %d times, want 3", got)
	}
	if b.d.Stats().Sent.Load() != 3 {
		t.Fatalf("B answered %d times, want 3", b.d.Stats().Sent.Load())
	}
	rs := h.find("IKE SA removed")
	if len(rs) != 1 || rs[0].Level != slog.LevelWarn || !strings.Contains(attr(rs[0], "reason"), "NO_PROPOSAL_CHOSEN") {
		t.Fatalf("removal records %v", rs)
	}
}
