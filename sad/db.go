package sad

import (
	"crypto/rand"
	"fmt"
	"io"
	"maps"
	"net/netip"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/sabre-ipsec/sabre/xe"
)

// DB is the Security Association Database. Lookups take no lock and
// allocate nothing; changes copy the index under one mutex and publish it.
type DB struct {
	idx     atomic.Pointer[index]
	clock   Clock
	onEvent atomic.Pointer[func(Event)]
	rand    io.Reader // crypto/rand.Reader; tests replace it
	// systemClock: LastUsed may be read from the cheaper monotonic clock.
	systemClock bool

	mu       sync.Mutex
	reserved map[uint32]*SA // Larval placeholders by SPI (ReserveSPI)
	timers   timerHeap
	timer    Timer
	armedFor time.Time // deadline the timer is armed for; zero if none
	closed   bool
}

// index is an immutable snapshot of the DB's SAs.
type index struct {
	// inbound holds the inbound SAs by SPI: a uint32 key hashes faster
	// than the whole (SPI, protocol, destination), and an SPI is shared
	// only by an ESP and AH pair or, rarely, across local addresses.
	inbound  map[uint32][]*SA
	outbound map[saKey]*SA
	sessions map[uint32]*Session
	all      []*SA // in add order
}

// saKey identifies an SA (RFC 4301 §4.1): SPI, protocol and destination.
type saKey struct {
	spi   uint32
	proto Protocol
	dst   netip.Addr
}

func keyOf(sa *SA) saKey { return saKey{sa.cfg.SPI, sa.cfg.Protocol, sa.Dst()} }

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
		clock:    SystemClock{},
		rand:     rand.Reader,
		reserved: map[uint32]*SA{},
	}
	for _, o := range opts {
		o(db)
	}
	_, db.systemClock = db.clock.(SystemClock)
	db.idx.Store(&index{
		inbound:  map[uint32][]*SA{},
		outbound: map[saKey]*SA{},
		sessions: map[uint32]*Session{},
	})
	return db
}

// LookupInbound returns the inbound SA with the given SPI, protocol and
// destination address, or nil. It takes no lock and allocates nothing.
func (db *DB) LookupInbound(spi uint32, proto Protocol, dst netip.Addr) *SA {
	dst = dst.Unmap()
	for _, sa := range db.idx.Load().inbound[spi] {
		if sa.cfg.Protocol == proto && sa.cfg.Local == dst {
			return sa
		}
	}
	return nil
}

// Session returns the session of a policy, or nil if it has no SA. It takes
// no lock and allocates nothing.
func (db *DB) Session(policyID uint32) *Session {
	return db.idx.Load().sessions[policyID]
}

// Len returns the number of SAs.
func (db *DB) Len() int { return len(db.idx.Load().all) }

// All returns every SA, oldest first.
func (db *DB) All() []*SA { return slices.Clone(db.idx.Load().all) }

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
	old := db.idx.Load()
	k := keyOf(sa)
	exists := old.outbound[k] != nil
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

	nix := old.clone()
	if sa.cfg.Direction == Inbound {
		nix.inbound[k.spi] = append(slices.Clip(nix.inbound[k.spi]), sa)
		if r := db.reserved[k.spi]; r != nil {
			delete(db.reserved, k.spi)
			db.unscheduleLocked(r)
			r.transition(Dead)
		}
	} else {
		nix.outbound[k] = sa
	}
	nix.all = append(nix.all, sa)
	p := sa.cfg.PolicyID
	nix.sessions[p] = newSession(p, append(slices.Clone(nix.sessions[p].SAs()), sa))

	sa.inDB = true
	now := db.clock.Now()
	sa.addedAt.Store(now.UnixNano())
	if t := sa.cfg.SoftLifetime.Time; t > 0 {
		db.scheduleLocked(sa, softTimer, now.Add(t))
	}
	if t := sa.cfg.HardLifetime.Time; t > 0 {
		db.scheduleLocked(sa, hardTimer, now.Add(t))
	}
	db.idx.Store(nix)
	// A soft limit may have been reached before Add, when no DB heard it.
	if sa.State() == Dying {
		ev = append(ev, newEvent(SoftExpired, sa, "already dying when added"))
	}
	return nil
}

func (ix *index) clone() *index {
	return &index{
		inbound:  maps.Clone(ix.inbound),
		outbound: maps.Clone(ix.outbound),
		sessions: maps.Clone(ix.sessions),
		all:      slices.Clip(ix.all), // appends copy; removals build a new slice
	}
}

