package message

import (
	"fmt"
	"strings"

	"golang.org/x/crypto/cryptobyte"
)

// SA is the Security Association payload (RFC 7296 §3.3): proposals in
// order of preference, each an AND of transform types and an OR of the
// transforms of one type.
type SA struct {
	Proposals []Proposal
}

// Proposal is a proposal substructure (RFC 7296 §3.3.1).
type Proposal struct {
	// Number is 1 for the first proposal of an offer and one more for each
	// next; an accepted proposal keeps the number it was offered with.
	Number     uint8
	Protocol   ProtocolID
	SPI        []byte // empty in IKE_SA_INIT, 8 octets for IKE, 4 for AH and ESP
	Transforms []Transform
}

// Transform is a transform substructure (RFC 7296 §3.3.2). ID is read
// according to Type: an EncrID, PRFID, IntegID, GroupID or ESNID.
type Transform struct {
	Type       TransformType
	ID         uint16
	Attributes []Attribute
}

// Attribute is a transform attribute (RFC 7296 §3.3.5).
type Attribute struct {
	Type AttributeType
	// TLV selects the variable-length format (AF=0) with Data; otherwise
	// the attribute is a two-octet Value (AF=1).
	TLV   bool
	Value uint16
	Data  []byte
}

// AttributeType is a transform attribute type (IANA "IKEv2 Transform
// Attribute Types").
type AttributeType uint16

// AttributeKeyLength is the key length in bits of variable-key-length
// ciphers, always in the TV format (RFC 7296 §3.3.5).
const AttributeKeyLength AttributeType = 14

// String returns the IANA name of t, such as "Key Length".
func (t AttributeType) String() string {
	if t == AttributeKeyLength {
		return "Key Length"
	}
	return fmt.Sprintf("attribute %d", uint16(t))
}

// ProtocolID is the IPsec protocol of a proposal, Notify or Delete
// (RFC 7296 §3.3.1, IANA "IKEv2 Security Protocol Identifiers").
type ProtocolID uint8

// Protocol IDs.
const (
	ProtocolNone ProtocolID = 0
	ProtocolIKE  ProtocolID = 1
	ProtocolAH   ProtocolID = 2
	ProtocolESP  ProtocolID = 3
)

// String returns the RFC 7296 name of p, such as "ESP".
func (p ProtocolID) String() string {
	switch p {
	case ProtocolNone:
		return "NONE"
	case ProtocolIKE:
		return "IKE"
	case ProtocolAH:
		return "AH"
	case ProtocolESP:
		return "ESP"
	}
	return fmt.Sprintf("PROTO_%d", uint8(p))
}

// TransformType is an IKEv2 transform type (RFC 7296 §3.3.2, RFC 9370).
type TransformType uint8

// Transform types.
const (
	TransformENCR  TransformType = 1 // Encryption Algorithm
	TransformPRF   TransformType = 2 // Pseudorandom Function
	TransformINTEG TransformType = 3 // Integrity Algorithm
	TransformDH    TransformType = 4 // Diffie-Hellman group; Key Exchange Method since RFC 9370
	TransformESN   TransformType = 5 // Extended Sequence Numbers
	TransformKE                  = TransformDH
)

// String returns the RFC 7296 abbreviation of t, such as "ENCR" or "D-H".
func (t TransformType) String() string {
	switch t {
	case TransformENCR:
		return "ENCR"
	case TransformPRF:
		return "PRF"
	case TransformINTEG:
		return "INTEG"
	case TransformDH:
		return "D-H"
	case TransformESN:
		return "ESN"
	}
	if t >= 6 && t <= 12 {
		return fmt.Sprintf("ADDKE%d", t-5) // RFC 9370
	}
	return fmt.Sprintf("TRANSFORM_TYPE_%d", uint8(t))
}

// EncrID is a Transform Type 1 (encryption algorithm) ID. The values are
// package suite's for ESP: IANA keeps one table for IKE and ESP.
type EncrID uint16

