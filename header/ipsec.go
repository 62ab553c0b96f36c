package header

import "encoding/binary"

// ESPHeaderLen is the length of the ESP header: SPI and sequence number
// (RFC 4303 §2).
const ESPHeaderLen = 8

// ESPTrailerLen is the fixed part of the ESP trailer: pad length and next
// header (RFC 4303 §2.4, §2.6).
const ESPTrailerLen = 2

// ESP is a view of an ESP header.
type ESP []byte

// SPI is the Security Parameters Index.
func (h ESP) SPI() uint32 { return binary.BigEndian.Uint32(h[0:]) }

// SequenceNumber is the low 32 bits of the sequence number.
func (h ESP) SequenceNumber() uint32 { return binary.BigEndian.Uint32(h[4:]) }

// Encode writes the SPI and the low 32 bits of the sequence number.
func (h ESP) Encode(spi uint32, seq uint64) {
	binary.BigEndian.PutUint32(h[0:], spi)
	binary.BigEndian.PutUint32(h[4:], uint32(seq))
}

// AHHeaderLen is the fixed part of the AH header before the ICV
// (RFC 4302 §2).
const AHHeaderLen = 12

// AH is a view of an AH header.
type AH []byte

// NextHeader is the protocol of the payload after AH.
func (h AH) NextHeader() uint8 { return h[0] }

// PayloadLen is AH's length in 32-bit words minus 2 (RFC 4302 §2.2).
func (h AH) PayloadLen() uint8 { return h[1] }

// Length is AH's total length in bytes, derived from PayloadLen.
func (h AH) Length() int { return (int(h[1]) + 2) * 4 }

// SPI is the Security Parameters Index.
func (h AH) SPI() uint32 { return binary.BigEndian.Uint32(h[4:]) }

// SequenceNumber is the low 32 bits of the sequence number.
func (h AH) SequenceNumber() uint32 { return binary.BigEndian.Uint32(h[8:]) }

// Encode writes an AH header of total length n bytes (a multiple of 4,
// and of 8 for IPv6 — the caller pads the ICV field) with a zero ICV.
func (h AH) Encode(next uint8, n int, spi uint32, seq uint64) {
	h[0] = next
	h[1] = uint8(n/4 - 2)
	h[2], h[3] = 0, 0
	binary.BigEndian.PutUint32(h[4:], spi)
	binary.BigEndian.PutUint32(h[8:], uint32(seq))
	clear(h[AHHeaderLen:n])
}

// UDPLen is the length of a UDP header.
const UDPLen = 8

// UDP is a view of a UDP header.
type UDP []byte

// SrcPort is the source port.
func (h UDP) SrcPort() uint16 { return binary.BigEndian.Uint16(h[0:]) }

// DstPort is the destination port.
func (h UDP) DstPort() uint16 { return binary.BigEndian.Uint16(h[2:]) }

// Length is the UDP length field.
func (h UDP) Length() int { return int(binary.BigEndian.Uint16(h[4:])) }

// Checksum is the checksum field.
func (h UDP) Checksum() uint16 { return binary.BigEndian.Uint16(h[6:]) }

// SetChecksum sets the checksum field.
func (h UDP) SetChecksum(v uint16) { binary.BigEndian.PutUint16(h[6:], v) }

// Encode writes the ports and length with a zero checksum.
func (h UDP) Encode(src, dst uint16, length int) {
	binary.BigEndian.PutUint16(h[0:], src)
	binary.BigEndian.PutUint16(h[2:], dst)
	binary.BigEndian.PutUint16(h[4:], uint16(length))
	binary.BigEndian.PutUint16(h[6:], 0)
}
