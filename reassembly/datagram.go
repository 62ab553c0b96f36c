package reassembly

import (
	"bytes"
	"container/list"
	"fmt"
	"net/netip"
	"slices"
	"time"

	"github.com/sabre-ipsec/sabre/header"
	"github.com/sabre-ipsec/sabre/pktbuf"
	"github.com/sabre-ipsec/sabre/xe"
)

// key identifies the datagram a fragment belongs to: (source, destination,
// protocol, identification) for IPv4 (RFC 791 §3.2) and (source,
// destination, identification) for IPv6 (RFC 8200 §4.5).
type key struct {
	src, dst [16]byte
	id       uint32
	proto    uint8 // IPv4 only
	v6       bool
}

func (k key) String() string {
	if k.v6 {
		return fmt.Sprintf("IPv6 %v->%v id %#08x", netip.AddrFrom16(k.src), netip.AddrFrom16(k.dst), k.id)
	}
	return fmt.Sprintf("IPv4 %v->%v proto %d id %#04x",
		netip.AddrFrom4([4]byte(k.src[:4])), netip.AddrFrom4([4]byte(k.dst[:4])), k.proto, k.id)
}

// family indexes per-family state: 0 for IPv4, 1 for IPv6.
func (k key) family() int {
	if k.v6 {
		return 1
	}
	return 0
}

// maxUnfragmented is the limit on unfragmentable part plus fragmentable
// data: the IPv4 total length, or the IPv6 payload length.
const maxUnfragmented = 65535

// fragment is one parsed fragment. hdr and data alias the packet.
type fragment struct {
	key key
	// hdr is the part in front of the data: the IPv4 header, or the IPv6
	// header with the extension headers of the Unfragmentable Part.
	hdr []byte
	// nhIndex is, for IPv6, the index in hdr of the Next Header field that
	// names the Fragment header; nextHeader is the Fragment header's own.
	nhIndex    int
	nextHeader uint8
	offset     int // in bytes
	data       []byte
	more       bool
}

// unfragLen is the part of hdr that counts against maxUnfragmented.
func (f *fragment) unfragLen() int {
	if f.key.v6 {
		return len(f.hdr) - header.IPv6Len
	}
	return len(f.hdr)
}

// end returns the offset just past the fragment's data.
func (f *fragment) end() int { return f.offset + len(f.data) }

// validate applies the checks that need no other fragment. A fragment that
// fails them is dropped on its own; its datagram is kept.
func (f *fragment) validate() error {
	if len(f.data) == 0 {
		return xe.Errorf(xe.FragmentError, "reassembly: %v: zero-length fragment at offset %d", f.key, f.offset)
	}
	// RFC 8200 §4.5; RFC 791 §3.2 puts the break points of IPv4
	// fragments on 8-octet boundaries too.
	if f.more && len(f.data)%8 != 0 {
		return xe.Errorf(xe.FragmentError, "reassembly: %v: fragment at offset %d is not the last but its length %d is not a multiple of 8", f.key, f.offset, len(f.data))
	}
	if n := f.unfragLen() + f.end(); n > maxUnfragmented {
		return xe.Errorf(xe.FragmentError, "reassembly: %v: fragment at offset %d length %d makes a %s of %d > %d", f.key, f.offset, len(f.data), f.lengthName(), n, maxUnfragmented)
	}
	return nil
}

func (f *fragment) lengthName() string {
	if f.key.v6 {
		return "payload length"
	}
	return "total length"
}

// piece is a fragment's data as held by its datagram.
type piece struct {
	offset int
	data   []byte
	more   bool
}

func (p piece) end() int { return p.offset + len(p.data) }

// Memory charged for bookkeeping besides the bytes copied, so that many
// tiny fragments cannot hold more memory than MaxBytes says.
const (
	datagramOverhead = 256
	pieceOverhead    = 64
)

// datagram is a datagram being reassembled.
type datagram struct {
	key     key
	elem    *list.Element // in Reassembler.queues[key.family()]
	created time.Time
	expires time.Time

	// hdr is a copy of the first fragment's hdr, nil until it arrives.
	hdr        []byte
	unfragLen  int
	nhIndex    int
	nextHeader uint8

	pieces   []piece // sorted by offset, never overlapping
	received int     // sum of the pieces' lengths
	maxEnd   int     // largest end of a piece
	total    int     // end of the last fragment, -1 until it arrives
	held     int     // bytes charged against Config.MaxBytes
}

// verdict is what check decided about a fragment.
type verdict int

const (
	accept    verdict = iota
	duplicate         // exact duplicate: ignore it, keep the datagram
	overlap           // overlaps a held fragment: drop the datagram
	conflict          // inconsistent with held fragments: drop the datagram
)

