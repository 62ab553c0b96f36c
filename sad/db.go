package sad

import (
	"cmp"
	"crypto/rand"
	"fmt"
	"io"
	"net/netip"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/sabre-ipsec/sabre/internal/pubmap"
	"github.com/sabre-ipsec/sabre/xe"
)

// DB is the Security Association Database. Lookups take no lock and
// allocate nothing. Writers serialize on one mutex and change the indexes in
// place, in amortized O(1) whatever the number of SAs: the SPI and session
// indexes are pubmap tables, which readers probe with atomic loads.
type DB struct {
	// inbound holds the inbound SAs by SPI: a uint32 key hashes faster
	// than the whole (SPI, protocol, destination), and an SPI is shared
	// only by an ESP and AH pair or, rarely, across local addresses.
	inbound *pubmap.Map[SA]
	// sessions holds each policy's Session, an immutable snapshot
	// replaced when the policy's SAs change.
	sessions *pubmap.Map[Session]
	count    atomic.Int64 // SAs in the DB

	clock   Clock
	onEvent atomic.Pointer[func(Event)]
	rand    io.Reader // crypto/rand.Reader; tests replace it
	// systemClock: LastUsed may be read from the cheaper monotonic clock.
	systemClock bool

	mu       sync.Mutex
	outbound map[uint32][]*SA // outbound SAs by SPI
	// oldest and newest end the list of SAs in add order, linked through
	// SA.older and SA.newer.
	oldest, newest *SA
	seq            uint64         // add order of the last SA added
	reserved       map[uint32]*SA // Larval placeholders by SPI (ReserveSPI)
	timers         timerHeap
	timer          Timer
	armedFor       time.Time // deadline the timer is armed for; zero if none
	closed         bool
}

// saKey identifies an SA (RFC 4301 §4.1): SPI, protocol and destination.
type saKey struct {
	spi   uint32
	proto Protocol
	dst   netip.Addr
}

func keyOf(sa *SA) saKey { return saKey{sa.cfg.SPI, sa.cfg.Protocol, sa.Dst()} }

func inboundHash(sa *SA) uint64     { return uint64(sa.cfg.SPI) }
func sessionHash(s *Session) uint64 { return uint64(s.policyID) }

// Option configures a DB.
type Option func(*DB)

// WithEventHandler has the DB call f for every SoftExpired, HardExpired and
// Deleted event. f is called synchronously by the goroutine that caused the
// event (a packet's, the scheduler's or a DB caller's), never with a DB lock
// held, possibly from several goroutines at once; it must not block.
func WithEventHandler(f func(Event)) Option { return func(db *DB) { db.SetEventHandler(f) } }

// SetEventHandler replaces the event handler (nil: none). The messaging
// layer installs its own on the engine's DB this way.
func (db *DB) SetEventHandler(f func(Event)) {
	if f == nil {
		db.onEvent.Store(nil)
		return
	}
	db.onEvent.Store(&f)
}

// WithClock sets the clock of the lifetime scheduler; the default is
// SystemClock.
func WithClock(c Clock) Option { return func(db *DB) { db.clock = c } }

// NewDB returns an empty DB.
func NewDB(opts ...Option) *DB {
	db := &DB{
		inbound:  pubmap.New(inboundHash),
		sessions: pubmap.New(sessionHash),
		clock:    SystemClock{},
		rand:     rand.Reader,
		outbound: map[uint32][]*SA{},
		reserved: map[uint32]*SA{},
	}
	for _, o := range opts {
		o(db)
	}
	_, db.systemClock = db.clock.(SystemClock)
	return db
}

// LookupInbound returns the inbound SA with the given SPI, protocol and
// destination address, or nil. It takes no lock and allocates nothing.
func (db *DB) LookupInbound(spi uint32, proto Protocol, dst netip.Addr) *SA {
	dst = dst.Unmap()
	p := db.inbound.Probe(uint64(spi))
	for sa := p.Next(); sa != nil; sa = p.Next() {
		if sa.cfg.SPI == spi && sa.cfg.Protocol == proto && sa.cfg.Local == dst {
			return sa
		}
	}
	return nil
}

