package message

import (
	"fmt"
	"net/netip"

	"golang.org/x/crypto/cryptobyte"
)

// IDType is an identification type (RFC 7296 §3.5, IANA "IKEv2
// Identification Payload ID Types").
type IDType uint8

// Identification types.
const (
	IDIPv4Addr   IDType = 1  // ID_IPV4_ADDR: four octets
	IDFQDN       IDType = 2  // ID_FQDN: "example.com"
	IDRFC822Addr IDType = 3  // ID_RFC822_ADDR: "jsmith@example.com"
	IDIPv6Addr   IDType = 5  // ID_IPV6_ADDR: sixteen octets
	IDDERASN1DN  IDType = 9  // ID_DER_ASN1_DN: DER X.500 Distinguished Name
	IDDERASN1GN  IDType = 10 // ID_DER_ASN1_GN: DER X.509 GeneralName
	IDKeyID      IDType = 11 // ID_KEY_ID: opaque octets
	IDFCName     IDType = 12 // ID_FC_NAME, RFC 4595
	IDNull       IDType = 13 // ID_NULL, RFC 7619: no data
)

// String returns the IANA name of t, such as "ID_FQDN".
func (t IDType) String() string {
	switch t {
	case IDIPv4Addr:
		return "ID_IPV4_ADDR"
	case IDFQDN:
		return "ID_FQDN"
	case IDRFC822Addr:
		return "ID_RFC822_ADDR"
	case IDIPv6Addr:
		return "ID_IPV6_ADDR"
	case IDDERASN1DN:
		return "ID_DER_ASN1_DN"
	case IDDERASN1GN:
		return "ID_DER_ASN1_GN"
	case IDKeyID:
		return "ID_KEY_ID"
	case IDFCName:
		return "ID_FC_NAME"
	case IDNull:
		return "ID_NULL"
	}
	return fmt.Sprintf("ID_%d", uint8(t))
}

// ID is an Identification payload, IDi or IDr (RFC 7296 §3.5).
type ID struct {
	Responder bool // IDr rather than IDi
	Type      IDType
	Data      []byte
	// Raw is the payload body as received: ID Type, the three RESERVED
	// octets and the data. AUTH covers exactly these octets (RFC 7296
	// §2.15); nil in a payload built to be sent.
	Raw []byte
}

// PayloadType returns PayloadIDi, or PayloadIDr for a responder identity.
func (p *ID) PayloadType() PayloadType {
	if p.Responder {
		return PayloadIDr
	}
	return PayloadIDi
}

// RestOfIDPayload returns the octets of the payload after its generic
// header, which RFC 7296 §2.15 feeds to the prf for the AUTH payload:
// Raw when the payload was received, the encoding Marshal writes
// otherwise.
func (p *ID) RestOfIDPayload() []byte {
	if p.Raw != nil {
		return p.Raw
	}
	var b cryptobyte.Builder
	p.marshal(&b)
	return b.BytesOrPanic()
}

// Addr returns the address of an ID_IPV4_ADDR or ID_IPV6_ADDR identity.
func (p *ID) Addr() (netip.Addr, bool) {
	switch p.Type {
	case IDIPv4Addr, IDIPv6Addr:
		return netip.AddrFromSlice(p.Data)
	}
	return netip.Addr{}, false
}

// String returns the identity as an operator writes it.
func (p *ID) String() string {
	switch p.Type {
	case IDIPv4Addr, IDIPv6Addr:
		if a, ok := p.Addr(); ok {
			return a.String()
		}
	case IDFQDN, IDRFC822Addr:
		return string(p.Data)
	case IDNull:
		return "%null"
	}
	return fmt.Sprintf("%v:%x", p.Type, p.Data)
}

func parseID(body cryptobyte.String, responder bool) (*ID, error) {
	s := body
	p := ID{Responder: responder, Raw: []byte(s)}
	var t uint8
	if !s.ReadUint8(&t) || !s.Skip(3) {
		return nil, syntaxError("truncated (%d octets)", len(body))
	}
	p.Type = IDType(t)
	p.Data = rest(&s)
	return &p, p.validate()
}

func (p *ID) validate() error {
	switch {
	case p.Type == IDIPv4Addr && len(p.Data) != 4:
		return syntaxError("%v of %d octets", p.Type, len(p.Data))
	case p.Type == IDIPv6Addr && len(p.Data) != 16:
		return syntaxError("%v of %d octets", p.Type, len(p.Data))
	}
	return nil
}

func (p *ID) marshal(b *cryptobyte.Builder) {
	b.AddUint8(uint8(p.Type))
	b.AddBytes([]byte{0, 0, 0})
	b.AddBytes(p.Data)
}

// CertEncoding is a certificate encoding (RFC 7296 §3.6, IANA "IKEv2
// Certificate Encodings").
type CertEncoding uint8

