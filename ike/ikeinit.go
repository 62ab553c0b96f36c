package ike

import (
	"bytes"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha1"
	"crypto/sha256"
	"encoding/binary"
	"errors"
	"fmt"
	"log/slog"
	"net/netip"
	"slices"

	ikecrypto "github.com/sabre-ipsec/sabre/ike/crypto"
	"github.com/sabre-ipsec/sabre/ike/message"
	"github.com/sabre-ipsec/sabre/spd"
)

// nonceLen is the length of our nonces: at least half the PRF key size and
// at least 128 bits (RFC 7296 §2.10); 32 octets covers every PRF.
const nonceLen = 32

func randRead(b []byte) {
	if _, err := rand.Read(b); err != nil {
		panic("ike: crypto/rand: " + err.Error())
	}
}

func newNonce() []byte {
	n := make([]byte, nonceLen)
	randRead(n)
	return n
}

// natHash is NAT_DETECTION_*_IP's data: SHA-1(SPIi | SPIr | IP | Port)
// (RFC 7296 §2.23).
func natHash(spii, spir uint64, ap netip.AddrPort) []byte {
	h := sha1.New()
	var b [8]byte
	binary.BigEndian.PutUint64(b[:], spii)
	h.Write(b[:])
	binary.BigEndian.PutUint64(b[:], spir)
	h.Write(b[:])
	h.Write(ap.Addr().Unmap().AsSlice())
	binary.BigEndian.PutUint16(b[:2], ap.Port())
	h.Write(b[:2])
	return h.Sum(nil)
}

// natNotifies are our NAT_DETECTION_*_IP notifies. With forceEncap (`ike
// remote -U`, strongSwan's encap = yes) the SOURCE hash covers no real
// address, so that the peer sees us behind a NAT and both ends
// UDP-encapsulate ESP (RFC 3948) where no NAT is (a firewall that passes
// only UDP; ESP-in-UDP is also faster through sabre run).
func natNotifies(spii, spir uint64, local, remote netip.AddrPort, forceEncap bool) []message.Payload {
	if forceEncap {
		local = netip.AddrPortFrom(netip.IPv6Unspecified(), 0)
	}
	return []message.Payload{
		&message.Notify{Type: message.NATDetectionSourceIP, Data: natHash(spii, spir, local)},
		&message.Notify{Type: message.NATDetectionDestinationIP, Data: natHash(spii, spir, remote)},
	}
}

// detectNAT reads the peer's NAT-D notifies: a DESTINATION hash that does
// not match our address means we are behind a NAT, SOURCE hashes none of
// which match the peer's address mean the peer is (RFC 7296 §2.23).
//
// The hashes cover the SPIs of the message's header: SPIr is zero in the
// IKE_SA_INIT request.
func (sa *SA) detectNAT(payloads []message.Payload, spir uint64, local, remote netip.AddrPort) (supported bool) {
	var src, dst []*message.Notify
	for _, n := range message.FindAll[*message.Notify](payloads) {
		switch n.Type {
		case message.NATDetectionSourceIP:
			src = append(src, n)
		case message.NATDetectionDestinationIP:
			dst = append(dst, n)
		}
	}
	if len(src) == 0 || len(dst) == 0 {
		return false
	}
	want := natHash(sa.key.SPIi, spir, local)
	sa.natLocal = !slices.ContainsFunc(dst, func(n *message.Notify) bool { return hmac.Equal(n.Data, want) })
	peer := natHash(sa.key.SPIi, spir, remote)
	sa.natPeer = !slices.ContainsFunc(src, func(n *message.Notify) bool { return hmac.Equal(n.Data, peer) })
	return true
}

