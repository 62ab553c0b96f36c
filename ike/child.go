package ike

import (
	"bytes"
	"encoding/binary"
	"fmt"
	mrand "math/rand/v2"
	"net/netip"
	"slices"
	"time"

	ikecrypto "github.com/sabre-ipsec/sabre/ike/crypto"
	"github.com/sabre-ipsec/sabre/ike/message"
	"github.com/sabre-ipsec/sabre/ipsec"
	"github.com/sabre-ipsec/sabre/ipsec/messaging"
	"github.com/sabre-ipsec/sabre/sad"
	"github.com/sabre-ipsec/sabre/spd"
	"github.com/sabre-ipsec/sabre/suite"
)

// softLifetime is when a Child SA of policy p is rekeyed, counted from its
// creation: a random point in p's rekey window (`ipsec policy -K`, or 80% to
// 90% of `-k`), so that the two ends rarely start rekeying the same SA at
// once.
func softLifetime(p *spd.Policy) time.Duration {
	lo, hi := p.RekeyWindow()
	return lo + time.Duration(mrand.Int64N(int64(hi-lo)+1))
}

// DefaultRekeyGrace is how long the inbound SA of a rekeyed or deleted
// Child SA outlives the Delete exchange for it, for the peer's packets
// still on the way (strongSwan's delete_rekeyed_delay is 5 s too).
const DefaultRekeyGrace = 5 * time.Second

// childRequest is a Child SA we are negotiating as initiator.
type childRequest struct {
	policyID  uint32
	spi       uint32 // our inbound SPI (GET_SPI)
	proto     message.ProtocolID
	proposals []message.Proposal
	tsi, tsr  []TrafficSelector
	transport bool
	ni        []byte // CREATE_CHILD_SA nonce
	// PFS (pfs.go), in CREATE_CHILD_SA only: group is the group of our
	// KE (the policy's first, or the one the peer asked for with
	// INVALID_KE_PAYLOAD), dh our key for it.
	pfs   bool
	group GroupID
	dh    *ikecrypto.PrivateKey
}

func tsPayload(ts []TrafficSelector, responder bool) *message.TS {
	p := &message.TS{Responder: responder}
	for _, t := range ts {
		typ := message.TSIPv4AddrRange
		if !t.Is4() {
			typ = message.TSIPv6AddrRange
		}
		p.Selectors = append(p.Selectors, message.TrafficSelector{Type: typ, IPProtocol: t.Proto, StartPort: t.StartPort, EndPort: t.EndPort, Start: t.Start, End: t.End})
	}
	return p
}

func fromTSPayload(p *message.TS) []TrafficSelector {
	var out []TrafficSelector
	for _, s := range p.Selectors {
		if s.Type != message.TSIPv4AddrRange && s.Type != message.TSIPv6AddrRange {
			continue
		}
		out = append(out, TrafficSelector{Proto: s.IPProtocol, Start: s.Start, End: s.End, StartPort: s.StartPort, EndPort: s.EndPort})
	}
	return out
}

// policyProto is the protocol of a policy's Child SAs: ESP unless AH only.
func policyProto(p *spd.Policy) (message.ProtocolID, error) {
	switch {
	case p.Flags&spd.FlagProtoESP != 0 && p.Flags&spd.FlagProtoAH != 0:
		return 0, fmt.Errorf("policy %d wants AH and ESP together, which IKEv2 peers do not negotiate; use one", p.ID)
	case p.Flags&spd.FlagProtoAH != 0:
		return message.ProtocolAH, nil
	}
	return message.ProtocolESP, nil
}

// policyProposals are the Child SA proposals of policy p, with a DH
// transform for each of groups (PFS). A policy without algorithm lists
// offers what RFC 8221 recommends.
func policyProposals(p *spd.Policy, proto message.ProtocolID, spi uint32, groups []GroupID) ([]message.Proposal, error) {
	encr, _ := splitPFS(p.ESPAlgorithms)
	integ, _ := splitPFS(p.AHAlgorithms)
	if proto == message.ProtocolESP && len(encr) == 0 {
		encr = []string{"AES128-GCM16", "AES256-GCM16", "CHACHA20-POLY1305", "AES128-CBC", "AES256-CBC"}
		if len(integ) == 0 {
			integ = []string{"HMAC-SHA-2-256", "HMAC-SHA-2-512", "HMAC-SHA-1"}
		}
	}
	if proto == message.ProtocolAH && len(integ) == 0 {
		integ = []string{"HMAC-SHA-2-256", "HMAC-SHA-2-512", "HMAC-SHA-1"}
	}
	ps, err := ChildProposals(proto == message.ProtocolESP, encr, integ, spi)
	if err != nil {
		return nil, err
	}
	return withGroups(ps, groups), nil
}

