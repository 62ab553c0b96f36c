package ike

import "slices"

// Collisions of the exchanges we start with the peer's (RFC 7296 §2.8.1,
// §2.25) are resolved here, where the tasks of both sides meet.

// peerRekeyedChild is told that the peer rekeyed Child SA old with nonces
// ni (its) and nr (ours). If our rekey of old is outstanding, the two
// crossed (RFC 7296 §2.8.1): its nonces go to our task, which at its
// completion tells which new pair is redundant. A rekey of old that we
// queued but did not send is dropped: the peer's replaces it.
func (d *Daemon) peerRekeyedChild(sa *SA, old *child, ni, nr []byte) {
	if r := sa.tasks.active; r != nil {
		if t, ok := r.task.(*childRekey); ok && t.old == old {
			t.peerNonces = [][]byte{slices.Clone(ni), slices.Clone(nr)}
		}
	}
	for _, t := range sa.tasks.dequeue(func(t task) bool { r, ok := t.(*childRekey); return ok && r.old == old }) {
		d.debugf(sa, "%v dropped: the peer rekeyed the Child SA first", t)
	}
}

// completeChildRekey finishes our rekey t of t.old, which made c with
// nonces ni and nr. Of two simultaneous rekeys (RFC 7296 §2.8.1) the pair
// made with the lowest of the four nonces is deleted by its maker, and the
// maker of the other deletes the old pair; otherwise, as the rekey's
// initiator, we delete the old pair (§2.8).
func (d *Daemon) completeChildRekey(sa *SA, t *childRekey, c *child, ni, nr []byte) {
	old := t.old
	if t.peerNonces != nil && lowestNonce(ni, nr, t.peerNonces...) {
		// Ours is redundant: we send on the peer's (old.successor) once
		// the peer deletes old.
		d.log.Info("simultaneous rekey: deleting the redundant Child SA", "ike_sa", sa.String(), "policy", c.policyID)
		d.deleteChild(sa, c)
		return
	}
	// The peer's replacement, if it made one at the same time, is the
	// redundant one: the peer deletes it, and we never send on it.
	old.successor = nil
	d.deleteChild(sa, old)
}

// childGoing is told that Child SA c is being deleted, by us or by the
// peer: a rekey of it that we queued and did not send is dropped (a rekey
// crossing a Delete, RFC 7296 §2.25: the peer would answer
// CHILD_SA_NOT_FOUND).
func (d *Daemon) childGoing(sa *SA, c *child) {
	for _, t := range sa.tasks.dequeue(func(t task) bool { r, ok := t.(*childRekey); return ok && r.old == c }) {
		d.debugf(sa, "%v dropped: the Child SA is being deleted", t)
	}
}
