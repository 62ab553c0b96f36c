package message

import (
	"fmt"

	"golang.org/x/crypto/cryptobyte"
)

// NotifyType is an IKEv2 Notify Message Type (RFC 7296 §3.10.1, IANA
// "IKEv2 Notify Message Types"). Types below 16384 report errors, the
// others status. A NotifyType is also an error, so that
// errors.Is(err, InvalidSyntax) works on a NotifyError.
type NotifyType uint16

// Notify error types.
const (
	UnsupportedCriticalPayload NotifyType = 1  // §2.5; data: the payload type
	InvalidIKESPI              NotifyType = 4  // §2.21
	InvalidMajorVersion        NotifyType = 5  // §2.5
	InvalidSyntax              NotifyType = 7  // §3.10.1
	InvalidMessageID           NotifyType = 9  // §2.3
	InvalidSPI                 NotifyType = 11 // §1.5
	NoProposalChosen           NotifyType = 14 // §2.7
	InvalidKEPayload           NotifyType = 17 // §1.2, §1.3; data: the 2-octet group
	AuthenticationFailed       NotifyType = 24 // §2.21.2
	SinglePairRequired         NotifyType = 34 // §2.9
	NoAdditionalSAs            NotifyType = 35 // §1.3
	InternalAddressFailure     NotifyType = 36 // §3.15.4
	FailedCPRequired           NotifyType = 37 // §2.19
	TSUnacceptable             NotifyType = 38 // §2.9
	InvalidSelectors           NotifyType = 39 // §3.10.1
	UnacceptableAddresses      NotifyType = 40 // RFC 4555
	UnexpectedNATDetected      NotifyType = 41 // RFC 4555
	UseAssignedHoA             NotifyType = 42 // RFC 5026
	TemporaryFailure           NotifyType = 43 // §2.25
	ChildSANotFound            NotifyType = 44 // §2.25
	InvalidGroupID             NotifyType = 45 // G-IKEv2
	AuthorizationFailed        NotifyType = 46 // G-IKEv2
	StateNotFound              NotifyType = 47
)

