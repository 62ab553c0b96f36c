package message

import "golang.org/x/crypto/cryptobyte"

// SK is the Encrypted and Authenticated payload (RFC 7296 §3.14), always
// the last payload of its message. Data is its body as on the wire: the
// IV, the encrypted inner payloads with padding and Pad Length, and the
// integrity checksum (for AEAD ciphers, the ICV; RFC 5282).
// Decryption is ike/crypto's work; ParsePayloads then reads the inner
// chain, whose first type is FirstPayload.
type SK struct {
	FirstPayload PayloadType
	Data         []byte
}

// PayloadType returns PayloadSK.
func (p *SK) PayloadType() PayloadType { return PayloadSK }

func (p *SK) validate() error { return nil }

func (p *SK) marshal(b *cryptobyte.Builder) { b.AddBytes(p.Data) }

// SKF is the Encrypted and Authenticated Fragment payload (RFC 7383 §2.5):
// one fragment of an SK payload's inner chain. Only fragment 1 names the
// first inner payload. Data is as in SK.
type SKF struct {
	FirstPayload   PayloadType
	FragmentNumber uint16
	TotalFragments uint16
	Data           []byte
}

// PayloadType returns PayloadSKF.
func (p *SKF) PayloadType() PayloadType { return PayloadSKF }

func parseSKF(body cryptobyte.String, first PayloadType) (*SKF, error) {
	s := body
	p := SKF{FirstPayload: first}
	if !s.ReadUint16(&p.FragmentNumber) || !s.ReadUint16(&p.TotalFragments) {
		return nil, syntaxError("truncated (%d octets)", len(body))
	}
	p.Data = rest(&s)
	return &p, p.validate()
}

func (p *SKF) validate() error {
	// RFC 7383 §2.5: neither number is zero, the fragment number is at most
	// the total, and only the first fragment has a Next Payload.
	if p.FragmentNumber == 0 || p.TotalFragments == 0 || p.FragmentNumber > p.TotalFragments {
		return syntaxError("fragment %d of %d", p.FragmentNumber, p.TotalFragments)
	}
	if p.FragmentNumber > 1 && p.FirstPayload != PayloadNone {
		return syntaxError("fragment %d names a first payload (%v)", p.FragmentNumber, p.FirstPayload)
	}
	return nil
}

func (p *SKF) marshal(b *cryptobyte.Builder) {
	b.AddUint16(p.FragmentNumber)
	b.AddUint16(p.TotalFragments)
	b.AddBytes(p.Data)
}

// SplitEncrypted splits an IKE message whose last payload is SK or SKF
// into what the cipher authenticates and what it decrypts: aad runs from
// the IKE header through the SK payload header (for SKF, through Total
// Fragments), body is the rest, IV through ICV. aad is the associated
// data of the AEAD ciphers (RFC 5282; RFC 7383 for SKF); with the
// integrity algorithms of RFC 7296 §3.14 the checksum covers aad and body
// up to the checksum itself.
//
// To build a protected message, Marshal it with an SK whose Data is a
// zeroed buffer of the final length, split the result, and encrypt into
// body in place.
func SplitEncrypted(msg []byte) (aad, body []byte, err error) {
	s := cryptobyte.String(msg)
	var next uint8
	var length uint32
	if !s.Skip(16) || !s.ReadUint8(&next) || !s.Skip(3) || !s.Skip(4) || !s.ReadUint32(&length) {
		return nil, nil, syntaxError("message of %d octets shorter than the IKE header", len(msg))
	}
	if int64(length) != int64(len(msg)) {
		return nil, nil, syntaxError("Length %d in a message of %d octets", length, len(msg))
	}
	for t := PayloadType(next); ; {
		var crit uint8
		var pb cryptobyte.String
		if t == PayloadNone {
			return nil, nil, syntaxError("no SK or SKF payload")
		}
		if err := readSub(&s, t.String()+" payload", &next, &crit, &pb); err != nil {
			return nil, nil, err
		}
		if t == PayloadSK || t == PayloadSKF {
			if !s.Empty() {
				return nil, nil, syntaxError("%d octets after the %v payload", len(s), t)
			}
			if t == PayloadSKF && !pb.Skip(4) {
				return nil, nil, syntaxError("SKF payload truncated")
			}
			return msg[:len(msg)-len(pb)], []byte(pb), nil
		}
		t = PayloadType(next)
	}
}
