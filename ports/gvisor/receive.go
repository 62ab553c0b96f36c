package gvisor

import (
	"net/netip"

	"gvisor.dev/gvisor/pkg/tcpip"
	"gvisor.dev/gvisor/pkg/tcpip/header"
	"gvisor.dev/gvisor/pkg/tcpip/stack"

	"github.com/sabre-ipsec/sabre/ipsec"
	"github.com/sabre-ipsec/sabre/reassembly"

	hdr "github.com/sabre-ipsec/sabre/header"
)

// DeliverNetworkPacket implements stack.NetworkDispatcher: the child
// delivers a received packet. An IP packet goes through Decapsulate; what
// it yields (the inner packet, the packet without ESP/AH, a reassembled
// datagram, or the original packet when it bypasses IPsec) goes up to the
// stack. Outer fragments stay with the engine until their datagram is
// complete.
func (e *Endpoint) DeliverNetworkPacket(protocol tcpip.NetworkProtocolNumber, pkt *stack.PacketBuffer) {
	switch protocol {
	case header.IPv4ProtocolNumber, header.IPv6ProtocolNumber:
	default:
		e.stats.InNonIP.Add(1)
		e.Endpoint.DeliverNetworkPacket(protocol, pkt)
		return
	}
	var buf viewBuffer
	vb := &buf
	copyIn(pkt, vb)
	frag := reassembly.IsFragment(vb.bytes())
	res, _ := e.engine.Decapsulate(&vb.b)
	switch res {
	case ipsec.Bypass:
		if !frag {
			vb.release()
			e.Endpoint.DeliverNetworkPacket(protocol, pkt)
			return
		}
		// The engine reassembled a cleartext datagram; it goes up whole.
		fallthrough
	case ipsec.SecureTunnel, ipsec.SecureTransport:
		np := newInbound(vb, pkt)
		e.Endpoint.DeliverNetworkPacket(np.NetworkProtocolNumber, np)
		np.DecRef()
		return
	}
	// Drop is counted by the engine; Pending holds an outer fragment;
	// Consumed was a NAT-T keepalive.
	vb.release()
}

// newInbound builds the PacketBuffer of the received IP packet in vb,
// which the Endpoint made from orig, and releases vb.
func newInbound(vb *viewBuffer, orig *stack.PacketBuffer) *stack.PacketBuffer {
	proto := header.IPv4ProtocolNumber
	if vb.bytes()[0]>>4 == 6 {
		proto = header.IPv6ProtocolNumber
	}
	pkt := stack.NewPacketBuffer(stack.PacketBufferOptions{Payload: vb.payloadSplit()})
	pkt.PktType = orig.PktType
	pkt.NetworkProtocolNumber = proto
	return pkt
}

// outerDst returns the destination address of the IP packet p.
func outerDst(p []byte) (netip.Addr, bool) {
	switch {
	case len(p) >= hdr.IPv4MinLen && p[0]>>4 == 4:
		return hdr.IPv4(p).Dst(), true
	case len(p) >= hdr.IPv6Len && p[0]>>4 == 6:
		return hdr.IPv6(p).Dst(), true
	}
	return netip.Addr{}, false
}
