// Package xe defines Sabre's error codes: the reference design's XE_* codes
// as Go errors usable with errors.Is, with detail attached by Errorf.
//
//	err := xe.Errorf(xe.BadESPSPI, "SPI %#x to %v", spi, dst)
//	errors.Is(err, xe.BadESPSPI) // true
//
// On the packet path, where dropping must not allocate, a Drop kept with
// the packet records the same detail and formats it only when asked:
//
//	err := b.Reason.Set(xe.BadESPSPI, "SPI %#x to %v", xe.Uint(spi), xe.Addr(dst))
package xe

import "fmt"

// Code is one of the reference's XE_* error codes. A Code is itself an error.
type Code uint8

// The codes, in the order of the reference's table (chapter 3.15), followed
// by codes Sabre adds where the reference has none that names the failure.
const (
	OK Code = iota
	AHDigestMismatch
	BadAddrRange
	BadAHSPI
	BadESPSPI
	BadIDType
	BadPadData
	BadParam
	BadPortNumber
	BadSequenceNumber
	BadSessErr
	DstOutOfData
	DstOutOfSpace
	ESPDigestMismatch
	Exist
	ExpectedAHProto
	ExpectedESPProto
	InboundExpectedSecurePacket
	InboundPolicyFailure
	InboundUnexpectedSecuredPacket
	KeynegInProgress
	MTUExceeded
	NoMem
	NoData
	OutOfPackets
	OutOfPolicies
	OutOfReqs
	OutOfSessions
	PolicyNotFound
	SANotFound
	SessUnavlForDummyTx
	SrcOutOfData
	UnknownAlgorithm
	UnknownIPProtocol

	// Sabre's additions.

	// SAExpired: the SA reached a hard lifetime or exhausted its sequence
	// number space (RFC 4303 §3.3.3) and may not be used.
	SAExpired
	// MalformedPacket: a header is truncated or inconsistent.
	MalformedPacket
	// FragmentError: an outer fragment could not be reassembled (overlap,
	// too large, timed out or memory limit reached).
	FragmentError
	// PolicyDrop: the packet matched a DROP policy, or no policy at all.
	PolicyDrop
	// EncapMismatch: ESP arrived UDP-encapsulated for an SA without UDP
	// encapsulation, or plain for one with it (RFC 3948; Linux counts
	// these as XfrmInStateMismatch).
	EncapMismatch

	NumCodes // number of codes; not a code
)

var names = [NumCodes]string{
	OK:                             "XE_OK",
	AHDigestMismatch:               "XE_AH_DIGEST_MISMATCH",
	BadAddrRange:                   "XE_BAD_ADDR_RANGE",
	BadAHSPI:                       "XE_BAD_AH_SPI",
	BadESPSPI:                      "XE_BAD_ESP_SPI",
	BadIDType:                      "XE_BAD_ID_TYPE",
	BadPadData:                     "XE_BAD_PAD_DATA",
	BadParam:                       "XE_BAD_PARAM",
	BadPortNumber:                  "XE_BAD_PORT_NUMBER",
	BadSequenceNumber:              "XE_BAD_SEQUENCE_NUMBER",
	BadSessErr:                     "XE_BAD_SESS_ERR",
	DstOutOfData:                   "XE_DST_OUT_OF_DATA",
	DstOutOfSpace:                  "XE_DST_OUT_OF_SPACE",
	ESPDigestMismatch:              "XE_ESP_DIGEST_MISMATCH",
	Exist:                          "XE_EXIST",
	ExpectedAHProto:                "XE_EXPECTED_AH_PROTO",
	ExpectedESPProto:               "XE_EXPECTED_ESP_PROTO",
	InboundExpectedSecurePacket:    "XE_INBOUND_EXPECTED_SECURE_PACKET",
	InboundPolicyFailure:           "XE_INBOUND_POLICY_FAILURE",
	InboundUnexpectedSecuredPacket: "XE_INBOUND_UNEXPECTED_SECURED_PACKET",
	KeynegInProgress:               "XE_KEYNEG_INPROGRESS",
	MTUExceeded:                    "XE_MTU_EXCEEDED",
	NoMem:                          "XE_NOMEM",
	NoData:                         "XE_NO_DATA",
	OutOfPackets:                   "XE_OUT_OF_PACKETS",
	OutOfPolicies:                  "XE_OUT_OF_POLICIES",
	OutOfReqs:                      "XE_OUT_OF_REQS",
	OutOfSessions:                  "XE_OUT_OF_SESSIONS",
	PolicyNotFound:                 "XE_POLICY_NOT_FOUND",
	SANotFound:                     "XE_SA_NOT_FOUND",
	SessUnavlForDummyTx:            "XE_SESS_UNAVL_FOR_DUMMY_TX",
	SrcOutOfData:                   "XE_SRC_OUT_OF_DATA",
	UnknownAlgorithm:               "XE_UNKNOWN_ALGORITHM",
	UnknownIPProtocol:              "XE_UNKNOWN_IP_PROTOCOL",
	SAExpired:                      "XE_SA_EXPIRED",
	MalformedPacket:                "XE_MALFORMED_PACKET",
	FragmentError:                  "XE_FRAGMENT_ERROR",
	PolicyDrop:                     "XE_POLICY_DROP",
	EncapMismatch:                  "XE_ENCAP_MISMATCH",
}

