package reassembly

import (
	"encoding/binary"
	"math/rand/v2"

	"github.com/sabre-ipsec/sabre/header"
)

// Packet and fragment builders for the tests. They are written from the
// RFCs independently of the code under test, except for the checksum.

const protoESP = 50

// ipv4Packet returns an IPv4 ESP packet with identification id, the given
// options (a multiple of 4 bytes) and n random payload bytes.
func ipv4Packet(rng *rand.Rand, id uint16, opts []byte, n int) []byte {
	hl := 20 + len(opts)
	p := make([]byte, hl+n)
	p[0] = 0x40 | byte(hl/4)
	binary.BigEndian.PutUint16(p[2:], uint16(hl+n))
	binary.BigEndian.PutUint16(p[4:], id)
	p[8] = 64
	p[9] = protoESP
	copy(p[12:], []byte{192, 0, 2, 1})
	copy(p[16:], []byte{198, 51, 100, 2})
	copy(p[20:], opts)
	fillRandom(rng, p[hl:])
	header.IPv4(p).UpdateChecksum()
	return p
}

// fragmentIPv4 splits pkt into fragments carrying at most size bytes of
// data (size a multiple of 8). With dropOptions the fragments after the
// first carry a bare 20-byte header, as when no option is copied.
func fragmentIPv4(pkt []byte, size int, dropOptions bool) [][]byte {
	hl := int(pkt[0]&0x0f) * 4
	data := pkt[hl:]
	var frags [][]byte
	for off := 0; off < len(data); off += size {
		end := min(off+size, len(data))
		h := pkt[:hl]
		if off > 0 && dropOptions {
			h = pkt[:20]
		}
		f := make([]byte, len(h)+end-off)
		copy(f, h)
		f[0] = 0x40 | byte(len(h)/4)
		copy(f[len(h):], data[off:end])
		binary.BigEndian.PutUint16(f[2:], uint16(len(f)))
		fo := binary.BigEndian.Uint16(pkt[6:])&0xe000 | uint16(off/8)
		if end < len(data) {
			fo |= 0x2000
		}
		binary.BigEndian.PutUint16(f[6:], fo)
		header.IPv4(f).UpdateChecksum()
		frags = append(frags, f)
	}
	return frags
}

// ipv6Packet returns an IPv6 ESP packet whose Unfragmentable Part holds one
// 8-byte extension header of each type in ext, followed by n random payload
// bytes. It also returns the length of the Unfragmentable Part and the
// index of the Next Header field of its last header.
func ipv6Packet(rng *rand.Rand, ext []uint8, n int) (pkt []byte, unfrag, nhIndex int) {
	unfrag = 40 + 8*len(ext)
	p := make([]byte, unfrag+n)
	p[0] = 0x60
	binary.BigEndian.PutUint16(p[4:], uint16(unfrag-40+n))
	p[7] = 64
	copy(p[8:], []byte{0x20, 0x01, 0x0d, 0xb8, 15: 1})
	copy(p[24:], []byte{0x20, 0x01, 0x0d, 0xb8, 15: 2})
	nhIndex = 6
	off := 40
	for _, t := range ext {
		p[nhIndex] = t
		// Length 0 (8 bytes) with a PadN option of 4 bytes of padding.
		p[off+1] = 0
		p[off+2], p[off+3] = 1, 4
		nhIndex = off
		off += 8
	}
	p[nhIndex] = protoESP
	fillRandom(rng, p[unfrag:])
	return p, unfrag, nhIndex
}

// fragmentIPv6 splits pkt, whose Unfragmentable Part is pkt[:unfrag] with
// its last Next Header field at nhIndex, into fragments carrying at most
// size bytes of data (size a multiple of 8), with identification id.
func fragmentIPv6(pkt []byte, unfrag, nhIndex, size int, id uint32) [][]byte {
	data := pkt[unfrag:]
	var frags [][]byte
	for off := 0; off < len(data); off += size {
		end := min(off+size, len(data))
		f := make([]byte, unfrag+8+end-off)
		copy(f, pkt[:unfrag])
		f[nhIndex] = header.ProtoFragment
		binary.BigEndian.PutUint16(f[4:], uint16(len(f)-40))
		fh := f[unfrag:]
		fh[0] = pkt[nhIndex]
		fo := uint16(off/8) << 3
		if end < len(data) {
			fo |= 1
		}
		binary.BigEndian.PutUint16(fh[2:], fo)
		binary.BigEndian.PutUint32(fh[4:], id)
		copy(f[unfrag+8:], data[off:end])
		frags = append(frags, f)
	}
	return frags
}

// atomicFragment returns pkt with a Fragment header of offset 0 and M=0
// inserted after its Unfragmentable Part.
func atomicFragment(pkt []byte, unfrag, nhIndex int, id uint32) []byte {
	return fragmentIPv6(pkt, unfrag, nhIndex, len(pkt), id)[0]
}

func fillRandom(rng *rand.Rand, b []byte) {
	for i := range b {
		b[i] = byte(rng.Uint32())
	}
}

// orders returns the fragments in order, reversed, and shuffled.
func orders(rng *rand.Rand, frags [][]byte) map[string][][]byte {
	rev := make([][]byte, len(frags))
	for i, f := range frags {
		rev[len(frags)-1-i] = f
	}
	shuf := append([][]byte(nil), frags...)
	rng.Shuffle(len(shuf), func(i, j int) { shuf[i], shuf[j] = shuf[j], shuf[i] })
	return map[string][][]byte{"in-order": frags, "reverse": rev, "shuffled": shuf}
}
