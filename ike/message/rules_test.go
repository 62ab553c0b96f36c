package message

import (
	"errors"
	"strings"
	"testing"
)

// Payloads for the rules tests.
var (
	saOffer = &SA{Proposals: []Proposal{
		{Number: 1, Protocol: ProtocolESP, SPI: []byte{1, 2, 3, 4}, Transforms: []Transform{EncrTransform(EncrAESGCM16, 256), ESNTransform(NoESN)}},
		{Number: 2, Protocol: ProtocolESP, SPI: []byte{1, 2, 3, 4}, Transforms: []Transform{EncrTransform(EncrAESCBC, 128), IntegTransform(IntegHMACSHA256128), ESNTransform(NoESN)}},
	}}
	saAnswer = &SA{Proposals: []Proposal{
		{Number: 2, Protocol: ProtocolESP, SPI: []byte{5, 6, 7, 8}, Transforms: []Transform{EncrTransform(EncrAESCBC, 128), IntegTransform(IntegHMACSHA256128), ESNTransform(NoESN)}},
	}}
	saOfferFrom2 = &SA{Proposals: saOffer.Proposals[1:]}
	ke           = &KE{Group: ECP256, Data: make([]byte, 64)}
	nonce        = &Nonce{Data: make([]byte, 32)}
	idi          = &ID{Type: IDFQDN, Data: []byte("carol")}
	idr          = &ID{Responder: true, Type: IDFQDN, Data: []byte("moon")}
	auth         = &Auth{Method: AuthSharedKeyMIC, Data: make([]byte, 32)}
	tsi          = &TS{Selectors: []TrafficSelector{{Type: TSIPv4AddrRange, EndPort: 65535, Start: v4a, End: v4b}}}
	tsr          = &TS{Responder: true, Selectors: []TrafficSelector{{Type: TSIPv4AddrRange, EndPort: 65535, Start: v4a, End: v4b}}}
	cert         = &Cert{Encoding: CertX509Signature, Data: []byte{0x30}}
	certreq      = &CertReq{Encoding: CertX509Signature, CA: make([]byte, 20)}
	cp           = &CP{Type: CFGRequest, Attributes: []CPAttribute{{Type: InternalIP4Address}}}
	eap          = &EAP{Message: []byte{EAPResponse, 1, 0, 5, 1}}
	del          = &Delete{Protocol: ProtocolESP, SPIs: []uint32{1}}
	vid          = &VendorID{Data: []byte("sabre")}
	sk           = &SK{FirstPayload: PayloadIDi, Data: make([]byte, 48)}
	unknown      = &Unknown{Type: 200}
)

func n(t NotifyType) *Notify { return &Notify{Type: t, Data: notifyData[t]} }

var notifyData = map[NotifyType][]byte{
	Cookie: {1}, InvalidKEPayload: {0, 19}, NATDetectionSourceIP: make([]byte, 20),
}

func ps(p ...Payload) []Payload { return p }

