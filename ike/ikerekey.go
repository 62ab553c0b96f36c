package ike

import (
	"encoding/binary"
	"fmt"
	mrand "math/rand/v2"
	"net/netip"
	"slices"
	"time"

	ikecrypto "github.com/sabre-ipsec/sabre/ike/crypto"
	"github.com/sabre-ipsec/sabre/ike/message"
)

// IKE SA rekeying (RFC 7296 §2.18): a CREATE_CHILD_SA on the old IKE SA
// carries an SA payload of protocol IKE whose proposals hold the sender's
// new SPI, a nonce and a KE (always: §2.18 forbids rekeying without a new
// Diffie-Hellman exchange). The new IKE SA's SKEYSEED comes from the old
// one's SK_d and PRF; its Child SAs are those of the old one, moved; its
// original initiator is the rekey's initiator, and its message IDs start
// at 0. The initiator of the rekey then deletes the old IKE SA.

// ikeRekeyWindow is when an IKE SA is rekeyed, as a fraction of the
// remote's lifetime (-l, the hard limit): at a random point between 80%
// and 90% of it, so that the two ends rarely start at once.
func ikeRekeyTime(life time.Duration) time.Duration {
	lo, hi := life/10*8, life/10*9
	return lo + time.Duration(mrand.Int64N(int64(hi-lo)+1))
}

// ikeRekey is the CREATE_CHILD_SA that rekeys the IKE SA. The responder's
// side is respondIKERekey.
type ikeRekey struct {
	spi   uint64 // our SPI of the new IKE SA
	ni    []byte
	group GroupID
	dh    *ikecrypto.PrivateKey
	// Retries after INVALID_KE_PAYLOAD (once) and TEMPORARY_FAILURE.
	retriedKE bool
	// The peer's rekey that crossed ours (RFC 7296 §2.8.2), made when we
	// answered it: its new IKE SA and nonces.
	peerSA     *SA
	peerNonces [][]byte
}

func (*ikeRekey) String() string                 { return "CREATE_CHILD_SA rekey IKE SA" }
func (*ikeRekey) exchange() message.ExchangeType { return message.CreateChildSA }

func (t *ikeRekey) build(d *Daemon, sa *SA) ([]message.Payload, error) {
	if t.group == 0 {
		t.group = sa.algs.Group
	}
	var err error
	if t.dh, err = pfsKey(t.group); err != nil {
		return nil, err
	}
	t.spi = d.mgr.NewSPI()
	t.ni = newNonce()
	return []message.Payload{
		&message.SA{Proposals: ikeRekeyProposals(sa, t.group, t.spi)},
		&message.Nonce{Data: t.ni},
		&message.KE{Group: message.GroupID(t.group), Data: t.dh.PublicValue()},
	}, nil
}

// ikeRekeyProposals are the remote's IKE proposals with SPI spi and the
// group of our KE first.
func ikeRekeyProposals(sa *SA, group GroupID, spi uint64) []message.Proposal {
	ps := IKEProposals(sa.remote)
	b := make([]byte, 8)
	binary.BigEndian.PutUint64(b, spi)
	for i := range ps {
		ps[i].SPI = b
		ts := slices.Clone(ps[i].Transforms)
		slices.SortStableFunc(ts, func(x, y message.Transform) int {
			xf := x.Type == message.TransformDH && GroupID(x.ID) == group
			yf := y.Type == message.TransformDH && GroupID(y.ID) == group
			switch {
			case xf && !yf:
				return -1
			case yf && !xf:
				return 1
			}
			return 0
		})
		ps[i].Transforms = ts
	}
	return ps
}

func (t *ikeRekey) abort(d *Daemon, sa *SA, err error) {
	if t.dh != nil {
		t.dh.Zero()
		t.dh = nil
	}
	if t.peerSA != nil {
		// The peer's rekey that crossed ours completed: it stands.
		d.log.Info("IKE SA rekey: ours failed, the peer's stands", "ike_sa", sa.String(), "err", err)
	}
}