// acquire starts negotiating Child SAs for policy p with its IKE peer.
func (d *Daemon) acquire(p *spd.Policy) error {
	if p == nil {
		return fmt.Errorf("%w: ACQUIRE without a policy", ErrNoRemote)
	}
	if p.RemoteName == "" {
		return fmt.Errorf("%w: policy %d has no IKE remote (-g)", ErrNoRemote, p.ID)
	}
	r := d.remote(p.RemoteName)
	if r == nil {
		return fmt.Errorf("%w: policy %d names IKE remote %q, which is not configured", ErrNoRemote, p.ID, p.RemoteName)
	}
	if !r.Initiate || !r.Address.IsValid() {
		return fmt.Errorf("%w: IKE remote %q does not initiate (-w -r)", ErrNoRemote, r.Name)
	}
	// An IKE SA with this peer carries the new Child SA.
	for _, k := range d.mgr.All() {
		sa, err := d.mgr.Checkout(k, netip.AddrPort{})
		if err != nil {
			continue
		}
		if sa.remote == r && (sa.state == StateEstablished || sa.state == StateInitSent || sa.state == StateAuthSent) {
			if sa.negotiatesChild(p.ID) {
				d.checkin(sa)
				return nil // already being negotiated
			}
			d.queueTask(sa, &childCreate{policyID: p.ID})
			d.checkin(sa)
			return nil
		}
		d.checkin(sa)
	}
	return d.initiate(r, p)
}

// initiate creates an IKE SA with r whose IKE_AUTH carries the Child SA
// for policy p.
func (d *Daemon) initiate(r *Remote, p *spd.Policy) error {
	localAddr, err := d.localAddr(r.Address)
	if err != nil {
		return err
	}
	sa := &SA{d: d, initiator: true, remote: r, created: d.cfg.Now(), state: StateInitSent,
		local: netip.AddrPortFrom(localAddr, IKEPort), peer: netip.AddrPortFrom(r.Address, r.Port)}
	sa.key = SAKey{SPIi: d.mgr.NewSPI()}
	if err := d.mgr.Add(sa.key, sa.peer, false, sa); err != nil {
		d.stats.HalfOpenRefused.Add(1)
		return err
	}
	defer d.checkin(sa)
	var groups []GroupID
	for _, g := range r.Groups {
		if SupportedGroup(g) {
			groups = append(groups, g)
		}
	}
	if len(groups) == 0 {
		d.remove(sa, "no supported DH group")
		return fmt.Errorf("IKE remote %q: no supported DH group", r.Name)
	}
	sa.group = groups[0]
	sa.ni = newNonce()
	if err := d.sendTask(sa, &ikeInit{}); err != nil {
		d.remove(sa, err.Error())
		return err
	}
	// IKE_AUTH follows, with the first Child SA (RFC 7296 §1.2).
	sa.tasks.queued = append(sa.tasks.queued, &ikeAuth{child: &childRequest{policyID: p.ID}})
	return nil
}

func (d *Daemon) localAddr(remote netip.Addr) (netip.Addr, error) {
	if d.cfg.LocalAddr == nil {
		return netip.Addr{}, errors.New("ike: no LocalAddr function to choose our address")
	}
	return d.cfg.LocalAddr(remote)
}

// ikeInit is the initiator's IKE_SA_INIT (RFC 7296 §1.2). The
// responder's side is handleInitRequest, which makes the IKE SA.
type ikeInit struct{}

func (*ikeInit) String() string                   { return "IKE_SA_INIT" }
func (*ikeInit) exchange() message.ExchangeType   { return message.IKESAInit }
func (*ikeInit) abort(d *Daemon, sa *SA, _ error) {}

// build returns the IKE_SA_INIT request (again, after INVALID_KE_PAYLOAD
// or COOKIE).
func (*ikeInit) build(d *Daemon, sa *SA) ([]message.Payload, error) {
	g, err := lookupGroup(sa.group)
	if err != nil {
		return nil, err
	}
	if sa.dh == nil || sa.dh.Group().ID() != sa.group {
		if sa.dh, err = g.GenerateKey(); err != nil {
			return nil, err
		}
	}
	var payloads []message.Payload
	if sa.cookie != nil {
		payloads = append(payloads, &message.Notify{Type: message.Cookie, Data: sa.cookie})
	}
	payloads = append(payloads,
		&message.SA{Proposals: IKEProposals(sa.remote)},
		&message.KE{Group: message.GroupID(sa.group), Data: sa.dh.PublicValue()},
		&message.Nonce{Data: sa.ni},
	)
	payloads = append(payloads, natNotifies(sa.key.SPIi, 0, sa.local, sa.peer, sa.remote.ForceEncap)...)
	sa.nextRequest = 0
	return payloads, nil
}

