package gvisor

import (
	"gvisor.dev/gvisor/pkg/buffer"
	"gvisor.dev/gvisor/pkg/tcpip"
	"gvisor.dev/gvisor/pkg/tcpip/header"
	"gvisor.dev/gvisor/pkg/tcpip/stack"

	"github.com/sabre-ipsec/sabre/ipsec"
	"github.com/sabre-ipsec/sabre/pktbuf"
	"github.com/sabre-ipsec/sabre/reassembly"
	"github.com/sabre-ipsec/sabre/spd"

	hdr "github.com/sabre-ipsec/sabre/header"
)

// WritePackets implements stack.LinkEndpoint. Each IP packet goes through
// Encapsulate; what results (the protected packet, its fragments, or the
// original packet when it bypasses IPsec) is written to the child in one
// batch. A packet the engine drops is counted there and reported to the
// stack as written, as gVisor's own firewall does.
func (e *Endpoint) WritePackets(pkts stack.PacketBufferList) (int, tcpip.Error) {
	var out stack.PacketBufferList
	for _, pkt := range pkts.AsSlice() {
		e.outbound(pkt, &out)
	}
	n := pkts.Len()
	if out.Len() == 0 {
		return n, nil
	}
	_, err := e.Endpoint.WritePackets(out)
	// The list holds a reference to every packet in it: those the Endpoint
	// built and the originals it passed on.
	out.Reset()
	if err != nil {
		e.stats.LinkWriteErrors.Add(1)
		return 0, err
	}
	return n, nil
}

// outbound applies outbound policy to pkt and appends to out what is to be
// written.
func (e *Endpoint) outbound(pkt *stack.PacketBuffer, out *stack.PacketBufferList) {
	switch pkt.NetworkProtocolNumber {
	case header.IPv4ProtocolNumber, header.IPv6ProtocolNumber:
	default:
		e.stats.OutNonIP.Add(1)
		out.PushBack(pkt.IncRef())
		return
	}
	e.stats.OutPackets.Add(1)
	b := copyIn(pkt)
	whole := false
	if reassembly.IsFragment(b.Bytes()) {
		// The stack fragmented a datagram larger than MTU. Protect the
		// whole datagram; its outer packet is fragmented below if need be.
		e.stats.InnerFragments.Add(1)
		d, err := e.innerReasm.Process(b.Bytes())
		pktbuf.DefaultPool.Put(b)
		if err != nil {
			e.stats.InnerFragDropped.Add(1)
			return
		}
		if d == nil {
			return
		}
		e.stats.InnerReassembled.Add(1)
		b, whole = d, true
	}
	res, _ := e.engine.Encapsulate(b)
	switch res {
	case ipsec.Bypass:
		if !whole {
			out.PushBack(pkt.IncRef())
			break
		}
		// The stack fragmented this datagram itself, DF or not.
		e.emit(b, &pkt.EgressRoute, pkt, true, out)
	case ipsec.SecureTunnel, ipsec.SecureTransport:
		if dst, ok := outerDst(b.Bytes()); ok {
			e.rememberRoute(dst, &pkt.EgressRoute)
		}
		// A transport-mode packet keeps the stack's own header, whose DF
		// (set by gVisor's path MTU discovery) does not stop its sender
		// from fragmenting. A tunnel's outer DF is the policy's choice
		// (SP_DF_SET, SP_DF_COPY): RFC 4301 §8.1 drops the packet.
		e.emit(b, &pkt.EgressRoute, pkt, res == ipsec.SecureTransport, out)
	case ipsec.Pending:
		// The engine keeps a copy and sends it through Output once its SAs
		// exist; Output will need this packet's link addresses.
		if _, p, _ := e.engine.GetPolicy(b.Bytes(), spd.Outbound); p != nil && p.Mode == spd.Tunnel {
			e.rememberRoute(p.TunnelRemote, &pkt.EgressRoute)
		} else if dst, ok := outerDst(b.Bytes()); ok {
			e.rememberRoute(dst, &pkt.EgressRoute)
		}
	}
	// Drop is counted by the engine.
	pktbuf.DefaultPool.Put(b)
}