// Session returns the session of a policy, or nil if it has no SA. It takes
// no lock and allocates nothing.
func (db *DB) Session(policyID uint32) *Session {
	p := db.sessions.Probe(uint64(policyID))
	for s := p.Next(); s != nil; s = p.Next() {
		if s.policyID == policyID {
			return s
		}
	}
	return nil
}

// Len returns the number of SAs.
func (db *DB) Len() int { return int(db.count.Load()) }

// All returns every SA, oldest first. It walks them all under the write
// lock: it serves listings, not packets.
func (db *DB) All() []*SA {
	db.mu.Lock()
	defer db.mu.Unlock()
	all := make([]*SA, 0, db.count.Load())
	for sa := db.oldest; sa != nil; sa = sa.newer {
		all = append(all, sa)
	}
	return all
}

// Add adds a Mature or Dying SA, which the DB then owns: it deletes the SA
// and zeroes its keys at its hard lifetime or when told to. Time lifetimes
// start now. An inbound SA fills a reservation of its SPI (ReserveSPI).
//
// Add fails with xe.Exist if an SA with the same SPI, protocol and
// destination and direction is in the DB, or if the SPI is reserved for
// another destination or protocol.
func (db *DB) Add(sa *SA) error {
	if sa == nil {
		return xe.Errorf(xe.BadParam, "add: nil SA")
	}
	var ev []Event
	db.mu.Lock()
	defer func() {
		db.mu.Unlock()
		db.deliver(ev, nil)
	}()
	if db.closed {
		return xe.Errorf(xe.BadParam, "add %v: DB closed", sa)
	}
	if sa.db.Load() != nil {
		return xe.Errorf(xe.Exist, "add %v: already in a DB", sa)
	}
	if st := sa.State(); st != Mature && st != Dying {
		return xe.Errorf(xe.BadParam, "add %v: SA is %v", sa, st)
	}
	k := keyOf(sa)
	exists := db.outboundLocked(k) != nil
	if sa.cfg.Direction == Inbound {
		exists = db.LookupInbound(k.spi, k.proto, k.dst) != nil
		if r := db.reserved[k.spi]; r != nil {
			if r.cfg.Local != k.dst || !r.cfg.Protocol.matches(k.proto) {
				return xe.Errorf(xe.Exist, "add %v: SPI %#08x is reserved for %v to %v", sa, k.spi, r.cfg.Protocol, r.cfg.Local)
			}
		}
	}
	if exists {
		return xe.Errorf(xe.Exist, "add %v: an SA with that SPI, protocol and destination exists", sa)
	}
	// Claim the SA; another DB's Add may race for it.
	if !sa.db.CompareAndSwap(nil, db) {
		return xe.Errorf(xe.Exist, "add %v: already in a DB", sa)
	}

	if sa.cfg.Direction == Inbound {
		db.inbound.Insert(uint64(k.spi), sa)
		if r := db.reserved[k.spi]; r != nil {
			delete(db.reserved, k.spi)
			db.unscheduleLocked(r)
			r.transition(Dead)
		}
	} else {
		db.outbound[k.spi] = append(db.outbound[k.spi], sa)
	}
	db.seq++
	sa.addSeq = db.seq
	sa.older, sa.newer = db.newest, nil
	if db.newest != nil {
		db.newest.newer = sa
	} else {
		db.oldest = sa
	}
	db.newest = sa
	p := sa.cfg.PolicyID
	old := db.Session(p)
	db.setSessionLocked(p, old, newSession(p, append(slices.Clone(old.SAs()), sa)))
	db.count.Add(1)

	sa.inDB = true
	now := db.clock.Now()
	sa.addedAt.Store(now.UnixNano())
	if t := sa.cfg.SoftLifetime.Time; t > 0 {
		db.scheduleLocked(sa, softTimer, now.Add(t))
	}
	if t := sa.cfg.HardLifetime.Time; t > 0 {
		db.scheduleLocked(sa, hardTimer, now.Add(t))
	}
	// A soft limit may have been reached before Add, when no DB heard it.
	if sa.State() == Dying {
		ev = append(ev, newEvent(SoftExpired, sa, "already dying when added"))
	}
	return nil
}