// process completes IKE_SA_INIT, asks for a restart after a COOKIE or
// INVALID_KE_PAYLOAD, or returns an *ignoredResponse saying why the
// response does not count; another error is a local failure that ends the
// IKE SA.
func (*ikeInit) process(d *Daemon, sa *SA, in *inbound) error {
	ignored, err := d.processInitResponse(sa, in)
	if ignored != nil {
		return &ignoredResponse{ignored}
	}
	return err
}

// maxInitRetries bounds how often COOKIE and INVALID_KE_PAYLOAD replies
// restart one IKE_SA_INIT (strongSwan's ike_init gives up after 5 too).
const maxInitRetries = 5

// processInitResponse completes IKE_SA_INIT, returns errRestart after a
// COOKIE or INVALID_KE_PAYLOAD, or says why the response is ignored; err
// is a local failure that ends the IKE SA.
func (d *Daemon) processInitResponse(sa *SA, in *inbound) (ignored, err error) {
	ps := in.payloads
	if n, ok := message.FindNotify(ps, message.Cookie); ok {
		switch {
		case bytes.Equal(n.Data, sa.cookie):
			// The answer to an earlier copy of the request, or the
			// responder still refusing it: wait for the one that counts.
			return errors.New("a COOKIE the request already carries"), nil
		case len(n.Data) == 0 || len(n.Data) > 64:
			return fmt.Errorf("%w: a COOKIE of %d octets (RFC 7296 §3.10.1: 1 to 64)", ErrInvalidSyntax, len(n.Data)), nil
		case sa.initRetries >= maxInitRetries:
			return fmt.Errorf("a COOKIE after %d restarts of IKE_SA_INIT", sa.initRetries), nil
		}
		// RFC 7296 §2.6: repeat the request with the cookie first.
		sa.initRetries++
		sa.cookie = slices.Clone(n.Data)
		return nil, errRestart
	}
	if n, ok := message.FindNotify(ps, message.InvalidKEPayload); ok {
		pe := &PeerError{Exchange: message.IKESAInit, Notify: n.Type, Data: slices.Clone(n.Data)}
		if len(n.Data) != 2 {
			return fmt.Errorf("%w with %d octets of data, not 2", pe, len(n.Data)), nil
		}
		want := GroupID(binary.BigEndian.Uint16(n.Data))
		switch {
		case want == sa.group:
			return fmt.Errorf("%w asking for %v, the group the request used", pe, want), nil
		case !slices.Contains(sa.remote.Groups, want) || !SupportedGroup(want):
			return fmt.Errorf("%w asking for %v, which we did not propose", pe, want), nil
		case slices.Contains(sa.refusedGroups, want):
			// A responder that asks for the group it refused before
			// would make the requests ping-pong.
			return fmt.Errorf("%w asking for %v, which the peer refused before", pe, want), nil
		case sa.initRetries >= maxInitRetries:
			return fmt.Errorf("%w after %d restarts of IKE_SA_INIT", pe, sa.initRetries), nil
		}
		d.debugf(sa, "peer wants DH group %v", want)
		sa.initRetries++
		sa.refusedGroups = append(sa.refusedGroups, sa.group)
		sa.group = want
		return nil, errRestart
	}
	if pe := peerRefusal(message.IKESAInit, ps); pe != nil {
		if pe.Notify == message.NoProposalChosen {
			return fmt.Errorf("%w (configured %s)", pe, proposalsString(IKEProposals(sa.remote))), nil
		}
		return pe, nil
	}
	saP, ok1 := message.Find[*message.SA](ps)
	ke, ok2 := message.Find[*message.KE](ps)
	nr, ok3 := message.Find[*message.Nonce](ps)
	if !ok1 || !ok2 || !ok3 || len(saP.Proposals) != 1 || in.hdr.SPIr == 0 {
		return fmt.Errorf("%w: IKE_SA_INIT response lacks SA, KE, Nr or SPIr", ErrInvalidSyntax), nil
	}
	if !Accepts(IKEProposals(sa.remote), saP.Proposals[0]) {
		return fmt.Errorf("%w: peer chose an IKE proposal we did not offer", ErrNoProposalChosen), nil
	}
	algs := Chosen(saP.Proposals[0])
	if algs.Group != sa.group || GroupID(ke.Group) != sa.group {
		return fmt.Errorf("%w: peer's KE group %v or chosen group %v is not the %v of our KE", ErrInvalidKE, GroupID(ke.Group), algs.Group, sa.group), nil
	}
	// Tentatively: the keys depend on SPIr and Nr; a response whose key
	// exchange fails leaves the SA as it was.
	old := sa.key
	sa.key.SPIr = in.hdr.SPIr
	sa.nr = slices.Clone(nr.Data)
	sa.algs = algs
	if err := sa.deriveKeys(ke.Data); err != nil {
		sa.key, sa.nr, sa.algs = old, nil, Transforms{}
		return err, nil
	}
	d.mgr.Rekey(old, sa.key)
	sa.initResponse = slices.Clone(in.raw)
	natD := sa.detectNAT(ps, sa.key.SPIr, in.local, in.remote)
	if natD && sa.remote.ForceEncap {
		sa.natLocal = true // as our faked NAT-D told the peer
	}
	if natD && (sa.natLocal || sa.natPeer) {
		// RFC 7296 §2.23: float to the NAT-T port for the rest.
		sa.floated = true
		sa.local = netip.AddrPortFrom(sa.local.Addr(), NATTPort)
		sa.peer = netip.AddrPortFrom(sa.peer.Addr(), NATTPort)
		d.log.Info("NAT detected", "ike_sa", sa.String(), "local_behind_nat", sa.natLocal, "peer_behind_nat", sa.natPeer)
	}
	return nil, nil
}

