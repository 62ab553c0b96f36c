//go:build linux

package tun

import (
	"context"
	"log/slog"
	"net"
	"net/netip"

	"golang.org/x/net/ipv4"
	"golang.org/x/net/ipv6"

	"github.com/sabre-ipsec/sabre/header"
	"github.com/sabre-ipsec/sabre/ipsec"
	"github.com/sabre-ipsec/sabre/pktbuf"
)

// receiveBatch collects the inner packets a reader decapsulated from one
// batch, to write them to the TUN with one call (which coalesces TCP and
// UDP segments, GRO).
type receiveBatch struct {
	d     *Device
	out   [][]byte
	debug bool
}

func (d *Device) newReceiveBatch(n int) *receiveBatch {
	return &receiveBatch{d: d, out: make([][]byte, 0, n),
		debug: d.log.Enabled(context.Background(), slog.LevelDebug)}
}

// decapsulate opens the packet in b and queues the inner packet for the
// TUN. b must stay untouched until flush.
func (r *receiveBatch) decapsulate(b *pktbuf.Buffer) {
	d := r.d
	d.stats.WireRxPackets.Add(1)
	d.stats.WireRxBytes.Add(uint64(b.Len()))
	res, err := d.engine.Decapsulate(b)
	switch res {
	case ipsec.SecureTunnel, ipsec.SecureTransport:
		if res == ipsec.SecureTunnel && d.cfg.Forwarding != nil {
			d.cfg.Forwarding.check(b.Bytes())
		}
		off := b.Offset()
		if off < tunWriteOffset {
			// Only a packet the engine moved to a fresh array can lack
			// the room; give it some.
			b.Prepend(tunWriteOffset)
			b.TrimFront(tunWriteOffset)
			off = b.Offset()
		}
		r.out = append(r.out, b.Storage()[off-tunWriteOffset:off+b.Len()])
	case ipsec.Bypass:
		// Cleartext let through by a BYPASS policy on an IPsec socket:
		// there is no IP stack behind this socket to hand it to.
		d.stats.Unexpected.Add(1)
		if r.debug {
			d.log.Debug("drop cleartext received on an IPsec socket", "len", b.Len())
		}
	case ipsec.Drop:
		if r.debug && err != nil {
			d.log.Debug("decapsulate dropped", "err", err)
		}
	}
}

// flush writes the queued inner packets to the TUN.
func (r *receiveBatch) flush() {
	if len(r.out) == 0 {
		return
	}
	d := r.d
	var bytes int
	for _, p := range r.out {
		bytes += len(p) - tunWriteOffset
	}
	if _, err := d.tun.Write(r.out, tunWriteOffset); err != nil {
		if !d.closed.Load() {
			d.stats.TUNWriteErrors.Add(1)
			d.log.Debug("tun write failed", "packets", len(r.out), "err", err)
		}
	} else {
		d.stats.TUNTxPackets.Add(uint64(len(r.out)))
		d.stats.TUNTxBytes.Add(uint64(bytes))
	}
	clear(r.out)
	r.out = r.out[:0]
}

// routineReadRaw reads ESP or AH packets from a raw socket in batches and
// decapsulates them.
func (d *Device) routineReadRaw(c *rawConn) {
	defer d.wg.Done()
	const batch = 64
	s := newSlots(batch)
	msgs := make([]ipv4.Message, batch)
	for i := range msgs {
		msgs[i].Buffers = make([][]byte, 1)
		if c.v6 {
			msgs[i].OOB = ipv6.NewControlMessage(ipv6.FlagDst | ipv6.FlagHopLimit | ipv6.FlagTrafficClass)
		}
	}
	rb := d.newReceiveBatch(batch)
	var cm ipv6.ControlMessage
	for {
		for i := range msgs {
			msgs[i].Buffers[0] = s.storage[i][readOffset:]
			msgs[i].OOB = msgs[i].OOB[:cap(msgs[i].OOB)]
		}
		n, err := c.ReadBatch(msgs)
		if err != nil {
			if d.readFailed(c.String(), err) {
				return
			}
			continue
		}
		for i := 0; i < n; i++ {
			m := &msgs[i]
			b := s.reset(i, readOffset, m.N)
			if c.v6 {
				// The kernel kept the IPv6 header; rebuild it.
				src, _ := m.Addr.(*net.IPAddr)
				if src == nil || cm.Parse(m.OOB[:m.NN]) != nil || cm.Dst == nil {
					d.stats.ReadErrors.Add(1)
					continue
				}
				sa, _ := netip.AddrFromSlice(src.IP)
				da, _ := netip.AddrFromSlice(cm.Dst)
				header.IPv6(b.Prepend(header.IPv6Len)).Encode(&header.IPv6Fields{
					TrafficClass: uint8(cm.TrafficClass), PayloadLength: m.N, NextHeader: c.proto,
					HopLimit: uint8(cm.HopLimit), Src: sa.Unmap(), Dst: da.Unmap(),
				})
			}
			rb.decapsulate(b)
		}
		rb.flush()
	}
}