// Encryption transform IDs.
const (
	EncrDES              EncrID = 2  // RFC 2405
	Encr3DES             EncrID = 3  // RFC 2451
	EncrNull             EncrID = 11 // RFC 2410; ESP only
	EncrAESCBC           EncrID = 12 // RFC 3602
	EncrAESCTR           EncrID = 13 // RFC 3686
	EncrAESCCM8          EncrID = 14 // RFC 4309
	EncrAESCCM12         EncrID = 15 // RFC 4309
	EncrAESCCM16         EncrID = 16 // RFC 4309
	EncrAESGCM8          EncrID = 18 // RFC 4106, RFC 5282
	EncrAESGCM12         EncrID = 19 // RFC 4106, RFC 5282
	EncrAESGCM16         EncrID = 20 // RFC 4106, RFC 5282
	EncrNullAuthAESGMAC  EncrID = 21 // RFC 4543; ESP only
	EncrCamelliaCBC      EncrID = 23 // RFC 5529
	EncrChaCha20Poly1305 EncrID = 28 // RFC 7634
)

var encrNames = map[EncrID]string{
	1: "ENCR_DES_IV64", EncrDES: "ENCR_DES", Encr3DES: "ENCR_3DES", 4: "ENCR_RC5",
	5: "ENCR_IDEA", 6: "ENCR_CAST", 7: "ENCR_BLOWFISH", 8: "ENCR_3IDEA", 9: "ENCR_DES_IV32",
	EncrNull: "ENCR_NULL", EncrAESCBC: "ENCR_AES_CBC", EncrAESCTR: "ENCR_AES_CTR",
	EncrAESCCM8: "ENCR_AES_CCM_8", EncrAESCCM12: "ENCR_AES_CCM_12", EncrAESCCM16: "ENCR_AES_CCM_16",
	EncrAESGCM8: "ENCR_AES_GCM_8", EncrAESGCM12: "ENCR_AES_GCM_12", EncrAESGCM16: "ENCR_AES_GCM_16",
	EncrNullAuthAESGMAC: "ENCR_NULL_AUTH_AES_GMAC", EncrCamelliaCBC: "ENCR_CAMELLIA_CBC",
	24: "ENCR_CAMELLIA_CTR", 25: "ENCR_CAMELLIA_CCM_8", 26: "ENCR_CAMELLIA_CCM_12",
	27: "ENCR_CAMELLIA_CCM_16", EncrChaCha20Poly1305: "ENCR_CHACHA20_POLY1305",
}

// String returns the IANA name of id, such as "ENCR_AES_GCM_16".
func (id EncrID) String() string { return name(encrNames, id, "ENCR") }

// PRFID is a Transform Type 2 (pseudorandom function) ID.
type PRFID uint16

// Pseudorandom function transform IDs.
const (
	PRFHMACMD5     PRFID = 1 // RFC 2104
	PRFHMACSHA1    PRFID = 2 // RFC 2104
	PRFAES128XCBC  PRFID = 4 // RFC 4434
	PRFHMACSHA2256 PRFID = 5 // RFC 4868
	PRFHMACSHA2384 PRFID = 6 // RFC 4868
	PRFHMACSHA2512 PRFID = 7 // RFC 4868
	PRFAES128CMAC  PRFID = 8 // RFC 4615
)

var prfNames = map[PRFID]string{
	PRFHMACMD5: "PRF_HMAC_MD5", PRFHMACSHA1: "PRF_HMAC_SHA1", 3: "PRF_HMAC_TIGER",
	PRFAES128XCBC: "PRF_AES128_XCBC", PRFHMACSHA2256: "PRF_HMAC_SHA2_256",
	PRFHMACSHA2384: "PRF_HMAC_SHA2_384", PRFHMACSHA2512: "PRF_HMAC_SHA2_512",
	PRFAES128CMAC: "PRF_AES128_CMAC",
}

// String returns the IANA name of id, such as "PRF_HMAC_SHA2_256".
func (id PRFID) String() string { return name(prfNames, id, "PRF") }

// IntegID is a Transform Type 3 (integrity algorithm) ID, the values of
// package suite.
type IntegID uint16

