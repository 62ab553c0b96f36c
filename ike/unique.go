package ike

import (
	"fmt"
	"net/netip"
	"time"
)

// Duplicate IKE SAs (issue 11, after strongSwan's uniqueids): a pair of
// peers keeps one IKE SA. When an IKE SA completes IKE_AUTH, the other
// established IKE SAs with the same remote and peer identity are
// duplicates:
//
//   - One we initiated and one the peer did: both ends initiated at once.
//     Both ends keep the same one, that of the lower initiator SPI, which
//     both know, and delete the other (a Delete crossing the peer's for the
//     same SA is answered as RFC 7296 §1.4.1 says).
//   - Both initiated by the same end: that end made a new one (it
//     restarted, or lost the old one); the newer replaces the older.
//
// An IKE SA that a rekey replaced, or that is being deleted, is none.
//
// Two such IKE SAs of opposite roles "crossed" if the peer's one was made
// before ours completed IKE_AUTH (and crossingSlack): the peer initiated
// without knowing of ours. Otherwise ours is from before the peer lost
// its state (a restart), and the peer's newer one replaces it, as
// INITIAL_CONTACT would.

// checkUnique looks for duplicates of sa, just established, on a
// goroutine of the daemon's: sa is held, and checking out another while
// holding it could deadlock with a worker doing the opposite.
func (d *Daemon) checkUnique(sa *SA) {
	others := d.sameIdentity(sa) // identity.go
	if len(others) == 0 {
		return // the usual case: no goroutine
	}
	cur, remote, peerID, initiator, created := sa.key, sa.remote, sa.peerID, sa.initiator, sa.created
	sa = &SA{initiator: initiator, created: created, authAt: sa.authAt} // for crossed, off the lock
	d.goBackground(func() {
		// A rekey may have replaced sa meanwhile: its successor is no
		// duplicate.
		s, err := d.mgr.Checkout(cur, netip.AddrPort{})
		if err != nil {
			return
		}
		gone := s.rekeyed || !s.established()
		d.checkin(s)
		if gone {
			return
		}
		loser := SAKey{}
		for _, k := range others {
			if k == cur || d.closed.Load() {
				continue
			}
			dup, err := d.mgr.Checkout(k, netip.AddrPort{})
			if err != nil {
				continue
			}
			if dup.remote != remote || !dup.peerID.Equal(peerID) || !dup.established() || dup.rekeyed || dup.fromRekey {
				d.checkin(dup)
				continue
			}
			var dupGoes bool
			switch {
			case dup.initiator && !initiator && crossed(dup, created),
				!dup.initiator && initiator && crossed(sa, dup.created):
				dupGoes = dup.key.SPIi > cur.SPIi // the lower initiator SPI stays
			default:
				dupGoes = dup.created.Before(created) // the newer replaces
			}
			if dupGoes {
				d.deleteDuplicate(dup, "duplicate of the IKE SA "+keyString(cur))
				continue
			}
			d.checkin(dup)
			loser = cur
		}
		if loser == (SAKey{}) {
			return
		}
		sa, err := d.mgr.Checkout(loser, netip.AddrPort{})
		if err != nil {
			return
		}
		if sa.established() && !sa.rekeyed {
			d.deleteDuplicate(sa, "duplicate of another IKE SA with the same peer")
			return
		}
		d.checkin(sa)
	})
}

// deleteDuplicate deletes dup, held, telling the peer without waiting for
// its answer: the peer may have dropped dup already (INITIAL_CONTACT, or
// its own Delete of dup crossing ours).
func (d *Daemon) deleteDuplicate(dup *SA, why string) {
	d.sendDeleteIKE(dup)
	d.remove(dup, why)
}

func keyString(k SAKey) string { return fmt.Sprintf("%016x_i %016x_r", k.SPIi, k.SPIr) }

// crossingSlack allows for a peer's IKE_SA_INIT that was retransmitted.
const crossingSlack = time.Second

// crossed reports whether the peer's IKE SA made (here) at theirs crossed
// ours, which we initiated: it was made before ours completed IKE_AUTH.
func crossed(ours *SA, theirs time.Time) bool {
	return !ours.authAt.IsZero() && theirs.Before(ours.authAt.Add(crossingSlack))
}
