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
	SPIi, SPIr  string
	Initiator   bool
	Remote      string
	Local, Peer netip.AddrPort
	State       string
	Algorithms  string
	PeerID      string
	NAT         string // "", "local", "peer" or "both"
	Age         time.Duration
	Sent        uint64
	Retransmits uint64
	Children    []ChildStatus
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
		switch {
		case sa.natLocal && sa.natPeer:
			s.NAT = "both"
		case sa.natLocal:
			s.NAT = "local"
		case sa.natPeer:
			s.NAT = "peer"
		}
		for _, c := range sa.children {
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
// the payloads as on the wire; the SK payload's contents stay encrypted.
func (d *Daemon) traceMessage(dir string, b []byte, peer netip.AddrPort) {
	var buf bytes.Buffer
	fmt.Fprintf(&buf, "%s %d bytes; remote %v\n", dir, len(b), peer)
	message.Dump(&buf, b)
	d.log.Info(buf.String())
}