// firstError returns the first error Notify (types below 16384).
func firstError(ps []message.Payload) *message.Notify {
	for _, n := range message.FindAll[*message.Notify](ps) {
		if n.Type < 16384 {
			return n
		}
	}
	return nil
}

// deriveKeys computes SKEYSEED and the SK_* keys from the peer's public
// value (RFC 7296 §2.14) and keys the SK payload ciphers.
func (sa *SA) deriveKeys(peerPublic []byte) error {
	gir, err := sa.dh.SharedSecret(peerPublic)
	if err != nil {
		return fmt.Errorf("peer's KE: %w", err)
	}
	defer clear(gir)
	if sa.prf, err = ikecrypto.NewPRF(sa.algs.PRF); err != nil {
		return err
	}
	encLen, intLen, err := ikecrypto.SKKeyLengths(sa.algs.Encr.ID, sa.algs.Encr.KeyBits, sa.algs.Integ)
	if err != nil {
		return err
	}
	skeyseed := sa.prf.SKEYSEED(sa.ni, sa.nr, gir)
	defer clear(skeyseed)
	spii, spir := sa.spiBytes()
	if sa.keys, err = ikecrypto.DeriveIKESAKeys(sa.prf, skeyseed, sa.ni, sa.nr, spii, spir, encLen, intLen); err != nil {
		return err
	}
	ei, ai, er, ar := sa.keys.SKei, sa.keys.SKai, sa.keys.SKer, sa.keys.SKar
	if !sa.initiator {
		ei, ai, er, ar = er, ar, ei, ai
	}
	if sa.skOut, err = ikecrypto.NewSKCipher(sa.algs.Encr.ID, ei, sa.algs.Integ, ai); err != nil {
		return err
	}
	if sa.skIn, err = ikecrypto.NewSKCipher(sa.algs.Encr.ID, er, sa.algs.Integ, ar); err != nil {
		return err
	}
	sa.dh.Zero()
	return nil
}

