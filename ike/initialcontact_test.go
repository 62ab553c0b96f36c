package ike

import (
	"net/netip"
	"runtime"
	"testing"
	"time"
)

// TestInitialContactSparesLaterIKESAs: INITIAL_CONTACT (RFC 7296 §2.4)
// makes the IKE SAs that were established with the peer before it stale,
// never one established after it was received. B removes the stale ones
// on a goroutine; when that goroutine ran late on a busy machine it
// listed the IKE SAs only then and removed newer ones too
// (TestPanicContainedToItsIKESA failed 2 in 1200 runs with "timed out
// waiting for a new IKE SA after the panic": B's log said "IKE SA
// removed ... INITIAL_CONTACT from the peer" for the third IKE SA, right
// after it was established). With one P the goroutine runs only when the
// test blocks, which is how late it ran there.
func TestInitialContactSparesLaterIKESAs(t *testing.T) {
	defer runtime.GOMAXPROCS(runtime.GOMAXPROCS(1))
	_, _, b := pair(t, fastSuite, fastSuite, []string{"AES128-GCM16"})
	r := b.d.remote("a")
	peer := netip.MustParseAddrPort("192.0.2.1:500")
	id := Identity{Type: 1, Data: []byte{192, 0, 2, 1}}
	add := func(spii uint64) *SA {
		sa := &SA{d: b.d, key: SAKey{SPIi: spii, SPIr: spii + 1}, remote: r, peer: peer, local: netip.MustParseAddrPort("192.0.2.2:500"),
			state: StateEstablished, peerID: id, created: time.Now()}
		if err := b.d.mgr.Add(sa.key, peer, true, sa); err != nil {
			t.Fatal(err)
		}
		b.d.mgr.Established(sa.key)
		b.d.indexIdentity(sa)   // as establishing it does
		b.d.mgr.Checkin(sa.key) // Add leaves it checked out
		// They have no keys: Close must not try to send them a Delete.
		t.Cleanup(func() { b.d.unindexIdentity(sa); b.d.mgr.Remove(sa.key) })
		return sa
	}
	present := func(sa *SA) bool {
		for _, k := range b.d.mgr.All() {
			if k == sa.key {
				return true
			}
		}
		return false
	}
	stale := add(1)
	current := add(3)
	cur, err := b.d.mgr.Checkout(current.key, netip.AddrPort{})
	if err != nil {
		t.Fatal(err)
	}
	b.d.initialContact(cur) // as processing current's IKE_AUTH does
	later := add(5)         // established after the INITIAL_CONTACT
	b.d.checkin(cur)
	waitFor(t, "the stale IKE SA to be removed", func() bool { return !present(stale) })
	b.d.bg.Wait() // the daemon's background goroutines: initialContact's removals
	if !present(later) {
		t.Fatal("INITIAL_CONTACT removed an IKE SA established after it")
	}
	if !present(current) {
		t.Fatal("INITIAL_CONTACT removed the IKE SA that carried it")
	}
}
