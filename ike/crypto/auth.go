package ikecrypto

import "crypto/subtle"

// keyPad is the string a shared secret is first keyed with (RFC 7296
// §2.15), 17 ASCII octets without a terminating NUL.
const keyPad = "Key Pad for IKEv2"

// MACedID returns prf(SK_p, RestOfIDPayload), the last part of the signed
// octets (RFC 7296 §2.15): skp is SK_pi for the initiator's AUTH and SK_pr
// for the responder's, and idBody is the ID payload after its generic
// payload header (ID Type, the three reserved octets and the
// identification data).
func (p *PRF) MACedID(skp, idBody []byte) []byte {
	return p.Compute(skp, idBody)
}

// SignedOctets returns the octets an AUTH payload covers (RFC 7296 §2.15):
//
//	InitiatorSignedOctets = RealMessage1 | NonceRData | MACedIDForI
//	ResponderSignedOctets = RealMessage2 | NonceIData | MACedIDForR
//
// realMessage is the sender's IKE_SA_INIT message as sent (from the IKE
// header on, without a UDP or non-ESP marker prefix), peerNonce the nonce
// data of the other side's Nonce payload, and skp and idBody as MACedID
// takes them.
func (p *PRF) SignedOctets(realMessage, peerNonce, skp, idBody []byte) []byte {
	out := make([]byte, 0, len(realMessage)+len(peerNonce)+p.size)
	out = append(append(out, realMessage...), peerNonce...)
	return append(out, p.MACedID(skp, idBody)...)
}

// SharedKeyAuth returns the AUTH data of the Shared Key Message Integrity
// Code method (RFC 7296 §2.15):
//
//	AUTH = prf( prf(Shared Secret, "Key Pad for IKEv2"), <SignedOctets>)
//
// secret is the pre-shared key, or the EAP MSK (or SK_pi/SK_pr when the EAP
// method produces none, §2.16).
func (p *PRF) SharedKeyAuth(secret, signedOctets []byte) []byte {
	k := p.Compute(secret, []byte(keyPad))
	defer clear(k)
	return p.Compute(k, signedOctets)
}

// VerifyAuth reports whether the AUTH data a peer sent equals the expected
// value, in time that depends only on the lengths.
func VerifyAuth(received, expected []byte) bool {
	return subtle.ConstantTimeCompare(received, expected) == 1
}