func (t *ikeRekey) process(d *Daemon, sa *SA, in *inbound) error {
	defer t.abort(d, sa, nil)
	ps := in.payloads
	if pe := peerRefusal(message.CreateChildSA, ps); pe != nil {
		switch {
		case pe.Notify == message.InvalidKEPayload && len(pe.Data) == 2 && !t.retriedKE:
			want := GroupID(binary.BigEndian.Uint16(pe.Data))
			if want != t.group && slices.Contains(sa.remote.Groups, want) && SupportedGroup(want) {
				d.queueTaskFirst(sa, &ikeRekey{group: want, retriedKE: true})
				return nil
			}
		case pe.Notify == message.TemporaryFailure && t.peerSA == nil:
			// RFC 7296 §2.25: the peer is busy (its own exchange on this
			// SA); try again a little later.
			d.retryIKERekeyLater(sa)
			return nil
		}
		if t.peerSA != nil {
			d.yieldTo(sa, t.peerSA) // the crossing rekey by the peer stands
			return nil
		}
		return fmt.Errorf("IKE SA rekey: %w", pe)
	}
	saP, ok1 := message.Find[*message.SA](ps)
	ke, ok2 := message.Find[*message.KE](ps)
	nonce, ok3 := message.Find[*message.Nonce](ps)
	if !ok1 || !ok2 || !ok3 || len(saP.Proposals) != 1 || len(saP.Proposals[0].SPI) != 8 {
		return fmt.Errorf("%w: IKE SA rekey response lacks SA, KE or Nr", ErrInvalidSyntax)
	}
	chosen := saP.Proposals[0]
	offered := ikeRekeyProposals(sa, t.group, t.spi)
	mine := chosen
	mine.SPI = offered[0].SPI
	if !Accepts(offered, mine) {
		return fmt.Errorf("%w: peer chose an IKE proposal we did not offer", ErrNoProposalChosen)
	}
	algs := Chosen(chosen)
	if algs.Group != t.group {
		return fmt.Errorf("%w: peer chose group %v for the %v of our KE", ErrNoProposalChosen, algs.Group, t.group)
	}
	gir, err := pfsSecret(t.dh, ke)
	t.dh = nil
	if err != nil {
		return err
	}
	defer clear(gir)
	key := SAKey{SPIi: t.spi, SPIr: binary.BigEndian.Uint64(chosen.SPI)}
	nsa, err := d.newRekeyedSA(sa, key, true, algs, gir, t.ni, nonce.Data)
	if err != nil {
		return err
	}
	if t.peerSA != nil && lowestNonce(t.ni, nonce.Data, t.peerNonces...) {
		// RFC 7296 §2.8.2: of two simultaneous rekeys, the new IKE SA made
		// with the lowest nonce is deleted by its initiator (us); the
		// peer's stands, and the peer deletes the old one.
		d.log.Info("simultaneous IKE SA rekey: deleting the redundant new IKE SA", "ike_sa", sa.String(), "redundant", nsa.String())
		d.queueTask(nsa, &ikeDelete{why: "redundant after a simultaneous IKE SA rekey (RFC 7296 §2.8.2)"})
		d.checkin(nsa)
		d.yieldTo(sa, t.peerSA)
		return nil
	}
	if t.peerSA != nil {
		// Ours stands: the peer deletes the one it made.
		d.log.Info("simultaneous IKE SA rekey: ours stands", "ike_sa", sa.String(), "new", nsa.String())
	}
	d.adoptChildren(sa, nsa)
	d.checkin(nsa)
	// RFC 7296 §2.18: the rekey's initiator deletes the old IKE SA.
	d.queueTask(sa, &ikeDelete{why: "rekeyed as " + nsa.String()})
	return nil
}

// retryIKERekeyLater queues a new rekey of sa after a short random delay.
func (d *Daemon) retryIKERekeyLater(sa *SA) {
	key := sa.key
	d.cfg.AfterFunc(time.Second+time.Duration(mrand.Int64N(int64(time.Second))), func() {
		sa, err := d.mgr.Checkout(key, sa.peer)
		if err != nil {
			return
		}
		defer d.checkin(sa)
		if sa.established() {
			d.queueIKERekey(sa)
		}
	})
}

