//go:build linux

package tun

import (
	"context"
	"errors"
	"log/slog"
	"net"
	"net/netip"

	"golang.org/x/net/ipv4"
	wgtun "golang.zx2c4.com/wireguard/tun"

	"github.com/sabre-ipsec/sabre/header"
	"github.com/sabre-ipsec/sabre/ipsec"
	"github.com/sabre-ipsec/sabre/pktbuf"
)

// routineReadTUN reads batches from the TUN, secures them and sends them.
func (d *Device) routineReadTUN() {
	defer d.wg.Done()
	n := d.tun.BatchSize()
	s := newSlots(n)
	raws := make([][]byte, n)
	sizes := make([]int, n)
	out := newSendBatch(n)
	var quote [quoteLen]byte
	debug := d.log.Enabled(context.Background(), slog.LevelDebug)
	for {
		for i := range raws {
			raws[i] = s.storage[i]
		}
		count, err := d.tun.Read(raws, sizes, readOffset)
		if err != nil && count == 0 {
			if errors.Is(err, wgtun.ErrTooManySegments) {
				d.stats.TooManySegs.Add(1)
				continue
			}
			if d.readFailed("tun", err) {
				return
			}
			continue
		}
		for i := 0; i < count; i++ {
			if sizes[i] == 0 {
				continue
			}
			d.stats.TUNRxPackets.Add(1)
			d.stats.TUNRxBytes.Add(uint64(sizes[i]))
			b := s.reset(i, readOffset, sizes[i])
			// Encapsulate overwrites the inner header; keep it where the
			// packet may come out too big, for the ICMP error.
			nq := 0
			if sizes[i] > d.pathMTU-maxOverhead {
				nq = copy(quote[:], b.Bytes())
			}
			res, err := d.engine.Encapsulate(b)
			switch res {
			case ipsec.SecureTunnel, ipsec.SecureTransport:
				if b.Len() > d.pathMTU && nq > 0 {
					d.tooBig(quote[:nq], sizes[i], b.Len())
					continue
				}
				out.add(b.Bytes())
			case ipsec.Bypass:
				// Routed into the tunnel but not to be secured: there is no
				// other interface to send it on (see the package doc).
				d.stats.BypassDropped.Add(1)
				if debug {
					d.log.Debug("drop bypass packet from tun", "len", b.Len())
				}
			case ipsec.Drop:
				if debug {
					d.log.Debug("encapsulate dropped", "err", err)
				}
			}
		}
		d.send(out)
	}
}

// Output sends an outer packet the engine built itself (a dummy packet, or
// one it queued while SAs were negotiated) and returns b to
// pktbuf.DefaultPool. It is the engine's Config.Output.
func (d *Device) Output(b *pktbuf.Buffer) {
	out := newSendBatch(1)
	out.add(b.Bytes())
	d.send(out)
	pktbuf.DefaultPool.Put(b)
}

// sendBatch collects the outer packets of one batch by socket: raw
// packets by family, ESP-in-UDP as payloads with their destination.
type sendBatch struct {
	raw     [2][]ipv4.Message // preallocated; nraw[f] are in use
	nraw    [2]int
	udp     [][]byte
	udpPeer []netip.AddrPort
	// dst caches destinations: the kernel only reads them, so one
	// net.IPAddr per peer serves every packet.
	dst map[netip.Addr]*net.IPAddr
	// group holds one run of datagrams to one peer.
	group [][]byte
	w     *udpWriter
}

func newSendBatch(n int) *sendBatch {
	sb := &sendBatch{dst: map[netip.Addr]*net.IPAddr{}, group: make([][]byte, 0, n), w: newUDPWriter(n)}
	for f := range sb.raw {
		sb.raw[f] = make([]ipv4.Message, n)
		for i := range sb.raw[f] {
			sb.raw[f][i].Buffers = make([][]byte, 1)
		}
	}
	sb.udp = make([][]byte, 0, n)
	sb.udpPeer = make([]netip.AddrPort, 0, n)
	return sb
}

