package message

import (
	"fmt"
	"strings"
)

// ExchangeType is an IKEv2 exchange type (RFC 7296 §3.1, IANA "IKEv2
// Exchange Types").
type ExchangeType uint8

// Exchange types.
const (
	IKESAInit        ExchangeType = 34 // IKE_SA_INIT
	IKEAuth          ExchangeType = 35 // IKE_AUTH
	CreateChildSA    ExchangeType = 36 // CREATE_CHILD_SA
	Informational    ExchangeType = 37 // INFORMATIONAL
	IKESessionResume ExchangeType = 38 // IKE_SESSION_RESUME, RFC 5723
	IKEIntermediate  ExchangeType = 43 // IKE_INTERMEDIATE, RFC 9242
	IKEFollowupKE    ExchangeType = 44 // IKE_FOLLOWUP_KE, RFC 9370
)

// String returns the IANA name of t, such as "IKE_SA_INIT".
func (t ExchangeType) String() string {
	switch t {
	case IKESAInit:
		return "IKE_SA_INIT"
	case IKEAuth:
		return "IKE_AUTH"
	case CreateChildSA:
		return "CREATE_CHILD_SA"
	case Informational:
		return "INFORMATIONAL"
	case IKESessionResume:
		return "IKE_SESSION_RESUME"
	case IKEIntermediate:
		return "IKE_INTERMEDIATE"
	case IKEFollowupKE:
		return "IKE_FOLLOWUP_KE"
	}
	return fmt.Sprintf("EXCHANGE_%d", uint8(t))
}

// Flags are the flags of the IKE header (RFC 7296 §3.1).
type Flags uint8

// Header flags; the other bits are sent as zero and ignored on receipt.
const (
	FlagInitiator Flags = 0x08 // I: sent by the original initiator of the IKE SA
	FlagVersion   Flags = 0x10 // V: a higher major version is spoken; IKEv2 clears it
	FlagResponse  Flags = 0x20 // R: a response
)

// String returns the set flags as "Initiator|Response", or "none".
func (f Flags) String() string {
	var s []string
	if f&FlagInitiator != 0 {
		s = append(s, "Initiator")
	}
	if f&FlagVersion != 0 {
		s = append(s, "Version")
	}
	if f&FlagResponse != 0 {
		s = append(s, "Response")
	}
	if x := f &^ (FlagInitiator | FlagVersion | FlagResponse); x != 0 {
		s = append(s, fmt.Sprintf("%#02x", uint8(x)))
	}
	if len(s) == 0 {
		return "none"
	}
	return strings.Join(s, "|")
}

// Version is the IKE header version octet of IKEv2: major 2, minor 0.
const Version = 0x20

// HeaderLen is the length of the IKE header.
const HeaderLen = 28

// Header is the IKE header (RFC 7296 §3.1).
type Header struct {
	SPIi, SPIr  uint64
	NextPayload PayloadType // set by Parse; Marshal writes the first payload's type
	Version     uint8       // major version in the high nibble; 0 means Version when marshaling
	Exchange    ExchangeType
	Flags       Flags
	MessageID   uint32
	Length      uint32 // set by Parse; Marshal computes it
}

// IsResponse reports whether the R flag is set.
func (h *Header) IsResponse() bool { return h.Flags&FlagResponse != 0 }

// IsInitiator reports whether the I flag is set: the sender is the
// original initiator of the IKE SA.
func (h *Header) IsInitiator() bool { return h.Flags&FlagInitiator != 0 }

// String summarizes h as "IKE_SA_INIT request #0 SPIs 0123...:0000...".
func (h *Header) String() string {
	dir := "request"
	if h.IsResponse() {
		dir = "response"
	}
	return fmt.Sprintf("%v %s #%d SPIs %016x_i %016x_r", h.Exchange, dir, h.MessageID, h.SPIi, h.SPIr)
}