// queueIKERekey queues a rekey of sa unless one is queued or under way.
func (d *Daemon) queueIKERekey(sa *SA) {
	if _, busy := sa.tasks.find(func(t task) bool {
		switch t.(type) {
		case *ikeRekey, *ikeDelete:
			return true
		}
		return false
	}); busy || sa.rekeyed {
		return
	}
	d.log.Info("rekeying IKE SA", "ike_sa", sa.String())
	d.queueTask(sa, &ikeRekey{})
}

// newRekeyedSA makes the IKE SA that replaces old: key are its SPIs,
// weInitiated says we sent the rekey request (we are its original
// initiator), and its keys come from old's SK_d and PRF (RFC 7296 §2.18).
// It is returned established, added to the manager and checked out.
func (d *Daemon) newRekeyedSA(old *SA, key SAKey, weInitiated bool, algs Transforms, gir, ni, nr []byte) (*SA, error) {
	now := d.cfg.Now()
	nsa := &SA{d: d, key: key, initiator: weInitiated, remote: old.remote, local: old.local, peer: old.peer,
		state: StateEstablished, created: now, lastRecv: now, natLocal: old.natLocal, natPeer: old.natPeer,
		floated: old.floated, algs: algs, group: algs.Group, peerID: old.peerID, ni: slices.Clone(ni), nr: slices.Clone(nr),
		authAt: old.authAt, fromRekey: true}
	var err error
	if nsa.prf, err = ikecrypto.NewPRF(algs.PRF); err != nil {
		return nil, err
	}
	encLen, intLen, err := ikecrypto.SKKeyLengths(algs.Encr.ID, algs.Encr.KeyBits, algs.Integ)
	if err != nil {
		return nil, err
	}
	// The old IKE SA's PRF makes SKEYSEED, the new one's the keys.
	skeyseed := old.prf.RekeySKEYSEED(old.keys.SKd, gir, ni, nr)
	defer clear(skeyseed)
	spii, spir := nsa.spiBytes()
	if nsa.keys, err = ikecrypto.DeriveIKESAKeys(nsa.prf, skeyseed, ni, nr, spii, spir, encLen, intLen); err != nil {
		return nil, err
	}
	ei, ai, er, ar := nsa.keys.SKei, nsa.keys.SKai, nsa.keys.SKer, nsa.keys.SKar
	if !nsa.initiator {
		ei, ai, er, ar = er, ar, ei, ai
	}
	if nsa.skOut, err = ikecrypto.NewSKCipher(algs.Encr.ID, ei, algs.Integ, ai); err != nil {
		return nil, err
	}
	if nsa.skIn, err = ikecrypto.NewSKCipher(algs.Encr.ID, er, algs.Integ, ar); err != nil {
		return nil, err
	}
	if err := d.mgr.AddEstablished(key, nsa.peer, nsa); err != nil {
		nsa.close()
		return nil, err
	}
	d.log.Info("IKE SA rekeyed", "ike_sa", old.String(), "new", nsa.String(), "algorithms", algs.Summary)
	d.exportIKEKeys(nsa)
	d.indexIdentity(nsa)
	nsa.compact()
	d.startTimers(nsa)
	old.rekeyed = true
	return nsa, nil
}

// yieldTo moves old's Child SAs to the new IKE SA the peer's rekey made,
// when that rekey stands and ours does not (RFC 7296 §2.8.2). The caller
// holds old; psa is checked out here (no one holding it waits for old).
func (d *Daemon) yieldTo(old, psa *SA) {
	nsa, err := d.mgr.Checkout(psa.key, netip.AddrPort{})
	if err != nil {
		d.log.Warn("IKE SA rekey: the peer's new IKE SA is gone; the Child SAs stay", "ike_sa", old.String(), "new", psa.String())
		return
	}
	defer d.checkin(nsa)
	d.adoptChildren(old, nsa)
}

