package ike

import (
	"crypto/rand"
	"encoding/binary"
	"errors"
	"net/netip"
	"sync"
)

// DefaultMaxHalfOpen bounds IKE SAs that have not completed IKE_AUTH, the
// state a flood of spoofed IKE_SA_INIT requests creates. Past half of it the
// responder demands cookies (RFC 7296 §2.6); at the limit it refuses.
const DefaultMaxHalfOpen = 1024

// ErrHalfOpenLimit is returned when no more half-open IKE SAs may be made.
var ErrHalfOpenLimit = errors.New("ike: half-open IKE SA limit reached")

// ErrNotFound is returned by Checkout for an unknown IKE SA.
var ErrNotFound = errors.New("ike: no such IKE SA")

// SAKey identifies an IKE SA by its SPIs. A responder's half-open SA is also
// found by the initiator's SPI and address alone, since retransmitted
// IKE_SA_INIT requests carry a zero responder SPI.
type SAKey struct{ SPIi, SPIr uint64 }

type initKey struct {
	spii uint64
	peer netip.AddrPort
}

// managed is one IKE SA in the manager.
type managed[T any] struct {
	key       SAKey
	peer      netip.AddrPort
	sa        T
	out       bool // checked out by a worker
	halfOpen  bool
	responder bool
	deleted   bool
}

// Manager holds the IKE SAs and lends each to one goroutine at a time:
// Checkout, work, Checkin (strongSwan's ike_sa_manager). It counts and
// limits half-open SAs.
type Manager[T any] struct {
	mu          sync.Mutex
	cond        *sync.Cond
	byKey       map[SAKey]*managed[T]
	byInit      map[initKey]*managed[T]
	halfOpen    int
	MaxHalfOpen int
}

// NewManager returns an empty manager.
func NewManager[T any]() *Manager[T] {
	m := &Manager[T]{byKey: map[SAKey]*managed[T]{}, byInit: map[initKey]*managed[T]{}, MaxHalfOpen: DefaultMaxHalfOpen}
	m.cond = sync.NewCond(&m.mu)
	return m
}

// NewSPI returns a random, non-zero SPI not in use locally.
func (m *Manager[T]) NewSPI() uint64 {
	var b [8]byte
	for {
		rand.Read(b[:])
		spi := binary.BigEndian.Uint64(b[:])
		if spi == 0 {
			continue
		}
		m.mu.Lock()
		_, used := m.byKey[SAKey{SPIi: spi}]
		m.mu.Unlock()
		if !used {
			return spi
		}
	}
}

// HalfOpen returns the number of half-open IKE SAs.
func (m *Manager[T]) HalfOpen() int {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.halfOpen
}

// CookieThreshold reports whether so many SAs are half-open that a
// responder should demand a cookie (RFC 7296 §2.6).
func (m *Manager[T]) CookieThreshold() bool { return m.HalfOpen() >= m.MaxHalfOpen/2 }

// Add registers a new, half-open IKE SA and returns it checked out to the
// caller. responder SAs are also found by (SPIi, peer) for retransmitted
// IKE_SA_INIT requests.
func (m *Manager[T]) Add(key SAKey, peer netip.AddrPort, responder bool, sa T) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.halfOpen >= m.MaxHalfOpen {
		return ErrHalfOpenLimit
	}
	if _, dup := m.byKey[key]; dup {
		return errors.New("ike: IKE SA SPIs in use")
	}
	e := &managed[T]{key: key, peer: peer, sa: sa, out: true, halfOpen: true, responder: responder}
	m.byKey[key] = e
	if responder {
		m.byInit[initKey{key.SPIi, peer}] = e
	}
	m.halfOpen++
	return nil
}

// Checkout finds the IKE SA by key and waits until no one else holds it.
// A key with SPIr 0 finds a responder's SA by the initiator's SPI and the
// peer's address.
func (m *Manager[T]) Checkout(key SAKey, peer netip.AddrPort) (T, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	for {
		e := m.lookup(key, peer)
		if e == nil || e.deleted {
			var zero T
			return zero, ErrNotFound
		}
		if !e.out {
			e.out = true
			return e.sa, nil
		}
		m.cond.Wait()
	}
}

func (m *Manager[T]) lookup(key SAKey, peer netip.AddrPort) *managed[T] {
	if e := m.byKey[key]; e != nil {
		return e
	}
	if key.SPIr == 0 {
		return m.byInit[initKey{key.SPIi, peer}]
	}
	// An initiator's SA is stored under SPIr 0 until the IKE_SA_INIT
	// response tells it the responder's SPI.
	if e := m.byKey[SAKey{SPIi: key.SPIi}]; e != nil && !e.responder {
		return e
	}
	return nil
}

// Rekey changes the SA's key once both SPIs are known (the initiator
// learns SPIr from the IKE_SA_INIT response).
func (m *Manager[T]) Rekey(old, key SAKey) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if e := m.byKey[old]; e != nil && old != key {
		delete(m.byKey, old)
		e.key = key
		m.byKey[key] = e
	}
}

// Established marks the SA as no longer half-open (IKE_AUTH completed).
func (m *Manager[T]) Established(key SAKey) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if e := m.byKey[key]; e != nil && e.halfOpen {
		e.halfOpen = false
		m.halfOpen--
		if e.responder {
			delete(m.byInit, initKey{e.key.SPIi, e.peer})
		}
	}
}

// Checkin returns an SA taken with Checkout or Add.
func (m *Manager[T]) Checkin(key SAKey) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if e := m.byKey[key]; e != nil {
		e.out = false
	}
	m.cond.Broadcast()
}

// Remove deletes an SA the caller holds checked out.
func (m *Manager[T]) Remove(key SAKey) {
	m.mu.Lock()
	defer m.mu.Unlock()
	e := m.byKey[key]
	if e == nil {
		return
	}
	e.deleted = true
	delete(m.byKey, key)
	if e.responder {
		if m.byInit[initKey{e.key.SPIi, e.peer}] == e {
			delete(m.byInit, initKey{e.key.SPIi, e.peer})
		}
	}
	if e.halfOpen {
		m.halfOpen--
	}
	m.cond.Broadcast()
}

// All returns every SA, for netstat and timers; callers must Checkout one
// before changing it.
func (m *Manager[T]) All() []SAKey {
	m.mu.Lock()
	defer m.mu.Unlock()
	keys := make([]SAKey, 0, len(m.byKey))
	for k := range m.byKey {
		keys = append(keys, k)
	}
	return keys
}

// CountPeer returns how many IKE SAs were made with a peer at addr,
// without checking any out.
func (m *Manager[T]) CountPeer(addr netip.Addr) int {
	m.mu.Lock()
	defer m.mu.Unlock()
	n := 0
	for _, e := range m.byKey {
		if e.peer.Addr() == addr {
			n++
		}
	}
	return n
}

// Len returns the number of IKE SAs.
func (m *Manager[T]) Len() int {
	m.mu.Lock()
	defer m.mu.Unlock()
	return len(m.byKey)
}
