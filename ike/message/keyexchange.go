package message

import "golang.org/x/crypto/cryptobyte"

// KE is the Key Exchange payload (RFC 7296 §3.4): a public value of a
// Diffie-Hellman group or key exchange method. Its length is checked
// against the group by ike/crypto, which knows the groups.
type KE struct {
	Group GroupID
	Data  []byte
}

// PayloadType returns PayloadKE.
func (p *KE) PayloadType() PayloadType { return PayloadKE }

func parseKE(body cryptobyte.String) (*KE, error) {
	s := body
	var p KE
	var g uint16
	// The two RESERVED octets are ignored on receipt (RFC 7296 §3.2).
	if !s.ReadUint16(&g) || !s.Skip(2) {
		return nil, syntaxError("truncated (%d octets)", len(body))
	}
	p.Group, p.Data = GroupID(g), rest(&s)
	return &p, p.validate()
}

func (p *KE) validate() error {
	if len(p.Data) == 0 {
		return syntaxError("no Key Exchange Data")
	}
	return nil
}

func (p *KE) marshal(b *cryptobyte.Builder) {
	b.AddUint16(uint16(p.Group))
	b.AddUint16(0)
	b.AddBytes(p.Data)
}

// Nonce limits (RFC 7296 §3.9).
const (
	MinNonceLen = 16
	MaxNonceLen = 256
)

// Nonce is the Nonce payload, Ni or Nr (RFC 7296 §3.9).
type Nonce struct {
	Data []byte
}

// PayloadType returns PayloadNonce.
func (p *Nonce) PayloadType() PayloadType { return PayloadNonce }

func parseNonce(s cryptobyte.String) (*Nonce, error) {
	p := Nonce{Data: rest(&s)}
	return &p, p.validate()
}

func (p *Nonce) validate() error {
	// RFC 7296 §3.9: "between 16 and 256 octets, inclusive".
	if len(p.Data) < MinNonceLen || len(p.Data) > MaxNonceLen {
		return syntaxError("nonce of %d octets, want %d to %d", len(p.Data), MinNonceLen, MaxNonceLen)
	}
	return nil
}

func (p *Nonce) marshal(b *cryptobyte.Builder) { b.AddBytes(p.Data) }