// adoptChildren moves old's Child SAs, and the exchanges for them queued
// on old, to nsa.
func (d *Daemon) adoptChildren(old, nsa *SA) {
	for _, c := range old.children {
		if c.retiring {
			// Its timer looks for it on old: one on nsa drops it.
			d.dropRetiredLater(nsa, c)
		}
	}
	nsa.children = append(nsa.children, old.children...)
	old.children = nil
	for _, t := range old.tasks.dequeue(func(t task) bool {
		switch t.(type) {
		case *childCreate, *childRekey, *childDelete:
			return true
		}
		return false
	}) {
		nsa.tasks.queued = append(nsa.tasks.queued, t)
	}
	d.initiateTasks(nsa)
}

// respondIKERekey is the responder's side of ikeRekey.
func (d *Daemon) respondIKERekey(sa *SA, in *inbound, saP *message.SA) []message.Payload {
	ps := in.payloads
	var ours *ikeRekey
	if r := sa.tasks.active; r != nil {
		switch t := r.task.(type) {
		case *ikeRekey:
			ours = t // crossing rekeys, RFC 7296 §2.8.2
		case *ikeDelete:
			return notifyError(fmt.Errorf("%w: the IKE SA is being deleted", ErrTemporaryFailure))
		default:
			// RFC 7296 §2.25: a Child SA exchange of ours is under way.
			return notifyError(fmt.Errorf("%w: %v under way", ErrTemporaryFailure, t))
		}
	}
	if sa.rekeyed {
		return notifyError(fmt.Errorf("%w: the IKE SA was rekeyed", ErrTemporaryFailure))
	}
	ke, ok1 := message.Find[*message.KE](ps)
	nonce, ok2 := message.Find[*message.Nonce](ps)
	if !ok1 || !ok2 {
		return notifyError(fmt.Errorf("%w: IKE SA rekey request lacks KE or Ni", ErrInvalidSyntax))
	}
	chosen, ok := Select(IKEProposals(sa.remote), saP.Proposals)
	if !ok || len(chosen.SPI) != 8 {
		err := fmt.Errorf("%w: IKE SA rekey: received %s, configured %s", ErrNoProposalChosen, proposalsString(saP.Proposals), proposalsString(IKEProposals(sa.remote)))
		d.log.Warn("IKE SA rekey refused", "ike_sa", sa.String(), "reason", err)
		return notifyError(err)
	}
	algs := Chosen(chosen)
	if GroupID(ke.Group) != algs.Group {
		return []message.Payload{message.NewInvalidKEPayload(message.GroupID(algs.Group))}
	}
	dh, err := pfsKey(algs.Group)
	if err != nil {
		return notifyError(fmt.Errorf("%w: %w", ErrNoProposalChosen, err))
	}
	myKE := &message.KE{Group: ke.Group, Data: slices.Clone(dh.PublicValue())}
	gir, err := pfsSecret(dh, ke)
	if err != nil {
		return notifyError(err)
	}
	defer clear(gir)
	spi := d.mgr.NewSPI()
	nr := newNonce()
	key := SAKey{SPIi: binary.BigEndian.Uint64(chosen.SPI), SPIr: spi}
	nsa, err := d.newRekeyedSA(sa, key, false, algs, gir, nonce.Data, nr)
	if err != nil {
		return notifyError(fmt.Errorf("%w: %w", ErrTemporaryFailure, err))
	}
	if ours != nil {
		// Crossing rekeys: which new IKE SA stands is known when our
		// response comes (ikeRekey.process); the Child SAs wait on sa.
		ours.peerSA = nsa
		ours.peerNonces = [][]byte{slices.Clone(nonce.Data), slices.Clone(nr)}
	} else {
		d.adoptChildren(sa, nsa)
	}
	d.checkin(nsa)
	mine := chosen
	mine.SPI = binary.BigEndian.AppendUint64(nil, spi)
	return []message.Payload{&message.SA{Proposals: []message.Proposal{mine}}, &message.Nonce{Data: nr}, myKE}
}
