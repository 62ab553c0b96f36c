package message

import "golang.org/x/crypto/cryptobyte"

// Delete is the Delete payload D (RFC 7296 §3.11): the IKE SA itself when
// Protocol is ProtocolIKE (no SPIs), or the inbound SPIs of the sender's
// AH or ESP SAs.
type Delete struct {
	Protocol ProtocolID
	SPIs     []uint32
}

// PayloadType returns PayloadDelete.
func (p *Delete) PayloadType() PayloadType { return PayloadDelete }

// SPISize is the SPI Size field: 0 for IKE, 4 for AH and ESP.
func (p *Delete) SPISize() uint8 {
	if p.Protocol == ProtocolIKE {
		return 0
	}
	return 4
}

func parseDelete(body cryptobyte.String) (*Delete, error) {
	s := body
	var p Delete
	var proto, spiSize uint8
	var count uint16
	if !s.ReadUint8(&proto) || !s.ReadUint8(&spiSize) || !s.ReadUint16(&count) {
		return nil, syntaxError("truncated (%d octets)", len(body))
	}
	p.Protocol = ProtocolID(proto)
	switch p.Protocol {
	case ProtocolIKE:
		// "Deletion of the IKE SA is indicated by a protocol ID of 1 (IKE)
		// but no SPIs."
		if spiSize != 0 || count != 0 {
			return nil, syntaxError("IKE SA deletion with SPI size %d and %d SPIs", spiSize, count)
		}
	case ProtocolAH, ProtocolESP:
		if spiSize != 4 {
			return nil, syntaxError("%v SPI size %d, want 4", p.Protocol, spiSize)
		}
		for i := 0; i < int(count); i++ {
			var spi uint32
			if !s.ReadUint32(&spi) {
				return nil, syntaxError("Num of SPIs %d but room for %d", count, i)
			}
			p.SPIs = append(p.SPIs, spi)
		}
	default:
		return nil, syntaxError("protocol %v", p.Protocol)
	}
	if !s.Empty() {
		return nil, syntaxError("%d octets after %d SPIs", len(s), count)
	}
	return &p, p.validate()
}

func (p *Delete) validate() error {
	switch p.Protocol {
	case ProtocolIKE:
		if len(p.SPIs) != 0 {
			return syntaxError("IKE SA deletion with %d SPIs", len(p.SPIs))
		}
	case ProtocolAH, ProtocolESP:
		if len(p.SPIs) > 0xffff {
			return syntaxError("%d SPIs", len(p.SPIs))
		}
	default:
		return syntaxError("protocol %v", p.Protocol)
	}
	return nil
}

func (p *Delete) marshal(b *cryptobyte.Builder) {
	b.AddUint8(uint8(p.Protocol))
	b.AddUint8(p.SPISize())
	b.AddUint16(uint16(len(p.SPIs)))
	for _, spi := range p.SPIs {
		b.AddUint32(spi)
	}
}
