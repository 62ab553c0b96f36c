package ike

import (
	"fmt"
	"net/netip"
	"slices"
	"strings"
	"time"

	ikecrypto "github.com/sabre-ipsec/sabre/ike/crypto"
	"github.com/sabre-ipsec/sabre/ike/message"
)

// halfOpenTimeout removes a responder's IKE SA whose IKE_AUTH never came.
const halfOpenTimeout = 30 * time.Second

// localIdentity is what we send as IDi/IDr: the remote's -g, or our
// address.
func (sa *SA) localIdentity() Identity {
	if sa.remote.LocalID.Type != 0 {
		return sa.remote.LocalID
	}
	a := sa.local.Addr().Unmap()
	if a.Is4() {
		return Identity{Type: IDIPv4Addr, Data: a.AsSlice()}
	}
	return Identity{Type: IDIPv6Addr, Data: a.AsSlice()}
}

// idBody is an ID payload after its generic header, as AUTH covers it.
func idBody(id Identity) []byte {
	return append([]byte{byte(id.Type), 0, 0, 0}, id.Data...)
}

// authData computes our AUTH (PSK, RFC 7296 §2.15).
func (sa *SA) authData(id Identity) []byte {
	var real, peerNonce, skp []byte
	if sa.initiator {
		real, peerNonce, skp = sa.initRequest, sa.nr, sa.keys.SKpi
	} else {
		real, peerNonce, skp = sa.initResponse, sa.ni, sa.keys.SKpr
	}
	octets := sa.prf.SignedOctets(real, peerNonce, skp, idBody(id))
	return sa.remote.withPSK(func(k []byte) []byte { return sa.prf.SharedKeyAuth(k, octets) })
}

// verifyAuth checks the peer's AUTH over its ID payload body.
func (sa *SA) verifyAuth(id *message.ID, auth *message.Auth) error {
	// Check refuses an IKE_AUTH without them; a nil one here is a bug that
	// must fail the authentication, never pass it or crash.
	if id == nil || auth == nil {
		return fmt.Errorf("%w: no %s payload to verify", ErrAuthenticationFailed, map[bool]string{true: "ID", false: "AUTH"}[id == nil])
	}
	if auth.Method != message.AuthMethod(2) { // Shared Key Message Integrity Code
		return fmt.Errorf("%w: peer authenticates with method %v; only PSK is configured", ErrAuthenticationFailed, auth.Method)
	}
	body := id.Raw
	if body == nil {
		body = append([]byte{byte(id.Type), 0, 0, 0}, id.Data...)
	}
	var real, peerNonce, skp []byte
	if sa.initiator { // the peer is the responder
		real, peerNonce, skp = sa.initResponse, sa.ni, sa.keys.SKpr
	} else {
		real, peerNonce, skp = sa.initRequest, sa.nr, sa.keys.SKpi
	}
	octets := sa.prf.SignedOctets(real, peerNonce, skp, body)
	want := sa.remote.withPSK(func(k []byte) []byte { return sa.prf.SharedKeyAuth(k, octets) })
	if !ikecrypto.VerifyAuth(auth.Data, want) {
		return fmt.Errorf("%w: AUTH does not verify: wrong pre-shared key or tampered IKE_SA_INIT", ErrAuthenticationFailed)
	}
	return nil
}

func idPayload(id Identity, responder bool) *message.ID {
	return &message.ID{Responder: responder, Type: message.IDType(id.Type), Data: id.Data}
}

// ikeAuth is IKE_AUTH (RFC 7296 §1.2) with the first Child SA, child;
// the responder's side is processAuthRequest.
type ikeAuth struct {
	child *childRequest // nil once it is done or refused
}

func (*ikeAuth) String() string                 { return "IKE_AUTH" }
func (*ikeAuth) exchange() message.ExchangeType { return message.IKEAuth }

// abort reports the first Child SA's policy as failed; the IKE SA fails
// with it.
func (t *ikeAuth) abort(d *Daemon, sa *SA, _ error) {
	if t.child != nil {
		d.cfg.Messaging.AcquireFail(t.child.policyID)
		t.child = nil
	}
}

// build is the initiator's IKE_AUTH request, with the first Child SA.
func (t *ikeAuth) build(d *Daemon, sa *SA) ([]message.Payload, error) {
	if err := sa.set(StateAuthSent); err != nil {
		return nil, err
	}
	myID := sa.localIdentity()
	ps := []message.Payload{idPayload(myID, false)}
	if !d.hadContact(sa.remote) {
		sa.initialContact = true
		ps = append(ps, &message.Notify{Type: message.InitialContact})
	}
	if sa.remote.RemoteID.Type != 0 {
		ps = append(ps, idPayload(sa.remote.RemoteID, true))
	}
	ps = append(ps, &message.Auth{Method: message.AuthMethod(2), Data: sa.authData(myID)})
	if cr := t.child; cr != nil {
		childPs, err := d.childRequestPayloads(sa, cr)
		if err != nil {
			// No Child SA: still authenticate, report the policy failed.
			d.log.Warn("first Child SA not proposed", "policy", cr.policyID, "err", err)
			d.cfg.Messaging.AcquireFail(cr.policyID)
			t.child = nil
		} else {
			ps = append(ps, childPs...)
		}
	}
	return ps, nil
}

