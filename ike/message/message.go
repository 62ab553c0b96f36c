// Package message is the IKEv2 message codec (RFC 7296 §3): the IKE header,
// the generic payload chain and every payload RFC 7296 defines, plus the
// Encrypted Fragment payload of RFC 7383.
//
// Parse reads a datagram into a Message, checking what the RFCs say a
// receiver must check and answering malformed input with a NotifyError
// naming the Notify to send (INVALID_SYNTAX, UNSUPPORTED_CRITICAL_PAYLOAD,
// INVALID_MAJOR_VERSION). It stops at an SK or SKF payload, which is
// always last; after ike/crypto decrypts it, ParsePayloads reads the inner
// chain. Marshal and MarshalPayloads build the same structures. Check holds
// the table of which payloads each exchange may and must carry.
//
// Parsed messages keep their octets (Message.Raw, ID.Raw) because
// signatures cover them (RFC 7296 §2.15), and their payloads alias the
// parsed buffer, which must not change while they are in use; the SK
// payload's Data is the exception ike/crypto decrypts in place.
package message

import (
	"fmt"
	"strings"

	"golang.org/x/crypto/cryptobyte"
)

// Message is an IKEv2 message: the header and its payloads in order.
type Message struct {
	Header
	Payloads []Payload
	// Raw is the message as parsed; the AUTH payload signs the IKE_SA_INIT
	// messages octet for octet (RFC 7296 §2.15). Nil for a built message.
	Raw []byte
}

// Parse parses one IKEv2 message. Malformed input returns a *NotifyError.
// When the message carries an SK or SKF payload, Parse stops there: it is
// the last payload, and its FirstPayload names the first payload of the
// encrypted chain, for ParsePayloads after decryption.
func Parse(b []byte) (*Message, error) {
	h, err := ParseHeader(b)
	if err != nil {
		return nil, err
	}
	m := &Message{Header: *h, Raw: b}
	s := cryptobyte.String(b[HeaderLen:])
	// RFC 7296 §2.5: the minor version is ignored, another major version is
	// answered with INVALID_MAJOR_VERSION.
	if m.Version>>4 != Version>>4 {
		return nil, &NotifyError{Type: InvalidMajorVersion,
			Reason: fmt.Sprintf("version %d.%d", m.Version>>4, m.Version&0xf)}
	}
	if int64(m.Length) != int64(len(b)) {
		return nil, syntaxError("Length %d in a message of %d octets", m.Length, len(b))
	}
	if m.Payloads, err = parseChain(m.NextPayload, s, true); err != nil {
		return nil, err
	}
	return m, nil
}

// ParseHeader reads the IKE header at the start of b and checks nothing
// but its length: a receiver answers a message that Parse refuses (another
// major version, a malformed IKE_SA_INIT) from its header alone.
func ParseHeader(b []byte) (*Header, error) {
	s := cryptobyte.String(b)
	var h Header
	var next, exchange, flags uint8
	if !s.ReadUint64(&h.SPIi) || !s.ReadUint64(&h.SPIr) || !s.ReadUint8(&next) ||
		!s.ReadUint8(&h.Version) || !s.ReadUint8(&exchange) || !s.ReadUint8(&flags) ||
		!s.ReadUint32(&h.MessageID) || !s.ReadUint32(&h.Length) {
		return nil, syntaxError("message of %d octets, shorter than the %d-octet IKE header", len(b), HeaderLen)
	}
	h.NextPayload, h.Exchange, h.Flags = PayloadType(next), ExchangeType(exchange), Flags(flags)
	return &h, nil
}

// ParsePayloads parses a chain of payloads starting with one of type
// first: the decrypted content of an SK payload (RFC 7296 §3.14), with
// padding and Pad Length already removed. SK and SKF may not appear in it.
func ParsePayloads(first PayloadType, b []byte) ([]Payload, error) {
	return parseChain(first, cryptobyte.String(b), false)
}

func parseChain(t PayloadType, s cryptobyte.String, outer bool) ([]Payload, error) {
	var payloads []Payload
	for t != PayloadNone {
		n := len(payloads) + 1
		var next, flags uint8
		var body cryptobyte.String
		if err := readSub(&s, fmt.Sprintf("payload %d (%v)", n, t), &next, &flags, &body); err != nil {
			return nil, err
		}
		p, err := parsePayload(t, flags&criticalBit != 0, PayloadType(next), body)
		if err != nil {
			return nil, within(err, "payload %d (%v)", n, t)
		}
		payloads = append(payloads, p)
		if t == PayloadSK || t == PayloadSKF {
			// RFC 7296 §3.1: an Encrypted payload is the last payload and
			// contains no other Encrypted payload.
			if !outer {
				return nil, syntaxError("payload %d: %v inside an encrypted payload", n, t)
			}
			if !s.Empty() {
				return nil, syntaxError("%d octets after the %v payload, which must be last", len(s), t)
			}
			return payloads, nil
		}
		t = PayloadType(next)
	}
	if !s.Empty() {
		return nil, syntaxError("%d octets after the last payload", len(s))
	}
	return payloads, nil
}

