package ike

import (
	"encoding/binary"
	"fmt"

	"github.com/sabre-ipsec/sabre/ike/message"
)

// childCreate is a CREATE_CHILD_SA for a new Child SA of policy policyID
// (RFC 7296 §1.3.1). The responder's side is respondChildCreate.
type childCreate struct {
	policyID uint32
	req      *childRequest
	// group is the PFS group the peer asked for with INVALID_KE_PAYLOAD
	// (0: the policy's first); retried says we restarted once for it.
	group   GroupID
	retried bool
}

func (t *childCreate) String() string               { return fmt.Sprintf("CREATE_CHILD_SA policy %d", t.policyID) }
func (*childCreate) exchange() message.ExchangeType { return message.CreateChildSA }

func (t *childCreate) build(d *Daemon, sa *SA) ([]message.Payload, error) {
	t.req = &childRequest{policyID: t.policyID, ni: newNonce(), pfs: true, group: t.group}
	ps, err := d.childRequestPayloads(sa, t.req)
	if err != nil {
		return nil, err
	}
	return append(ps, &message.Nonce{Data: t.req.ni}), nil
}

func (t *childCreate) process(d *Daemon, sa *SA, in *inbound) error {
	if g, ok := d.retryPFSGroup(sa, t.req, &t.retried, in.payloads); ok {
		t.group = g
		d.queueTaskFirst(sa, t)
		return nil
	}
	if _, err := d.completeChild(sa, message.CreateChildSA, t.req, in, in.payloads); err != nil {
		d.stats.ChildFailures.Add(1)
		d.reportChild(sa, t.policyID, err)
		d.cfg.Messaging.AcquireFail(t.policyID)
		return err
	}
	return nil
}

// abort tells the engine that the ACQUIRE for the policy failed.
func (t *childCreate) abort(d *Daemon, sa *SA, _ error) { d.cfg.Messaging.AcquireFail(t.policyID) }

// negotiatesChild reports whether a task of sa negotiates a new Child SA
// for policyID: the first one in IKE_AUTH, or a CREATE_CHILD_SA.
func (sa *SA) negotiatesChild(policyID uint32) bool {
	_, ok := sa.tasks.find(func(t task) bool {
		switch t := t.(type) {
		case *ikeAuth:
			return t.child != nil && t.child.policyID == policyID
		case *childCreate:
			return t.policyID == policyID
		}
		return false
	})
	return ok
}

// processCreateChildRequest is the responder's CREATE_CHILD_SA: a new
// Child SA (respondChildCreate), a rekeyed one (respondChildRekey), either
// with PFS (a KE, pfs.go), or a rekey of the IKE SA (respondIKERekey).
func (d *Daemon) processCreateChildRequest(sa *SA, in *inbound) []message.Payload {
	ps := in.payloads
	if !sa.established() {
		return notifyError(fmt.Errorf("%w: CREATE_CHILD_SA on an IKE SA in state %v", ErrTemporaryFailure, sa.state))
	}
	if saP, ok := message.Find[*message.SA](ps); ok && len(saP.Proposals) > 0 && saP.Proposals[0].Protocol == message.ProtocolIKE {
		return d.respondIKERekey(sa, in, saP) // ikerekey.go
	}
	nonce, ok := message.Find[*message.Nonce](ps)
	if !ok {
		return notifyError(ErrInvalidSyntax)
	}
	if n, ok := message.FindNotify(ps, message.RekeySA); ok {
		return d.respondChildRekey(sa, in, n, nonce.Data)
	}
	return d.respondChildCreate(sa, in, nonce.Data)
}

// respondChildCreate is the responder's side of childCreate.
func (d *Daemon) respondChildCreate(sa *SA, in *inbound, ni []byte) []message.Payload {
	nr := newNonce()
	resp, c := d.respondChildSA(sa, in, in.payloads, ni, nr, false)
	if c == nil {
		return resp
	}
	return append(resp, &message.Nonce{Data: nr})
}

// childOfOutSPI returns the Child SA that is not retiring whose outbound
// SPI (the peer's inbound one) is spi.
func (sa *SA) childOfOutSPI(spi []byte) *child {
	if len(spi) != 4 {
		return nil
	}
	v := binary.BigEndian.Uint32(spi)
	for _, c := range sa.children {
		if c.outSPI == v && !c.retiring {
			return c
		}
	}
	return nil
}