// process completes the initiator's IKE_AUTH; a failure ends the IKE SA.
func (t *ikeAuth) process(d *Daemon, sa *SA, in *inbound) error {
	if err := d.processAuthResponse(sa, t, in); err != nil {
		d.stats.AuthFailures.Add(1)
		t.abort(d, sa, err)
		d.fail(sa, err)
	}
	return nil
}

// processAuthResponse checks the responder's IKE_AUTH response and, if it
// authenticates, establishes the IKE SA and t's Child SA; an error is why
// the IKE SA is not authenticated.
func (d *Daemon) processAuthResponse(sa *SA, t *ikeAuth, in *inbound) error {
	ps := in.payloads
	if pe := peerRefusal(message.IKEAuth, ps); pe != nil && (pe.Notify == message.AuthenticationFailed || !hasPayload(ps, message.PayloadAUTH)) {
		return pe
	}
	// RFC 7296 §1.2: the responder identifies itself in IDr; an IDi in a
	// response is never taken for it.
	id, ok1 := message.FindID(ps, true)
	auth, ok2 := message.Find[*message.Auth](ps)
	if !ok1 || !ok2 {
		return fmt.Errorf("%w: IKE_AUTH response lacks %s", ErrAuthenticationFailed, missing(map[string]bool{"IDr": ok1, "AUTH": ok2}))
	}
	peerID := Identity{Type: IDType(id.Type), Data: slices.Clone(id.Data)}
	if sa.remote.RemoteID.Type != 0 && !sa.remote.RemoteID.Equal(peerID) {
		return fmt.Errorf("%w: peer identifies as %v, expected %v", ErrAuthenticationFailed, peerID, sa.remote.RemoteID)
	}
	if err := sa.verifyAuth(id, auth); err != nil {
		return err
	}
	sa.peerID = peerID
	if err := sa.set(StateEstablished); err != nil {
		return err
	}
	d.mgr.Established(sa.key)
	d.stats.Established.Add(1)
	d.markContact(sa.remote)
	d.uncleared(sa.remote.Name) // dpd.go
	sa.authAt = d.cfg.Now()
	d.indexIdentity(sa) // identity.go
	d.checkUnique(sa)   // unique.go
	d.log.Info("IKE SA established", "ike_sa", sa.String(), "remote", sa.remote.Name, "peer_id", peerID.String(), "algorithms", sa.algs.Summary)
	d.exportIKEKeys(sa)
	d.startTimers(sa)
	if cr := t.child; cr != nil {
		t.child = nil
		if _, err := d.completeChild(sa, message.IKEAuth, cr, in, ps); err != nil {
			d.stats.ChildFailures.Add(1)
			d.log.Warn("Child SA not established", "policy", cr.policyID, "err", err)
			d.reportChild(sa, cr.policyID, err)
			d.cfg.Messaging.AcquireFail(cr.policyID)
		}
	}
	sa.compact()
	return nil
}

// missing lists the names whose value is false, sorted: "AUTH and IDi".
func missing(present map[string]bool) string {
	var names []string
	for name, ok := range present {
		if !ok {
			names = append(names, name)
		}
	}
	slices.Sort(names)
	return strings.Join(names, " and ")
}

func hasPayload(ps []message.Payload, t message.PayloadType) bool {
	_, ok := message.FindType(ps, t)
	return ok
}

