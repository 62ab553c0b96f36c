package ike

import (
	"log/slog"
	"net/netip"
	"strings"
	"sync"
	"testing"
	"time"
)

// fakeTimers is a clock and AfterFunc that the test moves by hand.
type fakeTimers struct {
	mu     sync.Mutex
	now    time.Time
	timers []*fakeTimer
}

type fakeTimer struct {
	at      time.Time
	f       func()
	stopped bool
}

func (t *fakeTimer) Stop() bool { was := !t.stopped; t.stopped = true; return was }

func (c *fakeTimers) Now() time.Time { c.mu.Lock(); defer c.mu.Unlock(); return c.now }

func (c *fakeTimers) AfterFunc(d time.Duration, f func()) stopper {
	c.mu.Lock()
	defer c.mu.Unlock()
	t := &fakeTimer{at: c.now.Add(d), f: f}
	c.timers = append(c.timers, t)
	return t
}

// advance moves the clock and runs the timers that came due.
func (c *fakeTimers) advance(d time.Duration) {
	c.mu.Lock()
	c.now = c.now.Add(d)
	var due []*fakeTimer
	rest := c.timers[:0]
	for _, t := range c.timers {
		if !t.at.After(c.now) {
			due = append(due, t)
		} else {
			rest = append(rest, t)
		}
	}
	c.timers = rest
	c.mu.Unlock()
	for _, t := range due {
		if !t.stopped {
			t.f()
		}
	}
}

// TestSpoofedInputLogRateLimited: 1000 IKE_SA_INIT requests with a
// proposal the responder refuses (as spoofed ones would be) make logBurst
// WARN records and one "suppressed" summary per window, not 1000 lines.
func TestSpoofedInputLogRateLimited(t *testing.T) {
	n, _, b := pair(t, fastSuite, fastSuite, nil)
	clock := &fakeTimers{now: time.Unix(1e9, 0)}
	b.d.cfg.Now, b.d.cfg.AfterFunc = clock.Now, clock.AfterFunc
	var h recordHandler
	b.d.log = slog.New(&h)
	f := newFlooder(t, n, b, "203.0.113.9:500")
	r, err := ParseRemote(strings.Fields("-n x -w -r 192.0.2.2 -e AES256-CBC -a HMAC-SHA-2-512 -p PRFSHA512 -d CURVE25519 -m PSK"))
	if err != nil {
		t.Fatal(err)
	}
	f.props = IKEProposals(&r)
	const msg = "no acceptable IKE proposal"
	for i := range 1000 {
		f.init(uint64(1 + i))
	}
	if got := len(h.find(msg)); got != logBurst {
		t.Fatalf("%d %q records for 1000 requests, want %d", got, msg, logBurst)
	}
	for _, r := range h.find(msg) {
		if r.Level != slog.LevelWarn {
			t.Fatalf("%q logged at %v, want WARN", msg, r.Level)
		}
	}
	if got := len(h.find("suppressed log records")); got != 0 {
		t.Fatalf("%d summaries before the window ended", got)
	}
	clock.advance(logWindow)
	sum := h.find("suppressed log records")
	if len(sum) != 1 || attr(sum[0], "message") != msg || attr(sum[0], "suppressed") != "990" || sum[0].Level != slog.LevelWarn {
		t.Fatalf("summary %v", sum)
	}
	// A new window: the next ones are logged again, and a quiet window
	// ends with no summary.
	for i := range 3 {
		f.init(uint64(5000 + i))
	}
	clock.advance(2 * logWindow)
	if got := len(h.find(msg)); got != logBurst+3 {
		t.Fatalf("%d records after the window, want %d", got, logBurst+3)
	}
	if got := len(h.find("suppressed log records")); got != 1 {
		t.Fatalf("%d summaries, want 1", got)
	}
	if b.d.mgr.Len() != 0 {
		t.Fatalf("refused requests left %d IKE SAs", b.d.mgr.Len())
	}
}

// TestHalfOpenExpiryLogRateLimited: half-open IKE SAs that never
// authenticate (what spoofed requests leave) expire with logBurst records
// and a summary, not one line each.
func TestHalfOpenExpiryLogRateLimited(t *testing.T) {
	n, _, b := pair(t, fastSuite, fastSuite, nil)
	clock := &fakeTimers{now: time.Unix(1e9, 0)}
	b.d.cfg.Now, b.d.cfg.AfterFunc = clock.Now, clock.AfterFunc
	var h recordHandler
	b.d.log = slog.New(&h)
	f := newFlooder(t, n, b, "203.0.113.1:500")
	const spoofed = 25
	for i := range spoofed {
		f.addr = netip.AddrPortFrom(netip.AddrFrom4([4]byte{203, 0, 113, byte(1 + i)}), 500)
		f.init(uint64(1 + i))
	}
	if b.d.mgr.HalfOpen() != spoofed {
		t.Fatalf("%d half-open IKE SAs, want %d", b.d.mgr.HalfOpen(), spoofed)
	}
	clock.advance(halfOpenTimeout)
	if b.d.mgr.Len() != 0 {
		t.Fatalf("%d IKE SAs left after the half-open timeout", b.d.mgr.Len())
	}
	const msg = "half-open IKE SA removed"
	if got := len(h.find(msg)); got != logBurst {
		t.Fatalf("%d %q records, want %d", got, msg, logBurst)
	}
	clock.advance(logWindow)
	sum := h.find("suppressed log records")
	if len(sum) != 1 || attr(sum[0], "message") != msg || attr(sum[0], "suppressed") != "15" {
		t.Fatalf("summary %v", sum)
	}
}
