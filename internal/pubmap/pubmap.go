// Package pubmap is a hash table of pointers published to lock-free
// readers: a reader probes it with atomic loads only, allocating nothing,
// while one writer at a time (the caller serializes writers, usually under
// the mutex that guards the rest of its state) inserts and deletes in place.
//
// It is the index under the SAD's lookup by SPI and the SPD's lookup by
// policy ID. A copy-on-write Go map costs O(n) per write; this table costs
// amortized O(1): open addressing with linear probing, deleted slots left
// as tombstones, and a new table of the right size built when live entries
// and tombstones fill half the slots. A resize is O(n) but happens once
// per Θ(n) writes. Readers that loaded the old table keep a consistent, if
// slightly old, view, just as a reader of a copy-on-write snapshot does.
package pubmap

import "sync/atomic"

// minSlots is the smallest table.
const minSlots = 16

// Map is a hash table from a 64-bit hash to pointers of T. Several
// pointers may share a hash (or a key: the caller decides what equal
// means); a reader probes the pointers of a hash with Probe and checks each
// itself.
type Map[T any] struct {
	tab  atomic.Pointer[table[T]]
	hash func(*T) uint64
	tomb *T // a deleted slot; never handed to readers
	// Writer side, guarded by the caller.
	live, dead int
}

// New returns an empty Map whose entries hash with hash: it must return
// for an entry the hash it is inserted under.
func New[T any](hash func(*T) uint64) *Map[T] {
	return &Map[T]{hash: hash, tomb: new(T)}
}

type table[T any] struct {
	slots []atomic.Pointer[T]
	shift uint8 // slot of hash h: h*mul >> shift
	tomb  *T    // the Map's tomb
}

// mul spreads sequential keys (SPIs, policy IDs) over the table
// (Fibonacci hashing: 2^64 divided by the golden ratio).
const mul = 0x9e3779b97f4a7c15

// Probe walks the pointers stored under one hash, and others that share
// its probe sequence, without locks.
type Probe[T any] struct {
	t *table[T]
	i uint64
}

// Probe starts a walk of the pointers that may have been stored under h.
func (m *Map[T]) Probe(h uint64) Probe[T] {
	t := m.tab.Load()
	if t == nil {
		return Probe[T]{}
	}
	return Probe[T]{t, h * mul >> t.shift}
}

// Next returns the next pointer of the walk, or nil at its end. The walk
// returns every pointer stored under the hash it started from, among
// pointers stored under other hashes: the caller checks each.
func (p *Probe[T]) Next() *T {
	if p.t == nil {
		return nil
	}
	mask := uint64(len(p.t.slots) - 1)
	for {
		x := p.t.slots[p.i&mask].Load()
		p.i++
		if x != p.t.tomb {
			return x
		}
	}
}

// Len returns the number of pointers stored. Writer side.
func (m *Map[T]) Len() int { return m.live }

// Insert stores v under h. It does not look for an equal entry: the caller
// has. Writer side.
func (m *Map[T]) Insert(h uint64, v *T) {
	if v == nil {
		panic("pubmap: Insert of nil")
	}
	t := m.tab.Load()
	if t == nil || 2*(m.live+m.dead+1) > len(t.slots) {
		t = m.resize(m.live + 1)
	}
	mask := uint64(len(t.slots) - 1)
	for i := h * mul >> t.shift; ; i++ {
		s := &t.slots[i&mask]
		switch s.Load() {
		case nil:
			m.live++
			s.Store(v)
			return
		case t.tomb:
			m.live++
			m.dead--
			s.Store(v)
			return
		}
	}
}

// Replace stores v in place of old, which is stored under h, and reports
// whether it found old. Writer side.
func (m *Map[T]) Replace(h uint64, old, v *T) bool {
	if v == nil {
		panic("pubmap: Replace with nil")
	}
	if s := m.find(h, old); s != nil {
		s.Store(v)
		return true
	}
	return false
}

// Delete removes old, stored under h, and reports whether it found it.
// Writer side.
func (m *Map[T]) Delete(h uint64, old *T) bool {
	s := m.find(h, old)
	if s == nil {
		return false
	}
	t := m.tab.Load()
	s.Store(t.tomb)
	m.live--
	m.dead++
	if len(t.slots) > minSlots && 8*m.live < len(t.slots) {
		m.resize(m.live)
	}
	return true
}

// Clear removes every pointer. Writer side.
func (m *Map[T]) Clear() {
	m.live, m.dead = 0, 0
	m.tab.Store(nil)
}

// All calls f for every pointer stored, in no order. Writer side.
func (m *Map[T]) All(f func(*T)) {
	t := m.tab.Load()
	if t == nil {
		return
	}
	for i := range t.slots {
		if x := t.slots[i].Load(); x != nil && x != t.tomb {
			f(x)
		}
	}
}

func (m *Map[T]) find(h uint64, old *T) *atomic.Pointer[T] {
	t := m.tab.Load()
	if t == nil || old == nil {
		return nil
	}
	mask := uint64(len(t.slots) - 1)
	for i := h * mul >> t.shift; ; i++ {
		s := &t.slots[i&mask]
		switch s.Load() {
		case nil:
			return nil
		case old:
			return s
		}
	}
}

// resize publishes a table for n live pointers, at most a quarter full,
// without tombstones, and returns it.
func (m *Map[T]) resize(n int) *table[T] {
	size := minSlots
	for size < 4*n {
		size *= 2
	}
	nt := &table[T]{slots: make([]atomic.Pointer[T], size), shift: uint8(64 - log2(size)), tomb: m.tomb}
	mask := uint64(size - 1)
	m.All(func(v *T) {
		i := m.hash(v) * mul >> nt.shift
		for nt.slots[i&mask].Load() != nil {
			i++
		}
		nt.slots[i&mask].Store(v)
	})
	m.dead = 0
	m.tab.Store(nt)
	return nt
}

func log2(n int) int {
	k := 0
	for 1<<k < n {
		k++
	}
	return k
}