// processAuthRequest is the responder's IKE_AUTH. A refusal returns drop,
// why the IKE SA goes once the response is sent.
func (d *Daemon) processAuthRequest(sa *SA, in *inbound) (resp []message.Payload, drop error) {
	if sa.state != StateInitDone {
		return notifyError(fmt.Errorf("%w: IKE_AUTH request in state %v", ErrInvalidSyntax, sa.state)), nil
	}
	ps := in.payloads
	// RFC 7296 §1.2: the initiator identifies itself in IDi; an IDr in the
	// request names the responder it wants and is never taken for the
	// initiator's identity (issue 9: with AUTH computed over an IDr the
	// peer authenticated under it). Check requires both; a request that
	// still lacks one is refused as malformed, as strongSwan's process_r
	// refuses "IDi payload missing".
	id, ok1 := message.FindID(ps, false)
	auth, ok2 := message.Find[*message.Auth](ps)
	if !ok1 || !ok2 {
		err := fmt.Errorf("%w: IKE_AUTH request lacks %s", ErrInvalidSyntax, missing(map[string]bool{"IDi": ok1, "AUTH": ok2}))
		d.stats.AuthFailures.Add(1)
		d.log.Warn("IKE_AUTH refused", "ike_sa", sa.String(), "reason", err)
		d.report(sa, err)
		return notifyError(err), err
	}
	peerID := Identity{Type: IDType(id.Type), Data: slices.Clone(id.Data)}
	fail := func(err error) ([]message.Payload, error) {
		d.stats.AuthFailures.Add(1)
		d.log.Warn("IKE_AUTH refused", "ike_sa", sa.String(), "peer_id", peerID.String(), "reason", err)
		d.report(sa, err)
		return notifyError(err), err // the peer gets the notification first
	}
	if sa.remote.RemoteID.Type != 0 && !sa.remote.RemoteID.Equal(peerID) {
		return fail(fmt.Errorf("%w: peer identifies as %v, expected %v", ErrAuthenticationFailed, peerID, sa.remote.RemoteID))
	}
	if err := sa.verifyAuth(id, auth); err != nil {
		return fail(err)
	}
	sa.peerID = peerID
	if err := sa.set(StateEstablished); err != nil {
		return fail(err)
	}
	d.mgr.Established(sa.key)
	d.stats.Established.Add(1)
	d.uncleared(sa.remote.Name) // the peer came back (dpd.go)
	sa.authAt = d.cfg.Now()     // handleRequest calls checkUnique once the response is sent
	d.indexIdentity(sa)         // identity.go
	if _, ok := message.FindNotify(ps, message.InitialContact); ok {
		// RFC 7296 §2.4: the peer restarted; its old SAs are stale.
		d.initialContact(sa)
	}
	myID := sa.localIdentity()
	resp = []message.Payload{idPayload(myID, true), &message.Auth{Method: message.AuthMethod(2), Data: sa.authData(myID)}}
	d.log.Info("IKE SA established", "ike_sa", sa.String(), "remote", sa.remote.Name, "peer_id", peerID.String(), "algorithms", sa.algs.Summary)
	d.exportIKEKeys(sa)
	if hasPayload(ps, message.PayloadSA) {
		resp = append(resp, d.respondChild(sa, in, ps, sa.ni, sa.nr)...)
	}
	sa.compact()
	d.startTimers(sa)
	return resp, nil
}

// initialContact handles INITIAL_CONTACT (RFC 7296 §2.4): the peer
// restarted, so older IKE SAs with the same identity, and their Child SAs,
// are stale. The data plane's SAs for the peer's address go too (those
// from before a restart of ours, which no IKE SA here knows), unless other
// IKE SAs share that address (peers behind one NAT).
//
// The older IKE SAs are removed on a goroutine of their own: this one holds
// current checked out, and checking out another while holding one could
// deadlock with a worker doing the same the other way round. The daemon
// owns that goroutine (goBackground): Close stops and waits for it.
func (d *Daemon) initialContact(current *SA) {
	cur, remote, peerID, addr, since := current.key, current.remote, current.peerID, current.peer.Addr(), current.created
	if d.mgr.CountPeer(addr) <= 1 {
		d.cfg.Messaging.InitialContact(addr)
	}
	others := d.sameIdentity(current) // identity.go
	if len(others) == 0 {
		return // the usual case: no goroutine
	}
	d.goBackground(func() {
		for _, k := range others {
			if d.closed.Load() {
				return // Close removes them all
			}
			if k == cur {
				continue
			}
			sa, err := d.mgr.Checkout(k, netip.AddrPort{})
			if err != nil {
				continue
			}
			// Only older ones: an IKE SA that replaced current by a rekey
			// (RFC 7296 §2.18) before this ran is not stale.
			// Nor one we initiated while the peer initiated current: both
			// ends initiated at once, each IKE_AUTH with INITIAL_CONTACT,
			// and checkUnique (unique.go) keeps one of the two on both.
			ours := sa.initiator && crossed(sa, since)
			if sa.remote == remote && sa.peerID.Equal(peerID) && sa.established() && sa.created.Before(since) && !ours {
				d.remove(sa, "INITIAL_CONTACT from the peer")
				continue
			}
			d.checkin(sa)
		}
	})
}

// hadContact reports whether we already had an IKE SA with r since start,
// which decides INITIAL_CONTACT.
func (d *Daemon) hadContact(r *Remote) bool {
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.contacted[r.Name]
}

func (d *Daemon) markContact(r *Remote) {
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.contacted == nil {
		d.contacted = map[string]bool{}
	}
	d.contacted[r.Name] = true
}
