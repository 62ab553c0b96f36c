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

// processInformationalRequest answers Delete payloads and liveness checks.
func (d *Daemon) processInformationalRequest(sa *SA, in *inbound) []message.Payload {
	var resp []message.Payload
	for _, del := range message.FindAll[*message.Delete](in.payloads) {
		switch del.Protocol {
		case message.ProtocolIKE:
			// RFC 7296 §1.4.1: answer with an empty response, then the IKE SA
			// and all its Child SAs are gone.
			d.stats.Deletes.Add(1)
			sa.state = StateDeleting
			return nil
		case message.ProtocolESP, message.ProtocolAH:
			// The SPIs are the peer's inbound ones: our outbound SAs. Answer
			// with our inbound SPIs of the same pairs (RFC 7296 §1.4.1).
			var ours []uint32
			for _, spi := range del.SPIs {
				for _, c := range sa.children {
					if c.outSPI == spi && c.proto == del.Protocol {
						ours = append(ours, c.inSPI)
						d.deleteChildLocally(sa, c)
						d.stats.Deletes.Add(1)
						break
					}
				}
			}
			if len(ours) > 0 {
				resp = append(resp, &message.Delete{Protocol: del.Protocol, SPIs: ours})
			}
		}
	}
	return resp
}

// sendDeleteIKE tells the peer the IKE SA is going; the response is not
// awaited (the daemon is stopping or the SA expired).
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

// startTimers arms an established SA's liveness check, NAT keepalives and
// lifetime.
func (d *Daemon) startTimers(sa *SA) {
	key, peer := sa.key, sa.peer
	var live func()
	live = func() {
		sa, err := d.mgr.Checkout(key, peer)
		if err != nil {
			return
		}
		defer d.checkin(sa)
		if !sa.established() {
			return
		}
		if d.cfg.Now().Sub(sa.lastRecv) >= LivenessInterval && sa.pending == nil && len(sa.queue) == 0 {
			d.enqueue(sa, job{describe: "INFORMATIONAL liveness", start: func(sa *SA) error {
				return d.request(sa, message.Informational, nil, "INFORMATIONAL liveness", func(*SA, *inbound) error { return nil }, nil)
			}})
		}
		d.cfg.AfterFunc(LivenessInterval, live)
	}
	d.cfg.AfterFunc(LivenessInterval, live)
	if sa.natLocal && d.cfg.SendKeepalive != nil {
		var keep func()
		keep = func() {
			sa, err := d.mgr.Checkout(key, peer)
			if err != nil {
				return
			}
			local, remote := sa.local, sa.peer
			d.checkin(sa)
			d.cfg.SendKeepalive(local, remote)
			d.cfg.AfterFunc(d.cfg.KeepaliveInterval, keep)
		}
		d.cfg.AfterFunc(d.cfg.KeepaliveInterval, keep)
	}
	if sa.remote.Lifetime > 0 {
		d.cfg.AfterFunc(sa.remote.Lifetime, func() {
			sa, err := d.mgr.Checkout(key, peer)
			if err != nil {
				return
			}
			// Without IKE SA rekeying in this build, the SA ends; traffic
			// ACQUIREs a new one.
			if sa.established() {
				d.sendDeleteIKE(sa)
			}
			d.remove(sa, "IKE SA lifetime reached")
		})
	}
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