// Integrity transform IDs.
const (
	IntegNone          IntegID = 0
	IntegHMACMD596     IntegID = 1  // RFC 2403
	IntegHMACSHA196    IntegID = 2  // RFC 2404
	IntegAESXCBC96     IntegID = 5  // RFC 3566
	IntegAESCMAC96     IntegID = 8  // RFC 4494
	IntegAES128GMAC    IntegID = 9  // RFC 4543; AH only
	IntegAES192GMAC    IntegID = 10 // RFC 4543; AH only
	IntegAES256GMAC    IntegID = 11 // RFC 4543; AH only
	IntegHMACSHA256128 IntegID = 12 // RFC 4868
	IntegHMACSHA384192 IntegID = 13 // RFC 4868
	IntegHMACSHA512256 IntegID = 14 // RFC 4868
)

var integNames = map[IntegID]string{
	IntegNone: "NONE", IntegHMACMD596: "AUTH_HMAC_MD5_96", IntegHMACSHA196: "AUTH_HMAC_SHA1_96",
	3: "AUTH_DES_MAC", 4: "AUTH_KPDK_MD5", IntegAESXCBC96: "AUTH_AES_XCBC_96",
	6: "AUTH_HMAC_MD5_128", 7: "AUTH_HMAC_SHA1_160", IntegAESCMAC96: "AUTH_AES_CMAC_96",
	IntegAES128GMAC: "AUTH_AES_128_GMAC", IntegAES192GMAC: "AUTH_AES_192_GMAC",
	IntegAES256GMAC: "AUTH_AES_256_GMAC", IntegHMACSHA256128: "AUTH_HMAC_SHA2_256_128",
	IntegHMACSHA384192: "AUTH_HMAC_SHA2_384_192", IntegHMACSHA512256: "AUTH_HMAC_SHA2_512_256",
}

// String returns the IANA name of id, such as "AUTH_HMAC_SHA2_256_128".
func (id IntegID) String() string { return name(integNames, id, "AUTH") }

// GroupID is a Transform Type 4 ID: a Diffie-Hellman group, or key
// exchange method since RFC 9370. KE payloads carry one too.
type GroupID uint16

// Key exchange method (Diffie-Hellman group) IDs.
const (
	GroupNone       GroupID = 0
	MODP768         GroupID = 1  // RFC 7296 App. B
	MODP1024        GroupID = 2  // RFC 7296 App. B
	MODP1536        GroupID = 5  // RFC 3526
	MODP2048        GroupID = 14 // RFC 3526
	MODP3072        GroupID = 15 // RFC 3526
	MODP4096        GroupID = 16 // RFC 3526
	MODP6144        GroupID = 17 // RFC 3526
	MODP8192        GroupID = 18 // RFC 3526
	ECP256          GroupID = 19 // RFC 5903
	ECP384          GroupID = 20 // RFC 5903
	ECP521          GroupID = 21 // RFC 5903
	ECP192          GroupID = 25 // RFC 5114
	ECP224          GroupID = 26 // RFC 5114
	BrainpoolP224r1 GroupID = 27 // RFC 6954
	BrainpoolP256r1 GroupID = 28 // RFC 6954
	BrainpoolP384r1 GroupID = 29 // RFC 6954
	BrainpoolP512r1 GroupID = 30 // RFC 6954
	Curve25519      GroupID = 31 // RFC 8031
	Curve448        GroupID = 32 // RFC 8031
	MLKEM512        GroupID = 35 // draft-ietf-ipsecme-ikev2-mlkem
	MLKEM768        GroupID = 36
	MLKEM1024       GroupID = 37
)

var groupNames = map[GroupID]string{
	GroupNone: "NONE", MODP768: "MODP_768", MODP1024: "MODP_1024", MODP1536: "MODP_1536",
	MODP2048: "MODP_2048", MODP3072: "MODP_3072", MODP4096: "MODP_4096", MODP6144: "MODP_6144",
	MODP8192: "MODP_8192", ECP256: "ECP_256", ECP384: "ECP_384", ECP521: "ECP_521",
	22: "MODP_1024_160", 23: "MODP_2048_224", 24: "MODP_2048_256",
	ECP192: "ECP_192", ECP224: "ECP_224", BrainpoolP224r1: "ECP_224_BP", BrainpoolP256r1: "ECP_256_BP",
	BrainpoolP384r1: "ECP_384_BP", BrainpoolP512r1: "ECP_512_BP", Curve25519: "CURVE_25519",
	Curve448: "CURVE_448", 33: "GOST3410_2012_256", 34: "GOST3410_2012_512",
	MLKEM512: "ML_KEM_512", MLKEM768: "ML_KEM_768", MLKEM1024: "ML_KEM_1024",
}

