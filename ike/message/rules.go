package message

import (
	"fmt"
	"strings"
)

// occurs bounds how often a payload type appears in a message.
type occurs struct {
	typ      PayloadType
	min, max int
}

// many bounds the payloads a message may repeat (N, V, D, CERT, CERTREQ).
// The RFCs set no limit; this one caps the work a hostile message causes.
const many = 32

// messageRule says which payloads one direction of an exchange carries,
// after RFC 7296 §1.2-1.4 and the payload descriptions of §3.
type messageRule struct {
	exchange ExchangeType
	response bool
	// encrypted: the payloads travel inside SK or SKF (RFC 7296 §1.2).
	encrypted bool
	// payloads lists every payload the message may carry, with its
	// bounds; any other (but Unknown ones) is unexpected.
	payloads []occurs
	// together: all of these or none (the Child SA: SA, TSi, TSr).
	together []PayloadType
	// errorAlone: a response may carry an error Notify, or COOKIE or
	// REDIRECT, instead of its mandatory payloads (RFC 7296 §1.2, §2.6,
	// §2.21; RFC 5685).
	errorAlone bool
}

var (
	childSA = []PayloadType{PayloadSA, PayloadTSi, PayloadTSr}

	rules = []messageRule{
		// RFC 7296 §1.2: HDR, SAi1, KEi, Ni -->
		{exchange: IKESAInit, payloads: []occurs{
			{PayloadSA, 1, 1}, {PayloadKE, 1, 1}, {PayloadNonce, 1, 1},
			{PayloadNotify, 0, many}, {PayloadVendorID, 0, many},
		}},
		// <-- HDR, SAr1, KEr, Nr, [CERTREQ], or N(COOKIE),
		// N(INVALID_KE_PAYLOAD), N(NO_PROPOSAL_CHOSEN) alone.
		{exchange: IKESAInit, response: true, errorAlone: true, payloads: []occurs{
			{PayloadSA, 1, 1}, {PayloadKE, 1, 1}, {PayloadNonce, 1, 1},
			{PayloadCERTREQ, 0, many}, {PayloadNotify, 0, many}, {PayloadVendorID, 0, many},
		}},
		// HDR, SK {IDi, [CERT,] [CERTREQ,] [IDr,] AUTH, [CP,] SAi2, TSi, TSr}
		// --> without SAi2, TSi, TSr for a childless IKE SA (RFC 6023).
		// IDi and AUTH are mandatory: EAP (§2.16), whose first request
		// lacks AUTH and whose later ones lack IDi, is not implemented, and
		// a request without them must never reach authentication (issue 9:
		// an EAP-only request crashed the responder). The IDr the
		// initiator may send names the responder it wants (§2.5) and is
		// never taken for the initiator's identity.
		{exchange: IKEAuth, encrypted: true, payloads: []occurs{
			{PayloadIDi, 1, 1}, {PayloadCERT, 0, many}, {PayloadCERTREQ, 0, many},
			{PayloadIDr, 0, 1}, {PayloadAUTH, 1, 1}, {PayloadCP, 0, 1},
			{PayloadSA, 0, 1}, {PayloadTSi, 0, 1}, {PayloadTSr, 0, 1},
			{PayloadNotify, 0, many}, {PayloadVendorID, 0, many},
		}, together: childSA},
		// <-- HDR, SK {IDr, [CERT,] AUTH, [CP,] SAr2, TSi, TSr}, or
		// N(AUTHENTICATION_FAILED) alone (§2.21.2). Without EAP, IDr and
		// AUTH are mandatory here too.
		{exchange: IKEAuth, response: true, encrypted: true, errorAlone: true, payloads: []occurs{
			{PayloadIDr, 1, 1}, {PayloadCERT, 0, many}, {PayloadAUTH, 1, 1},
			{PayloadCP, 0, 1}, {PayloadSA, 0, 1}, {PayloadTSi, 0, 1}, {PayloadTSr, 0, 1},
			{PayloadNotify, 0, many}, {PayloadVendorID, 0, many},
		}, together: childSA},
		// §1.3: HDR, SK {[N(REKEY_SA)], SA, Ni, [KEi], [TSi, TSr]} -->
		// (no TSi, TSr when rekeying the IKE SA, §1.3.2).
		{exchange: CreateChildSA, encrypted: true, payloads: []occurs{
			{PayloadSA, 1, 1}, {PayloadNonce, 1, 1}, {PayloadKE, 0, 1},
			{PayloadTSi, 0, 1}, {PayloadTSr, 0, 1}, {PayloadCP, 0, 1},
			{PayloadNotify, 0, many}, {PayloadVendorID, 0, many},
		}, together: []PayloadType{PayloadTSi, PayloadTSr}},
		// <-- HDR, SK {SA, Nr, [KEr], [TSi, TSr]}, or an error Notify such
		// as NO_PROPOSAL_CHOSEN, INVALID_KE_PAYLOAD, TS_UNACCEPTABLE,
		// TEMPORARY_FAILURE or CHILD_SA_NOT_FOUND (§1.3, §2.25).
		{exchange: CreateChildSA, response: true, encrypted: true, errorAlone: true, payloads: []occurs{
			{PayloadSA, 1, 1}, {PayloadNonce, 1, 1}, {PayloadKE, 0, 1},
			{PayloadTSi, 0, 1}, {PayloadTSr, 0, 1}, {PayloadCP, 0, 1},
			{PayloadNotify, 0, many}, {PayloadVendorID, 0, many},
		}, together: []PayloadType{PayloadTSi, PayloadTSr}},
		// §1.4: HDR, SK {[N,] [D,] [CP,] ...} in both directions; empty for
		// a liveness check.
		{exchange: Informational, encrypted: true, payloads: []occurs{
			{PayloadNotify, 0, many}, {PayloadDelete, 0, many}, {PayloadCP, 0, 1}, {PayloadVendorID, 0, many},
		}},
		{exchange: Informational, response: true, encrypted: true, payloads: []occurs{
			{PayloadNotify, 0, many}, {PayloadDelete, 0, many}, {PayloadCP, 0, 1}, {PayloadVendorID, 0, many},
		}},
		// RFC 9242: HDR, SK {...} --> with the payloads of the extension
		// using it; RFC 9370 puts KE there.
		{exchange: IKEIntermediate, encrypted: true, payloads: []occurs{
			{PayloadKE, 0, 1}, {PayloadNotify, 0, many}, {PayloadVendorID, 0, many},
		}},
		{exchange: IKEIntermediate, response: true, encrypted: true, payloads: []occurs{
			{PayloadKE, 0, 1}, {PayloadNotify, 0, many}, {PayloadVendorID, 0, many},
		}},
		// RFC 9370: HDR, SK {KEi(n), N(ADDITIONAL_KEY_EXCHANGE)} -->
		{exchange: IKEFollowupKE, encrypted: true, payloads: []occurs{
			{PayloadKE, 1, 1}, {PayloadNotify, 0, many}, {PayloadVendorID, 0, many},
		}},
		{exchange: IKEFollowupKE, response: true, encrypted: true, errorAlone: true, payloads: []occurs{
			{PayloadKE, 1, 1}, {PayloadNotify, 0, many}, {PayloadVendorID, 0, many},
		}},
	}
)