// Notify status types.
const (
	InitialContact                  NotifyType = 16384 // §2.4
	SetWindowSize                   NotifyType = 16385 // §2.3; data: 4-octet window
	AdditionalTSPossible            NotifyType = 16386 // §2.9
	IPCompSupported                 NotifyType = 16387 // §2.22
	NATDetectionSourceIP            NotifyType = 16388 // §2.23; data: SHA-1 hash
	NATDetectionDestinationIP       NotifyType = 16389 // §2.23; data: SHA-1 hash
	Cookie                          NotifyType = 16390 // §2.6; data: 1-64 octets
	UseTransportMode                NotifyType = 16391 // §1.3.1
	HTTPCertLookupSupported         NotifyType = 16392 // §3.6
	RekeySA                         NotifyType = 16393 // §1.3.3; SPI: the SA rekeyed
	ESPTFCPaddingNotSupported       NotifyType = 16394 // §1.3.1
	NonFirstFragmentsAlso           NotifyType = 16395 // §1.3.1
	MOBIKESupported                 NotifyType = 16396 // RFC 4555
	AdditionalIP4Address            NotifyType = 16397 // RFC 4555
	AdditionalIP6Address            NotifyType = 16398 // RFC 4555
	NoAdditionalAddresses           NotifyType = 16399 // RFC 4555
	UpdateSAAddresses               NotifyType = 16400 // RFC 4555
	Cookie2                         NotifyType = 16401 // RFC 4555
	NoNATsAllowed                   NotifyType = 16402 // RFC 4555
	AuthLifetime                    NotifyType = 16403 // RFC 4478
	MultipleAuthSupported           NotifyType = 16404 // RFC 4739
	AnotherAuthFollows              NotifyType = 16405 // RFC 4739
	RedirectSupported               NotifyType = 16406 // RFC 5685
	Redirect                        NotifyType = 16407 // RFC 5685
	RedirectedFrom                  NotifyType = 16408 // RFC 5685
	TicketLTOpaque                  NotifyType = 16409 // RFC 5723
	TicketRequest                   NotifyType = 16410 // RFC 5723
	TicketAck                       NotifyType = 16411 // RFC 5723
	TicketNack                      NotifyType = 16412 // RFC 5723
	TicketOpaque                    NotifyType = 16413 // RFC 5723
	LinkID                          NotifyType = 16414 // RFC 5739
	UseWESPMode                     NotifyType = 16415 // RFC 5840
	ROHCSupported                   NotifyType = 16416 // RFC 5857
	EAPOnlyAuthentication           NotifyType = 16417 // RFC 5998
	ChildlessIKEv2Supported         NotifyType = 16418 // RFC 6023
	QuickCrashDetection             NotifyType = 16419 // RFC 6290
	IKEv2MessageIDSyncSupported     NotifyType = 16420 // RFC 6311
	IPsecReplayCounterSyncSupported NotifyType = 16421 // RFC 6311
	IKEv2MessageIDSync              NotifyType = 16422 // RFC 6311
	IPsecReplayCounterSync          NotifyType = 16423 // RFC 6311
	SecurePasswordMethods           NotifyType = 16424 // RFC 6467
	PSKPersist                      NotifyType = 16425 // RFC 6631
	PSKConfirm                      NotifyType = 16426 // RFC 6631
	ERXSupported                    NotifyType = 16427 // RFC 6867
	IFOMCapability                  NotifyType = 16428 // 3GPP TS 24.303
	SenderRequestID                 NotifyType = 16429 // G-IKEv2
	IKEv2FragmentationSupported     NotifyType = 16430 // RFC 7383 §2.3
	SignatureHashAlgorithms         NotifyType = 16431 // RFC 7427 §4; data: 2-octet hash IDs
	CloneIKESASupported             NotifyType = 16432 // RFC 7791
	CloneIKESA                      NotifyType = 16433 // RFC 7791
	Puzzle                          NotifyType = 16434 // RFC 8019
	UsePPK                          NotifyType = 16435 // RFC 8784
	PPKIdentity                     NotifyType = 16436 // RFC 8784
	NoPPKAuth                       NotifyType = 16437 // RFC 8784
	IntermediateExchangeSupported   NotifyType = 16438 // RFC 9242
	IP4Allowed                      NotifyType = 16439 // RFC 8983
	IP6Allowed                      NotifyType = 16440 // RFC 8983
	AdditionalKeyExchange           NotifyType = 16441 // RFC 9370
	UseAggfrag                      NotifyType = 16442 // RFC 9347
)