// String returns a short name of id, such as "MODP_2048" or "ECP_256".
func (id GroupID) String() string { return name(groupNames, id, "GROUP") }

// ESNID is a Transform Type 5 (extended sequence numbers) ID.
type ESNID uint16

// Extended sequence number transform IDs.
const (
	NoESN ESNID = 0 // No Extended Sequence Numbers
	ESN   ESNID = 1 // Extended Sequence Numbers
)

// String returns "ESN" or "NO_ESN".
func (id ESNID) String() string {
	switch id {
	case NoESN:
		return "NO_ESN"
	case ESN:
		return "ESN"
	}
	return fmt.Sprintf("ESN_%d", uint16(id))
}

func name[K ~uint16](names map[K]string, id K, prefix string) string {
	if n, ok := names[id]; ok {
		return n
	}
	return fmt.Sprintf("%s_%d", prefix, uint16(id))
}

// EncrTransform returns an encryption transform; keyBits, if not zero, is
// its Key Length attribute, which AES-CBC, AES-CTR and the AEAD modes
// require (RFC 7296 §3.3.5, RFC 5282 §7).
func EncrTransform(id EncrID, keyBits uint16) Transform {
	t := Transform{Type: TransformENCR, ID: uint16(id)}
	if keyBits != 0 {
		t.Attributes = []Attribute{{Type: AttributeKeyLength, Value: keyBits}}
	}
	return t
}

// PRFTransform returns a pseudorandom function transform.
func PRFTransform(id PRFID) Transform { return Transform{Type: TransformPRF, ID: uint16(id)} }

// IntegTransform returns an integrity algorithm transform.
func IntegTransform(id IntegID) Transform { return Transform{Type: TransformINTEG, ID: uint16(id)} }

// DHTransform returns a Diffie-Hellman group (key exchange method)
// transform.
func DHTransform(id GroupID) Transform { return Transform{Type: TransformDH, ID: uint16(id)} }

// ESNTransform returns an extended sequence numbers transform.
func ESNTransform(id ESNID) Transform { return Transform{Type: TransformESN, ID: uint16(id)} }

// KeyLength returns the Key Length attribute in bits.
func (t Transform) KeyLength() (uint16, bool) {
	for _, a := range t.Attributes {
		if a.Type == AttributeKeyLength && !a.TLV {
			return a.Value, true
		}
	}
	return 0, false
}

// IDString names t.ID in the table of t.Type.
func (t Transform) IDString() string {
	switch t.Type {
	case TransformENCR:
		return EncrID(t.ID).String()
	case TransformPRF:
		return PRFID(t.ID).String()
	case TransformINTEG:
		return IntegID(t.ID).String()
	case TransformDH:
		return GroupID(t.ID).String()
	case TransformESN:
		return ESNID(t.ID).String()
	}
	return fmt.Sprintf("%d", t.ID)
}

// String returns t as "ENCR_AES_CBC keylen=128".
func (t Transform) String() string {
	var b strings.Builder
	b.WriteString(t.IDString())
	for _, a := range t.Attributes {
		switch {
		case a.Type == AttributeKeyLength && !a.TLV:
			fmt.Fprintf(&b, " keylen=%d", a.Value)
		case a.TLV:
			fmt.Fprintf(&b, " %v=%x", a.Type, a.Data)
		default:
			fmt.Fprintf(&b, " %v=%d", a.Type, a.Value)
		}
	}
	return b.String()
}

// String returns p as "#1 IKE: ENCR_AES_CBC keylen=128, PRF_HMAC_SHA1, ...".
func (p Proposal) String() string {
	var b strings.Builder
	fmt.Fprintf(&b, "#%d %v", p.Number, p.Protocol)
	if len(p.SPI) > 0 {
		fmt.Fprintf(&b, " SPI %x", p.SPI)
	}
	for i, t := range p.Transforms {
		if i == 0 {
			b.WriteString(": ")
		} else {
			b.WriteString(", ")
		}
		b.WriteString(t.String())
	}
	return b.String()
}