// check decides whether f can join d.
//
// RFC 5722 and RFC 8200 §4.5 require that a datagram with overlapping
// fragments be dropped whole; Sabre does the same for IPv4, as Linux and
// the BSDs do, because overlaps only serve to evade inspection. A fragment
// that repeats a held one exactly (same offset, length, M flag and bytes)
// is a network duplicate, which RFC 8200 §4.5 allows to be dropped alone;
// the same range with different bytes counts as an overlap.
func (d *datagram) check(f *fragment) (verdict, error) {
	end := f.end()
	i, _ := slices.BinarySearchFunc(d.pieces, f.offset, func(p piece, off int) int { return p.offset - off })
	if i < len(d.pieces) && d.pieces[i].offset == f.offset && len(d.pieces[i].data) == len(f.data) {
		if d.pieces[i].more == f.more && bytes.Equal(d.pieces[i].data, f.data) {
			return duplicate, nil
		}
		return overlap, xe.Errorf(xe.FragmentError, "reassembly: %v: fragment [%d, %d) repeats a held fragment with different contents; datagram dropped", f.key, f.offset, end)
	}
	if i > 0 {
		if p := d.pieces[i-1]; p.end() > f.offset {
			return overlap, xe.Errorf(xe.FragmentError, "reassembly: %v: fragment [%d, %d) overlaps held fragment [%d, %d); datagram dropped", f.key, f.offset, end, p.offset, p.end())
		}
	}
	if i < len(d.pieces) {
		if p := d.pieces[i]; p.offset < end {
			return overlap, xe.Errorf(xe.FragmentError, "reassembly: %v: fragment [%d, %d) overlaps held fragment [%d, %d); datagram dropped", f.key, f.offset, end, p.offset, p.end())
		}
	}
	if !f.more {
		if d.total >= 0 {
			return conflict, xe.Errorf(xe.FragmentError, "reassembly: %v: second last fragment ends at %d, the first ended at %d; datagram dropped", f.key, end, d.total)
		}
		if d.maxEnd > end {
			return conflict, xe.Errorf(xe.FragmentError, "reassembly: %v: last fragment ends at %d but held data reaches %d; datagram dropped", f.key, end, d.maxEnd)
		}
	} else if d.total >= 0 && end > d.total {
		return conflict, xe.Errorf(xe.FragmentError, "reassembly: %v: fragment [%d, %d) runs past the last fragment's end %d; datagram dropped", f.key, f.offset, end, d.total)
	}
	// The first fragment's header is the one the datagram gets, and it
	// may be longer than the others' (IPv4 options that are not copied).
	if f.offset == 0 {
		if n := f.unfragLen() + d.maxEnd; n > maxUnfragmented {
			return conflict, xe.Errorf(xe.FragmentError, "reassembly: %v: first fragment's header makes a %s of %d > %d; datagram dropped", f.key, f.lengthName(), n, maxUnfragmented)
		}
	} else if d.hdr != nil {
		if n := d.unfragLen + end; n > maxUnfragmented {
			return conflict, xe.Errorf(xe.FragmentError, "reassembly: %v: fragment at offset %d length %d makes a %s of %d > %d; datagram dropped", f.key, f.offset, len(f.data), f.lengthName(), n, maxUnfragmented)
		}
	}
	return accept, nil
}

// cost returns the bytes that holding f charges to d (nil for a new
// datagram).
func cost(f *fragment, d *datagram) int {
	n := len(f.data) + pieceOverhead
	if f.offset == 0 {
		n += len(f.hdr)
	}
	if d == nil {
		n += datagramOverhead
	}
	return n
}

// insert copies f into d. check must have accepted it.
func (d *datagram) insert(f *fragment) {
	i, _ := slices.BinarySearchFunc(d.pieces, f.offset, func(p piece, off int) int { return p.offset - off })
	d.pieces = slices.Insert(d.pieces, i, piece{offset: f.offset, data: bytes.Clone(f.data), more: f.more})
	d.received += len(f.data)
	d.maxEnd = max(d.maxEnd, f.end())
	if !f.more {
		d.total = f.end()
	}
	if f.offset == 0 {
		d.hdr = bytes.Clone(f.hdr)
		d.unfragLen = f.unfragLen()
		d.nhIndex = f.nhIndex
		d.nextHeader = f.nextHeader
	}
}

// complete reports whether the pieces cover [0, total). They never
// overlap, so counting bytes is enough.
func (d *datagram) complete() bool {
	return d.total >= 0 && d.received == d.total
}

// assemble writes the reassembled datagram into b.
func (d *datagram) assemble(b *pktbuf.Buffer) {
	out := b.Append(len(d.hdr) + d.total)
	n := copy(out, d.hdr)
	for _, p := range d.pieces {
		copy(out[n+p.offset:], p.data)
	}
	if d.key.v6 {
		// RFC 8200 §4.5: the first fragment's Fragment header supplies
		// the Next Header of the Unfragmentable Part's last header.
		out[d.nhIndex] = d.nextHeader
		header.IPv6(out).SetPayloadLength(len(out) - header.IPv6Len)
		return
	}
	h := header.IPv4(out)
	h.ClearFragmentation()
	h.SetTotalLength(len(out))
	h.UpdateChecksum()
}

// assembleAtomic writes an IPv6 atomic fragment into b without its
// Fragment header (RFC 6946 §4).
func assembleAtomic(f *fragment, b *pktbuf.Buffer) {
	out := b.Append(len(f.hdr) + len(f.data))
	n := copy(out, f.hdr)
	copy(out[n:], f.data)
	out[f.nhIndex] = f.nextHeader
	header.IPv6(out).SetPayloadLength(len(out) - header.IPv6Len)
}
