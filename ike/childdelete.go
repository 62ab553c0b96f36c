package ike

import (
	"slices"

	"github.com/sabre-ipsec/sabre/ike/message"
)

// childDelete is an INFORMATIONAL exchange with a Delete for Child SA c
// (RFC 7296 §1.4.1), which deleteChild has retired. c's inbound SA goes
// once the exchange ends, after the grace. The responder's side is in
// processInformationalRequest.
type childDelete struct{ c *child }

func (*childDelete) String() string                 { return "INFORMATIONAL delete" }
func (*childDelete) exchange() message.ExchangeType { return message.Informational }

func (t *childDelete) build(*Daemon, *SA) ([]message.Payload, error) {
	return []message.Payload{&message.Delete{Protocol: t.c.proto, SPIs: []uint32{t.c.inSPI}}}, nil
}

func (t *childDelete) process(d *Daemon, sa *SA, _ *inbound) error {
	d.dropRetiredLater(sa, t.c)
	return nil
}

func (t *childDelete) abort(d *Daemon, sa *SA, _ error) { d.dropRetiredLater(sa, t.c) }

// deleteChild retires Child SA c and sends the peer a Delete for it; c's
// inbound SA goes once that is answered (RFC 7296 §1.4.1: until then the
// peer may still send on it), after the grace.
func (d *Daemon) deleteChild(sa *SA, c *child) {
	if !slices.Contains(sa.children, c) || c.retiring {
		return
	}
	if !sa.established() {
		d.deleteChildLocally(sa, c)
		return
	}
	d.retire(sa, c)
	d.childGoing(sa, c) // collision.go
	d.queueTask(sa, &childDelete{c: c})
}