var ruleCases = []struct {
	exchange ExchangeType
	response bool
	payloads []Payload
	reason   string // "" when Check accepts
}{
	{IKESAInit, false, ps(saOffer, ke, nonce, n(NATDetectionSourceIP), n(SignatureHashAlgorithms), vid), ""},
	{IKESAInit, false, ps(n(Cookie), saOffer, ke, nonce), ""},
	{IKESAInit, false, ps(saOffer, nonce), "IKE_SA_INIT request: missing KE payload"},
	{IKESAInit, false, ps(saOffer, ke), "missing No payload"},
	{IKESAInit, false, ps(ke, nonce, n(InvalidKEPayload)), "missing SA payload"},
	{IKESAInit, false, ps(saOffer, ke, nonce, certreq), "unexpected CERTREQ payload (payload 4)"},
	{IKESAInit, false, ps(saOffer, saOffer, ke, nonce), "more than 1 SA payloads"},
	{IKESAInit, false, ps(saOffer, ke, nonce, sk), "unexpected SK payload"},
	{IKESAInit, false, ps(saOfferFrom2, ke, nonce), "first proposal numbered 2, want 1"},
	{IKESAInit, false, ps(saOffer, ke, nonce, unknown), ""},
	{IKESAInit, true, ps(saAnswer, ke, nonce, certreq, certreq, n(MultipleAuthSupported)), ""},
	{IKESAInit, true, ps(n(Cookie)), ""},
	{IKESAInit, true, ps(n(InvalidKEPayload)), ""},
	{IKESAInit, true, ps(n(NoProposalChosen)), ""},
	{IKESAInit, true, ps(n(Redirect)), ""},
	{IKESAInit, true, ps(n(NATDetectionSourceIP)), "IKE_SA_INIT response: missing SA payload"},
	{IKESAInit, true, ps(saOffer, ke, nonce), "SA payload with 2 proposals, want the one accepted"},

	{IKEAuth, false, ps(idi, auth, saOffer, tsi, tsr), ""},
	{IKEAuth, false, ps(idi, cert, n(InitialContact), certreq, idr, auth, cp, saOffer, tsi, tsr, n(MOBIKESupported), vid), ""},
	{IKEAuth, false, ps(idi, auth), ""}, // childless (RFC 6023)
	// Issue 9: without EAP, IDi and AUTH are mandatory; an IDr never
	// stands in for the IDi.
	{IKEAuth, false, ps(idi, saOffer, tsi, tsr), "IKE_AUTH request: missing AUTH payload"},
	{IKEAuth, false, ps(eap), "IKE_AUTH request: unexpected EAP payload (payload 1)"},
	{IKEAuth, false, ps(idi, auth, eap), "unexpected EAP payload"},
	{IKEAuth, false, ps(auth), "IKE_AUTH request: missing IDi payload"},
	{IKEAuth, false, ps(idr, auth, saOffer, tsi, tsr), "IKE_AUTH request: missing IDi payload"},
	{IKEAuth, false, ps(n(InitialContact)), "IKE_AUTH request: missing IDi payload"},
	{IKEAuth, false, ps(idi, auth, saOffer, tsi), "missing TSr payload of the Child SA"},
	{IKEAuth, false, ps(idi, auth, tsi, tsr), "missing SA payload of the Child SA"},
	{IKEAuth, false, ps(idi, auth, saOffer, tsi, tsr, ke), "unexpected KE payload"},
	{IKEAuth, false, ps(idi, idi, auth), "more than 1 IDi payloads"},
	{IKEAuth, false, ps(idi, auth, saAnswer, tsi, tsr), "first proposal numbered 2"},
	{IKEAuth, true, ps(idr, auth, saAnswer, tsi, tsr), ""},
	{IKEAuth, true, ps(idr, cert, cert, auth), ""},
	{IKEAuth, true, ps(idr, auth, cp, saAnswer, tsi, tsr), ""},
	{IKEAuth, true, ps(n(AuthenticationFailed)), ""},
	{IKEAuth, true, ps(idr, auth, n(TSUnacceptable)), ""},
	{IKEAuth, true, ps(idr, auth, eap), "IKE_AUTH response: unexpected EAP payload"},
	{IKEAuth, true, ps(idr), "IKE_AUTH response: missing AUTH payload"},
	{IKEAuth, true, ps(auth, cp, saAnswer, tsi, tsr), "IKE_AUTH response: missing IDr payload"},
	{IKEAuth, true, ps(n(InitialContact)), "missing IDr payload"},
	{IKEAuth, true, ps(idr, auth, saOffer, tsi, tsr), "SA payload with 2 proposals"},
	{IKEAuth, true, ps(idi, auth), "unexpected IDi payload"},

	{CreateChildSA, false, ps(saOffer, nonce, ke, tsi, tsr), ""},
	{CreateChildSA, false, ps(n(RekeySA), n(UseTransportMode), saOffer, nonce, tsi, tsr), ""},
	{CreateChildSA, false, ps(saOffer, nonce, ke), ""}, // rekeying the IKE SA
	{CreateChildSA, false, ps(saOffer, nonce, tsi), "CREATE_CHILD_SA request: missing TSr payload"},
	{CreateChildSA, false, ps(saOffer, ke, tsi, tsr), "missing No payload"},
	{CreateChildSA, false, ps(nonce, tsi, tsr), "missing SA payload"},
	{CreateChildSA, false, ps(saOffer, nonce, del), "unexpected D payload"},
	{CreateChildSA, true, ps(saAnswer, nonce, ke, tsi, tsr, n(AdditionalTSPossible)), ""},
	{CreateChildSA, true, ps(n(NoAdditionalSAs)), ""},
	{CreateChildSA, true, ps(n(TemporaryFailure)), ""},
	{CreateChildSA, true, ps(n(InvalidKEPayload)), ""},
	{CreateChildSA, true, ps(n(UseTransportMode)), "missing SA payload"},

	{Informational, false, ps(), ""},
	{Informational, false, ps(del, del, n(InitialContact), vid), ""},
	{Informational, true, ps(cp), ""},
	{Informational, true, ps(), ""},
	{Informational, false, ps(saOffer), "INFORMATIONAL request: unexpected SA payload"},
	{Informational, false, ps(cp, cp), "more than 1 CP payloads"},
	{Informational, false, ps(n(InitialContact), n(InitialContact), n(InitialContact), n(InitialContact), n(InitialContact),
		n(InitialContact), n(InitialContact), n(InitialContact), n(InitialContact), n(InitialContact), n(InitialContact),
		n(InitialContact), n(InitialContact), n(InitialContact), n(InitialContact), n(InitialContact), n(InitialContact),
		n(InitialContact), n(InitialContact), n(InitialContact), n(InitialContact), n(InitialContact), n(InitialContact),
		n(InitialContact), n(InitialContact), n(InitialContact), n(InitialContact), n(InitialContact), n(InitialContact),
		n(InitialContact), n(InitialContact), n(InitialContact), n(InitialContact)), "more than 32 N payloads"},

	{IKEIntermediate, false, ps(n(InitialContact)), ""},
	{IKEIntermediate, true, ps(ke), ""},
	{IKEFollowupKE, false, ps(ke, n(AdditionalKeyExchange)), ""},
	{IKEFollowupKE, false, ps(n(AdditionalKeyExchange)), "missing KE payload"},
	{IKEFollowupKE, true, ps(n(StateNotFound)), ""},
	{ExchangeType(99), false, ps(), "EXCHANGE_99 request: unsupported exchange type"},
	{IKESessionResume, false, ps(), "unsupported exchange type"},
}