// childRequestPayloads builds SA, TSi, TSr (and USE_TRANSPORT_MODE) for a
// Child SA we initiate, allocating our inbound SPI.
func (d *Daemon) childRequestPayloads(sa *SA, cr *childRequest) ([]message.Payload, error) {
	m := d.cfg.Messaging
	p, err := m.GetPolicy(cr.policyID)
	if err != nil {
		return nil, err
	}
	if cr.proto, err = policyProto(p); err != nil {
		return nil, err
	}
	sproto := sad.ESP
	if cr.proto == message.ProtocolAH {
		sproto = sad.AH
	}
	if cr.spi, err = m.GetSPI(p.ID, sproto, sa.local.Addr()); err != nil {
		return nil, err
	}
	var groups []GroupID
	if cr.pfs {
		if groups, err = PFSGroups(p); err != nil {
			return nil, err
		}
		if len(groups) > 0 {
			// The group of our KE first (RFC 7296 §1.3.1).
			if !slices.Contains(groups, cr.group) {
				cr.group = groups[0]
			}
			groups = append([]GroupID{cr.group}, slices.DeleteFunc(slices.Clone(groups), func(g GroupID) bool { return g == cr.group })...)
			if cr.dh, err = pfsKey(cr.group); err != nil {
				return nil, err
			}
		}
	}
	if cr.proposals, err = policyProposals(p, cr.proto, cr.spi, groups); err != nil {
		return nil, err
	}
	local, remote := PolicySelectors(p)
	cr.tsi, cr.tsr = []TrafficSelector{local}, []TrafficSelector{remote}
	cr.transport = p.Mode == spd.Transport
	ps := []message.Payload{&message.SA{Proposals: cr.proposals}, tsPayload(cr.tsi, false), tsPayload(cr.tsr, true)}
	if cr.dh != nil {
		ps = append(ps, &message.KE{Group: message.GroupID(cr.group), Data: cr.dh.PublicValue()})
	}
	if cr.transport {
		ps = append([]message.Payload{&message.Notify{Type: message.UseTransportMode}}, ps...)
	}
	return ps, nil
}

// completeChild is the initiator's processing of a Child SA response in
// exchange exch: it checks what the peer chose against cr and installs the
// Child SA.
func (d *Daemon) completeChild(sa *SA, exch message.ExchangeType, cr *childRequest, in *inbound, ps []message.Payload) (*child, error) {
	defer func() {
		if cr.dh != nil { // not used: the exchange failed
			cr.dh.Zero()
			cr.dh = nil
		}
	}()
	if pe := peerRefusal(exch, ps); pe != nil {
		if pe.Notify == message.NoProposalChosen {
			// Operator feedback, as strongSwan's "configured proposals".
			return nil, fmt.Errorf("Child SA for policy %d: %w (configured %s)", cr.policyID, pe, proposalsString(cr.proposals))
		}
		return nil, fmt.Errorf("Child SA for policy %d: %w", cr.policyID, pe)
	}
	saP, ok1 := message.Find[*message.SA](ps)
	tsi, ok2 := message.FindTS(ps, false)
	tsr, ok3 := message.FindTS(ps, true)
	if !ok1 || !ok2 || !ok3 || len(saP.Proposals) != 1 {
		return nil, fmt.Errorf("%w: Child SA response lacks SA, TSi or TSr", ErrInvalidSyntax)
	}
	chosen := saP.Proposals[0]
	if !Accepts(cr.proposals, withoutSPI(chosen, cr.proposals)) || len(chosen.SPI) != 4 {
		return nil, fmt.Errorf("%w: peer chose a Child SA proposal we did not offer", ErrNoProposalChosen)
	}
	if !Acceptable(cr.tsi, cr.tsr, fromTSPayload(tsi), fromTSPayload(tsr)) {
		return nil, fmt.Errorf("%w: peer's traffic selectors %v %v are not within ours", ErrTSUnacceptable, fromTSPayload(tsi), fromTSPayload(tsr))
	}
	_, transport := message.FindNotify(ps, message.UseTransportMode)
	if transport != cr.transport {
		return nil, fmt.Errorf("%w: peer answered in %s mode", ErrNoProposalChosen, map[bool]string{true: "transport", false: "tunnel"}[transport])
	}
	ni, nr := sa.ni, sa.nr
	if cr.ni != nil {
		nonce, ok := message.Find[*message.Nonce](ps)
		if !ok {
			return nil, fmt.Errorf("%w: CREATE_CHILD_SA response lacks Nr", ErrInvalidSyntax)
		}
		ni, nr = cr.ni, nonce.Data
	}
	algs := Chosen(chosen)
	var gir []byte
	if cr.dh != nil {
		// RFC 7296 §1.3.1: the responder's KE is of the group it chose,
		// which must be that of our KE.
		ke, ok := message.Find[*message.KE](ps)
		if !algs.HasDH || algs.Group != cr.group || !ok {
			return nil, fmt.Errorf("%w: peer chose group %v (KE present: %v) for the %v of our KE", ErrNoProposalChosen, algs.Group, ok, cr.group)
		}
		var err error
		if gir, err = pfsSecret(cr.dh, ke); err != nil {
			return nil, err
		}
		cr.dh = nil
		defer clear(gir)
	} else if algs.HasDH {
		return nil, fmt.Errorf("%w: peer chose group %v, we sent no KE", ErrNoProposalChosen, algs.Group)
	}
	c := &child{policyID: cr.policyID, proto: cr.proto, inSPI: cr.spi, outSPI: binary.BigEndian.Uint32(chosen.SPI), tunnel: !transport, algs: algs, weInitiated: true}
	if err := d.installChild(sa, c, gir, ni, nr, false); err != nil {
		return nil, err
	}
	return c, nil
}

