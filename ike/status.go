package ike

import (
	"bytes"
	"fmt"
	"net/netip"
	"time"

	"github.com/sabre-ipsec/sabre/ike/message"
)

// ChildStatus describes a Child SA for `ike netstat`.
type ChildStatus struct {
	PolicyID  uint32        `json:"policy"`
	Protocol  string        `json:"protocol"`
	SPIIn     string        `json:"spi_in"`
	SPIOut    string        `json:"spi_out"`
	Mode      string        `json:"mode"`
	Algorithm string        `json:"algorithm"`
	Age       time.Duration `json:"age_ns"`
}

// SAStatus describes an IKE SA for `ike netstat -p 3`.
type SAStatus struct {
	SPIi        string         `json:"spi_i"`
	SPIr        string         `json:"spi_r"`
	Initiator   bool           `json:"initiator"`
	Remote      string         `json:"remote"`
	Local       netip.AddrPort `json:"local"`
	Peer        netip.AddrPort `json:"peer"`
	State       string         `json:"state"`
	Algorithms  string         `json:"algorithms"`
	PeerID      string         `json:"peer_id"`
	NAT         string         `json:"nat"` // "", "local", "peer" or "both"
	Age         time.Duration  `json:"age_ns"`
	Sent        uint64         `json:"sent"`
	Retransmits uint64         `json:"retransmits"`
	Children    []ChildStatus  `json:"children"`
	// RekeyIn is the time to the IKE SA's rekey (0: none planned, or under
	// way); Rekeyed says a new IKE SA replaced it.
	RekeyIn time.Duration `json:"rekey_in_ns"`
	Rekeyed bool          `json:"rekeyed"`
	// DPD is the liveness check's state: "off", "idle" or "probing, N
	// tries"; LastHeard the time since the peer was last heard from.
	DPD       string        `json:"dpd"`
	LastHeard time.Duration `json:"last_heard_ns"`
	// StartAction and DPDAction are the remote's -S and -A.
	StartAction string `json:"start_action"`
	DPDAction   string `json:"dpd_action"`
}

// Status returns every IKE SA's state; keys are never included.
func (d *Daemon) Status() []SAStatus {
	var out []SAStatus
	now := d.cfg.Now()
	for _, k := range d.mgr.All() {
		sa, err := d.mgr.Checkout(k, netip.AddrPort{})
		if err != nil {
			continue
		}
		s := SAStatus{
			SPIi: fmt.Sprintf("%016x", sa.key.SPIi), SPIr: fmt.Sprintf("%016x", sa.key.SPIr),
			Initiator: sa.initiator, Remote: sa.remote.Name, Local: sa.local, Peer: sa.peer,
			State: sa.state.String(), Algorithms: sa.algs.Summary, PeerID: sa.peerID.String(),
			Age: now.Sub(sa.created).Round(time.Second), Sent: sa.stats.sent, Retransmits: sa.stats.retransmits,
		}
		if sa.peerID.Type == 0 {
			s.PeerID = ""
		}
		if !sa.rekeyAt.IsZero() && sa.rekeyAt.After(now) && !sa.rekeyed {
			s.RekeyIn = sa.rekeyAt.Sub(now).Round(time.Second)
		}
		s.Rekeyed = sa.rekeyed
		if !sa.lastRecv.IsZero() {
			s.LastHeard = now.Sub(sa.lastRecv).Round(time.Second)
		}
		s.DPD = "idle"
		if _, on := sa.dpdDelay(); !on {
			s.DPD = "off"
		} else if r := sa.tasks.active; r != nil {
			if _, ok := r.task.(*ikeDPD); ok {
				s.DPD = fmt.Sprintf("probing, %d tries", r.tries)
			}
		}
		if sa.remote != nil {
			s.StartAction, s.DPDAction = sa.remote.StartAction.String(), sa.remote.DPDAction.String()
		}
		switch {
		case sa.natLocal && sa.natPeer:
			s.NAT = "both"
		case sa.natLocal:
			s.NAT = "local"
		case sa.natPeer:
			s.NAT = "peer"
		}
		for _, c := range sa.children {
			if c.retiring {
				continue // replaced or deleted; only its inbound SA is left
			}
			mode := "tunnel"
			if !c.tunnel {
				mode = "transport"
			}
			s.Children = append(s.Children, ChildStatus{PolicyID: c.policyID, Protocol: c.proto.String(),
				SPIIn: fmt.Sprintf("%08x", c.inSPI), SPIOut: fmt.Sprintf("%08x", c.outSPI), Mode: mode,
				Algorithm: c.algs.Summary, Age: now.Sub(c.created).Round(time.Second)})
		}
		d.checkin(sa)
		out = append(out, s)
	}
	return out
}

// traceMessage logs a decoded dump of an IKE message (`ike debug -t`):
// the payloads as on the wire (traceInner shows what the SK payload
// carries).
func (d *Daemon) traceMessage(dir string, b []byte, peer netip.AddrPort) {
	var buf bytes.Buffer
	fmt.Fprintf(&buf, "%s %s %d bytes; remote %v\n", d.cfg.Now().Format("2006-01-02 15:04:05.000"), dir, len(b), peer)
	message.Dump(&buf, b)
	d.writeTrace(&buf)
}

// traceInner logs the payloads inside an SK payload, decrypted (received)
// or before encryption (sent), as the reference's decoder shows encrypted
// messages. They hold no keys: AUTH is a MAC, nonces and KE are public.
func (d *Daemon) traceInner(dir string, exch message.ExchangeType, payloads []message.Payload, peer netip.AddrPort) {
	if !d.trace.Load() || exch == message.IKESAInit {
		return
	}
	first, b, err := message.MarshalPayloads(payloads)
	if err != nil {
		return
	}
	var buf bytes.Buffer
	fmt.Fprintf(&buf, "%s %s %v, inside SK: %d bytes; remote %v\n", d.cfg.Now().Format("2006-01-02 15:04:05.000"), dir, exch, len(b), peer)
	message.DumpPayloads(&buf, first, b)
	d.writeTrace(&buf)
}

func (d *Daemon) writeTrace(buf *bytes.Buffer) {
	if d.cfg.Trace != nil {
		d.traceMu.Lock()
		d.cfg.Trace.Write(buf.Bytes())
		d.traceMu.Unlock()
		return
	}
	d.log.Info(buf.String())
}