// PayloadType returns PayloadSA.
func (p *SA) PayloadType() PayloadType { return PayloadSA }

// Last Substruc values of proposals and transforms (RFC 7296 §3.3.1,
// §3.3.2): 0 for the last, 2 or 3 (IKEv1's payload types) for more.
const (
	lastSubstruc  = 0
	moreProposals = 2
	moreTrans     = 3
)

func parseSA(s cryptobyte.String) (*SA, error) {
	var p SA
	more := true
	for !s.Empty() {
		n := len(p.Proposals) + 1
		if !more {
			return nil, syntaxError("proposal %d follows one marked last", n)
		}
		var last, reserved uint8
		var body cryptobyte.String
		if err := readSub(&s, fmt.Sprintf("proposal %d", n), &last, &reserved, &body); err != nil {
			return nil, err
		}
		switch last {
		case lastSubstruc:
			more = false
		case moreProposals:
		default:
			return nil, syntaxError("proposal %d: Last Substruc %d, want 0 or 2", n, last)
		}
		prop, err := parseProposal(body)
		if err != nil {
			return nil, within(err, "proposal %d", n)
		}
		p.Proposals = append(p.Proposals, prop)
	}
	if more {
		if len(p.Proposals) == 0 {
			return nil, syntaxError("no proposal")
		}
		return nil, syntaxError("last proposal (%d) marked as followed by more", len(p.Proposals))
	}
	return &p, p.validate()
}

func parseProposal(body cryptobyte.String) (Proposal, error) {
	s := body
	var p Proposal
	var proto, spiSize, count uint8
	if !s.ReadUint8(&p.Number) || !s.ReadUint8(&proto) || !s.ReadUint8(&spiSize) || !s.ReadUint8(&count) {
		return p, syntaxError("truncated (%d octets)", len(body))
	}
	p.Protocol = ProtocolID(proto)
	if !s.ReadBytes(&p.SPI, int(spiSize)) {
		return p, syntaxError("SPI size %d but %d octets left", spiSize, len(s))
	}
	p.SPI = nonEmpty(p.SPI)
	more := true
	for !s.Empty() {
		n := len(p.Transforms) + 1
		if !more {
			return p, syntaxError("transform %d follows one marked last", n)
		}
		var last, reserved uint8
		var tb cryptobyte.String
		if err := readSub(&s, fmt.Sprintf("transform %d", n), &last, &reserved, &tb); err != nil {
			return p, err
		}
		switch last {
		case lastSubstruc:
			more = false
		case moreTrans:
		default:
			return p, syntaxError("transform %d: Last Substruc %d, want 0 or 3", n, last)
		}
		t, err := parseTransform(tb)
		if err != nil {
			return p, within(err, "transform %d", n)
		}
		p.Transforms = append(p.Transforms, t)
	}
	if more && len(p.Transforms) > 0 {
		return p, syntaxError("last transform (%d) marked as followed by more", len(p.Transforms))
	}
	// RFC 7296 §3.3: the payload length must be consistent with the counts.
	if int(count) != len(p.Transforms) {
		return p, syntaxError("Num Transforms %d but %d transforms", count, len(p.Transforms))
	}
	return p, nil
}

func parseTransform(body cryptobyte.String) (Transform, error) {
	s := body
	var t Transform
	var typ, reserved uint8
	if !s.ReadUint8(&typ) || !s.ReadUint8(&reserved) || !s.ReadUint16(&t.ID) {
		return t, syntaxError("truncated (%d octets)", len(body))
	}
	t.Type = TransformType(typ)
	for !s.Empty() {
		var a Attribute
		var typ uint16
		if !s.ReadUint16(&typ) {
			return t, syntaxError("attribute %d: truncated", len(t.Attributes)+1)
		}
		a.Type = AttributeType(typ &^ 0x8000)
		a.TLV = typ&0x8000 == 0
		if a.TLV {
			var data cryptobyte.String
			if !s.ReadUint16LengthPrefixed(&data) {
				return t, syntaxError("attribute %d (%v): TLV value truncated", len(t.Attributes)+1, a.Type)
			}
			a.Data = nonEmpty(data)
		} else if !s.ReadUint16(&a.Value) {
			return t, syntaxError("attribute %d (%v): TV value truncated", len(t.Attributes)+1, a.Type)
		}
		t.Attributes = append(t.Attributes, a)
	}
	return t, nil
}