// Output writes a packet the engine generated itself (a dummy packet, or
// one held while its SAs were negotiated) to the child. The engine calls it
// through Config.Output; it takes ownership of b.
func (e *Endpoint) Output(b *pktbuf.Buffer) {
	defer pktbuf.DefaultPool.Put(b)
	dst, ok := outerDst(b.Bytes())
	if !ok {
		e.stats.Malformed.Add(1)
		return
	}
	route, ok := e.routeTo(dst)
	if !ok {
		e.stats.NoLinkAddress.Add(1)
		return
	}
	var out stack.PacketBufferList
	e.emit(b, &route, nil, false, &out)
	if out.Len() == 0 {
		return
	}
	e.stats.OutputPackets.Add(1)
	if _, err := e.Endpoint.WritePackets(out); err != nil {
		e.stats.LinkWriteErrors.Add(1)
	}
	out.Reset()
}

// emit appends the IP packet in b to out as a new PacketBuffer with the
// given route, split into fragments if it exceeds the child's MTU (despite
// DF if localDF, see fragmentIPv4). orig, if not nil, is the packet it was
// made from.
func (e *Endpoint) emit(b *pktbuf.Buffer, route *stack.RouteInfo, orig *stack.PacketBuffer, localDF bool, out *stack.PacketBufferList) {
	p := b.Bytes()
	mtu := int(e.Endpoint.MTU())
	if mtu == 0 || len(p) <= mtu {
		out.PushBack(e.newOutbound(route, orig, p, nil))
		return
	}
	add := func(h, data []byte) {
		out.PushBack(e.newOutbound(route, orig, h, data))
		e.stats.OuterFragments.Add(1)
	}
	var err error
	if p[0]>>4 == 4 {
		err = fragmentIPv4(p, mtu, localDF, add)
	} else {
		err = fragmentIPv6(p, mtu, e.fragID.Add(1), add)
	}
	switch {
	case err == errDF:
		e.stats.TooBig.Add(1)
	case err != nil:
		e.stats.Malformed.Add(1)
	default:
		e.stats.OuterFragmented.Add(1)
	}
}

// newOutbound builds the PacketBuffer of the IP packet head+data, with room
// for the child's link header, which the child's AddHeader then adds.
func (e *Endpoint) newOutbound(route *stack.RouteInfo, orig *stack.PacketBuffer, head, data []byte) *stack.PacketBuffer {
	v := buffer.NewView(len(head) + len(data))
	v.Write(head)
	v.Write(data)
	pkt := stack.NewPacketBuffer(stack.PacketBufferOptions{
		ReserveHeaderBytes: int(e.Endpoint.MaxHeaderLength()),
		Payload:            buffer.MakeWithView(v),
	})
	pkt.EgressRoute = *route
	if orig != nil {
		pkt.Owner = orig.Owner
		pkt.Hash = orig.Hash
	}
	if head[0]>>4 == 4 {
		pkt.NetworkProtocolNumber = header.IPv4ProtocolNumber
		pkt.NetworkHeader().Consume(hdr.IPv4(head).HeaderLength())
	} else {
		pkt.NetworkProtocolNumber = header.IPv6ProtocolNumber
		pkt.NetworkHeader().Consume(hdr.IPv6Len)
	}
	e.Endpoint.AddHeader(pkt)
	return pkt
}

// copyIn copies the IP packet in pkt, from its network header on, into a
// pooled buffer with the engine's headroom in front.
func copyIn(pkt *stack.PacketBuffer) *pktbuf.Buffer {
	skip := len(pkt.VirtioNetHeader().Slice()) + len(pkt.LinkHeader().Slice())
	b := pktbuf.DefaultPool.Get()
	dst := b.Append(pkt.Size() - skip)
	views, off := pkt.AsViewList()
	off += skip
	for v := views.Front(); v != nil && len(dst) > 0; v = v.Next() {
		s := v.AsSlice()
		if off >= len(s) {
			off -= len(s)
			continue
		}
		n := copy(dst, s[off:])
		dst = dst[n:]
		off = 0
	}
	return b
}