// lowestNonce reports whether the lowest of a and b is lower than all of
// others.
func lowestNonce(a, b []byte, others ...[]byte) bool {
	mine := a
	if bytes.Compare(b, a) < 0 {
		mine = b
	}
	for _, o := range others {
		if bytes.Compare(o, mine) <= 0 {
			return false
		}
	}
	return true
}

// withoutSPI returns the chosen proposal with the SPI of our offer, so that
// Accepts compares transforms only.
func withoutSPI(chosen message.Proposal, offered []message.Proposal) message.Proposal {
	c := chosen
	for _, o := range offered {
		if o.Number == chosen.Number {
			c.SPI = o.SPI
		}
	}
	return c
}

// installChild derives the Child SA's keys (RFC 7296 §2.17, with gir the
// PFS shared secret or nil) and adds the SA pair to the data plane
// (ADD_SA), the inbound SA first. With withhold it adds only the inbound
// SA and keeps the outbound one for installOutbound.
func (d *Daemon) installChild(sa *SA, c *child, gir, ni, nr []byte, withhold bool) error {
	p, err := d.cfg.Messaging.GetPolicy(c.policyID)
	if err != nil {
		return err
	}
	encLen, intLen := 0, 0
	if c.proto == message.ProtocolESP {
		if encLen, err = suite.EncrKeyLen(c.algs.Encr.ID, c.algs.Encr.KeyBits); err != nil {
			return err
		}
	}
	if c.algs.Integ != suite.IntegNone {
		if intLen, err = suite.IntegKeyLen(c.algs.Integ); err != nil {
			return err
		}
	}
	keys, err := ikecrypto.DeriveChildSAKeys(sa.prf, sa.keys.SKd, gir, ni, nr, encLen, intLen)
	if err != nil {
		return err
	}
	defer keys.Zero()
	// RFC 7296 §2.17: the initiator-to-responder keys come first, where
	// "initiator" is the one that sent this exchange's request.
	encOut, intOut, encIn, intIn := keys.EncrI, keys.IntegI, keys.EncrR, keys.IntegR
	if !c.weInitiated {
		encOut, intOut, encIn, intIn = encIn, intIn, encOut, intOut
	}
	life := p.Lifetime
	if life <= 0 {
		life = spd.DefaultLifetime
	}
	m := ipsec.ManualSA{
		Encr: c.algs.Encr.ID, EncrKeyIn: encIn, EncrKeyOut: encOut,
		Integ: c.algs.Integ, IntegKeyIn: intIn, IntegKeyOut: intOut,
		ESN: c.algs.ESN, Local: sa.local.Addr(), Remote: sa.peer.Addr(),
		Soft: sad.Lifetime{Time: softLifetime(p)},
		Hard: sad.Lifetime{Time: life},
	}
	if c.proto == message.ProtocolESP {
		m.ESPSPIIn, m.ESPSPIOut = c.inSPI, c.outSPI
	} else {
		m.AHSPIIn, m.AHSPIOut = c.inSPI, c.outSPI
		m.Encr = 0
	}
	if p.Mode == spd.Transport && p.TunnelRemote.IsValid() && p.TunnelRemote != sa.peer.Addr() && !(sa.natLocal || sa.natPeer) {
		m.Remote = p.TunnelRemote
	}
	if sa.natLocal || sa.natPeer || sa.floated {
		m.Encap = &sad.UDPEncap{SrcPort: sa.local.Port(), DstPort: sa.peer.Port()}
	}
	if withhold {
		// Make-before-break (RFC 7296 §2.8): the peer, which started this
		// rekey, has the new inbound SA only once it has our response; we
		// keep sending on the old pair until it deletes that.
		m.Only = sad.Inbound
	}
	if err := d.cfg.Messaging.AddSA(c.policyID, m); err != nil {
		return err
	}
	if withhold {
		out := m
		out.Only = sad.Outbound
		out.EncrKeyIn, out.IntegKeyIn = nil, nil
		out.EncrKeyOut, out.IntegKeyOut = bytes.Clone(m.EncrKeyOut), bytes.Clone(m.IntegKeyOut)
		c.pendingOut = &out
	}
	d.exportChildKeys(sa, c, &m)
	c.created = d.cfg.Now()
	sa.children = append(sa.children, c)
	d.stats.ChildSAs.Add(1)
	d.log.Info("Child SA established", "ike_sa", sa.String(), "policy", c.policyID, "proto", c.proto.String(),
		"spi_in", fmt.Sprintf("%08x", c.inSPI), "spi_out", fmt.Sprintf("%08x", c.outSPI), "algorithms", c.algs.Summary,
		"udp_encap", m.Encap != nil)
	return nil
}

