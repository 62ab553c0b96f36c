package gvisor

import (
	"sync"

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
	out := packetLists.Get().(*stack.PacketBufferList)
	defer packetLists.Put(out)
	for _, pkt := range pkts.AsSlice() {
		e.outbound(pkt, out)
	}
	n := pkts.Len()
	if out.Len() == 0 {
		return n, nil
	}
	_, err := e.Endpoint.WritePackets(*out)
	// The list holds a reference to every packet in it: those the Endpoint
	// built and the originals it passed on. Reset releases them and keeps
	// the list's array for the next call.
	out.Reset()
	if err != nil {
		e.stats.LinkWriteErrors.Add(1)
		return 0, err
	}
	return n, nil
}

// packetLists recycles the lists WritePackets hands to the child, whose
// arrays would otherwise be allocated for every packet.
var packetLists = sync.Pool{New: func() any { return new(stack.PacketBufferList) }}

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
	var buf viewBuffer
	copyIn(pkt, &buf)
	vb, b := &buf, &buf.b
	var whole *pktbuf.Buffer
	if reassembly.IsFragment(b.Bytes()) {
		// The stack fragmented a datagram larger than MTU. Protect the
		// whole datagram; its outer packet is fragmented below if need be.
		e.stats.InnerFragments.Add(1)
		d, err := e.innerReasm.Process(b.Bytes())
		vb.release()
		if err != nil {
			e.stats.InnerFragDropped.Add(1)
			return
		}
		if d == nil {
			return
		}
		e.stats.InnerReassembled.Add(1)
		vb, b, whole = nil, d, d
	}
	res, _ := e.engine.Encapsulate(b)
	switch res {
	case ipsec.Bypass:
		if whole == nil {
			out.PushBack(pkt.IncRef())
			break
		}
		// The stack fragmented this datagram itself, DF or not.
		e.emit(b, nil, &pkt.EgressRoute, pkt, true, out)
	case ipsec.SecureTunnel, ipsec.SecureTransport:
		if dst, ok := outerDst(b.Bytes()); ok {
			e.rememberRoute(dst, &pkt.EgressRoute)
		}
		// A transport-mode packet keeps the stack's own header, whose DF
		// (set by gVisor's path MTU discovery) does not stop its sender
		// from fragmenting. A tunnel's outer DF is the policy's choice
		// (SP_DF_SET, SP_DF_COPY): RFC 4301 §8.1 drops the packet.
		e.emit(b, vb, &pkt.EgressRoute, pkt, res == ipsec.SecureTransport, out)
		vb = nil
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
	if vb != nil {
		vb.release()
	}
	if whole != nil {
		pktbuf.DefaultPool.Put(whole)
	}
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
	e.emit(b, nil, &route, nil, false, &out)
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
// DF if localDF, see fragmentIPv4). If vb is not nil, b is its buffer and
// emit takes it over: an unfragmented packet is handed on in vb's view
// without a copy. orig, if not nil, is the packet the Endpoint was given.
func (e *Endpoint) emit(b *pktbuf.Buffer, vb *viewBuffer, route *stack.RouteInfo, orig *stack.PacketBuffer, localDF bool, out *stack.PacketBufferList) {
	p := b.Bytes()
	mtu := int(e.Endpoint.MTU())
	if mtu == 0 || len(p) <= mtu {
		v4, hl := ipHeader(p)
		var payload buffer.Buffer
		if vb != nil {
			payload = vb.payload()
		} else {
			payload = buffer.MakeWithData(p)
		}
		out.PushBack(e.newOutbound(route, orig, payload, v4, hl))
		return
	}
	if vb != nil {
		defer vb.release()
	}
	add := func(h, data []byte) {
		v := buffer.NewView(len(h) + len(data))
		v.Write(h)
		v.Write(data)
		v4, hl := ipHeader(h)
		out.PushBack(e.newOutbound(route, orig, buffer.MakeWithView(v), v4, hl))
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

// newOutbound builds the PacketBuffer of an IP packet (IPv4 if v4, with a
// network header of hl bytes), with room for the child's link header,
// which the child's AddHeader then adds.
func (e *Endpoint) newOutbound(route *stack.RouteInfo, orig *stack.PacketBuffer, payload buffer.Buffer, v4 bool, hl int) *stack.PacketBuffer {
	pkt := stack.NewPacketBuffer(stack.PacketBufferOptions{
		ReserveHeaderBytes: int(e.Endpoint.MaxHeaderLength()),
		Payload:            payload,
	})
	pkt.EgressRoute = *route
	if orig != nil {
		pkt.Owner = orig.Owner
		pkt.Hash = orig.Hash
	}
	pkt.NetworkProtocolNumber = header.IPv6ProtocolNumber
	if v4 {
		pkt.NetworkProtocolNumber = header.IPv4ProtocolNumber
	}
	pkt.NetworkHeader().Consume(hl)
	e.Endpoint.AddHeader(pkt)
	return pkt
}

// ipHeader returns whether the IP packet p is IPv4 and the length of its
// fixed header (IHL for IPv4).
func ipHeader(p []byte) (v4 bool, hl int) {
	if p[0]>>4 == 4 {
		return true, hdr.IPv4(p).HeaderLength()
	}
	return false, hdr.IPv6Len
}
