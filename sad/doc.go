// Package sad is the Security Association Database (RFC 4301 §4.4.2): the
// SAs that protect traffic, their sequence numbers, anti-replay windows,
// lifetimes and counters, indexed for the packet engine.
//
// SAs are grouped per policy into a Session (the reference design's
// IPSecSession, §3.7): the outbound ESP and/or AH SA the engine sends on, the
// outbound SAs a rekey replaced (kept until deleted), and the inbound SAs.
//
// Readers never lock: the indexes by SPI and by policy are pubmap tables
// that readers probe with atomic loads, and each Session is an immutable
// snapshot. Writers serialize on one mutex and change the indexes in place
// at amortized O(1), however many SAs the DB holds. Per-SA counters, the outbound sequence number and lifetime accounting are
// atomics.
//
// # Per-packet use
//
// Outbound, for a packet that matched policy id:
//
//	sess := db.Session(id)          // nil: no SA yet (ACQUIRE)
//	sa := sess.OutboundESP()        // always the current SA, never Previous
//	if !sa.Acquire() { drop }       // the SA was deleted meanwhile
//	defer sa.Release()
//	seq, err := sa.NextSequence()   // xe.SAExpired when the counter is spent
//	err = sa.Account(len(pkt))      // xe.SAExpired past a hard lifetime
//	sa.ESP().FillIV(iv, seq); sa.ESP().Seal(esp, seq, sa.ESN())
//
// Inbound:
//
//	sa := db.LookupInbound(spi, sad.ESP, dst) // every SA of a session, old and new, by SPI
//	if sa == nil || !sa.Acquire() { drop }
//	defer sa.Release()
//	seq, err := sa.CheckReplay(seqLow)        // RFC 4303 §3.4.3, before the ICV
//	err = sa.ESP().Open(esp, uint32(seq>>32), sa.ESN())
//	err = sa.CommitReplay(seq)                // only after the ICV verified
//	err = sa.Account(len(pkt))
//
// Acquire/Release keep the SA's keys alive while a packet uses them: a
// deleted SA zeroes its keys (suite.ESP.Close) only when the last packet in
// flight releases it.
package sad
