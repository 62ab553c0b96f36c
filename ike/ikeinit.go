package ike

import (
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha1"
	"crypto/sha256"
	"encoding/binary"
	"errors"
	"fmt"
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

func natNotifies(spii, spir uint64, local, remote netip.AddrPort) []message.Payload {
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
		return errors.New("ACQUIRE without a policy")
	}
	if p.RemoteName == "" {
		return fmt.Errorf("policy %d has no IKE remote (-g)", p.ID)
	}
	r := d.remote(p.RemoteName)
	if r == nil {
		return fmt.Errorf("policy %d names IKE remote %q, which is not configured", p.ID, p.RemoteName)
	}
	if !r.Initiate || !r.Address.IsValid() {
		return fmt.Errorf("IKE remote %q does not initiate (-w -r)", r.Name)
	}
	// An IKE SA with this peer carries the new Child SA.
	for _, k := range d.mgr.All() {
		sa, err := d.mgr.Checkout(k, netip.AddrPort{})
		if err != nil {
			continue
		}
		if sa.remote == r && (sa.state == StateEstablished || sa.state == StateInitSent || sa.state == StateAuthSent) {
			if sa.firstChild != nil && sa.firstChild.policyID == p.ID || sa.hasPendingChild(p.ID) {
				d.checkin(sa)
				return nil // already being negotiated
			}
			d.queueCreateChild(sa, p, 0)
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
	sa.firstChild = &childRequest{policyID: p.ID}
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
	if err := d.sendInit(sa); err != nil {
		d.remove(sa, err.Error())
		return err
	}
	return nil
}

func (d *Daemon) localAddr(remote netip.Addr) (netip.Addr, error) {
	if d.cfg.LocalAddr == nil {
		return netip.Addr{}, errors.New("ike: no LocalAddr function to choose our address")
	}
	return d.cfg.LocalAddr(remote)
}

// sendInit sends (or, after INVALID_KE_PAYLOAD or COOKIE, resends) the
// IKE_SA_INIT request.
func (d *Daemon) sendInit(sa *SA) error {
	g, err := lookupGroup(sa.group)
	if err != nil {
		return err
	}
	if sa.dh == nil || sa.dh.Group().ID() != sa.group {
		if sa.dh, err = g.GenerateKey(); err != nil {
			return err
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
	payloads = append(payloads, natNotifies(sa.key.SPIi, 0, sa.local, sa.peer)...)
	sa.nextRequest = 0
	b, err := sa.seal(message.IKESAInit, 0, false, payloads)
	if err != nil {
		return err
	}
	sa.initRequest = b
	sa.pending = &request{msgID: 0, exchange: message.IKESAInit, raw: b, sent: d.cfg.Now(), tries: 1,
		onReply: d.processInitResponse, describe: "IKE_SA_INIT"}
	d.send(sa, b)
	d.armRetransmit(sa, sa.pending)
	return nil
}

// processInitResponse is the initiator's IKE_SA_INIT processing.
func (d *Daemon) processInitResponse(sa *SA, in *inbound) error {
	ps := in.payloads
	if n, ok := message.FindNotify(ps, message.Cookie); ok && sa.cookie == nil {
		// RFC 7296 §2.6: repeat the request with the cookie first.
		sa.cookie = slices.Clone(n.Data)
		sa.nextRequest = 0
		return d.sendInit(sa)
	}
	if n, ok := message.FindNotify(ps, message.InvalidKEPayload); ok && len(n.Data) == 2 {
		want := GroupID(binary.BigEndian.Uint16(n.Data))
		if want == sa.group || !slices.Contains(sa.remote.Groups, want) || !SupportedGroup(want) {
			d.fail(sa, fmt.Sprintf("peer wants DH group %v, which we do not offer", want))
			return nil
		}
		d.debugf(sa, "peer wants DH group %v", want)
		sa.group = want
		sa.nextRequest = 0
		return d.sendInit(sa)
	}
	if n := firstError(ps); n != nil {
		d.fail(sa, fmt.Sprintf("peer refused IKE_SA_INIT: %v", n.Type))
		return nil
	}
	saP, ok1 := message.Find[*message.SA](ps)
	ke, ok2 := message.Find[*message.KE](ps)
	nr, ok3 := message.Find[*message.Nonce](ps)
	if !ok1 || !ok2 || !ok3 || len(saP.Proposals) != 1 || in.hdr.SPIr == 0 {
		d.fail(sa, "IKE_SA_INIT response lacks SA, KE or Nr")
		return nil
	}
	if !Accepts(IKEProposals(sa.remote), saP.Proposals[0]) {
		d.fail(sa, "peer chose an IKE proposal we did not offer")
		return nil
	}
	algs := Chosen(saP.Proposals[0])
	if algs.Group != sa.group || GroupID(ke.Group) != sa.group {
		d.fail(sa, "peer's KE group differs from the chosen proposal")
		return nil
	}
	old := sa.key
	sa.key.SPIr = in.hdr.SPIr
	d.mgr.Rekey(old, sa.key)
	sa.nr = slices.Clone(nr.Data)
	sa.initResponse = slices.Clone(in.raw)
	sa.algs = algs
	if err := sa.deriveKeys(ke.Data); err != nil {
		d.fail(sa, err.Error())
		return nil
	}
	if sa.detectNAT(ps, sa.key.SPIr, in.local, in.remote) && (sa.natLocal || sa.natPeer) {
		// RFC 7296 §2.23: float to the NAT-T port for the rest.
		sa.floated = true
		sa.local = netip.AddrPortFrom(sa.local.Addr(), NATTPort)
		sa.peer = netip.AddrPortFrom(sa.peer.Addr(), NATTPort)
		d.log.Info("NAT detected", "ike_sa", sa.String(), "local_behind_nat", sa.natLocal, "peer_behind_nat", sa.natPeer)
	}
	return d.sendAuth(sa)
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
	if sa, err := d.mgr.Checkout(SAKey{SPIi: h.SPIi}, remote); err == nil {
		defer d.checkin(sa) // also when a panic unwinds (recover.go)
		if sa.lastResponse != nil && h.MessageID == 0 {
			d.stats.Retransmits.Add(1)
			d.send(sa, sa.lastResponse)
		}
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
		d.log.Info("IKE_SA_INIT from a peer with no accepting remote", "peer", remote)
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
	// Demand a cookie when many SAs are half-open (RFC 7296 §2.6).
	if d.mgr.CookieThreshold() {
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
		d.log.Info("no acceptable IKE proposal", "peer", remote, "remote", r.Name)
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
	if err := d.mgr.Add(sa.key, remote, true, sa); err != nil {
		d.stats.HalfOpenRefused.Add(1)
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
		d.log.Info("IKE_SA_INIT key exchange failed", "peer", remote, "err", err)
		d.remove(sa, err.Error())
		reply(&message.Notify{Type: message.InvalidSyntax})
		return
	}
	sa.detectNAT(m.Payloads, 0, local, remote)
	chosen.SPI = nil
	payloads := []message.Payload{
		&message.SA{Proposals: []message.Proposal{chosen}},
		&message.KE{Group: message.GroupID(algs.Group), Data: myPublic},
		&message.Nonce{Data: sa.nr},
	}
	payloads = append(payloads, natNotifies(sa.key.SPIi, sa.key.SPIr, local, remote)...)
	b, err := sa.seal(message.IKESAInit, 0, true, payloads)
	if err != nil {
		d.remove(sa, err.Error())
		return
	}
	sa.initResponse = b
	sa.lastResponse = b
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
				d.remove(sa, "IKE_AUTH never came")
			} else {
				d.checkin(sa)
			}
		}
	})
}
