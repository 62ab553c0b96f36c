package sad

import (
	"container/heap"
	"fmt"
	"strings"
	"time"

	"github.com/sabre-ipsec/sabre/xe"
)

// Lifetime limits an SA's use (RFC 4301 §4.4.2.1). A zero field is
// unlimited.
type Lifetime struct {
	Bytes   uint64
	Packets uint64
	Time    time.Duration // from the SA's addition to a DB
}

// IsZero reports whether l sets no limit.
func (l Lifetime) IsZero() bool { return l == Lifetime{} }

// String returns the limits, e.g. "1000 packets, 1h0m0s", or "unlimited".
func (l Lifetime) String() string {
	if l.IsZero() {
		return "unlimited"
	}
	var parts []string
	if l.Bytes != 0 {
		parts = append(parts, fmt.Sprintf("%d bytes", l.Bytes))
	}
	if l.Packets != 0 {
		parts = append(parts, fmt.Sprintf("%d packets", l.Packets))
	}
	if l.Time != 0 {
		parts = append(parts, l.Time.String())
	}
	return strings.Join(parts, ", ")
}

func checkLifetimes(soft, hard Lifetime) error {
	if soft.Time < 0 || hard.Time < 0 {
		return fmt.Errorf("lifetime %v/%v: negative time", soft.Time, hard.Time)
	}
	if hard.Bytes != 0 && soft.Bytes > hard.Bytes {
		return fmt.Errorf("soft lifetime %d bytes > hard lifetime %d bytes", soft.Bytes, hard.Bytes)
	}
	if hard.Packets != 0 && soft.Packets > hard.Packets {
		return fmt.Errorf("soft lifetime %d packets > hard lifetime %d packets", soft.Packets, hard.Packets)
	}
	if hard.Time != 0 && soft.Time > hard.Time {
		return fmt.Errorf("soft lifetime %v > hard lifetime %v", soft.Time, hard.Time)
	}
	return nil
}

// Account counts one packet of n bytes against the SA's lifetimes; the
// engine calls it for every packet the SA protects or verifies. A soft limit
// is reached when a count reaches it: the SA becomes Dying and the DB raises
// SoftExpired, once. A hard limit lets exactly that many packets or bytes
// through: the packet that would take a count past it, and every later one,
// fails with xe.SAExpired, and the DB deletes the SA and raises HardExpired.
//
// Account takes no lock unless a limit is crossed.
func (s *SA) Account(n int) error {
	if s.State() == Dead {
		return s.deadError()
	}
	nb := uint64(max(n, 0))
	p := s.Counters.Packets.Add(1)
	b := s.Counters.Bytes.Add(nb)
	s.Counters.lastUsed.Store(s.sinceBase())
	hard, soft := &s.cfg.HardLifetime, &s.cfg.SoftLifetime
	if (hard.Packets != 0 && p > hard.Packets) || (hard.Bytes != 0 && b > hard.Bytes) {
		// The refused packet is not counted.
		s.Counters.Packets.Add(^uint64(0))
		s.Counters.Bytes.Add(-nb)
		reason := fmt.Sprintf("hard lifetime of %d packets reached", hard.Packets)
		if hard.Bytes != 0 && b > hard.Bytes {
			reason = fmt.Sprintf("hard lifetime of %d bytes reached", hard.Bytes)
		}
		s.hardExpire(reason)
		return s.deadError()
	}
	if (soft.Packets != 0 && p >= soft.Packets) || (soft.Bytes != 0 && b >= soft.Bytes) {
		if s.State() == Mature {
			reason := fmt.Sprintf("soft lifetime of %d packets reached", soft.Packets)
			if soft.Bytes != 0 && b >= soft.Bytes {
				reason = fmt.Sprintf("soft lifetime of %d bytes reached", soft.Bytes)
			}
			s.softExpire(reason)
		}
	}
	return nil
}

// timeBase is the origin of Counters.lastUsed. Reading only the monotonic
// clock (time.Since) costs about half of time.Now per packet.
var timeBase = time.Now()

// sinceBase returns the time since timeBase by the SA's DB's clock, never 0.
func (s *SA) sinceBase() int64 {
	var d time.Duration
	if db := s.db.Load(); db != nil && !db.systemClock {
		d = db.clock.Now().Sub(timeBase)
	} else {
		d = coarseSinceBase()
	}
	if d == 0 {
		d = 1 // 0 means never used
	}
	return int64(d)
}

