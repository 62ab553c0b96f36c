//go:build linux

package tun

import (
	"errors"
	"fmt"
	"net/netip"

	wgconn "golang.zx2c4.com/wireguard/conn"

	"github.com/sabre-ipsec/sabre/header"
	"github.com/sabre-ipsec/sabre/pktbuf"
)

// nonESPMarker is the four zero bytes in front of an IKE message on the
// NAT-T port (RFC 3948 §2.2): where an SPI would be, and SPI 0 is reserved.
const nonESPMarkerLen = 4

// routineReadUDP reads one UDP socket of the IKE or NAT-T port in batches.
// On the NAT-T port, datagrams that are not IKE are UDP-encapsulated ESP
// (or NAT-keepalives); each gets its IP and UDP header back and goes to the
// engine.
func (d *Device) routineReadUDP(recv wgconn.ReceiveFunc, natt bool) {
	defer d.wg.Done()
	n := d.natt.BatchSize()
	s := newSlots(n)
	packets := make([][]byte, n)
	sizes := make([]int, n)
	eps := make([]wgconn.Endpoint, n)
	rb := d.newReceiveBatch(n)
	port := d.cfg.IKEPort
	if natt {
		port = d.cfg.NATTPort
	}
	what := fmt.Sprintf("udp:%d", port)
	for {
		for i := range packets {
			packets[i] = s.storage[i][readOffset:]
		}
		count, err := recv(packets, sizes, eps)
		if err != nil {
			if d.readFailed(what, err) {
				return
			}
			continue
		}
		for i := 0; i < count; i++ {
			size := sizes[i]
			ep, _ := eps[i].(*wgconn.StdNetEndpoint)
			eps[i] = nil
			if size == 0 || ep == nil {
				continue
			}
			local := netip.AddrPortFrom(ep.SrcIP(), port)
			remote := netip.AddrPortFrom(ep.Addr().Unmap(), ep.Port())
			payload := s.storage[i][readOffset : readOffset+size]
			if !natt {
				d.handleIKE(payload, local, remote)
				continue
			}
			if size >= nonESPMarkerLen && payload[0]|payload[1]|payload[2]|payload[3] == 0 {
				d.handleIKE(payload[nonESPMarkerLen:], local, remote)
				continue
			}
			if !local.Addr().IsValid() {
				d.stats.ReadErrors.Add(1) // no IP_PKTINFO: cannot rebuild the header
				continue
			}
			b := s.reset(i, readOffset, size)
			pushIPUDP(b, remote, local)
			rb.decapsulate(b)
		}
		rb.flush()
	}
}

// pushIPUDP puts the IP and UDP headers the datagram in b arrived with in
// front of it. The UDP checksum is left zero: the engine does not check
// it, and RFC 3948 §2.1 has IPv4 senders send zero.
func pushIPUDP(b *pktbuf.Buffer, src, dst netip.AddrPort) {
	n := b.Len() + header.UDPLen
	header.UDP(b.Prepend(header.UDPLen)).Encode(src.Port(), dst.Port(), n)
	if dst.Addr().Is4() {
		header.IPv4(b.Prepend(header.IPv4MinLen)).Encode(&header.IPv4Fields{
			TotalLength: header.IPv4MinLen + n, TTL: 64, Protocol: header.ProtoUDP,
			Src: src.Addr().Unmap(), Dst: dst.Addr().Unmap(),
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

// SendIKE sends an IKE message from the local port (the IKE or the NAT-T
// port) to remote, adding the non-ESP marker on the NAT-T port.
func (d *Device) SendIKE(msg []byte, localPort uint16, remote netip.AddrPort) error {
	var bind *wgconn.StdNetBind
	switch localPort {
	case d.cfg.IKEPort:
		bind = d.ike
	case d.cfg.NATTPort:
		bind = d.natt
		m := make([]byte, nonESPMarkerLen+len(msg))
		copy(m[nonESPMarkerLen:], msg)
		msg = m
	default:
		return fmt.Errorf("tun: IKE from port %d: the device listens on %d and %d", localPort, d.cfg.IKEPort, d.cfg.NATTPort)
	}
	if d.closed.Load() {
		return errors.New("tun: device closed")
	}
	return bind.Send([][]byte{msg}, &wgconn.StdNetEndpoint{AddrPort: remote})
}
