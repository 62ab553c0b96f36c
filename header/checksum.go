package header

import (
	"encoding/binary"
	"net/netip"
)

// Checksum returns the 16-bit one's complement sum of b added to initial
// (RFC 1071), not yet complemented.
func Checksum(b []byte, initial uint32) uint16 {
	sum := uint64(initial)
	for len(b) >= 8 {
		v := binary.BigEndian.Uint64(b)
		sum += v>>48 + v>>32&0xffff + v>>16&0xffff + v&0xffff
		b = b[8:]
	}
	for len(b) >= 2 {
		sum += uint64(binary.BigEndian.Uint16(b))
		b = b[2:]
	}
	if len(b) == 1 {
		sum += uint64(b[0]) << 8
	}
	for sum > 0xffff {
		sum = sum>>16 + sum&0xffff
	}
	return uint16(sum)
}

// PseudoHeaderChecksum is the partial checksum of the TCP/UDP pseudo-header
// for the given addresses, protocol and length.
func PseudoHeaderChecksum(proto uint8, src, dst netip.Addr, length int) uint32 {
	var sum uint32
	if src.Is4() {
		s, d := src.As4(), dst.As4()
		sum = uint32(Checksum(s[:], 0)) + uint32(Checksum(d[:], 0))
	} else {
		s, d := src.As16(), dst.As16()
		sum = uint32(Checksum(s[:], 0)) + uint32(Checksum(d[:], 0))
	}
	sum += uint32(proto) + uint32(length)
	return sum
}