func TestCheck(t *testing.T) {
	for i, c := range ruleCases {
		err := Check(c.exchange, c.response, c.payloads)
		switch {
		case c.reason == "" && err != nil:
			t.Errorf("%d: %v %s: %v", i, c.exchange, Summary(c.payloads), err)
		case c.reason != "" && (err == nil || !strings.Contains(err.Error(), c.reason)):
			t.Errorf("%d: %v %s: %v, want %q", i, c.exchange, Summary(c.payloads), err, c.reason)
		case c.reason != "" && !errors.Is(err, InvalidSyntax):
			t.Errorf("%d: %v is not INVALID_SYNTAX", i, err)
		}
	}
}

// TestRulesTable checks the table itself: one rule per exchange and
// direction, every bound sane.
func TestRulesTable(t *testing.T) {
	seen := map[[2]int]bool{}
	for _, r := range rules {
		k := [2]int{int(r.exchange), 0}
		if r.response {
			k[1] = 1
		}
		if seen[k] {
			t.Errorf("two rules for %v response=%v", r.exchange, r.response)
		}
		seen[k] = true
		if r.encrypted == (r.exchange == IKESAInit) {
			t.Errorf("%v: encrypted=%v", r.exchange, r.encrypted)
		}
		for _, o := range r.payloads {
			if o.min > o.max || o.max < 1 || !parses(o.typ) || o.typ == PayloadSK || o.typ == PayloadSKF {
				t.Errorf("%v: bad bound %+v", r.exchange, o)
			}
		}
		for _, list := range [][]PayloadType{r.together} {
			for _, typ := range list {
				if _, ok := r.bounds(typ); !ok {
					t.Errorf("%v: %v listed but not allowed", r.exchange, typ)
				}
			}
		}
	}
}

func TestCheckMessage(t *testing.T) {
	hdr := func(e ExchangeType, f Flags) Header { return Header{SPIi: 1, SPIr: 2, Exchange: e, Flags: f} }
	for i, c := range []struct {
		m      *Message
		reason string
	}{
		{&Message{Header: hdr(IKEAuth, FlagInitiator), Payloads: ps(sk)}, ""},
		{&Message{Header: hdr(IKEAuth, FlagResponse), Payloads: ps(unknown, &SKF{FragmentNumber: 1, TotalFragments: 2, FirstPayload: PayloadIDr})}, ""},
		{&Message{Header: hdr(Informational, 0), Payloads: ps(n(InvalidIKESPI))}, ""}, // RFC 7296 §1.5
		{&Message{Header: hdr(Informational, 0), Payloads: ps()}, ""},
		{&Message{Header: hdr(IKESAInit, FlagInitiator), Payloads: ps(saOffer, ke, nonce)}, ""},
		{&Message{Header: hdr(IKEAuth, 0), Payloads: ps(n(InitialContact), sk)}, "IKE_AUTH request: N payload outside the SK payload"},
		{&Message{Header: hdr(IKEAuth, 0), Payloads: ps(idi, auth)}, "IDi payload outside the SK payload"},
		{&Message{Header: hdr(CreateChildSA, 0), Payloads: ps()}, "CREATE_CHILD_SA request: no SK payload"},
		{&Message{Header: hdr(Informational, FlagResponse), Payloads: ps(del)}, "D payload outside"},
		{&Message{Header: hdr(IKESAInit, FlagInitiator), Payloads: ps(saOffer, ke, nonce, sk)}, "unexpected SK payload"},
		{&Message{Header: hdr(IKESAInit, FlagResponse), Payloads: ps(saAnswer, ke)}, "missing No payload"},
	} {
		err := CheckMessage(c.m)
		if c.reason == "" && err != nil || c.reason != "" && (err == nil || !strings.Contains(err.Error(), c.reason)) {
			t.Errorf("%d: %v: %v, want %q", i, c.m, err, c.reason)
		}
	}
}