func findRule(exchange ExchangeType, response bool) *messageRule {
	for i := range rules {
		if rules[i].exchange == exchange && rules[i].response == response {
			return &rules[i]
		}
	}
	return nil
}

func direction(response bool) string {
	if response {
		return "response"
	}
	return "request"
}

// answersAlone reports whether a response may consist of Notify t alone.
func answersAlone(t NotifyType) bool {
	return t.IsError() || t == Cookie || t == Redirect
}

// Check verifies that payloads are ones the exchange carries in this
// direction, each as often as it may, and that the mandatory ones are
// there; for exchanges protected by SK it takes the decrypted inner
// payloads. Unknown payloads are ignored (RFC 7296 §2.5). It also checks
// what depends on the direction: an offer's first proposal is number 1,
// an answer's SA holds exactly the one proposal accepted (RFC 7296
// §3.3.1, §3.3.6). Violations return an INVALID_SYNTAX NotifyError.
func Check(exchange ExchangeType, isResponse bool, payloads []Payload) error {
	what := fmt.Sprintf("%v %s", exchange, direction(isResponse))
	r := findRule(exchange, isResponse)
	if r == nil {
		return syntaxError("%s: unsupported exchange type", what)
	}
	counts := make(map[PayloadType]int)
	alone := false
	for i, p := range payloads {
		if _, ok := p.(*Unknown); ok {
			continue
		}
		t := p.PayloadType()
		bounds, ok := r.bounds(t)
		if !ok {
			return syntaxError("%s: unexpected %v payload (payload %d)", what, t, i+1)
		}
		if counts[t]++; counts[t] > bounds.max {
			return syntaxError("%s: more than %d %v payloads", what, bounds.max, t)
		}
		if n, ok := p.(*Notify); ok && isResponse && answersAlone(n.Type) {
			alone = true
		}
	}
	if !(r.errorAlone && alone) {
		for _, o := range r.payloads {
			if counts[o.typ] < o.min {
				return syntaxError("%s: missing %v payload", what, o.typ)
			}
		}
	}
	if present := countOf(counts, r.together); present != 0 && present != len(r.together) {
		var missing []PayloadType
		for _, t := range r.together {
			if counts[t] == 0 {
				missing = append(missing, t)
			}
		}
		return syntaxError("%s: missing %s payload of the Child SA", what, orList(missing))
	}
	if sa, ok := Find[*SA](payloads); ok {
		switch {
		case isResponse && len(sa.Proposals) != 1:
			return syntaxError("%s: SA payload with %d proposals, want the one accepted", what, len(sa.Proposals))
		case !isResponse && len(sa.Proposals) > 0 && sa.Proposals[0].Number != 1:
			return syntaxError("%s: first proposal numbered %d, want 1", what, sa.Proposals[0].Number)
		}
	}
	return nil
}

