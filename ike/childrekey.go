package ike

import (
	"fmt"
	"slices"

	"github.com/sabre-ipsec/sabre/ike/message"
	"github.com/sabre-ipsec/sabre/ipsec/messaging"
)

// childRekey is a CREATE_CHILD_SA with REKEY_SA that replaces Child SA old
// (RFC 7296 §1.3.3, §2.8); the old pair is deleted once the new one is
// in place. The responder's side is respondChildRekey.
type childRekey struct {
	old *child
	req *childRequest
	// peerNonces are the nonces of the peer's rekey of old that crossed
	// ours (RFC 7296 §2.8.1), set by peerRekeyedChild (collision.go).
	peerNonces [][]byte
	// group and retried: as childCreate's (PFS).
	group   GroupID
	retried bool
}

func (t *childRekey) String() string {
	return fmt.Sprintf("CREATE_CHILD_SA rekey policy %d", t.old.policyID)
}
func (*childRekey) exchange() message.ExchangeType { return message.CreateChildSA }

func (t *childRekey) build(d *Daemon, sa *SA) ([]message.Payload, error) {
	if t.old.retiring || !slices.Contains(sa.children, t.old) {
		return nil, fmt.Errorf("%w: the Child SA to rekey (SPI %08x) is gone", ErrChildSANotFound, t.old.inSPI)
	}
	t.req = &childRequest{policyID: t.old.policyID, ni: newNonce(), pfs: true, group: t.group}
	ps, err := d.childRequestPayloads(sa, t.req)
	if err != nil {
		return nil, err
	}
	ps = append([]message.Payload{&message.Notify{Protocol: t.old.proto, SPI: spi4(t.old.inSPI), Type: message.RekeySA}}, ps...)
	return append(ps, &message.Nonce{Data: t.req.ni}), nil
}

func (t *childRekey) process(d *Daemon, sa *SA, in *inbound) error {
	if g, ok := d.retryPFSGroup(sa, t.req, &t.retried, in.payloads); ok {
		t.group, t.peerNonces = g, nil
		d.queueTaskFirst(sa, t)
		return nil
	}
	c, err := d.completeChild(sa, message.CreateChildSA, t.req, in, in.payloads)
	if err != nil {
		d.stats.ChildFailures.Add(1)
		d.reportChild(sa, t.old.policyID, err)
		return err
	}
	nonce, ok := message.Find[*message.Nonce](in.payloads)
	if !ok { // completeChild required it
		return fmt.Errorf("%w: CREATE_CHILD_SA response lacks Nr", ErrInvalidSyntax)
	}
	d.completeChildRekey(sa, t, c, t.req.ni, nonce.Data) // collision.go
	return nil
}

// abort leaves old as it is: it lives until its hard lifetime.
func (*childRekey) abort(*Daemon, *SA, error) {}

// respondChildRekey is the responder's side of childRekey: n is the
// REKEY_SA notification, ni the peer's nonce.
func (d *Daemon) respondChildRekey(sa *SA, in *inbound, n *message.Notify, ni []byte) []message.Payload {
	old := sa.childOfOutSPI(n.SPI)
	if old == nil {
		// RFC 7296 §2.25: a Child SA that is gone, or that we are
		// deleting.
		return []message.Payload{&message.Notify{Type: message.ChildSANotFound, Protocol: n.Protocol, SPI: n.SPI}}
	}
	nr := newNonce()
	resp, c := d.respondChildSA(sa, in, in.payloads, ni, nr, true)
	if c == nil {
		return resp
	}
	old.successor = c
	d.peerRekeyedChild(sa, old, ni, nr) // collision.go
	old.rekeyed = true
	d.stats.ChildRekeys.Add(1)
	return append(resp, &message.Nonce{Data: nr})
}

// childExpiring rekeys a Child SA at its soft lifetime (SA_EXPIRED): a new
// pair is negotiated with REKEY_SA and the old one deleted.
func (d *Daemon) childExpiring(ev messaging.Event) {
	d.withChild(ev.SPI, ev.Direction, func(sa *SA, c *child) {
		if c.rekeyed || c.retiring || !sa.established() {
			return
		}
		c.rekeyed = true
		d.stats.ChildRekeys.Add(1)
		d.log.Info("rekeying Child SA", "ike_sa", sa.String(), "policy", c.policyID, "spi_in", fmt.Sprintf("%08x", c.inSPI))
		d.queueTask(sa, &childRekey{old: c})
	})
}
