package ike

import (
	"crypto/rand"
	"crypto/sha256"
	"encoding/binary"
	"errors"
	"net/netip"
	"sync"
)

// DefaultMaxHalfOpen bounds the responder's IKE SAs that have not completed
// IKE_AUTH, the state a flood of IKE_SA_INIT requests creates. Past half of
// it the responder demands cookies (RFC 7296 §2.6); at the limit it
// refuses. The IKE SAs this host initiates have a budget of their own of
// the same size, so a flood never stops our own negotiations.
const DefaultMaxHalfOpen = 1024

// Per source address (strongSwan's cookie_threshold_ip and
// block_threshold): from the third half-open IKE SA of one address on, that
// address must return a cookie; past the fifth its IKE_SA_INIT requests are
// ignored. One host, even one that answers cookies, holds at most
// DefaultMaxHalfOpenPerPeer of the global budget.
const (
	DefaultCookieThresholdPerPeer = 3
	DefaultMaxHalfOpenPerPeer     = 5
)

// Errors of Add.
var (
	// ErrHalfOpenLimit: no more half-open IKE SAs may be made.
	ErrHalfOpenLimit = errors.New("ike: half-open IKE SA limit reached")
	// ErrPeerHalfOpenLimit: the peer's address holds its share of
	// half-open IKE SAs.
	ErrPeerHalfOpenLimit = errors.New("ike: half-open IKE SA limit of the peer's address reached")
	// ErrDuplicateInit: an IKE SA was already made from this very
	// IKE_SA_INIT request (a retransmission or a copy).
	ErrDuplicateInit = errors.New("ike: IKE SA already made from this IKE_SA_INIT request")
)

// ErrNotFound is returned by Checkout for an unknown IKE SA.
var ErrNotFound = errors.New("ike: no such IKE SA")

// SAKey identifies an IKE SA by its SPIs. A responder's SA is also found by
// the IKE_SA_INIT request that made it (CheckoutInit), since retransmitted
// IKE_SA_INIT requests carry a zero responder SPI.
type SAKey struct{ SPIi, SPIr uint64 }

// InitHash is the SHA-256 of an IKE_SA_INIT request's bytes.
type InitHash [sha256.Size]byte

// HashMessage returns the hash that tells a retransmission (bitwise
// identical, RFC 7296 §2.1) from another message with the same IDs.
func HashMessage(b []byte) InitHash { return sha256.Sum256(b) }

// initKey identifies the IKE_SA_INIT request a responder's SA was made
// from: the initiator's SPI, its address and the request's hash, as
// strongSwan keys its half-open table.
type initKey struct {
	spii uint64
	peer netip.AddrPort
	hash InitHash
}

// managed is one IKE SA in the manager.
type managed[T any] struct {
	key       SAKey
	peer      netip.AddrPort
	sa        T
	out       bool    // checked out by a worker
	init      initKey // responder SAs: the request that made it
	halfOpen  bool
	responder bool
	deleted   bool
}

// Manager holds the IKE SAs and lends each to one goroutine at a time:
// Checkout, work, Checkin (strongSwan's ike_sa_manager). It counts and
// limits half-open SAs.
type Manager[T any] struct {
	mu       sync.Mutex
	cond     *sync.Cond
	byKey    map[SAKey]*managed[T]
	byInit   map[initKey]*managed[T]
	halfOpen int                // responder SAs
	perPeer  map[netip.Addr]int // responder SAs by the peer's address (unmapped)
	// halfOpenOurs counts the SAs we initiate, which have a budget of
	// their own.
	halfOpenOurs int
	// MaxHalfOpen bounds half-open SAs of each role; MaxHalfOpenPerPeer
	// and CookieThresholdPerPeer those of one peer address (0: no bound).
	MaxHalfOpen, MaxHalfOpenPerPeer, CookieThresholdPerPeer int
}

