//go:build linux

package tun

import (
	"errors"
	"fmt"
	"net/netip"

	"github.com/sabre-ipsec/sabre/header"
	"github.com/sabre-ipsec/sabre/pktbuf"
)

// nonESPMarkerLen is the length of the four zero bytes in front of an IKE
// message on the NAT-T port (RFC 3948 §2.2): where an SPI would be, and
// SPI 0 is reserved.
const nonESPMarkerLen = 4

// udpBatch is the number of datagrams a UDP reader handles at once: two
// GRO messages of udpMaxSegments each.
const udpBatch = 2 * udpMaxSegments

// routineReadUDP reads one UDP socket of the IKE or NAT-T port in batches.
// On the NAT-T port, datagrams that are not IKE are UDP-encapsulated ESP
// (or NAT-keepalives); each gets its IP and UDP header back and goes to the
// engine.
func (d *Device) routineReadUDP(u *udpConn, natt bool) {
	defer d.wg.Done()
	r := newUDPReader(u, udpBatch)
	rb := d.newReceiveBatch(udpBatch)
	for {
		got, err := r.read()
		if err != nil {
			if d.readFailed(u.String(), err) {
				return
			}
			continue
		}
		for i, g := range got {
			if g.overflow {
				d.stats.ReadErrors.Add(1)
			}
			local := netip.AddrPortFrom(g.dst, u.port)
			payload := r.s.storage[i][readOffset : readOffset+g.n]
			if !natt {
				d.handleIKE(payload, local, g.src)
				continue
			}
			if g.n >= nonESPMarkerLen && payload[0]|payload[1]|payload[2]|payload[3] == 0 {
				d.handleIKE(payload[nonESPMarkerLen:], local, g.src)
				continue
			}
			if !g.dst.IsValid() || !g.src.Addr().IsValid() {
				d.stats.ReadErrors.Add(1) // no PKTINFO: the header cannot be rebuilt
				continue
			}
			b := r.s.reset(i, readOffset, g.n)
			pushIPUDP(b, g.src, local)
			rb.decapsulate(b)
		}
		rb.flush()
	}
}

// pushIPUDP puts the IP and UDP headers the datagram in b arrived with in
// front of it. The UDP checksum is left zero: the kernel checked it, the
// engine does not, and RFC 3948 §2.1 has IPv4 senders send zero.
func pushIPUDP(b *pktbuf.Buffer, src, dst netip.AddrPort) {
	n := b.Len() + header.UDPLen
	header.UDP(b.Prepend(header.UDPLen)).Encode(src.Port(), dst.Port(), n)
	if dst.Addr().Is4() {
		header.IPv4(b.Prepend(header.IPv4MinLen)).Encode(&header.IPv4Fields{
			TotalLength: header.IPv4MinLen + n, TTL: 64, Protocol: header.ProtoUDP,
			Src: src.Addr().Unmap(), Dst: dst.Addr(),
		})
		return
	}
	header.IPv6(b.Prepend(header.IPv6Len)).Encode(&header.IPv6Fields{
		PayloadLength: n, NextHeader: header.ProtoUDP, HopLimit: 64, Src: src.Addr(), Dst: dst.Addr(),
	})
}

func (d *Device) handleIKE(msg []byte, local, remote netip.AddrPort) {
	if h := d.cfg.IKE; h != nil {
		d.stats.IKERx.Add(1)
		h(msg, local, remote)
		return
	}
	d.stats.IKEDropped.Add(1)
}

// udpFor returns the socket of remote's family on the IKE or NAT-T port.
func (d *Device) udpFor(remote netip.Addr, natt bool) *udpConn {
	fam, port := fam4, udpIKE
	if remote.Is6() && !remote.Is4In6() {
		fam = fam6
	}
	if natt {
		port = udpNATT
	}
	return d.udp[fam][port]
}

// SendIKE sends an IKE message from the local port (the IKE or the NAT-T
// port) to remote, adding the non-ESP marker on the NAT-T port.
func (d *Device) SendIKE(msg []byte, localPort uint16, remote netip.AddrPort) error {
	var natt bool
	switch localPort {
	case d.cfg.IKEPort:
	case d.cfg.NATTPort:
		natt = true
		m := make([]byte, nonESPMarkerLen+len(msg))
		copy(m[nonESPMarkerLen:], msg)
		msg = m
	default:
		return fmt.Errorf("tun: IKE from port %d: the device listens on %d and %d", localPort, d.cfg.IKEPort, d.cfg.NATTPort)
	}
	if d.closed.Load() {
		return errors.New("tun: device closed")
	}
	u := d.udpFor(remote.Addr(), natt)
	if u == nil {
		return fmt.Errorf("tun: no UDP socket for %v", remote)
	}
	w := newUDPWriter(1)
	_, err := w.send(u, [][]byte{msg}, remote)
	return err
}

// SendKeepalive sends a NAT-keepalive, the one octet 0xFF from the NAT-T
// port (RFC 3948 §2.3), so that a NAT in front of this host keeps its
// mapping.
func (d *Device) SendKeepalive(remote netip.AddrPort) error {
	if d.closed.Load() {
		return errors.New("tun: device closed")
	}
	u := d.udpFor(remote.Addr(), true)
	if u == nil {
		return fmt.Errorf("tun: no UDP socket for %v", remote)
	}
	w := newUDPWriter(1)
	_, err := w.send(u, [][]byte{{0xff}}, remote)
	return err
}