// Certificate encodings.
const (
	CertPKCS7           CertEncoding = 1  // PKCS #7 wrapped X.509 certificate
	CertPGP             CertEncoding = 2  // PGP Certificate
	CertDNSSignedKey    CertEncoding = 3  // DNS Signed Key
	CertX509Signature   CertEncoding = 4  // X.509 Certificate - Signature
	CertKerberos        CertEncoding = 6  // Kerberos Token
	CertCRL             CertEncoding = 7  // Certificate Revocation List
	CertARL             CertEncoding = 8  // Authority Revocation List
	CertSPKI            CertEncoding = 9  // SPKI Certificate
	CertX509Attribute   CertEncoding = 10 // X.509 Certificate - Attribute
	CertRawRSAKey       CertEncoding = 11 // Raw RSA Key (deprecated by RFC 7670)
	CertHashURLX509     CertEncoding = 12 // Hash and URL of X.509 certificate
	CertHashURLX509Bndl CertEncoding = 13 // Hash and URL of X.509 bundle
	CertOCSPContent     CertEncoding = 14 // RFC 4806
	CertRawPublicKey    CertEncoding = 15 // RFC 7670
)

var certNames = map[CertEncoding]string{
	CertPKCS7: "PKCS7_WRAPPED_X509", CertPGP: "PGP", CertDNSSignedKey: "DNS_SIGNED_KEY",
	CertX509Signature: "X509_SIGNATURE", CertKerberos: "KERBEROS_TOKEN", CertCRL: "CRL",
	CertARL: "ARL", CertSPKI: "SPKI", CertX509Attribute: "X509_ATTRIBUTE",
	CertRawRSAKey: "RAW_RSA_KEY", CertHashURLX509: "HASH_AND_URL_X509",
	CertHashURLX509Bndl: "HASH_AND_URL_X509_BUNDLE", CertOCSPContent: "OCSP_CONTENT",
	CertRawPublicKey: "RAW_PUBLIC_KEY",
}

// String returns a short name of e, such as "X509_SIGNATURE".
func (e CertEncoding) String() string {
	if n, ok := certNames[e]; ok {
		return n
	}
	return fmt.Sprintf("CERT_%d", uint8(e))
}

// Cert is the Certificate payload CERT (RFC 7296 §3.6).
type Cert struct {
	Encoding CertEncoding
	Data     []byte
}

// PayloadType returns PayloadCERT.
func (p *Cert) PayloadType() PayloadType { return PayloadCERT }

func parseCert(s cryptobyte.String) (*Cert, error) {
	var p Cert
	var e uint8
	if !s.ReadUint8(&e) {
		return nil, syntaxError("no Cert Encoding")
	}
	p.Encoding, p.Data = CertEncoding(e), rest(&s)
	return &p, p.validate()
}

func (p *Cert) validate() error { return nil }

func (p *Cert) marshal(b *cryptobyte.Builder) {
	b.AddUint8(uint8(p.Encoding))
	b.AddBytes(p.Data)
}

// CertReq is the Certificate Request payload CERTREQ (RFC 7296 §3.7). For
// X.509 encodings CA is a concatenation of 20-octet SHA-1 hashes of trust
// anchors' Subject Public Key Info.
type CertReq struct {
	Encoding CertEncoding
	CA       []byte
}

// PayloadType returns PayloadCERTREQ.
func (p *CertReq) PayloadType() PayloadType { return PayloadCERTREQ }

// CAHashes splits CA into its SHA-1 hashes; ok is false when the length is
// not a multiple of 20.
func (p *CertReq) CAHashes() (hashes [][]byte, ok bool) {
	s := cryptobyte.String(p.CA)
	for !s.Empty() {
		var h []byte
		if !s.ReadBytes(&h, 20) {
			return nil, false
		}
		hashes = append(hashes, h)
	}
	return hashes, true
}

func parseCertReq(s cryptobyte.String) (*CertReq, error) {
	var p CertReq
	var e uint8
	if !s.ReadUint8(&e) {
		return nil, syntaxError("no Cert Encoding")
	}
	p.Encoding, p.CA = CertEncoding(e), rest(&s)
	return &p, p.validate()
}

func (p *CertReq) validate() error { return nil }

func (p *CertReq) marshal(b *cryptobyte.Builder) {
	b.AddUint8(uint8(p.Encoding))
	b.AddBytes(p.CA)
}

// AuthMethod is an authentication method (RFC 7296 §3.8, IANA "IKEv2
// Authentication Method").
type AuthMethod uint8

