package gvisor

import (
	"testing"

	"gvisor.dev/gvisor/pkg/buffer"
	"gvisor.dev/gvisor/pkg/tcpip"
	"gvisor.dev/gvisor/pkg/tcpip/header"
	"gvisor.dev/gvisor/pkg/tcpip/link/channel"
	"gvisor.dev/gvisor/pkg/tcpip/stack"

	"github.com/sabre-ipsec/sabre/ipsec"
	"github.com/sabre-ipsec/sabre/sad"
	"github.com/sabre-ipsec/sabre/spd"
)

// captureLink keeps the last packet written to it.
type captureLink struct {
	*channel.Endpoint
	last *stack.PacketBuffer
}

func (l *captureLink) WritePackets(pkts stack.PacketBufferList) (int, tcpip.Error) {
	for _, p := range pkts.AsSlice() {
		if l.last != nil {
			l.last.DecRef()
		}
		l.last = p.IncRef()
	}
	return pkts.Len(), nil
}

// discard is a NetworkDispatcher that drops what it is given.
type discard struct{}

func (discard) DeliverNetworkPacket(tcpip.NetworkProtocolNumber, *stack.PacketBuffer) {}
func (discard) DeliverLinkPacket(tcpip.NetworkProtocolNumber, *stack.PacketBuffer)    {}

// BenchmarkEndpoint measures the Endpoint's own work for one 1400-byte
// packet in ESP tunnel mode with AES-128-GCM: out is WritePackets (copy,
// Encapsulate, new PacketBuffer) and in is DeliverNetworkPacket (copy,
// Decapsulate, new PacketBuffer), each into a link or dispatcher that
// does nothing. copy is the copy into a view alone.
func BenchmarkEndpoint(b *testing.B) {
	c := netConfig{mode: spd.Tunnel}
	la := &captureLink{Endpoint: channel.New(1, 1500, "")}
	lb := &captureLink{Endpoint: channel.New(1, 1500, "")}
	epA := New(la, spd.NewDB(), sad.NewDB(), ipsec.Config{})
	epB := New(lb, spd.NewDB(), sad.NewDB(), ipsec.Config{})
	defer epA.Close()
	defer epB.Close()
	secure(b, epA, c, addrA4, addrB4, true)
	secure(b, epB, c, addrB4, addrA4, true)
	epB.Attach(discard{})
	inner := udpPacket(addrA4, addrB4, 1400)
	plain := stack.NewPacketBuffer(stack.PacketBufferOptions{ReserveHeaderBytes: 64, Payload: buffer.MakeWithData(inner.Bytes())})
	defer plain.DecRef()
	plain.NetworkProtocolNumber = header.IPv4ProtocolNumber
	plain.NetworkHeader().Consume(20)
	var list stack.PacketBufferList
	list.PushBack(plain)

	b.Run("copy", func(b *testing.B) {
		b.SetBytes(1400)
		b.ReportAllocs()
		for b.Loop() {
			var vb viewBuffer
			copyIn(plain, &vb)
			vb.release()
		}
	})
	b.Run("out", func(b *testing.B) {
		b.SetBytes(1400)
		b.ReportAllocs()
		for b.Loop() {
			epA.WritePackets(list)
		}
	})
	// The receiver's replay window would refuse the same packet twice:
	// give it fresh ones from the sender.
	b.Run("out+in", func(b *testing.B) {
		b.SetBytes(1400)
		b.ReportAllocs()
		for b.Loop() {
			epA.WritePackets(list)
			p := stack.NewPacketBuffer(stack.PacketBufferOptions{Payload: la.last.ToBuffer()})
			epB.DeliverNetworkPacket(header.IPv4ProtocolNumber, p)
			p.DecRef()
		}
	})
	la.last.DecRef()
	la.last = nil
}