// add files the outer packet pkt under the socket that sends it. pkt must
// stay valid until the batch is sent.
func (sb *sendBatch) add(pkt []byte) {
	var dst netip.Addr
	var proto uint8
	var pOff, fam int
	switch {
	case len(pkt) >= header.IPv4MinLen && pkt[0]>>4 == 4:
		h := header.IPv4(pkt)
		dst, proto, pOff, fam = h.Dst(), h.Protocol(), h.HeaderLength(), fam4
		if h.IsFragment() {
			proto = 0 // a fragment goes out as it is, on the raw socket
		}
	case len(pkt) >= header.IPv6Len && pkt[0]>>4 == 6:
		c, ok := header.ParseIPv6Chain(pkt)
		if !ok {
			return
		}
		dst, proto, pOff, fam = header.IPv6(pkt).Dst(), c.Proto, c.ProtoOffset, fam6
		if c.Fragment {
			proto = 0
		}
	default:
		return
	}
	if proto == header.ProtoUDP && len(pkt) >= pOff+header.UDPLen {
		u := header.UDP(pkt[pOff:])
		sb.udp = append(sb.udp, pkt[pOff+header.UDPLen:])
		sb.udpPeer = append(sb.udpPeer, netip.AddrPortFrom(dst, u.DstPort()))
		return
	}
	a := sb.dst[dst]
	if a == nil {
		a = &net.IPAddr{IP: dst.AsSlice()}
		sb.dst[dst] = a
	}
	if sb.nraw[fam] == len(sb.raw[fam]) {
		sb.raw[fam] = append(sb.raw[fam], ipv4.Message{Buffers: make([][]byte, 1)})
	}
	m := &sb.raw[fam][sb.nraw[fam]]
	m.Buffers[0], m.Addr = pkt, a
	sb.nraw[fam]++
}

// send sends and empties the batch.
func (d *Device) send(sb *sendBatch) {
	for fam := range sb.raw {
		msgs := sb.raw[fam][:sb.nraw[fam]]
		if len(msgs) == 0 {
			continue
		}
		c := d.raw[fam][rawESP]
		if c == nil {
			d.stats.SendErrors.Add(uint64(len(msgs)))
		} else {
			d.writeRaw(c, msgs)
		}
		for i := range msgs {
			msgs[i].Buffers[0], msgs[i].Addr = nil, nil
		}
		sb.nraw[fam] = 0
	}
	for i := 0; i < len(sb.udp); {
		peer := sb.udpPeer[i]
		j := i
		sb.group = sb.group[:0]
		for ; j < len(sb.udp) && sb.udpPeer[j] == peer; j++ {
			sb.group = append(sb.group, sb.udp[j])
		}
		bytes := 0
		for _, p := range sb.group {
			bytes += len(p)
		}
		u := d.udpFor(peer.Addr(), true)
		failed := len(sb.group)
		var err error
		if u != nil {
			failed, err = sb.w.send(u, sb.group, peer)
		}
		if failed > 0 {
			d.stats.SendErrors.Add(uint64(failed))
			d.log.Debug("send ESP-in-UDP failed", "peer", peer, "packets", failed, "err", err)
		}
		d.stats.WireTxPackets.Add(uint64(len(sb.group) - failed))
		d.stats.WireTxBytes.Add(uint64(bytes)) // approximate when some failed
		i = j
	}
	clear(sb.udp)
	clear(sb.group)
	sb.udp, sb.udpPeer = sb.udp[:0], sb.udpPeer[:0]
	if len(sb.dst) > 64 {
		clear(sb.dst)
	}
}

// writeRaw sends msgs on c; a packet the kernel refuses is counted and
// skipped.
func (d *Device) writeRaw(c *rawConn, msgs []ipv4.Message) {
	for start := 0; start < len(msgs); {
		n, err := c.WriteBatch(msgs[start:])
		n = max(n, 0)
		for _, m := range msgs[start : start+n] {
			d.stats.WireTxPackets.Add(1)
			d.stats.WireTxBytes.Add(uint64(len(m.Buffers[0])))
		}
		start += n
		if err != nil {
			if d.closed.Load() {
				return
			}
			d.stats.SendErrors.Add(1)
			d.log.Debug("send failed", "socket", c, "len", len(msgs[start].Buffers[0]), "err", err)
			start++
		}
	}
}
