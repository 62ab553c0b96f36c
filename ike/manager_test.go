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
	if err := m.Add(SAKey{SPIi: 10}, peer, true, "a"); err != nil {
		t.Fatal(err)
	}
	m.Checkin(SAKey{SPIi: 10})
	// A retransmitted IKE_SA_INIT (SPIr 0) finds it by SPIi and peer.
	if sa, err := m.Checkout(SAKey{SPIi: 10}, peer); err != nil || sa != "a" {
		t.Fatalf("by init SPI: %v %v", sa, err)
	}
	m.Rekey(SAKey{SPIi: 10}, SAKey{SPIi: 10, SPIr: 99})
	m.Checkin(SAKey{SPIi: 10, SPIr: 99})
	if sa, err := m.Checkout(SAKey{SPIi: 10, SPIr: 99}, peer); err != nil || sa != "a" {
		t.Fatalf("by both SPIs: %v %v", sa, err)
	}
	m.Checkin(SAKey{SPIi: 10, SPIr: 99})
	m.Add(SAKey{SPIi: 11}, peer, true, "b")
	if !m.CookieThreshold() {
		t.Fatal("cookie threshold not reached at the limit's half")
	}
	if err := m.Add(SAKey{SPIi: 12}, peer, true, "c"); !errors.Is(err, ErrHalfOpenLimit) {
		t.Fatalf("third half-open SA: %v", err)
	}
	m.Established(SAKey{SPIi: 10, SPIr: 99})
	if m.HalfOpen() != 1 {
		t.Fatalf("half-open %d", m.HalfOpen())
	}
	m.Remove(SAKey{SPIi: 11})
	if _, err := m.Checkout(SAKey{SPIi: 11}, peer); !errors.Is(err, ErrNotFound) {
		t.Fatalf("removed SA: %v", err)
	}
	if m.HalfOpen() != 0 || m.Len() != 1 {
		t.Fatalf("half-open %d len %d", m.HalfOpen(), m.Len())
	}
}
