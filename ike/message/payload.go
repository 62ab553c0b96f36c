package message

import (
	"fmt"

	"golang.org/x/crypto/cryptobyte"
)

// PayloadType is an IKEv2 payload type, the value of a Next Payload field
// (RFC 7296 §3.2, IANA "IKEv2 Payload Types").
type PayloadType uint8

// Payload types. This package parses every type from SA to EAP and SKF;
// the others are known by name only and parsed as Unknown.
const (
	PayloadNone     PayloadType = 0  // No Next Payload
	PayloadSA       PayloadType = 33 // Security Association
	PayloadKE       PayloadType = 34 // Key Exchange
	PayloadIDi      PayloadType = 35 // Identification - Initiator
	PayloadIDr      PayloadType = 36 // Identification - Responder
	PayloadCERT     PayloadType = 37 // Certificate
	PayloadCERTREQ  PayloadType = 38 // Certificate Request
	PayloadAUTH     PayloadType = 39 // Authentication
	PayloadNonce    PayloadType = 40 // Nonce (Ni, Nr)
	PayloadNotify   PayloadType = 41 // Notify (N)
	PayloadDelete   PayloadType = 42 // Delete (D)
	PayloadVendorID PayloadType = 43 // Vendor ID (V)
	PayloadTSi      PayloadType = 44 // Traffic Selector - Initiator
	PayloadTSr      PayloadType = 45 // Traffic Selector - Responder
	PayloadSK       PayloadType = 46 // Encrypted and Authenticated
	PayloadCP       PayloadType = 47 // Configuration
	PayloadEAP      PayloadType = 48 // Extensible Authentication
	PayloadGSPM     PayloadType = 49 // Generic Secure Password Methods (RFC 6467)
	PayloadIDg      PayloadType = 50 // Group Identification (G-IKEv2)
	PayloadGSA      PayloadType = 51 // Group Security Association (G-IKEv2)
	PayloadKD       PayloadType = 52 // Key Download (G-IKEv2)
	PayloadSKF      PayloadType = 53 // Encrypted and Authenticated Fragment (RFC 7383)
	PayloadPS       PayloadType = 54 // Puzzle Solution (RFC 8019)
)

var payloadNames = map[PayloadType][2]string{
	PayloadNone:     {"NONE", "NONE"},
	PayloadSA:       {"SA", "Security Association"},
	PayloadKE:       {"KE", "Key Exchange"},
	PayloadIDi:      {"IDi", "Identification - Initiator"},
	PayloadIDr:      {"IDr", "Identification - Responder"},
	PayloadCERT:     {"CERT", "Certificate"},
	PayloadCERTREQ:  {"CERTREQ", "Certificate Request"},
	PayloadAUTH:     {"AUTH", "Authentication"},
	PayloadNonce:    {"No", "Nonce"},
	PayloadNotify:   {"N", "Notify"},
	PayloadDelete:   {"D", "Delete"},
	PayloadVendorID: {"V", "Vendor ID"},
	PayloadTSi:      {"TSi", "Traffic Selector - Initiator"},
	PayloadTSr:      {"TSr", "Traffic Selector - Responder"},
	PayloadSK:       {"SK", "Encrypted and Authenticated"},
	PayloadCP:       {"CP", "Configuration"},
	PayloadEAP:      {"EAP", "Extensible Authentication"},
	PayloadGSPM:     {"GSPM", "Generic Secure Password Methods"},
	PayloadIDg:      {"IDg", "Group Identification"},
	PayloadGSA:      {"GSA", "Group Security Association"},
	PayloadKD:       {"KD", "Key Download"},
	PayloadSKF:      {"SKF", "Encrypted and Authenticated Fragment"},
	PayloadPS:       {"PS", "Puzzle Solution"},
}

// String returns the RFC 7296 notation of t, such as "SA", "IDi" or "N".
func (t PayloadType) String() string {
	if n, ok := payloadNames[t]; ok {
		return n[0]
	}
	return fmt.Sprintf("PAYLOAD_%d", uint8(t))
}

// Description returns the IANA name of t, such as "Security Association".
func (t PayloadType) Description() string {
	if n, ok := payloadNames[t]; ok {
		return n[1]
	}
	return fmt.Sprintf("Unknown payload type %d", uint8(t))
}

// Payload is one IKEv2 payload: *SA, *KE, *ID, *Cert, *CertReq, *Auth,
// *Nonce, *Notify, *Delete, *VendorID, *TS, *SK, *CP, *EAP, *SKF or
// *Unknown.
type Payload interface {
	// PayloadType is the type that names this payload in the Next Payload
	// field before it.
	PayloadType() PayloadType
	// validate checks what Parse checks and Marshal relies on.
	validate() error
	// marshal appends the payload body, after the generic header.
	marshal(b *cryptobyte.Builder)
}

// criticalBit is the C bit of the generic payload header (RFC 7296 §3.2).
const criticalBit = 0x80

