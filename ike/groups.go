package ike

import ikecrypto "github.com/sabre-ipsec/sabre/ike/crypto"

// lookupGroup returns the key exchange group Sabre implements for g.
// MODP 1024 and 1536 are weak (RFC 8247 §2.4) and only work when a remote
// names them explicitly, which IKEProposals allows.
func lookupGroup(g GroupID) (*ikecrypto.Group, error) {
	return ikecrypto.LookupGroup(g, ikecrypto.AllowWeakMODP)
}