// CheckMessage checks a parsed message's outer structure: for IKE_SA_INIT
// its payloads as Check does; for the exchanges protected by SK, that SK
// or SKF carries everything. The one exception is an unprotected
// INFORMATIONAL message made of Notify payloads, such as INVALID_IKE_SPI
// (RFC 7296 §1.5), which the IKE SA must treat as unauthenticated. The
// inner payloads are checked with Check after decryption.
func CheckMessage(m *Message) error {
	what := fmt.Sprintf("%v %s", m.Exchange, direction(m.IsResponse()))
	r := findRule(m.Exchange, m.IsResponse())
	if r == nil || !r.encrypted {
		return Check(m.Exchange, m.IsResponse(), m.Payloads)
	}
	encrypted := false
	if n := len(m.Payloads); n > 0 {
		t := m.Payloads[n-1].PayloadType()
		encrypted = t == PayloadSK || t == PayloadSKF
	}
	for i, p := range m.Payloads {
		if _, ok := p.(*Unknown); ok || encrypted && i == len(m.Payloads)-1 {
			continue
		}
		if _, ok := p.(*Notify); ok && !encrypted && m.Exchange == Informational {
			continue
		}
		return syntaxError("%s: %v payload outside the SK payload", what, p.PayloadType())
	}
	if !encrypted && m.Exchange != Informational {
		return syntaxError("%s: no SK payload", what)
	}
	return nil
}

func (r *messageRule) bounds(t PayloadType) (occurs, bool) {
	for _, o := range r.payloads {
		if o.typ == t {
			return o, true
		}
	}
	return occurs{}, false
}

func countOf(counts map[PayloadType]int, types []PayloadType) int {
	n := 0
	for _, t := range types {
		if counts[t] > 0 {
			n++
		}
	}
	return n
}

// orList writes types as "IDi, AUTH or EAP".
func orList(types []PayloadType) string {
	s := make([]string, len(types))
	for i, t := range types {
		s[i] = t.String()
	}
	if len(s) < 2 {
		return strings.Join(s, "")
	}
	return strings.Join(s[:len(s)-1], ", ") + " or " + s[len(s)-1]
}