// respondChild is the responder's side of a Child SA in IKE_AUTH or
// CREATE_CHILD_SA: it finds the policy, narrows the traffic selectors,
// picks a proposal, and installs the SAs.
func (d *Daemon) respondChild(sa *SA, in *inbound, ps []message.Payload, ni, nr []byte) []message.Payload {
	resp, _ := d.respondChildSA(sa, in, ps, ni, nr, false)
	return resp
}

// respondChildSA is respondChild, returning the new Child SA (nil if
// refused); a rekey's responder withholds its outbound SA.
func (d *Daemon) respondChildSA(sa *SA, in *inbound, ps []message.Payload, ni, nr []byte, rekey bool) ([]message.Payload, *child) {
	refuse := func(err error) ([]message.Payload, *child) {
		d.stats.ChildFailures.Add(1)
		d.log.Warn("Child SA refused", "ike_sa", sa.String(), "reason", err)
		d.reportChild(sa, 0, err)
		return notifyError(err), nil
	}
	saP, ok0 := message.Find[*message.SA](ps)
	tsiP, ok1 := message.FindTS(ps, false)
	tsrP, ok2 := message.FindTS(ps, true)
	if !ok0 || !ok1 || !ok2 {
		return refuse(fmt.Errorf("%w: Child SA request lacks SA, TSi or TSr", ErrInvalidSyntax))
	}
	tsi, tsr := fromTSPayload(tsiP), fromTSPayload(tsrP)
	_, wantTransport := message.FindNotify(ps, message.UseTransportMode)
	// The first of our SECURE policies for this remote (by priority) that
	// the proposed traffic fits.
	var pol *spd.Policy
	var ni2, nr2 []TrafficSelector
	for _, p := range d.cfg.Messaging.Engine().SPD().List() {
		if p.Action != spd.Secure || p.RemoteName != sa.remote.Name {
			continue
		}
		local, remote := PolicySelectors(p)
		if a, b, ok := Narrow(tsi, tsr, remote, local); ok {
			pol, ni2, nr2 = p, a, b
			break
		}
	}
	if pol == nil {
		return refuse(fmt.Errorf("%w: no policy for remote %q covers TSi %v TSr %v", ErrTSUnacceptable, sa.remote.Name, tsi, tsr))
	}
	transport := pol.Mode == spd.Transport
	if transport && !wantTransport {
		return refuse(fmt.Errorf("%w: policy %d is transport mode, the peer asked for tunnel mode", ErrNoProposalChosen, pol.ID))
	}
	proto, err := policyProto(pol)
	if err != nil {
		return refuse(fmt.Errorf("%w: %w", ErrNoProposalChosen, err))
	}
	sproto := sad.ESP
	if proto == message.ProtocolAH {
		sproto = sad.AH
	}
	spi, err := d.cfg.Messaging.GetSPI(pol.ID, sproto, sa.local.Addr())
	if err != nil {
		return refuse(fmt.Errorf("%w: %w", ErrTemporaryFailure, err))
	}
	// PFS only in CREATE_CHILD_SA (RFC 7296 §1.2: IKE_AUTH has no KE).
	var groups []GroupID
	if in.hdr.Exchange == message.CreateChildSA {
		if groups, err = PFSGroups(pol); err != nil {
			return refuse(fmt.Errorf("%w: %w", ErrNoProposalChosen, err))
		}
	}
	ours, err := policyProposals(pol, proto, spi, groups)
	if err != nil {
		return refuse(fmt.Errorf("%w: %w", ErrNoProposalChosen, err))
	}
	chosen, ok := Select(ours, saP.Proposals)
	if !ok || len(chosen.SPI) != 4 {
		return refuse(fmt.Errorf("%w: no acceptable proposal for policy %d: received %s, configured %s",
			ErrNoProposalChosen, pol.ID, proposalsString(saP.Proposals), proposalsString(ours)))
	}
	algs := Chosen(chosen)
	var gir []byte
	var myKE *message.KE
	if algs.HasDH {
		ke, ok := message.Find[*message.KE](ps)
		if !ok {
			return refuse(fmt.Errorf("%w: the chosen proposal has group %v but the request no KE", ErrInvalidSyntax, algs.Group))
		}
		if GroupID(ke.Group) != algs.Group {
			// RFC 7296 §1.3.1: tell the initiator the group we want.
			d.log.Info("Child SA: peer's KE is of another group", "ike_sa", sa.String(), "policy", pol.ID, "ke", GroupID(ke.Group), "want", algs.Group)
			return []message.Payload{message.NewInvalidKEPayload(message.GroupID(algs.Group))}, nil
		}
		dh, err := pfsKey(algs.Group)
		if err != nil {
			return refuse(fmt.Errorf("%w: %w", ErrNoProposalChosen, err))
		}
		myKE = &message.KE{Group: ke.Group, Data: slices.Clone(dh.PublicValue())}
		if gir, err = pfsSecret(dh, ke); err != nil {
			return refuse(err)
		}
		defer clear(gir)
	}
	c := &child{policyID: pol.ID, proto: proto, inSPI: spi, outSPI: binary.BigEndian.Uint32(chosen.SPI), tunnel: !transport, algs: algs}
	if err := d.installChild(sa, c, gir, ni, nr, rekey); err != nil {
		return refuse(fmt.Errorf("%w: %w", ErrNoProposalChosen, err))
	}
	mine := chosen
	mine.SPI = []byte{byte(spi >> 24), byte(spi >> 16), byte(spi >> 8), byte(spi)}
	resp := []message.Payload{}
	if transport {
		resp = append(resp, &message.Notify{Type: message.UseTransportMode})
	}
	resp = append(resp, &message.SA{Proposals: []message.Proposal{mine}})
	if myKE != nil {
		resp = append(resp, myKE)
	}
	return append(resp, tsPayload(ni2, false), tsPayload(nr2, true)), c
}