// outboundLocked returns the outbound SA of key k, or nil.
func (db *DB) outboundLocked(k saKey) *SA {
	for _, sa := range db.outbound[k.spi] {
		if keyOf(sa) == k {
			return sa
		}
	}
	return nil
}

// setSessionLocked replaces old, the session of policy p, with s; either
// may be nil.
func (db *DB) setSessionLocked(p uint32, old, s *Session) {
	switch {
	case old == nil && s != nil:
		db.sessions.Insert(uint64(p), s)
	case old != nil && s != nil:
		db.sessions.Replace(uint64(p), old, s)
	case old != nil:
		db.sessions.Delete(uint64(p), old)
	}
}

// Delete deletes the SA (inbound, outbound, or both if they share the
// address) with the given SPI, protocol and destination. It fails with
// xe.SANotFound if there is none.
func (db *DB) Delete(spi uint32, proto Protocol, dst netip.Addr) error {
	k := saKey{spi, proto, dst.Unmap()}
	n := db.deleteSAs(Deleted, "deleted", func() []*SA {
		var v []*SA
		if sa := db.LookupInbound(k.spi, k.proto, k.dst); sa != nil {
			v = append(v, sa)
		}
		if sa := db.outboundLocked(k); sa != nil {
			v = append(v, sa)
		}
		return v
	})
	if n == 0 {
		return xe.Errorf(xe.SANotFound, "delete %v SA SPI %#08x to %v: not found", proto, spi, dst)
	}
	return nil
}

// DeleteSA deletes sa. It fails with xe.SANotFound if sa is not in the DB.
func (db *DB) DeleteSA(sa *SA) error {
	n := db.deleteSAs(Deleted, "deleted", func() []*SA {
		if sa == nil || !sa.inDB || sa.db.Load() != db {
			return nil
		}
		return []*SA{sa}
	})
	if n == 0 {
		return xe.Errorf(xe.SANotFound, "delete %v: not in the DB", sa)
	}
	return nil
}

// Demote stops the engine sending on the outbound SA with the given SPI,
// protocol and destination without deleting it: it is never its session's
// current SA again, and the newest other outbound SA of its protocol is. A
// packet that picked it before still finds its keys. A key manager demotes
// the SA a rekey replaced and deletes it once the peer cannot need it
// (make-before-break). Demote fails with xe.SANotFound if there is no such
// SA.
func (db *DB) Demote(spi uint32, proto Protocol, dst netip.Addr) error {
	db.mu.Lock()
	defer db.mu.Unlock()
	sa := db.outboundLocked(saKey{spi, proto, dst.Unmap()})
	if sa == nil {
		return xe.Errorf(xe.SANotFound, "demote outbound %v SA SPI %#08x to %v: not found", proto, spi, dst)
	}
	if sa.demoted {
		return nil
	}
	sa.demoted = true
	// A new snapshot of the session: readers pick the current SA from it.
	p := sa.cfg.PolicyID
	if old := db.Session(p); old != nil {
		db.setSessionLocked(p, old, newSession(p, old.SAs()))
	}
	return nil
}

// DeletePolicy deletes every SA of a policy's session and returns how many
// it deleted.
func (db *DB) DeletePolicy(policyID uint32) int {
	if db.Session(policyID) == nil {
		return 0
	}
	return db.deleteSAs(Deleted, fmt.Sprintf("policy %d deleted", policyID), func() []*SA {
		return slices.Clone(db.Session(policyID).SAs())
	})
}

// DeleteSPIs deletes the SAs, in either direction, whose SPI is one of spis,
// whose protocol matches proto (ProtocolAny: ESP and AH, which share an SPI
// when used together) and whose destination is dst (the zero Addr matches
// any). It serves the messaging layer's DELETE_SPIs and returns how many it
// deleted.
func (db *DB) DeleteSPIs(dst netip.Addr, proto Protocol, spis ...uint32) int {
	dst = dst.Unmap()
	match := func(sa *SA) bool {
		return proto.matches(sa.cfg.Protocol) && (!dst.IsValid() || sa.Dst() == dst)
	}
	return db.deleteSAs(Deleted, "SPI deleted", func() []*SA {
		var v []*SA
		for i, spi := range spis {
			if slices.Contains(spis[:i], spi) {
				continue
			}
			p := db.inbound.Probe(uint64(spi))
			for sa := p.Next(); sa != nil; sa = p.Next() {
				if sa.cfg.SPI == spi && match(sa) {
					v = append(v, sa)
				}
			}
			for _, sa := range db.outbound[spi] {
				if match(sa) {
					v = append(v, sa)
				}
			}
		}
		return v
	})
}

