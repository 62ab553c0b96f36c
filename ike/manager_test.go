package ike

import (
	"errors"
	"net/netip"
	"sync"
	"sync/atomic"
	"testing"
)

func TestManagerCheckoutExclusive(t *testing.T) {
	m := NewManager[*int]()
	peer := netip.MustParseAddrPort("192.0.2.1:500")
	v := new(int)
	key := SAKey{SPIi: 1, SPIr: 2}
	if err := m.Add(key, peer, false, v); err != nil {
		t.Fatal(err)
	}
	m.Checkin(key)
	var inside atomic.Int32
	var wg sync.WaitGroup
	for range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for range 200 {
				sa, err := m.Checkout(key, peer)
				if err != nil {
					t.Error(err)
					return
				}
				if inside.Add(1) != 1 {
					t.Error("two workers hold one IKE SA")
				}
				*sa++
				inside.Add(-1)
				m.Checkin(key)
			}
		}()
	}
	wg.Wait()
	if *v != 1600 {
		t.Fatalf("counter %d", *v)
	}
}

func TestManagerHalfOpenAndResponderLookup(t *testing.T) {
	m := NewManager[string]()
	m.MaxHalfOpen = 2
	peer := netip.MustParseAddrPort("192.0.2.1:500")
	req := HashMessage([]byte("request a"))
	if err := m.AddResponder(SAKey{SPIi: 10, SPIr: 99}, peer, req, "a"); err != nil {
		t.Fatal(err)
	}
	m.Checkin(SAKey{SPIi: 10, SPIr: 99})
	// A retransmitted IKE_SA_INIT (SPIr 0) finds it by SPIi, peer and hash,
	// and by nothing less.
	if sa, err := m.CheckoutInit(10, peer, req); err != nil || sa != "a" {
		t.Fatalf("by the request: %v %v", sa, err)
	}
	m.Checkin(SAKey{SPIi: 10, SPIr: 99})
	for _, miss := range []struct {
		spii uint64
		peer netip.AddrPort
		hash InitHash
	}{
		{10, peer, HashMessage([]byte("request b"))},
		{10, netip.MustParseAddrPort("192.0.2.1:4500"), req},
		{11, peer, req},
	} {
		if _, err := m.CheckoutInit(miss.spii, miss.peer, miss.hash); !errors.Is(err, ErrNotFound) {
			t.Fatalf("CheckoutInit(%d, %v): %v", miss.spii, miss.peer, err)
		}
	}
	if _, err := m.Checkout(SAKey{SPIi: 10}, peer); !errors.Is(err, ErrNotFound) {
		t.Fatalf("a responder SA found by SPIi alone: %v", err)
	}
	if sa, err := m.Checkout(SAKey{SPIi: 10, SPIr: 99}, peer); err != nil || sa != "a" {
		t.Fatalf("by both SPIs: %v %v", sa, err)
	}
	m.Checkin(SAKey{SPIi: 10, SPIr: 99})
	// The same request again is a duplicate, whatever SPIr it would get.
	if err := m.AddResponder(SAKey{SPIi: 10, SPIr: 98}, peer, req, "dup"); !errors.Is(err, ErrDuplicateInit) {
		t.Fatalf("second IKE SA from one request: %v", err)
	}
	m.Add(SAKey{SPIi: 11, SPIr: 1}, peer, true, "b")
	m.Checkin(SAKey{SPIi: 11, SPIr: 1})
	if !m.CookieThreshold(netip.MustParseAddr("198.51.100.7")) {
		t.Fatal("cookie threshold not reached at the limit's half")
	}
	if err := m.Add(SAKey{SPIi: 12, SPIr: 1}, peer, true, "c"); !errors.Is(err, ErrHalfOpenLimit) {
		t.Fatalf("third half-open SA: %v", err)
	}
	// The SAs we initiate have their own budget.
	if err := m.Add(SAKey{SPIi: 13}, peer, false, "ours"); err != nil {
		t.Fatalf("initiator SA with the responder budget full: %v", err)
	}
	m.Checkin(SAKey{SPIi: 13})
	m.Established(SAKey{SPIi: 10, SPIr: 99})
	if m.HalfOpen() != 1 || m.HalfOpenFrom(peer.Addr()) != 1 {
		t.Fatalf("half-open %d, from the peer %d", m.HalfOpen(), m.HalfOpenFrom(peer.Addr()))
	}
	// The request still finds its established SA: a late copy is no new
	// IKE SA.
	if err := m.AddResponder(SAKey{SPIi: 10, SPIr: 97}, peer, req, "late"); !errors.Is(err, ErrDuplicateInit) {
		t.Fatalf("late copy of the request: %v", err)
	}
	m.Remove(SAKey{SPIi: 11, SPIr: 1})
	if _, err := m.Checkout(SAKey{SPIi: 11, SPIr: 1}, peer); !errors.Is(err, ErrNotFound) {
		t.Fatalf("removed SA: %v", err)
	}
	if m.HalfOpen() != 0 || m.HalfOpenFrom(peer.Addr()) != 0 || m.Len() != 2 {
		t.Fatalf("half-open %d, from the peer %d, len %d", m.HalfOpen(), m.HalfOpenFrom(peer.Addr()), m.Len())
	}
}

// TestManagerPerPeerLimit: one address gets cookies from its third
// half-open SA and no more than five (strongSwan's cookie_threshold_ip and
// block_threshold); other addresses are unaffected.
func TestManagerPerPeerLimit(t *testing.T) {
	m := NewManager[int]()
	flood := netip.MustParseAddrPort("203.0.113.9:500")
	other := netip.MustParseAddrPort("192.0.2.1:500")
	for i := range DefaultMaxHalfOpenPerPeer {
		if got, want := m.CookieThreshold(flood.Addr()), i >= DefaultCookieThresholdPerPeer; got != want {
			t.Fatalf("with %d half-open: cookie required %v", i, got)
		}
		k := SAKey{SPIi: uint64(100 + i), SPIr: 1}
		if err := m.AddResponder(k, flood, HashMessage([]byte{byte(i)}), i); err != nil {
			t.Fatalf("half-open SA %d: %v", i+1, err)
		}
		m.Checkin(k)
	}
	if err := m.AddResponder(SAKey{SPIi: 200, SPIr: 1}, flood, HashMessage([]byte("more")), 0); !errors.Is(err, ErrPeerHalfOpenLimit) {
		t.Fatalf("sixth half-open SA of one address: %v", err)
	}
	mapped := netip.MustParseAddrPort("[::ffff:203.0.113.9]:4500")
	if err := m.AddResponder(SAKey{SPIi: 201, SPIr: 1}, mapped, HashMessage([]byte("mapped")), 0); !errors.Is(err, ErrPeerHalfOpenLimit) {
		t.Fatalf("the same address IPv4-mapped: %v", err)
	}
	if m.CookieThreshold(other.Addr()) {
		t.Fatal("another address must return a cookie")
	}
	if err := m.AddResponder(SAKey{SPIi: 300, SPIr: 1}, other, HashMessage([]byte("legit")), 0); err != nil {
		t.Fatalf("another address: %v", err)
	}
}