// Authentication methods.
const (
	AuthRSASig           AuthMethod = 1  // RSA Digital Signature (PKCS #1 v1.5)
	AuthSharedKeyMIC     AuthMethod = 2  // Shared Key Message Integrity Code
	AuthDSSSig           AuthMethod = 3  // DSS Digital Signature
	AuthECDSASHA256P256  AuthMethod = 9  // RFC 4754
	AuthECDSASHA384P384  AuthMethod = 10 // RFC 4754
	AuthECDSASHA512P521  AuthMethod = 11 // RFC 4754
	AuthGSPAM            AuthMethod = 12 // Generic Secure Password Authentication, RFC 6467
	AuthNull             AuthMethod = 13 // NULL Authentication, RFC 7619
	AuthDigitalSignature AuthMethod = 14 // Digital Signature, RFC 7427
)

// String returns the IANA name of m, such as "Shared Key Message Integrity Code".
func (m AuthMethod) String() string {
	switch m {
	case AuthRSASig:
		return "RSA Digital Signature"
	case AuthSharedKeyMIC:
		return "Shared Key Message Integrity Code"
	case AuthDSSSig:
		return "DSS Digital Signature"
	case AuthECDSASHA256P256:
		return "ECDSA with SHA-256 on the P-256 curve"
	case AuthECDSASHA384P384:
		return "ECDSA with SHA-384 on the P-384 curve"
	case AuthECDSASHA512P521:
		return "ECDSA with SHA-512 on the P-521 curve"
	case AuthGSPAM:
		return "Generic Secure Password Authentication Method"
	case AuthNull:
		return "NULL Authentication"
	case AuthDigitalSignature:
		return "Digital Signature"
	}
	return fmt.Sprintf("auth method %d", uint8(m))
}

// Auth is the Authentication payload AUTH (RFC 7296 §3.8).
type Auth struct {
	Method AuthMethod
	Data   []byte
}

// PayloadType returns PayloadAUTH.
func (p *Auth) PayloadType() PayloadType { return PayloadAUTH }

func parseAuth(body cryptobyte.String) (*Auth, error) {
	s := body
	var p Auth
	var m uint8
	if !s.ReadUint8(&m) || !s.Skip(3) {
		return nil, syntaxError("truncated (%d octets)", len(body))
	}
	p.Method, p.Data = AuthMethod(m), rest(&s)
	return &p, p.validate()
}

func (p *Auth) validate() error { return nil }

func (p *Auth) marshal(b *cryptobyte.Builder) {
	b.AddUint8(uint8(p.Method))
	b.AddBytes([]byte{0, 0, 0})
	b.AddBytes(p.Data)
}

// EAP codes (RFC 3748 §4).
const (
	EAPRequest  = 1
	EAPResponse = 2
	EAPSuccess  = 3
	EAPFailure  = 4
)

// EAP is the Extensible Authentication payload (RFC 7296 §3.16); Message
// is the whole EAP packet (RFC 3748 §4), which the EAP method reads.
type EAP struct {
	Message []byte
}

// PayloadType returns PayloadEAP.
func (p *EAP) PayloadType() PayloadType { return PayloadEAP }

// Code returns the EAP Code.
func (p *EAP) Code() uint8 {
	if len(p.Message) == 0 {
		return 0
	}
	return p.Message[0]
}

// Identifier returns the EAP Identifier.
func (p *EAP) Identifier() uint8 {
	s := cryptobyte.String(p.Message)
	var code, id uint8
	if !s.ReadUint8(&code) || !s.ReadUint8(&id) {
		return 0
	}
	return id
}

// Type returns the EAP method type of a Request or Response.
func (p *EAP) Type() (uint8, bool) {
	s := cryptobyte.String(p.Message)
	var t uint8
	if !s.Skip(4) || !s.ReadUint8(&t) {
		return 0, false
	}
	return t, true
}

func parseEAP(s cryptobyte.String) (*EAP, error) {
	p := EAP{Message: rest(&s)}
	return &p, p.validate()
}

func (p *EAP) validate() error {
	s := cryptobyte.String(p.Message)
	var code, id uint8
	var length uint16
	if !s.ReadUint8(&code) || !s.ReadUint8(&id) || !s.ReadUint16(&length) {
		return syntaxError("EAP message of %d octets", len(p.Message))
	}
	// RFC 7296 §3.16: the EAP Length is four less than the Payload Length.
	if int(length) != len(p.Message) {
		return syntaxError("EAP Length %d in %d octets", length, len(p.Message))
	}
	switch code {
	case EAPRequest, EAPResponse:
		if length < 5 {
			return syntaxError("EAP code %d without a Type", code)
		}
	case EAPSuccess, EAPFailure:
		if length != 4 {
			return syntaxError("EAP code %d with %d octets of data", code, length-4)
		}
	default:
		return syntaxError("EAP code %d", code)
	}
	return nil
}

func (p *EAP) marshal(b *cryptobyte.Builder) { b.AddBytes(p.Message) }