// Unknown is a payload of a type this package does not parse. RFC 7296
// §2.5 lets a receiver skip it unless its critical bit is set; Parse
// returns UNSUPPORTED_CRITICAL_PAYLOAD for critical ones, so a parsed
// Unknown always has Critical false.
type Unknown struct {
	Type     PayloadType
	Critical bool
	Data     []byte // the payload body, after the generic header
}

// PayloadType returns the type the payload arrived as.
func (p *Unknown) PayloadType() PayloadType { return p.Type }

func (p *Unknown) validate() error {
	if p.Type == PayloadNone {
		return syntaxError("unknown payload of type 0, which ends the payload chain")
	}
	if parses(p.Type) {
		return syntaxError("unknown payload of type %v, which this package parses", p.Type)
	}
	return nil
}

func (p *Unknown) marshal(b *cryptobyte.Builder) { b.AddBytes(p.Data) }

// parses reports whether Parse decodes payloads of type t into their own
// struct rather than Unknown.
func parses(t PayloadType) bool {
	return (t >= PayloadSA && t <= PayloadEAP) || t == PayloadSKF
}

// Find returns the first payload of Go type T in payloads, for example
// Find[*KE](m.Payloads). ID and TS payloads come in two types each: look
// them up with FindID and FindTS.
func Find[T Payload](payloads []Payload) (T, bool) {
	for _, p := range payloads {
		if t, ok := p.(T); ok {
			return t, true
		}
	}
	var zero T
	return zero, false
}

// FindAll returns every payload of Go type T in payloads, in order.
func FindAll[T Payload](payloads []Payload) []T {
	var all []T
	for _, p := range payloads {
		if t, ok := p.(T); ok {
			all = append(all, t)
		}
	}
	return all
}

// FindType returns the first payload whose PayloadType is t, which tells
// IDi from IDr and TSi from TSr.
func FindType(payloads []Payload, t PayloadType) (Payload, bool) {
	for _, p := range payloads {
		if p.PayloadType() == t {
			return p, true
		}
	}
	return nil, false
}

// FindID returns the IDi payload (responder false) or the IDr payload
// (responder true). Find[*ID] would return whichever comes first: an IDr
// taken for the IDi lets a peer authenticate as the identity it names for
// the responder (issue 9), so ID payloads are looked up by type only.
func FindID(payloads []Payload, responder bool) (*ID, bool) {
	t := PayloadIDi
	if responder {
		t = PayloadIDr
	}
	if p, ok := FindType(payloads, t); ok {
		id, ok := p.(*ID)
		return id, ok
	}
	return nil, false
}

// FindTS returns the TSi payload (responder false) or the TSr payload
// (responder true), for the same reason as FindID.
func FindTS(payloads []Payload, responder bool) (*TS, bool) {
	t := PayloadTSi
	if responder {
		t = PayloadTSr
	}
	if p, ok := FindType(payloads, t); ok {
		ts, ok := p.(*TS)
		return ts, ok
	}
	return nil, false
}

// FindNotify returns the first Notify payload of type t.
func FindNotify(payloads []Payload, t NotifyType) (*Notify, bool) {
	for _, p := range payloads {
		if n, ok := p.(*Notify); ok && n.Type == t {
			return n, true
		}
	}
	return nil, false
}

// readSub reads a structure that starts with two one-octet fields and a
// two-octet length counting the whole structure, header included: the
// generic payload header (RFC 7296 §3.2), the proposal and transform
// substructures (§3.3.1, §3.3.2) and traffic selectors (§3.13.1).
func readSub(s *cryptobyte.String, what string, b0, b1 *uint8, body *cryptobyte.String) error {
	var n uint16
	if !s.ReadUint8(b0) || !s.ReadUint8(b1) || !s.ReadUint16(&n) {
		return syntaxError("%s: truncated header (%d octets left)", what, len(*s))
	}
	if n < 4 {
		return syntaxError("%s: length %d shorter than its 4-octet header", what, n)
	}
	var raw []byte
	if !s.ReadBytes(&raw, int(n)-4) {
		return syntaxError("%s: length %d but only %d octets left", what, n, len(*s)+4)
	}
	*body = raw
	return nil
}

// addSub appends a structure of the shape readSub reads.
func addSub(b *cryptobyte.Builder, what string, b0, b1 uint8, body func(*cryptobyte.Builder)) {
	var c cryptobyte.Builder
	body(&c)
	content, err := c.Bytes()
	if err != nil {
		b.SetError(err)
		return
	}
	if len(content) > 0xffff-4 {
		b.SetError(fmt.Errorf("ike/message: %s: %d octets do not fit a 16-bit length", what, len(content)+4))
		return
	}
	b.AddUint8(b0)
	b.AddUint8(b1)
	b.AddUint16(uint16(4 + len(content)))
	b.AddBytes(content)
}

// rest returns what is left of s as a byte slice, nil when empty, and
// empties s.
func rest(s *cryptobyte.String) []byte {
	if s.Empty() {
		return nil
	}
	b := []byte(*s)
	*s = nil
	return b
}

// nonEmpty returns b, or nil when b is empty, so that parsed and built
// payloads compare equal.
func nonEmpty(b []byte) []byte {
	if len(b) == 0 {
		return nil
	}
	return b
}