var notifyNames = map[NotifyType]string{
	UnsupportedCriticalPayload:      "UNSUPPORTED_CRITICAL_PAYLOAD",
	InvalidIKESPI:                   "INVALID_IKE_SPI",
	InvalidMajorVersion:             "INVALID_MAJOR_VERSION",
	InvalidSyntax:                   "INVALID_SYNTAX",
	InvalidMessageID:                "INVALID_MESSAGE_ID",
	InvalidSPI:                      "INVALID_SPI",
	NoProposalChosen:                "NO_PROPOSAL_CHOSEN",
	InvalidKEPayload:                "INVALID_KE_PAYLOAD",
	AuthenticationFailed:            "AUTHENTICATION_FAILED",
	SinglePairRequired:              "SINGLE_PAIR_REQUIRED",
	NoAdditionalSAs:                 "NO_ADDITIONAL_SAS",
	InternalAddressFailure:          "INTERNAL_ADDRESS_FAILURE",
	FailedCPRequired:                "FAILED_CP_REQUIRED",
	TSUnacceptable:                  "TS_UNACCEPTABLE",
	InvalidSelectors:                "INVALID_SELECTORS",
	UnacceptableAddresses:           "UNACCEPTABLE_ADDRESSES",
	UnexpectedNATDetected:           "UNEXPECTED_NAT_DETECTED",
	UseAssignedHoA:                  "USE_ASSIGNED_HoA",
	TemporaryFailure:                "TEMPORARY_FAILURE",
	ChildSANotFound:                 "CHILD_SA_NOT_FOUND",
	InvalidGroupID:                  "INVALID_GROUP_ID",
	AuthorizationFailed:             "AUTHORIZATION_FAILED",
	StateNotFound:                   "STATE_NOT_FOUND",
	InitialContact:                  "INITIAL_CONTACT",
	SetWindowSize:                   "SET_WINDOW_SIZE",
	AdditionalTSPossible:            "ADDITIONAL_TS_POSSIBLE",
	IPCompSupported:                 "IPCOMP_SUPPORTED",
	NATDetectionSourceIP:            "NAT_DETECTION_SOURCE_IP",
	NATDetectionDestinationIP:       "NAT_DETECTION_DESTINATION_IP",
	Cookie:                          "COOKIE",
	UseTransportMode:                "USE_TRANSPORT_MODE",
	HTTPCertLookupSupported:         "HTTP_CERT_LOOKUP_SUPPORTED",
	RekeySA:                         "REKEY_SA",
	ESPTFCPaddingNotSupported:       "ESP_TFC_PADDING_NOT_SUPPORTED",
	NonFirstFragmentsAlso:           "NON_FIRST_FRAGMENTS_ALSO",
	MOBIKESupported:                 "MOBIKE_SUPPORTED",
	AdditionalIP4Address:            "ADDITIONAL_IP4_ADDRESS",
	AdditionalIP6Address:            "ADDITIONAL_IP6_ADDRESS",
	NoAdditionalAddresses:           "NO_ADDITIONAL_ADDRESSES",
	UpdateSAAddresses:               "UPDATE_SA_ADDRESSES",
	Cookie2:                         "COOKIE2",
	NoNATsAllowed:                   "NO_NATS_ALLOWED",
	AuthLifetime:                    "AUTH_LIFETIME",
	MultipleAuthSupported:           "MULTIPLE_AUTH_SUPPORTED",
	AnotherAuthFollows:              "ANOTHER_AUTH_FOLLOWS",
	RedirectSupported:               "REDIRECT_SUPPORTED",
	Redirect:                        "REDIRECT",
	RedirectedFrom:                  "REDIRECTED_FROM",
	TicketLTOpaque:                  "TICKET_LT_OPAQUE",
	TicketRequest:                   "TICKET_REQUEST",
	TicketAck:                       "TICKET_ACK",
	TicketNack:                      "TICKET_NACK",
	TicketOpaque:                    "TICKET_OPAQUE",
	LinkID:                          "LINK_ID",
	UseWESPMode:                     "USE_WESP_MODE",
	ROHCSupported:                   "ROHC_SUPPORTED",
	EAPOnlyAuthentication:           "EAP_ONLY_AUTHENTICATION",
	ChildlessIKEv2Supported:         "CHILDLESS_IKEV2_SUPPORTED",
	QuickCrashDetection:             "QUICK_CRASH_DETECTION",
	IKEv2MessageIDSyncSupported:     "IKEV2_MESSAGE_ID_SYNC_SUPPORTED",
	IPsecReplayCounterSyncSupported: "IPSEC_REPLAY_COUNTER_SYNC_SUPPORTED",
	IKEv2MessageIDSync:              "IKEV2_MESSAGE_ID_SYNC",
	IPsecReplayCounterSync:          "IPSEC_REPLAY_COUNTER_SYNC",
	SecurePasswordMethods:           "SECURE_PASSWORD_METHODS",
	PSKPersist:                      "PSK_PERSIST",
	PSKConfirm:                      "PSK_CONFIRM",
	ERXSupported:                    "ERX_SUPPORTED",
	IFOMCapability:                  "IFOM_CAPABILITY",
	SenderRequestID:                 "SENDER_REQUEST_ID",
	IKEv2FragmentationSupported:     "IKEV2_FRAGMENTATION_SUPPORTED",
	SignatureHashAlgorithms:         "SIGNATURE_HASH_ALGORITHMS",
	CloneIKESASupported:             "CLONE_IKE_SA_SUPPORTED",
	CloneIKESA:                      "CLONE_IKE_SA",
	Puzzle:                          "PUZZLE",
	UsePPK:                          "USE_PPK",
	PPKIdentity:                     "PPK_IDENTITY",
	NoPPKAuth:                       "NO_PPK_AUTH",
	IntermediateExchangeSupported:   "INTERMEDIATE_EXCHANGE_SUPPORTED",
	IP4Allowed:                      "IP4_ALLOWED",
	IP6Allowed:                      "IP6_ALLOWED",
	AdditionalKeyExchange:           "ADDITIONAL_KEY_EXCHANGE",
	UseAggfrag:                      "USE_AGGFRAG",
}