var descriptions = [NumCodes]string{
	OK:                             "no error",
	AHDigestMismatch:               "AH digest mismatch",
	BadAddrRange:                   "bad IP address range",
	BadAHSPI:                       "bad AH SPI",
	BadESPSPI:                      "bad ESP SPI",
	BadIDType:                      "bad ID type",
	BadPadData:                     "bad pad data",
	BadParam:                       "bad parameter",
	BadPortNumber:                  "bad TCP or UDP port number",
	BadSequenceNumber:              "replay failure: bad AH or ESP sequence number",
	BadSessErr:                     "bad IPsec session status",
	DstOutOfData:                   "ran out of data on destination packet",
	DstOutOfSpace:                  "ran out of space in destination packet",
	ESPDigestMismatch:              "ESP digest mismatch",
	Exist:                          "an identical entry already exists",
	ExpectedAHProto:                "expected next protocol to be AH",
	ExpectedESPProto:               "expected next protocol to be ESP",
	InboundExpectedSecurePacket:    "received an unsecured packet when policy specifies SECURE",
	InboundPolicyFailure:           "inbound policy mismatch",
	InboundUnexpectedSecuredPacket: "received an IPsec secured packet when policy specifies DROP or BYPASS",
	KeynegInProgress:               "key negotiation is in progress",
	MTUExceeded:                    "packet larger than MTU",
	NoMem:                          "out of memory",
	NoData:                         "not enough data",
	OutOfPackets:                   "unable to allocate a packet",
	OutOfPolicies:                  "unable to allocate a policy",
	OutOfReqs:                      "unable to allocate a request",
	OutOfSessions:                  "unable to allocate a session",
	PolicyNotFound:                 "policy not found",
	SANotFound:                     "security association not found",
	SessUnavlForDummyTx:            "secure session can't be used to transmit a dummy packet",
	SrcOutOfData:                   "ran out of data on source packet",
	UnknownAlgorithm:               "unknown algorithm",
	UnknownIPProtocol:              "unknown IP protocol",
	SAExpired:                      "security association expired",
	MalformedPacket:                "malformed packet",
	FragmentError:                  "fragment reassembly failed",
	PolicyDrop:                     "packet matched a DROP policy or no policy",
	EncapMismatch:                  "ESP encapsulation (UDP or none) differs from its SA's",
}

// Name returns the reference's name of c, such as "XE_BAD_ESP_SPI".
func (c Code) Name() string {
	if c >= NumCodes {
		return fmt.Sprintf("XE_%d", uint8(c))
	}
	return names[c]
}

// Error returns the code's name and description.
func (c Code) Error() string {
	if c >= NumCodes {
		return c.Name()
	}
	return names[c] + ": " + descriptions[c]
}

// Error is a Code with detail on what exactly was wrong.
type Error struct {
	Code   Code
	Detail string
}

// Errorf returns an *Error of code c whose detail is formatted from format
// and args. Do not put key material in the detail.
func Errorf(c Code, format string, args ...any) error {
	return &Error{Code: c, Detail: fmt.Sprintf(format, args...)}
}

func (e *Error) Error() string { return e.Code.Name() + ": " + e.Detail }

// Unwrap lets errors.Is match the code.
func (e *Error) Unwrap() error { return e.Code }

// CodeOf returns the Code carried by err, OK for nil, and BadParam for an
// error that carries none.
func CodeOf(err error) Code {
	if err == nil {
		return OK
	}
	for err != nil {
		switch e := err.(type) {
		case Code:
			return e
		case *Error:
			return e.Code
		case *Drop:
			return e.Code
		}
		u, ok := err.(interface{ Unwrap() error })
		if !ok {
			break
		}
		err = u.Unwrap()
	}
	return BadParam
}