// cookieFor computes a stateless cookie (RFC 7296 §2.6):
// HMAC-SHA256(secret, Ni | IPi | SPIi).
func (d *Daemon) cookieFor(ni []byte, peer netip.AddrPort, spii uint64) []byte {
	h := hmac.New(sha256.New, d.cookieSecret[:])
	h.Write(ni)
	h.Write(peer.Addr().AsSlice())
	var b [8]byte
	binary.BigEndian.PutUint64(b[:], spii)
	h.Write(b[:])
	return h.Sum(nil)
}

// handleInitRequest is the responder's IKE_SA_INIT: a retransmission gets
// the cached response; a new request creates a half-open IKE SA.
func (d *Daemon) handleInitRequest(m *message.Message, raw []byte, local, remote netip.AddrPort) {
	h := m.Header
	if h.SPIi == 0 {
		// RFC 7296 §3.1: the initiator's SPI is never zero.
		d.stats.Dropped.Add(1)
		return
	}
	hash := HashMessage(raw)
	if d.answerInitRetransmission(h.SPIi, remote, hash) {
		return
	}
	if h.MessageID != 0 {
		d.stats.Dropped.Add(1)
		return
	}
	reply := func(ps ...message.Payload) {
		resp := message.Message{Header: message.Header{SPIi: h.SPIi, Exchange: message.IKESAInit, Flags: message.FlagResponse}, Payloads: ps}
		if b, err := resp.Marshal(); err == nil {
			d.stats.Sent.Add(1)
			d.cfg.Send(b, local, remote)
		}
	}
	if err := message.Check(message.IKESAInit, false, m.Payloads); err != nil {
		d.stats.Dropped.Add(1)
		d.refuseUnprotected(&h, err, local, remote) // malformed.go
		return
	}
	r := d.remoteFor(remote.Addr())
	if r == nil {
		d.limitedLog(slog.LevelInfo, "IKE_SA_INIT from a peer with no accepting remote", "peer", remote)
		reply(&message.Notify{Type: message.NoProposalChosen})
		return
	}
	// Check found exactly one SA, KE and Ni; looked up again with ok all
	// the same, since a peer controls them.
	saP, ok1 := message.Find[*message.SA](m.Payloads)
	ke, ok2 := message.Find[*message.KE](m.Payloads)
	ni, ok3 := message.Find[*message.Nonce](m.Payloads)
	if !ok1 || !ok2 || !ok3 {
		d.stats.Dropped.Add(1)
		return
	}
	// Demand a cookie when many SAs are half-open, in all or from this
	// address (RFC 7296 §2.6).
	if d.mgr.CookieThreshold(remote.Addr()) {
		want := d.cookieFor(ni.Data, remote, h.SPIi)
		n, ok := message.FindNotify(m.Payloads, message.Cookie)
		if !ok || !hmac.Equal(n.Data, want) {
			d.stats.CookiesSent.Add(1)
			reply(&message.Notify{Type: message.Cookie, Data: want})
			return
		}
	}
	chosen, ok := Select(IKEProposals(r), saP.Proposals)
	if !ok {
		d.limitedLog(slog.LevelWarn, "no acceptable IKE proposal", "peer", remote, "remote", r.Name,
			"received", proposalsString(saP.Proposals), "configured", proposalsString(IKEProposals(r)))
		reply(&message.Notify{Type: message.NoProposalChosen})
		return
	}
	algs := Chosen(chosen)
	if GroupID(ke.Group) != algs.Group {
		// RFC 7296 §1.2: tell the initiator which group we want.
		reply(message.NewInvalidKEPayload(message.GroupID(algs.Group)))
		return
	}
	sa := &SA{d: d, remote: r, created: d.cfg.Now(), state: StateInitDone, local: local, peer: remote, algs: algs, group: algs.Group}
	sa.key = SAKey{SPIi: h.SPIi, SPIr: d.mgr.NewSPI()}
	switch err := d.mgr.AddResponder(sa.key, remote, hash, sa); {
	case errors.Is(err, ErrDuplicateInit):
		// A copy of this request was processed meanwhile.
		d.answerInitRetransmission(h.SPIi, remote, hash)
		return
	case errors.Is(err, ErrPeerHalfOpenLimit):
		// strongSwan's block_threshold: ignored, not answered.
		d.stats.HalfOpenRefused.Add(1)
		d.limitedLog(slog.LevelInfo, "IKE_SA_INIT ignored: the peer's address holds its share of half-open IKE SAs", "peer", remote, "limit", d.mgr.MaxHalfOpenPerPeer)
		return
	case err != nil:
		d.stats.HalfOpenRefused.Add(1)
		d.limitedLog(slog.LevelWarn, "IKE_SA_INIT refused: half-open IKE SA limit reached", "peer", remote, "limit", d.mgr.MaxHalfOpen)
		reply(&message.Notify{Type: message.TemporaryFailure})
		return
	}
	defer d.checkin(sa)
	g, err := lookupGroup(algs.Group)
	if err == nil {
		sa.dh, err = g.GenerateKey()
	}
	if err != nil {
		d.remove(sa, err.Error())
		return
	}
	sa.ni, sa.nr = slices.Clone(ni.Data), newNonce()
	sa.initRequest = slices.Clone(raw)
	myPublic := sa.dh.PublicValue()
	if err := sa.deriveKeys(ke.Data); err != nil {
		d.limitedLog(slog.LevelInfo, "IKE_SA_INIT key exchange failed", "peer", remote, "err", err)
		d.remove(sa, err.Error())
		reply(&message.Notify{Type: message.InvalidSyntax})
		return
	}
	if sa.detectNAT(m.Payloads, 0, local, remote) && r.ForceEncap {
		sa.natLocal = true // as our faked NAT-D tells the peer
	}
	chosen.SPI = nil
	payloads := []message.Payload{
		&message.SA{Proposals: []message.Proposal{chosen}},
		&message.KE{Group: message.GroupID(algs.Group), Data: myPublic},
		&message.Nonce{Data: sa.nr},
	}
	payloads = append(payloads, natNotifies(sa.key.SPIi, sa.key.SPIr, local, remote, r.ForceEncap)...)
	b, err := sa.seal(message.IKESAInit, 0, true, payloads)
	if err != nil {
		d.remove(sa, err.Error())
		return
	}
	sa.initResponse = b
	sa.lastResponse = b
	sa.lastRequestHash = hash
	sa.nextExpected = 1
	sa.lastRecv = d.cfg.Now()
	d.send(sa, b)
	if sa.natLocal || sa.natPeer {
		d.log.Info("NAT detected", "ike_sa", sa.String(), "local_behind_nat", sa.natLocal, "peer_behind_nat", sa.natPeer)
	}
	// A half-open SA that never authenticates is removed.
	key := sa.key
	sa.timer = d.cfg.AfterFunc(halfOpenTimeout, func() {
		if sa, err := d.mgr.Checkout(key, remote); err == nil {
			if sa.state == StateInitDone {
				d.removeHalfOpen(sa, "IKE_AUTH never came")
			} else {
				d.checkin(sa)
			}
		}
	})
}

// answerInitRetransmission resends the response to a copy of an
// IKE_SA_INIT request that made an IKE SA, and reports whether there was
// one. Once that IKE SA is authenticated its response is gone, and copies
// are dropped: they never make a second IKE SA (RFC 7296 §2.1).
func (d *Daemon) answerInitRetransmission(spii uint64, remote netip.AddrPort, hash InitHash) bool {
	sa, err := d.mgr.CheckoutInit(spii, remote, hash)
	if err != nil {
		return false
	}
	defer d.checkin(sa)
	if sa.state == StateInitDone && sa.initResponse != nil {
		d.stats.Retransmits.Add(1)
		d.send(sa, sa.initResponse)
	} else {
		d.stats.Dropped.Add(1)
	}
	return true
}