// String returns the IANA name of t, such as "INVALID_KE_PAYLOAD".
func (t NotifyType) String() string {
	if n, ok := notifyNames[t]; ok {
		return n
	}
	if t.IsError() {
		return fmt.Sprintf("NOTIFY_ERROR_%d", uint16(t))
	}
	return fmt.Sprintf("NOTIFY_STATUS_%d", uint16(t))
}

// Error makes a NotifyType usable as the target of errors.Is.
func (t NotifyType) Error() string { return t.String() }

// IsError reports whether t is in the error range 0-16383, which a
// response must not ignore even when unrecognized (RFC 7296 §3.10.1).
func (t NotifyType) IsError() bool { return t < 16384 }

// HashAlgorithm is a hash algorithm identifier of the
// SIGNATURE_HASH_ALGORITHMS notification (RFC 7427 §4, IANA "IKEv2 Hash
// Algorithms").
type HashAlgorithm uint16

// Hash algorithm identifiers.
const (
	HashSHA1     HashAlgorithm = 1 // RFC 7427
	HashSHA2_256 HashAlgorithm = 2 // RFC 7427
	HashSHA2_384 HashAlgorithm = 3 // RFC 7427
	HashSHA2_512 HashAlgorithm = 4 // RFC 7427
	HashIdentity HashAlgorithm = 5 // RFC 8420
)

// String returns the IANA name of h, such as "SHA2_256".
func (h HashAlgorithm) String() string {
	switch h {
	case HashSHA1:
		return "SHA1"
	case HashSHA2_256:
		return "SHA2_256"
	case HashSHA2_384:
		return "SHA2_384"
	case HashSHA2_512:
		return "SHA2_512"
	case HashIdentity:
		return "Identity"
	}
	return fmt.Sprintf("HASH_%d", uint16(h))
}

// Notify is the Notify payload N (RFC 7296 §3.10).
type Notify struct {
	// Protocol is the kind of SA the SPI names (ProtocolAH or ProtocolESP
	// for Child SAs); RFC 7296 says it is zero when SPI is empty.
	Protocol ProtocolID
	SPI      []byte
	Type     NotifyType
	Data     []byte
}

// PayloadType returns PayloadNotify.
func (p *Notify) PayloadType() PayloadType { return PayloadNotify }

func parseNotify(body cryptobyte.String) (*Notify, error) {
	s := body
	var p Notify
	var proto, spiSize uint8
	var t uint16
	if !s.ReadUint8(&proto) || !s.ReadUint8(&spiSize) || !s.ReadUint16(&t) {
		return nil, syntaxError("truncated (%d octets)", len(body))
	}
	p.Protocol, p.Type = ProtocolID(proto), NotifyType(t)
	if !s.ReadBytes(&p.SPI, int(spiSize)) {
		return nil, syntaxError("SPI size %d but %d octets left", spiSize, len(s))
	}
	p.SPI = nonEmpty(p.SPI)
	p.Data = rest(&s)
	return &p, p.validate()
}