// softExpire makes the SA Dying and raises SoftExpired, if it is Mature.
func (s *SA) softExpire(reason string) {
	if s.transition(Dying) {
		if db := s.db.Load(); db != nil {
			db.emit(newEvent(SoftExpired, s, reason))
		}
	}
}

// hardExpire makes the SA Dead and has its DB delete it and raise
// HardExpired, unless something else killed it first.
func (s *SA) hardExpire(reason string) {
	if s.kill(xe.Errorf(xe.SAExpired, "%v: %s", s, reason)) {
		if db := s.db.Load(); db != nil {
			db.expire(s, reason)
		}
	}
}

// The lifetime scheduler: one timer per DB, armed for the earliest deadline
// in a heap of every SA's time lifetimes and every SPI reservation.

type timerKind uint8

const (
	softTimer timerKind = iota // before hardTimer: an equal soft deadline fires first
	hardTimer
	reservationTimer
)

type timerEntry struct {
	when time.Time
	kind timerKind
	sa   *SA
	i    int // index in the heap; -1 once removed
}

type timerHeap []*timerEntry

func (h timerHeap) Len() int { return len(h) }
func (h timerHeap) Less(i, j int) bool {
	if !h[i].when.Equal(h[j].when) {
		return h[i].when.Before(h[j].when)
	}
	return h[i].kind < h[j].kind
}
func (h timerHeap) Swap(i, j int) {
	h[i], h[j] = h[j], h[i]
	h[i].i, h[j].i = i, j
}
func (h *timerHeap) Push(x any) {
	e := x.(*timerEntry)
	e.i = len(*h)
	*h = append(*h, e)
}
func (h *timerHeap) Pop() any {
	old := *h
	e := old[len(old)-1]
	old[len(old)-1] = nil
	*h = old[:len(old)-1]
	e.i = -1
	return e
}

// scheduleLocked adds a deadline for sa. db.mu is held.
func (db *DB) scheduleLocked(sa *SA, kind timerKind, when time.Time) {
	e := &timerEntry{when: when, kind: kind, sa: sa}
	heap.Push(&db.timers, e)
	sa.timers = append(sa.timers, e)
	db.armLocked()
}

// unscheduleLocked removes sa's deadlines. db.mu is held.
func (db *DB) unscheduleLocked(sa *SA) {
	for _, e := range sa.timers {
		if e.i >= 0 {
			heap.Remove(&db.timers, e.i)
			e.i = -1
		}
	}
	sa.timers = nil
	db.armLocked()
}

// armLocked points the timer at the earliest deadline. db.mu is held.
func (db *DB) armLocked() {
	if len(db.timers) == 0 {
		if db.timer != nil && !db.armedFor.IsZero() {
			db.timer.Stop()
			db.armedFor = time.Time{}
		}
		return
	}
	when := db.timers[0].when
	if when.Equal(db.armedFor) {
		return
	}
	d := max(when.Sub(db.clock.Now()), 0)
	if db.timer == nil {
		db.timer = db.clock.AfterFunc(d, db.fire)
	} else {
		db.timer.Reset(d)
	}
	db.armedFor = when
}

// fire handles every deadline that is due. It may run spuriously (a timer
// that fired while being reset); it then finds nothing due and re-arms.
func (db *DB) fire() {
	var events []Event
	var victims []*SA
	db.mu.Lock()
	db.armedFor = time.Time{}
	now := db.clock.Now()
	for len(db.timers) > 0 && !db.timers[0].when.After(now) {
		e := heap.Pop(&db.timers).(*timerEntry)
		sa := e.sa
		switch e.kind {
		case softTimer:
			if sa.transition(Dying) {
				events = append(events, newEvent(SoftExpired, sa,
					fmt.Sprintf("soft lifetime of %v reached", sa.cfg.SoftLifetime.Time)))
			}
		case hardTimer:
			reason := fmt.Sprintf("hard lifetime of %v reached", sa.cfg.HardLifetime.Time)
			sa.kill(xe.Errorf(xe.SAExpired, "%v: %s", sa, reason))
			if sa.inDB {
				victims = append(victims, sa)
				events = append(events, newEvent(HardExpired, sa, reason))
			}
		case reservationTimer:
			if db.reserved[sa.cfg.SPI] == sa {
				delete(db.reserved, sa.cfg.SPI)
				sa.transition(Dead)
			}
		}
	}
	if len(victims) > 0 {
		db.removeLocked(victims)
	}
	db.armLocked()
	db.mu.Unlock()
	db.deliver(events, victims)
}
