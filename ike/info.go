package ike

import (
	"net/netip"
	"time"

	"github.com/sabre-ipsec/sabre/ike/message"
)

// Liveness (RFC 7296 §2.4): an IKE SA that has heard nothing from its peer
// for LivenessInterval sends an empty INFORMATIONAL request; if that goes
// unanswered through all retransmissions the peer is dead and the SA goes.
const LivenessInterval = 30 * time.Second

// checkLiveness queues an empty INFORMATIONAL request (ikeDPD); if the
// peer never answers it, the SA fails and Stats.DPDFailures counts it
// (retransmit).
func (d *Daemon) checkLiveness(sa *SA) {
	d.queueTask(sa, &ikeDPD{})
}

// processInformationalRequest answers Delete payloads and liveness checks.
func (d *Daemon) processInformationalRequest(sa *SA, in *inbound) []message.Payload {
	var resp []message.Payload
	for _, del := range message.FindAll[*message.Delete](in.payloads) {
		switch del.Protocol {
		case message.ProtocolIKE:
			// RFC 7296 §1.4.1: answer with an empty response, then the IKE SA
			// and all its Child SAs are gone.
			d.stats.Deletes.Add(1)
			if err := sa.set(StateDeleting); err != nil {
				// Not established (no Delete is processed before then):
				// refused, and the SA stays as it is.
				return notifyError(err)
			}
			return nil
		case message.ProtocolESP, message.ProtocolAH:
			// The SPIs are the peer's inbound ones: our outbound SAs. Answer
			// with our inbound SPIs of the same pairs (RFC 7296 §1.4.1).
			var ours []uint32
			for _, spi := range del.SPIs {
				for _, c := range sa.children {
					if c.outSPI != spi || c.proto != del.Protocol {
						continue
					}
					d.stats.Deletes.Add(1)
					if c.retiring {
						// RFC 7296 §1.4.1: our Delete for it crossed the
						// peer's. Its inbound SA goes when ours is answered;
						// the response names no SPI of it.
						break
					}
					// The peer stopped sending on it before this request
					// (RFC 7296 §2.8), but packets may still be on the way:
					// the inbound SA stays for the grace.
					ours = append(ours, c.inSPI)
					d.retire(sa, c)
					d.childGoing(sa, c) // collision.go
					d.dropRetiredLater(sa, c)
					break
				}
			}
			if len(ours) > 0 {
				resp = append(resp, &message.Delete{Protocol: del.Protocol, SPIs: ours})
			}
		}
	}
	return resp
}

// ikeDelete is an INFORMATIONAL exchange with a Delete for the IKE SA
// (RFC 7296 §1.4.1); the responder's side is in
// processInformationalRequest. The SA goes when the peer answers, or does
// not.
type ikeDelete struct{ why string }

func (*ikeDelete) String() string                 { return "INFORMATIONAL delete IKE SA" }
func (*ikeDelete) exchange() message.ExchangeType { return message.Informational }

// build moves the SA to DELETING: no other exchange starts on it.
func (*ikeDelete) build(_ *Daemon, sa *SA) ([]message.Payload, error) {
	if err := sa.set(StateDeleting); err != nil {
		return nil, err
	}
	return []message.Payload{&message.Delete{Protocol: message.ProtocolIKE}}, nil
}

func (t *ikeDelete) process(d *Daemon, sa *SA, _ *inbound) error {
	d.remove(sa, t.why)
	return nil
}

func (t *ikeDelete) abort(d *Daemon, sa *SA, err error) {
	if err != errSAGone {
		d.remove(sa, t.why)
	}
}

// ikeDPD is an empty INFORMATIONAL request, the liveness check of RFC
// 7296 §2.4: unanswered through all retransmissions, the peer is dead and
// the task manager fails the IKE SA. The responder answers it empty
// (processInformationalRequest).
type ikeDPD struct{}

func (*ikeDPD) String() string                                { return "INFORMATIONAL liveness" }
func (*ikeDPD) exchange() message.ExchangeType                { return message.Informational }
func (*ikeDPD) build(*Daemon, *SA) ([]message.Payload, error) { return nil, nil }
func (*ikeDPD) process(*Daemon, *SA, *inbound) error          { return nil }
func (*ikeDPD) abort(*Daemon, *SA, error)                     {}