// NewManager returns an empty manager.
func NewManager[T any]() *Manager[T] {
	m := &Manager[T]{byKey: map[SAKey]*managed[T]{}, byInit: map[initKey]*managed[T]{}, perPeer: map[netip.Addr]int{},
		MaxHalfOpen: DefaultMaxHalfOpen, MaxHalfOpenPerPeer: DefaultMaxHalfOpenPerPeer, CookieThresholdPerPeer: DefaultCookieThresholdPerPeer}
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

// HalfOpen returns the number of half-open IKE SAs of the responder.
func (m *Manager[T]) HalfOpen() int {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.halfOpen
}

// HalfOpenFrom returns the number of half-open responder IKE SAs with a
// peer at addr.
func (m *Manager[T]) HalfOpenFrom(addr netip.Addr) int {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.perPeer[addr.Unmap()]
}

// CookieThreshold reports whether so many SAs are half-open, in all or
// from addr, that a responder should demand a cookie from addr (RFC 7296
// §2.6).
func (m *Manager[T]) CookieThreshold(addr netip.Addr) bool {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.halfOpen >= m.MaxHalfOpen/2 || m.CookieThresholdPerPeer > 0 && m.perPeer[addr.Unmap()] >= m.CookieThresholdPerPeer
}

// Add registers a new, half-open IKE SA and returns it checked out to the
// caller. A responder SA added here is made from no known request; the
// daemon uses AddResponder.
func (m *Manager[T]) Add(key SAKey, peer netip.AddrPort, responder bool, sa T) error {
	if responder {
		return m.AddResponder(key, peer, InitHash{}, sa)
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.halfOpenOurs >= m.MaxHalfOpen {
		return ErrHalfOpenLimit
	}
	if _, dup := m.byKey[key]; dup {
		return errors.New("ike: IKE SA SPIs in use")
	}
	m.byKey[key] = &managed[T]{key: key, peer: peer, sa: sa, out: true, halfOpen: true}
	m.halfOpenOurs++
	return nil
}

// AddResponder registers the half-open IKE SA that the IKE_SA_INIT request
// with hash from peer creates, and returns it checked out to the caller.
// The check and the insertion are one step, so two copies of one request
// processed at once make one IKE SA: the second gets ErrDuplicateInit and
// is answered from the first's SA (CheckoutInit), RFC 7296 §2.1.
func (m *Manager[T]) AddResponder(key SAKey, peer netip.AddrPort, hash InitHash, sa T) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	ik := initKey{key.SPIi, peer, hash}
	if _, dup := m.byInit[ik]; dup {
		return ErrDuplicateInit
	}
	// The address's share first, as strongSwan's block_threshold: a
	// flooding host is ignored, not told the table is full.
	if m.MaxHalfOpenPerPeer > 0 && m.perPeer[peer.Addr().Unmap()] >= m.MaxHalfOpenPerPeer {
		return ErrPeerHalfOpenLimit
	}
	if m.halfOpen >= m.MaxHalfOpen {
		return ErrHalfOpenLimit
	}
	if _, dup := m.byKey[key]; dup {
		return errors.New("ike: IKE SA SPIs in use")
	}
	e := &managed[T]{key: key, peer: peer, sa: sa, out: true, halfOpen: true, responder: true, init: ik}
	m.byKey[key] = e
	m.byInit[ik] = e
	m.halfOpen++
	m.perPeer[peer.Addr().Unmap()]++
	return nil
}

// AddEstablished registers an IKE SA made by rekeying an established one
// (RFC 7296 §2.18), never half-open, and returns it checked out to the
// caller.
func (m *Manager[T]) AddEstablished(key SAKey, peer netip.AddrPort, sa T) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	if _, dup := m.byKey[key]; dup {
		return errors.New("ike: IKE SA SPIs in use")
	}
	m.byKey[key] = &managed[T]{key: key, peer: peer, sa: sa, out: true}
	return nil
}

// CheckoutInit finds the responder SA made from the IKE_SA_INIT request
// with SPI spii and hash from peer, waiting until no one else holds it.
func (m *Manager[T]) CheckoutInit(spii uint64, peer netip.AddrPort, hash InitHash) (T, error) {
	ik := initKey{spii, peer, hash}
	return m.checkout(func() *managed[T] { return m.byInit[ik] })
}

// checkout takes the entry find returns (under m.mu, looked up again after
// every wait) out of the manager's hands, waiting until no one else holds
// it.
func (m *Manager[T]) checkout(find func() *managed[T]) (T, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	for {
		e := find()
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

// notHalfOpen takes e out of the half-open counts.
func (m *Manager[T]) notHalfOpen(e *managed[T]) {
	if !e.halfOpen {
		return
	}
	e.halfOpen = false
	if !e.responder {
		m.halfOpenOurs--
		return
	}
	m.halfOpen--
	a := e.peer.Addr().Unmap()
	if m.perPeer[a]--; m.perPeer[a] <= 0 {
		delete(m.perPeer, a)
	}
}

// Checkout finds the IKE SA by key and waits until no one else holds it.
// A key with SPIr 0 finds only an SA we initiate, before its IKE_SA_INIT
// response.
func (m *Manager[T]) Checkout(key SAKey, peer netip.AddrPort) (T, error) {
	return m.checkout(func() *managed[T] { return m.lookup(key, peer) })
}

func (m *Manager[T]) lookup(key SAKey, peer netip.AddrPort) *managed[T] {
	if e := m.byKey[key]; e != nil {
		return e
	}
	if key.SPIr == 0 {
		return nil
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
	// The request that made a responder SA still finds it: a late copy of
	// it is a retransmission, not a new IKE SA (RFC 7296 §2.1).
	if e := m.byKey[key]; e != nil {
		m.notHalfOpen(e)
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
	if e.responder && m.byInit[e.init] == e {
		delete(m.byInit, e.init)
	}
	m.notHalfOpen(e)
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