// Flush deletes every SA (the messaging layer's SAFLUSH) and returns how
// many it deleted. SPI reservations stay: their negotiations may still
// complete.
func (db *DB) Flush() int {
	return db.deleteSAs(Deleted, "flushed", func() []*SA {
		var v []*SA
		for sa := db.oldest; sa != nil; sa = sa.newer {
			v = append(v, sa)
		}
		return v
	})
}

// Close flushes the DB and stops its scheduler; Add fails afterwards.
func (db *DB) Close() {
	db.Flush()
	db.mu.Lock()
	db.closed = true
	for _, r := range db.reserved {
		db.unscheduleLocked(r)
		r.transition(Dead)
	}
	clear(db.reserved)
	if db.timer != nil {
		db.timer.Stop()
	}
	db.mu.Unlock()
}

// deleteSAs deletes the SAs that find returns, called with db.mu held, and
// raises kind for each, in the order they were added.
func (db *DB) deleteSAs(kind EventKind, reason string, find func() []*SA) int {
	db.mu.Lock()
	victims := find()
	slices.SortFunc(victims, func(a, b *SA) int { return cmp.Compare(a.addSeq, b.addSeq) })
	var events []Event
	if len(victims) > 0 {
		for _, sa := range victims {
			sa.kill(xe.Errorf(xe.SAExpired, "%v: %s", sa, reason))
			events = append(events, newEvent(kind, sa, reason))
		}
		db.removeLocked(victims)
	}
	db.mu.Unlock()
	db.deliver(events, victims)
	return len(victims)
}

// expire deletes sa, which Account found past its hard lifetime, unless
// something else deleted it first.
func (db *DB) expire(sa *SA, reason string) {
	db.mu.Lock()
	if !sa.inDB {
		db.mu.Unlock()
		return
	}
	db.removeLocked([]*SA{sa})
	db.mu.Unlock()
	db.deliver([]Event{newEvent(HardExpired, sa, reason)}, []*SA{sa})
}

// removeLocked takes victims, all in the DB, out of the indexes and the
// scheduler. db.mu is held.
func (db *DB) removeLocked(victims []*SA) {
	var policies []uint32
	for _, sa := range victims {
		k := keyOf(sa)
		if sa.cfg.Direction == Inbound {
			db.inbound.Delete(uint64(k.spi), sa)
		} else {
			rest := slices.DeleteFunc(db.outbound[k.spi], func(x *SA) bool { return x == sa })
			if len(rest) > 0 {
				db.outbound[k.spi] = rest
			} else {
				delete(db.outbound, k.spi)
			}
		}
		if sa.older != nil {
			sa.older.newer = sa.newer
		} else {
			db.oldest = sa.newer
		}
		if sa.newer != nil {
			sa.newer.older = sa.older
		} else {
			db.newest = sa.older
		}
		sa.older, sa.newer = nil, nil
		sa.inDB = false
		db.count.Add(-1)
		if !slices.Contains(policies, sa.cfg.PolicyID) {
			policies = append(policies, sa.cfg.PolicyID)
		}
		db.unscheduleLocked(sa)
	}
	for _, p := range policies {
		old := db.Session(p)
		sas := slices.DeleteFunc(slices.Clone(old.SAs()), func(sa *SA) bool { return !sa.inDB })
		db.setSessionLocked(p, old, newSession(p, sas))
	}
}

// deliver raises events and then drops the DB's reference to the SAs it
// deleted, zeroing their keys once no packet holds them. No lock is held.
func (db *DB) deliver(events []Event, deleted []*SA) {
	for _, e := range events {
		db.emit(e)
	}
	for _, sa := range deleted {
		sa.dropOwner()
	}
}

func (db *DB) emit(e Event) {
	if f := db.onEvent.Load(); f != nil {
		(*f)(e)
	}
}