// Delete deletes the SA (inbound, outbound, or both if they share the
// address) with the given SPI, protocol and destination. It fails with
// xe.SANotFound if there is none.
func (db *DB) Delete(spi uint32, proto Protocol, dst netip.Addr) error {
	k := saKey{spi, proto, dst.Unmap()}
	n := db.deleteWhere(Deleted, "deleted", func(sa *SA) bool { return keyOf(sa) == k })
	if n == 0 {
		return xe.Errorf(xe.SANotFound, "delete %v SA SPI %#08x to %v: not found", proto, spi, dst)
	}
	return nil
}

// DeleteSA deletes sa. It fails with xe.SANotFound if sa is not in the DB.
func (db *DB) DeleteSA(sa *SA) error {
	if db.deleteWhere(Deleted, "deleted", func(x *SA) bool { return x == sa }) == 0 {
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
	old := db.idx.Load()
	sa := old.outbound[saKey{spi, proto, dst.Unmap()}]
	if sa == nil {
		return xe.Errorf(xe.SANotFound, "demote outbound %v SA SPI %#08x to %v: not found", proto, spi, dst)
	}
	if sa.demoted {
		return nil
	}
	sa.demoted = true
	nix := old.clone()
	p := sa.cfg.PolicyID
	nix.sessions[p] = newSession(p, nix.sessions[p].SAs())
	db.idx.Store(nix)
	return nil
}

// DeletePolicy deletes every SA of a policy's session and returns how many
// it deleted.
func (db *DB) DeletePolicy(policyID uint32) int {
	s := db.Session(policyID)
	if s == nil {
		return 0
	}
	return db.deleteWhere(Deleted, fmt.Sprintf("policy %d deleted", policyID),
		func(sa *SA) bool { return sa.cfg.PolicyID == policyID })
}

// DeleteSPIs deletes the SAs, in either direction, whose SPI is one of spis,
// whose protocol matches proto (ProtocolAny: ESP and AH, which share an SPI
// when used together) and whose destination is dst (the zero Addr matches
// any). It serves the messaging layer's DELETE_SPIs and returns how many it
// deleted.
func (db *DB) DeleteSPIs(dst netip.Addr, proto Protocol, spis ...uint32) int {
	dst = dst.Unmap()
	return db.deleteWhere(Deleted, "SPI deleted", func(sa *SA) bool {
		return slices.Contains(spis, sa.cfg.SPI) && proto.matches(sa.cfg.Protocol) &&
			(!dst.IsValid() || sa.Dst() == dst)
	})
}

// Flush deletes every SA (the messaging layer's SAFLUSH) and returns how
// many it deleted. SPI reservations stay: their negotiations may still
// complete.
func (db *DB) Flush() int {
	return db.deleteWhere(Deleted, "flushed", func(*SA) bool { return true })
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

// deleteWhere deletes the SAs that match and raises kind for each.
func (db *DB) deleteWhere(kind EventKind, reason string, match func(*SA) bool) int {
	db.mu.Lock()
	var victims []*SA
	for _, sa := range db.idx.Load().all {
		if match(sa) {
			victims = append(victims, sa)
		}
	}
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

// removeLocked takes victims, all in the DB, out of a new index and the
// scheduler. db.mu is held.
func (db *DB) removeLocked(victims []*SA) {
	nix := db.idx.Load().clone()
	policies := map[uint32]bool{}
	for _, sa := range victims {
		k := keyOf(sa)
		if sa.cfg.Direction == Inbound {
			rest := slices.DeleteFunc(slices.Clone(nix.inbound[k.spi]), func(x *SA) bool { return x == sa })
			if len(rest) > 0 {
				nix.inbound[k.spi] = rest
			} else {
				delete(nix.inbound, k.spi)
			}
		} else {
			delete(nix.outbound, k)
		}
		sa.inDB = false
		policies[sa.cfg.PolicyID] = true
		db.unscheduleLocked(sa)
	}
	nix.all = slices.DeleteFunc(slices.Clone(nix.all), func(sa *SA) bool { return !sa.inDB })
	for p := range policies {
		sas := slices.DeleteFunc(slices.Clone(nix.sessions[p].SAs()), func(sa *SA) bool { return !sa.inDB })
		if s := newSession(p, sas); s != nil {
			nix.sessions[p] = s
		} else {
			delete(nix.sessions, p)
		}
	}
	db.idx.Store(nix)
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