// sendDeleteIKE tells the peer the IKE SA is going, outside the window:
// the response is not awaited (the daemon is stopping, the operator or the
// lifetime ends the SA now).
func (d *Daemon) sendDeleteIKE(sa *SA) {
	b, err := sa.seal(message.Informational, sa.nextRequest, false, []message.Payload{&message.Delete{Protocol: message.ProtocolIKE}})
	if err == nil {
		sa.nextRequest++
		d.send(sa, b)
	}
}

// DeleteIKESA deletes an IKE SA and its Child SAs, telling the peer.
func (d *Daemon) DeleteIKESA(key SAKey) error {
	sa, err := d.mgr.Checkout(key, netip.AddrPort{})
	if err != nil {
		return err
	}
	if sa.established() {
		d.sendDeleteIKE(sa)
	}
	d.remove(sa, "deleted by the operator")
	return nil
}

// startTimers arms an established SA's one timer, which ticks every
// LivenessInterval (every KeepaliveInterval behind a NAT) to check the
// peer's liveness, send NAT keepalives and end the SA at its lifetime. One
// timer per SA keeps an idle IKE SA small.
func (d *Daemon) startTimers(sa *SA) {
	if sa.timer != nil {
		sa.timer.Stop() // the half-open timer
	}
	key, peer := sa.key, sa.peer
	if sa.remote.Lifetime > 0 {
		// RFC 7296 §2.18: rekeyed before -l, the hard limit, with jitter.
		sa.rekeyAt = sa.created.Add(ikeRekeyTime(sa.remote.Lifetime))
	}
	delay, dpd := sa.dpdDelay() // dpd.go
	interval := LivenessInterval
	if dpd {
		interval = delay
	}
	if sa.natLocal && d.cfg.SendKeepalive != nil {
		interval = min(interval, d.cfg.KeepaliveInterval)
	}
	var tick func()
	tick = func() {
		sa, err := d.mgr.Checkout(key, peer)
		if err != nil {
			return
		}
		defer d.checkin(sa)
		if !sa.established() {
			return
		}
		now := d.cfg.Now()
		if sa.remote.Lifetime > 0 && now.Sub(sa.created) >= sa.remote.Lifetime {
			// The hard limit: a rekey did not complete in time (or the SA
			// was replaced and its Delete is late). The Delete waits for
			// the window.
			d.queueTask(sa, &ikeDelete{why: "IKE SA lifetime reached"})
			return
		}
		if !sa.rekeyAt.IsZero() && !now.Before(sa.rekeyAt) {
			d.queueIKERekey(sa)
		}
		if dpd && now.Sub(sa.lastRecv) >= delay && sa.tasks.idle() {
			d.checkLiveness(sa)
		}
		if sa.natLocal && d.cfg.SendKeepalive != nil {
			d.cfg.SendKeepalive(sa.local, sa.peer)
		}
		next := interval
		if sa.remote.Lifetime > 0 {
			next = min(next, max(sa.remote.Lifetime-now.Sub(sa.created), time.Millisecond))
		}
		if !sa.rekeyed && !sa.rekeyAt.IsZero() && sa.rekeyAt.After(now) {
			next = min(next, sa.rekeyAt.Sub(now))
		}
		sa.timer = d.cfg.AfterFunc(next, tick)
	}
	first := interval
	if sa.remote.Lifetime > 0 {
		first = min(first, sa.rekeyAt.Sub(sa.created))
	}
	sa.timer = d.cfg.AfterFunc(first, tick)
}

// Flush deletes every IKE SA, telling the peers, and returns how many.
func (d *Daemon) Flush() int {
	n := 0
	for _, k := range d.mgr.All() {
		if sa, err := d.mgr.Checkout(k, netip.AddrPort{}); err == nil {
			if sa.established() {
				d.sendDeleteIKE(sa)
			}
			d.remove(sa, "flushed by the operator")
			n++
		}
	}
	return n
}
