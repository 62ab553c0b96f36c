package ike

import (
	"context"
	"log/slog"
	"sync"
	"time"
)

// Log records about input nobody authenticated (unparsable or forged
// messages, IKE_SA_INIT floods) are rate-limited per message: at most
// logBurst of each per logWindow, then one "suppressed" record with the
// number left out, so a flood of spoofed packets cannot flood the log.
const (
	logBurst  = 10
	logWindow = 10 * time.Second
)

// logLimiter counts log records per message text.
type logLimiter struct {
	mu      sync.Mutex
	reasons map[string]*logReason
}

type logReason struct {
	start      time.Time // of the current window; zero: none open
	logged     int
	suppressed int
	level      slog.Level
	flush      stopper
}

// limitedLog logs msg at level unless its budget for the current window is
// spent; then it counts it, and at the window's end logs how many were
// suppressed.
func (d *Daemon) limitedLog(level slog.Level, msg string, args ...any) {
	if !d.log.Enabled(context.Background(), level) {
		return
	}
	now := d.cfg.Now()
	l := &d.logLimit
	l.mu.Lock()
	if l.reasons == nil {
		l.reasons = map[string]*logReason{}
	}
	r := l.reasons[msg]
	if r == nil {
		r = &logReason{}
		l.reasons[msg] = r
	}
	if r.start.IsZero() || now.Sub(r.start) >= logWindow {
		if r.suppressed > 0 {
			// The window's timer has not run yet: report now.
			d.logSuppressed(msg, r)
		}
		r.start, r.logged = now, 0
	}
	if r.logged < logBurst {
		r.logged++
		l.mu.Unlock()
		d.log.Log(context.Background(), level, msg, args...)
		return
	}
	r.suppressed++
	if r.suppressed == 1 {
		r.level = level
		wait := logWindow - now.Sub(r.start)
		r.flush = d.cfg.AfterFunc(wait, func() { d.flushSuppressed(msg) })
	} else {
		r.level = max(r.level, level)
	}
	l.mu.Unlock()
}

// flushSuppressed ends msg's window, reporting what it suppressed.
func (d *Daemon) flushSuppressed(msg string) {
	l := &d.logLimit
	l.mu.Lock()
	defer l.mu.Unlock()
	if r := l.reasons[msg]; r != nil && r.suppressed > 0 {
		d.logSuppressed(msg, r)
		r.start = time.Time{}
	}
}

// logSuppressed logs and resets r's count; l.mu is held.
func (d *Daemon) logSuppressed(msg string, r *logReason) {
	if r.flush != nil {
		r.flush.Stop()
		r.flush = nil
	}
	d.log.Log(context.Background(), r.level, "suppressed log records", "message", msg, "suppressed", r.suppressed, "window", logWindow)
	r.suppressed, r.level = 0, 0
}