func spi4(v uint32) []byte { return []byte{byte(v >> 24), byte(v >> 16), byte(v >> 8), byte(v)} }

// childDeleted tells the peer when one of our Child SAs went away (hard
// lifetime, operator), then forgets it.
func (d *Daemon) childDeleted(ev messaging.Event) {
	d.withChild(ev.SPI, ev.Direction, func(sa *SA, c *child) {
		if c.retiring {
			// It is no longer sent on; it ends when its inbound SA does.
			if ev.Direction == sad.Inbound {
				d.deleteChildLocally(sa, c)
			}
			return
		}
		d.deleteChild(sa, c)
	})
}

// withChild finds the Child SA with an SPI of ours (inbound) or the
// peer's (outbound) and runs f with its IKE SA checked out.
func (d *Daemon) withChild(spi uint32, dir sad.Direction, f func(*SA, *child)) {
	for _, k := range d.mgr.All() {
		sa, err := d.mgr.Checkout(k, netip.AddrPort{})
		if err != nil {
			continue
		}
		for _, c := range sa.children {
			if dir == sad.Inbound && c.inSPI == spi || dir == sad.Outbound && c.outSPI == spi {
				f(sa, c)
				d.checkin(sa)
				return
			}
		}
		d.checkin(sa)
	}
}

