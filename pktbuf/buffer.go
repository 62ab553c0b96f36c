// Package pktbuf provides the packet buffer that Sabre's hooks work on: one
// contiguous byte array with headroom in front of the packet and tailroom
// behind it, so that ESP/AH and outer IP headers are written in front and the
// ESP trailer and ICV behind without copying the payload.
package pktbuf

import (
	"fmt"

	"github.com/sabre-ipsec/sabre/xe"
)

// DefaultHeadroom is enough for an outer IPv6 header, a UDP encapsulation
// header, an ESP header and the largest IV, or an IPv6 header with an AH
// header and the largest ICV, with room to spare.
const DefaultHeadroom = 128

// DefaultTailroom fits the ESP trailer with the largest padding (255 bytes),
// TFC padding and the largest ICV.
const DefaultTailroom = 256 + 256 + 64

// Buffer is a packet held in buf[off:end]. The bytes before off are headroom
// and the bytes after end, up to len(buf), are tailroom.
//
// A Buffer is not safe for concurrent use; a packet belongs to one goroutine
// at a time.
type Buffer struct {
	buf []byte
	off int
	end int
	// Reason is why the packet was dropped: the error a hook returns with
	// a drop points here, so that dropping allocates nothing. It is valid
	// until the buffer holds another packet (xe.Drop.Clone keeps it).
	Reason xe.Drop
}

// New returns a Buffer of the given headroom, packet length and tailroom.
// The packet bytes are zero.
func New(headroom, length, tailroom int) *Buffer {
	b := &Buffer{}
	b.Reset(make([]byte, headroom+length+tailroom), headroom, length)
	return b
}

// Wrap returns a Buffer over storage whose packet is
// storage[headroom:headroom+length]. The Buffer takes ownership of storage.
func Wrap(storage []byte, headroom, length int) *Buffer {
	b := &Buffer{}
	b.Reset(storage, headroom, length)
	return b
}

// Reset points b at storage, with the packet at storage[headroom:headroom+length].
func (b *Buffer) Reset(storage []byte, headroom, length int) {
	if headroom < 0 || length < 0 || headroom+length > len(storage) {
		panic(fmt.Sprintf("pktbuf: headroom %d + length %d > storage %d", headroom, length, len(storage)))
	}
	b.buf = storage
	b.off = headroom
	b.end = headroom + length
}

// Bytes returns the packet. The slice aliases the buffer.
func (b *Buffer) Bytes() []byte { return b.buf[b.off:b.end:b.end] }

// Len returns the packet length.
func (b *Buffer) Len() int { return b.end - b.off }

// Headroom returns the free bytes in front of the packet.
func (b *Buffer) Headroom() int { return b.off }

// Tailroom returns the free bytes behind the packet.
func (b *Buffer) Tailroom() int { return len(b.buf) - b.end }

// Storage returns the whole backing array, including head- and tailroom.
func (b *Buffer) Storage() []byte { return b.buf }

// Offset returns the index of the packet's first byte in Storage.
func (b *Buffer) Offset() int { return b.off }

// Prepend grows the packet by n bytes at the front and returns them. If the
// headroom is too small the packet is moved to a larger array; callers that
// size headroom correctly never pay for that.
func (b *Buffer) Prepend(n int) []byte {
	if n > b.off {
		b.grow(n-b.off+DefaultHeadroom, 0)
	}
	b.off -= n
	return b.buf[b.off : b.off+n : b.off+n]
}

// Append grows the packet by n bytes at the back and returns them. If the
// tailroom is too small the packet is moved to a larger array.
func (b *Buffer) Append(n int) []byte {
	if n > len(b.buf)-b.end {
		b.grow(0, n-(len(b.buf)-b.end)+DefaultTailroom)
	}
	b.end += n
	return b.buf[b.end-n : b.end : b.end]
}

// TrimFront removes n bytes from the front of the packet, turning them into
// headroom.
func (b *Buffer) TrimFront(n int) {
	if n < 0 || n > b.Len() {
		panic(fmt.Sprintf("pktbuf: TrimFront(%d) of a %d-byte packet", n, b.Len()))
	}
	b.off += n
}

// TrimBack removes n bytes from the back of the packet, turning them into
// tailroom.
func (b *Buffer) TrimBack(n int) {
	if n < 0 || n > b.Len() {
		panic(fmt.Sprintf("pktbuf: TrimBack(%d) of a %d-byte packet", n, b.Len()))
	}
	b.end -= n
}

// SetLen sets the packet length, keeping its front. It panics if length
// exceeds the packet plus tailroom.
func (b *Buffer) SetLen(length int) {
	if length < 0 || b.off+length > len(b.buf) {
		panic(fmt.Sprintf("pktbuf: SetLen(%d) beyond storage", length))
	}
	b.end = b.off + length
}

// MoveFront moves the first n bytes of the packet forward by delta bytes (a
// positive delta) or backward (negative), adjusting the packet start. It is
// how transport mode inserts or removes a header after the IP header: the IP
// header moves, the payload stays.
func (b *Buffer) MoveFront(n, delta int) {
	if n < 0 || n > b.Len() {
		panic(fmt.Sprintf("pktbuf: MoveFront(%d) of a %d-byte packet", n, b.Len()))
	}
	if delta < 0 && -delta > b.off {
		b.grow(-delta-b.off+DefaultHeadroom, 0)
	}
	copy(b.buf[b.off+delta:], b.buf[b.off:b.off+n])
	b.off += delta
}

func (b *Buffer) grow(head, tail int) {
	nb := make([]byte, len(b.buf)+head+tail)
	copy(nb[head:], b.buf)
	b.buf = nb
	b.off += head
	b.end += head
}