func parsePayload(t PayloadType, critical bool, next PayloadType, s cryptobyte.String) (Payload, error) {
	switch t {
	case PayloadSA:
		return parseSA(s)
	case PayloadKE:
		return parseKE(s)
	case PayloadIDi, PayloadIDr:
		return parseID(s, t == PayloadIDr)
	case PayloadCERT:
		return parseCert(s)
	case PayloadCERTREQ:
		return parseCertReq(s)
	case PayloadAUTH:
		return parseAuth(s)
	case PayloadNonce:
		return parseNonce(s)
	case PayloadNotify:
		return parseNotify(s)
	case PayloadDelete:
		return parseDelete(s)
	case PayloadVendorID:
		return parseVendorID(s)
	case PayloadTSi, PayloadTSr:
		return parseTS(s, t == PayloadTSr)
	case PayloadSK:
		return &SK{FirstPayload: next, Data: rest(&s)}, nil
	case PayloadCP:
		return parseCP(s)
	case PayloadEAP:
		return parseEAP(s)
	case PayloadSKF:
		return parseSKF(s, next)
	}
	// RFC 7296 §2.5: an unknown payload is skipped unless its critical bit
	// asks to reject the message with UNSUPPORTED_CRITICAL_PAYLOAD, whose
	// data is the one-octet payload type.
	if critical {
		return nil, &NotifyError{Type: UnsupportedCriticalPayload, Data: []byte{uint8(t)},
			Reason: fmt.Sprintf("critical payload of unknown type %d", uint8(t))}
	}
	return &Unknown{Type: t, Data: rest(&s)}, nil
}

// Marshal encodes m, computing the Next Payload chain and every length.
// Header.NextPayload and Header.Length are ignored; a zero Version is
// written as Version. An SK or SKF payload must be the last.
func (m *Message) Marshal() ([]byte, error) {
	first, body, err := marshalChain(m.Payloads, true)
	if err != nil {
		return nil, err
	}
	if len(body) > 0xffffffff-HeaderLen {
		return nil, fmt.Errorf("ike/message: %d octets of payloads do not fit the Length field", len(body))
	}
	version := m.Version
	if version == 0 {
		version = Version
	}
	var b cryptobyte.Builder
	b.AddUint64(m.SPIi)
	b.AddUint64(m.SPIr)
	b.AddUint8(uint8(first))
	b.AddUint8(version)
	b.AddUint8(uint8(m.Exchange))
	b.AddUint8(uint8(m.Flags))
	b.AddUint32(m.MessageID)
	b.AddUint32(uint32(HeaderLen + len(body)))
	b.AddBytes(body)
	return b.Bytes()
}

// MarshalPayloads encodes a chain of payloads to be encrypted into an SK
// payload, returning the type of the first for the SK payload's Next
// Payload field. The caller appends padding and Pad Length.
func MarshalPayloads(payloads []Payload) (first PayloadType, b []byte, err error) {
	return marshalChain(payloads, false)
}

func marshalChain(payloads []Payload, outer bool) (PayloadType, []byte, error) {
	var b cryptobyte.Builder
	for i, p := range payloads {
		if p == nil {
			return 0, nil, fmt.Errorf("ike/message: payload %d is nil", i+1)
		}
		if err := p.validate(); err != nil {
			return 0, nil, within(err, "payload %d (%v)", i+1, p.PayloadType())
		}
		next := PayloadNone
		if i+1 < len(payloads) && payloads[i+1] != nil {
			next = payloads[i+1].PayloadType()
		}
		var flags uint8
		switch p := p.(type) {
		case *SK:
			next = p.FirstPayload
		case *SKF:
			next = p.FirstPayload
		case *Unknown:
			if p.Critical {
				flags = criticalBit
			}
		}
		if t := p.PayloadType(); t == PayloadSK || t == PayloadSKF {
			if !outer {
				return 0, nil, syntaxError("payload %d: %v inside an encrypted payload", i+1, t)
			}
			if i != len(payloads)-1 {
				return 0, nil, syntaxError("payload %d: %v is not the last payload", i+1, t)
			}
		}
		addSub(&b, fmt.Sprintf("payload %d (%v)", i+1, p.PayloadType()), uint8(next), flags, p.marshal)
	}
	out, err := b.Bytes()
	if err != nil {
		return 0, nil, err
	}
	if len(payloads) == 0 {
		return PayloadNone, nil, nil
	}
	return payloads[0].PayloadType(), out, nil
}

// Summary lists payloads the way logs show them: "SA KE No N(COOKIE) V".
func Summary(payloads []Payload) string {
	s := make([]string, len(payloads))
	for i, p := range payloads {
		switch p := p.(type) {
		case *Notify:
			s[i] = fmt.Sprintf("N(%v)", p.Type)
		case *SKF:
			s[i] = fmt.Sprintf("SKF(%d/%d)", p.FragmentNumber, p.TotalFragments)
		default:
			s[i] = p.PayloadType().String()
		}
	}
	return strings.Join(s, " ")
}

// String summarizes m as its header and payloads.
func (m *Message) String() string {
	return fmt.Sprintf("%v [ %s ]", &m.Header, Summary(m.Payloads))
}
