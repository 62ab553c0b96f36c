package ipsec

import (
	"github.com/sabre-ipsec/sabre/header"
	"github.com/sabre-ipsec/sabre/pktbuf"
	"github.com/sabre-ipsec/sabre/suite"
	"github.com/sabre-ipsec/sabre/xe"
)

// espSeal turns b.Bytes()[hl:] into an ESP packet in place: the first hl
// bytes (a transport-mode IP header, or nothing in tunnel mode) move to the
// front to make room for the ESP header and IV; padding, pad length, next
// header and the ICV go behind (RFC 4303 §2, §3.3). tfc bytes of zero TFC
// padding follow the payload (RFC 4303 §2.7). It returns the length of the
// ESP packet.
func espSeal(b *pktbuf.Buffer, hl int, x suite.ESP, spi uint32, seq uint64, esn bool, next uint8, tfc int) int {
	payloadLen := b.Len() - hl + tfc
	align := x.BlockLen()
	if align < 4 {
		align = 4 // RFC 4303 §2.4: the trailer ends on a 4-byte boundary
	}
	padLen := (align - (payloadLen+header.ESPTrailerLen)%align) % align
	icvLen := x.ICVLen()
	tail := b.Append(tfc + padLen + header.ESPTrailerLen + icvLen)
	clear(tail[:tfc])
	// RFC 4303 §2.4: the default padding is 1, 2, 3, ...
	for i := 0; i < padLen; i++ {
		tail[tfc+i] = byte(i + 1)
	}
	tail[tfc+padLen] = byte(padLen)
	tail[tfc+padLen+1] = next

	ivLen := x.IVLen()
	b.MoveFront(hl, -(header.ESPHeaderLen + ivLen))
	esp := b.Bytes()[hl:]
	header.ESP(esp).Encode(spi, seq)
	x.FillIV(esp[header.ESPHeaderLen:header.ESPHeaderLen+ivLen], seq)
	x.Seal(esp, seq, esn)
	return len(esp)
}

// espPayload describes a verified, decrypted ESP packet.
type espPayload struct {
	start, end int // payload (excluding TFC padding removal) within the ESP packet
	next       uint8
}

// espOpen verifies and decrypts the ESP packet esp in place and locates its
// payload. checkPad enables SP_CHECK_ESP_PAD: the padding must be the
// default 1, 2, 3, ... sequence. A failure is recorded in d.
func espOpen(esp []byte, x suite.ESP, seqHigh uint32, esn, checkPad bool, d *xe.Drop) (espPayload, bool) {
	ivLen, icvLen := x.IVLen(), x.ICVLen()
	min := header.ESPHeaderLen + ivLen + header.ESPTrailerLen + icvLen
	if len(esp) < min {
		d.Set(xe.MalformedPacket, "ESP packet of %d bytes is shorter than the %d that %s needs", xe.Int(len(esp)), xe.Int(min), xe.Str(x.Name()))
		return espPayload{}, false
	}
	ctLen := len(esp) - header.ESPHeaderLen - ivLen - icvLen
	if bl := x.BlockLen(); bl > 1 && ctLen%bl != 0 {
		d.Set(xe.MalformedPacket, "ESP ciphertext of %d bytes is not a multiple of the %d-byte block", xe.Int(ctLen), xe.Int(bl))
		return espPayload{}, false
	}
	switch err := x.Open(esp, seqHigh, esn); {
	case err == xe.ESPDigestMismatch:
		// RFC 4303 §3.4.4.1. x returns the bare code, which allocates
		// nothing; the packet names the SA and the sequence number.
		h := header.ESP(esp)
		d.Set(xe.ESPDigestMismatch, "%s: ICV mismatch for SPI %#08x, sequence number %d",
			xe.Str(x.Name()), xe.Uint(h.SPI()), xe.Uint(h.SequenceNumber()))
		return espPayload{}, false
	case err != nil:
		d.Wrap(err)
		return espPayload{}, false
	}
	trailer := len(esp) - icvLen - header.ESPTrailerLen
	padLen := int(esp[trailer])
	start := header.ESPHeaderLen + ivLen
	end := trailer - padLen
	if end < start {
		d.Set(xe.BadPadData, "pad length %d exceeds the %d-byte payload", xe.Int(padLen), xe.Int(trailer-start))
		return espPayload{}, false
	}
	if checkPad {
		for i, v := range esp[end:trailer] {
			if v != byte(i+1) {
				d.Set(xe.BadPadData, "pad byte %d is %d, want %d", xe.Int(i), xe.Uint(v), xe.Int(i+1))
				return espPayload{}, false
			}
		}
	}
	return espPayload{start: start, end: end, next: esp[trailer+1]}, true
}