// retire stops sending on Child SA c. A successor whose outbound SA was
// held back gets it first (make-before-break), then c's outbound SA is
// demoted: the engine sends on the newest other one, if any, while a packet
// that picked c's just before still finds its keys. c's SAs go in
// dropRetiredLater, the inbound one kept for the peer's packets until then.
func (d *Daemon) retire(sa *SA, c *child) {
	if c.retiring {
		return
	}
	c.retiring = true
	if s := c.successor; s != nil {
		c.successor = nil
		if slices.Contains(sa.children, s) && !s.retiring {
			d.installOutbound(sa, s)
		}
	}
	c.dropPendingOut()
	db := d.cfg.Messaging.Engine().SAD()
	db.Demote(c.outSPI, c.sadProto(), sa.peer.Addr())
	if p, _ := d.cfg.Messaging.GetPolicy(c.policyID); p != nil && p.Mode == spd.Transport && p.TunnelRemote.IsValid() {
		db.Demote(c.outSPI, c.sadProto(), p.TunnelRemote)
	}
}

// installOutbound adds the outbound SA that installChild held back.
func (d *Daemon) installOutbound(sa *SA, c *child) {
	if c.pendingOut == nil {
		return
	}
	err := d.cfg.Messaging.AddSA(c.policyID, *c.pendingOut)
	c.dropPendingOut()
	if err != nil {
		d.log.Warn("installing the outbound SA of a rekeyed Child SA", "ike_sa", sa.String(), "policy", c.policyID,
			"spi_out", fmt.Sprintf("%08x", c.outSPI), "err", err)
		return
	}
	d.log.Info("Child SA sending on its new outbound SA", "ike_sa", sa.String(), "policy", c.policyID,
		"spi_out", fmt.Sprintf("%08x", c.outSPI))
}

// dropPendingOut zeroes and forgets the held-back outbound SA's keys.
func (c *child) dropPendingOut() {
	if c.pendingOut != nil {
		clear(c.pendingOut.EncrKeyOut)
		clear(c.pendingOut.IntegKeyOut)
		c.pendingOut = nil
	}
}

// rekeyGrace is Config.RekeyGrace or DefaultRekeyGrace.
func (d *Daemon) rekeyGrace() time.Duration {
	if d.cfg.RekeyGrace > 0 {
		return d.cfg.RekeyGrace
	}
	return DefaultRekeyGrace
}

// dropRetiredLater removes retired Child SA c's SAs after the grace, unless
// its hard lifetime or the IKE SA's end comes first.
func (d *Daemon) dropRetiredLater(sa *SA, c *child) {
	key := sa.key
	d.cfg.AfterFunc(d.rekeyGrace(), func() {
		sa, err := d.mgr.Checkout(key, netip.AddrPort{})
		if err != nil {
			return
		}
		defer d.checkin(sa)
		if slices.Contains(sa.children, c) {
			d.deleteChildLocally(sa, c)
		}
	})
}

// deleteChildLocally removes c's SAs from the data plane.
func (d *Daemon) deleteChildLocally(sa *SA, c *child) {
	sa.children = slices.DeleteFunc(sa.children, func(x *child) bool { return x == c })
	c.dropPendingOut()
	d.cfg.Messaging.DeleteSPIs(sa.local.Addr(), c.sadProto(), c.inSPI)
	d.deleteOutbound(sa, c)
}

// deleteOutbound removes c's outbound SA from the data plane.
func (d *Daemon) deleteOutbound(sa *SA, c *child) {
	m := d.cfg.Messaging
	m.DeleteSPIs(sa.peer.Addr(), c.sadProto(), c.outSPI)
	if p, _ := m.GetPolicy(c.policyID); p != nil && p.Mode == spd.Transport && p.TunnelRemote.IsValid() {
		m.DeleteSPIs(p.TunnelRemote, c.sadProto(), c.outSPI)
	}
}

func (c *child) sadProto() sad.Protocol {
	if c.proto == message.ProtocolAH {
		return sad.AH
	}
	return sad.ESP
}

// updateChildEncap re-installs nothing: the data plane sends to the SA's
// remote address, so a peer that moved behind a NAT gets its Child SAs
// rekeyed to the new address by the next rekey; until then packets follow
// the old mapping. Logged so operators can see it.
func (d *Daemon) updateChildEncap(sa *SA) {
	if len(sa.children) > 0 {
		d.log.Info("peer address changed; Child SAs keep the old address until rekeyed", "ike_sa", sa.String())
	}
}