// notifyDataLen is the length RFC 7296 and its extensions give the data of
// notifications whose data the IKE SA reads; min == max for fixed lengths.
var notifyDataLen = map[NotifyType][2]int{
	InvalidKEPayload:          {2, 2},   // RFC 7296 §1.3: the group
	SetWindowSize:             {4, 4},   // §2.3
	IPCompSupported:           {3, 3},   // §2.22: CPI and transform ID
	NATDetectionSourceIP:      {20, 20}, // §2.23: SHA-1
	NATDetectionDestinationIP: {20, 20},
	Cookie:                    {1, 64}, // §2.6
	AdditionalIP4Address:      {4, 4},  // RFC 4555
	AdditionalIP6Address:      {16, 16},
}

func (p *Notify) validate() error {
	switch len(p.SPI) {
	case 0:
	case 4:
		if p.Protocol != ProtocolAH && p.Protocol != ProtocolESP {
			return syntaxError("%v: 4-octet SPI for protocol %v", p.Type, p.Protocol)
		}
	case 8:
		if p.Protocol != ProtocolIKE {
			return syntaxError("%v: 8-octet SPI for protocol %v", p.Type, p.Protocol)
		}
	default:
		return syntaxError("%v: SPI size %d", p.Type, len(p.SPI))
	}
	if l, ok := notifyDataLen[p.Type]; ok && (len(p.Data) < l[0] || len(p.Data) > l[1]) {
		if l[0] == l[1] {
			return syntaxError("%v: %d octets of data, want %d", p.Type, len(p.Data), l[0])
		}
		return syntaxError("%v: %d octets of data, want %d to %d", p.Type, len(p.Data), l[0], l[1])
	}
	switch p.Type {
	case SignatureHashAlgorithms:
		if len(p.Data)%2 != 0 {
			return syntaxError("%v: odd data length %d", p.Type, len(p.Data))
		}
	case RekeySA:
		// RFC 7296 §1.3.3: the SPI names the Child SA being rekeyed.
		if len(p.SPI) != 4 {
			return syntaxError("%v: SPI size %d, want 4", p.Type, len(p.SPI))
		}
	}
	return nil
}

func (p *Notify) marshal(b *cryptobyte.Builder) {
	b.AddUint8(uint8(p.Protocol))
	b.AddUint8(uint8(len(p.SPI)))
	b.AddUint16(uint16(p.Type))
	b.AddBytes(p.SPI)
	b.AddBytes(p.Data)
}

// InvalidKEGroup returns the group an INVALID_KE_PAYLOAD notification
// asks for (RFC 7296 §1.2).
func (p *Notify) InvalidKEGroup() (GroupID, bool) {
	s := cryptobyte.String(p.Data)
	var g uint16
	if p.Type != InvalidKEPayload || !s.ReadUint16(&g) || !s.Empty() {
		return 0, false
	}
	return GroupID(g), true
}

// NewInvalidKEPayload returns an INVALID_KE_PAYLOAD notification naming
// the group the responder wants (RFC 7296 §1.2).
func NewInvalidKEPayload(g GroupID) *Notify {
	return &Notify{Type: InvalidKEPayload, Data: []byte{byte(g >> 8), byte(g)}}
}

// HashAlgorithms returns the hash algorithms of a SIGNATURE_HASH_ALGORITHMS
// notification (RFC 7427 §4).
func (p *Notify) HashAlgorithms() ([]HashAlgorithm, bool) {
	if p.Type != SignatureHashAlgorithms {
		return nil, false
	}
	s := cryptobyte.String(p.Data)
	var hs []HashAlgorithm
	for !s.Empty() {
		var h uint16
		if !s.ReadUint16(&h) {
			return nil, false
		}
		hs = append(hs, HashAlgorithm(h))
	}
	return hs, true
}

// NewSignatureHashAlgorithms returns a SIGNATURE_HASH_ALGORITHMS
// notification listing hs (RFC 7427 §4).
func NewSignatureHashAlgorithms(hs ...HashAlgorithm) *Notify {
	var b cryptobyte.Builder
	for _, h := range hs {
		b.AddUint16(uint16(h))
	}
	return &Notify{Type: SignatureHashAlgorithms, Data: nonEmpty(b.BytesOrPanic())}
}