func (p *SA) validate() error {
	if len(p.Proposals) == 0 {
		return syntaxError("no proposal")
	}
	if len(p.Proposals) > 255 {
		return syntaxError("%d proposals, at most 255 can be numbered", len(p.Proposals))
	}
	for i, prop := range p.Proposals {
		// RFC 7296 §3.3.1: each proposal number is one more than the one
		// before. The first is 1 in an offer (Check verifies that, as only
		// it knows requests from responses) and the offered number in an
		// answer.
		if prop.Number == 0 {
			return syntaxError("proposal %d: number 0", i+1)
		}
		if i > 0 && prop.Number != p.Proposals[i-1].Number+1 {
			return syntaxError("proposal %d: number %d after %d", i+1, prop.Number, p.Proposals[i-1].Number)
		}
		if err := prop.validate(); err != nil {
			return within(err, "proposal %d", i+1)
		}
	}
	return nil
}

func (p *Proposal) validate() error {
	switch p.Protocol {
	case ProtocolIKE:
		if len(p.SPI) != 0 && len(p.SPI) != 8 {
			return syntaxError("IKE SPI size %d, want 0 or 8", len(p.SPI))
		}
	case ProtocolAH, ProtocolESP:
		if len(p.SPI) != 4 {
			return syntaxError("%v SPI size %d, want 4", p.Protocol, len(p.SPI))
		}
	default:
		if len(p.SPI) > 255 {
			return syntaxError("SPI size %d", len(p.SPI))
		}
	}
	if len(p.Transforms) == 0 {
		return syntaxError("no transform")
	}
	if len(p.Transforms) > 255 {
		return syntaxError("%d transforms, at most 255", len(p.Transforms))
	}
	for i, t := range p.Transforms {
		if err := t.validate(); err != nil {
			return within(err, "transform %d", i+1)
		}
	}
	return nil
}

func (t *Transform) validate() error {
	for i, a := range t.Attributes {
		if a.Type > 0x7fff {
			return syntaxError("attribute type %d does not fit 15 bits", uint16(a.Type))
		}
		// RFC 7296 §3.3.5: a fixed-length attribute is never in TLV format,
		// and no transform has two attributes of one type.
		if a.Type == AttributeKeyLength && a.TLV {
			return syntaxError("Key Length attribute in TLV format")
		}
		if !a.TLV && len(a.Data) > 0 {
			return syntaxError("TV attribute %v with variable-length data", a.Type)
		}
		if len(a.Data) > 0xffff {
			return syntaxError("attribute %v: %d octets", a.Type, len(a.Data))
		}
		for _, b := range t.Attributes[:i] {
			if b.Type == a.Type {
				return syntaxError("two %v attributes", a.Type)
			}
		}
	}
	return nil
}

func (p *SA) marshal(b *cryptobyte.Builder) {
	for i, prop := range p.Proposals {
		last := uint8(moreProposals)
		if i == len(p.Proposals)-1 {
			last = lastSubstruc
		}
		addSub(b, "proposal", last, 0, func(b *cryptobyte.Builder) {
			b.AddUint8(prop.Number)
			b.AddUint8(uint8(prop.Protocol))
			b.AddUint8(uint8(len(prop.SPI)))
			b.AddUint8(uint8(len(prop.Transforms)))
			b.AddBytes(prop.SPI)
			for j, t := range prop.Transforms {
				last := uint8(moreTrans)
				if j == len(prop.Transforms)-1 {
					last = lastSubstruc
				}
				addSub(b, "transform", last, 0, func(b *cryptobyte.Builder) {
					b.AddUint8(uint8(t.Type))
					b.AddUint8(0)
					b.AddUint16(t.ID)
					for _, a := range t.Attributes {
						if a.TLV {
							b.AddUint16(uint16(a.Type))
							b.AddUint16LengthPrefixed(func(b *cryptobyte.Builder) { b.AddBytes(a.Data) })
						} else {
							b.AddUint16(0x8000 | uint16(a.Type))
							b.AddUint16(a.Value)
						}
					}
				})
			}
		})
	}
}
