package gvisor

import (
	"gvisor.dev/gvisor/pkg/buffer"
	"gvisor.dev/gvisor/pkg/tcpip/stack"

	"github.com/sabre-ipsec/sabre/pktbuf"
)

// Room the Endpoint leaves around a packet for the engine: in front, an
// outer IPv6 header, UDP encapsulation, the ESP header and the largest IV
// (or AH); behind, ESP padding, trailer and the largest ICV. A packet that
// needs more (TFC padding) is moved by the engine to a larger array, and
// then copied once more.
const (
	viewHeadroom = pktbuf.DefaultHeadroom
	viewTailroom = 128
)

// viewBuffer is a pktbuf.Buffer whose storage is a gVisor view from
// gVisor's chunk pool. gVisor's PacketBuffer is a chain of views with no
// headroom the engine could write into, so the packet is copied once into
// such a buffer; the engine works on it in place, and the view becomes the
// payload of the new PacketBuffer without a second copy. The engine keeps
// no pointer to the Buffer, so a viewBuffer lives on its caller's stack.
type viewBuffer struct {
	v *buffer.View
	b pktbuf.Buffer
}

// copyIn copies the IP packet in pkt, from its network header on (without
// the link header), into vb.
func copyIn(pkt *stack.PacketBuffer, vb *viewBuffer) {
	skip := len(pkt.VirtioNetHeader().Slice()) + len(pkt.LinkHeader().Slice())
	n := pkt.Size() - skip
	vb.v = buffer.NewViewSize(viewHeadroom + n + viewTailroom)
	vb.b.Reset(vb.v.AsSlice(), viewHeadroom, n)
	dst := vb.b.Bytes()
	views, off := pkt.AsViewList()
	off += skip
	for v := views.Front(); v != nil && len(dst) > 0; v = v.Next() {
		s := v.AsSlice()
		if off >= len(s) {
			off -= len(s)
			continue
		}
		k := copy(dst, s[off:])
		dst = dst[k:]
		off = 0
	}
}

// bytes returns the packet.
func (vb *viewBuffer) bytes() []byte { return vb.b.Bytes() }

// inView reports whether the packet is still in the view: the engine has
// not moved it to a larger array nor replaced it with a reassembled
// datagram.
func (vb *viewBuffer) inView() bool {
	s, v := vb.b.Storage(), vb.v.AsSlice()
	return len(s) == len(v) && len(s) > 0 && &s[0] == &v[0]
}

// payload releases vb and returns its packet as the payload of a new
// PacketBuffer: the view itself, trimmed to the packet, if the packet is
// still in it, else a copy.
func (vb *viewBuffer) payload() buffer.Buffer {
	if vb.inView() {
		v := vb.v
		v.TrimFront(vb.b.Offset())
		v.CapLength(vb.b.Len())
		vb.v = nil
		return buffer.MakeWithView(v)
	}
	p := buffer.MakeWithData(vb.b.Bytes())
	vb.release()
	return p
}

// headLen is how much of a received packet payloadSplit puts in a view of
// its own: the IP and transport headers in all but unusual packets.
const headLen = 128

// payloadSplit is payload for a packet going up the stack: its first
// headLen bytes are copied into a small view of their own, and the view
// holds the rest. gVisor's IP layer keeps a reference to the view of the
// network header while it reads the header again, and a view whose chunk
// is shared is copied whole on such a read: a 128-byte chunk is cheap to
// copy, the 2 KiB chunk of a full-sized packet is not.
func (vb *viewBuffer) payloadSplit() buffer.Buffer {
	p := vb.b.Bytes()
	if len(p) <= headLen {
		return vb.payload()
	}
	buf := buffer.MakeWithView(buffer.NewViewWithData(p[:headLen]))
	if !vb.inView() {
		buf.Append(buffer.NewViewWithData(p[headLen:]))
		vb.release()
		return buf
	}
	v := vb.v
	v.TrimFront(vb.b.Offset() + headLen)
	v.CapLength(len(p) - headLen)
	vb.v = nil
	buf.Append(v)
	return buf
}

// release gives back vb and the storage its packet is in.
func (vb *viewBuffer) release() {
	if !vb.inView() {
		// A reassembled datagram comes in a buffer of pktbuf.DefaultPool,
		// which takes back only storage of its own size.
		pktbuf.DefaultPool.Put(pktbuf.Wrap(vb.b.Storage(), 0, 0))
	}
	vb.v.Release()
	vb.v = nil
}
