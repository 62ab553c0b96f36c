package ike

import (
	"fmt"
	"slices"

	ikecrypto "github.com/sabre-ipsec/sabre/ike/crypto"
	"github.com/sabre-ipsec/sabre/ike/message"
	"github.com/sabre-ipsec/sabre/spd"
)

// Perfect forward secrecy for Child SAs (RFC 7296 §1.3.1, §2.12, §2.17): a
// policy whose algorithm list (`ipsec policy -e`, or -a for AH) names key
// exchange groups, as strongSwan's esp_proposals = aes128gcm16-x25519
// does, offers those groups in its CREATE_CHILD_SA proposals and sends a
// KE payload of the first; the Child SA's keys then come from a fresh
// Diffie-Hellman exchange as well as SK_d. The first Child SA, made in
// IKE_AUTH, has no KE (RFC 7296 §1.2): its proposals leave the groups out.

// splitPFS separates the key exchange group names of a policy's algorithm
// list from the algorithm names.
func splitPFS(names []string) (algs []string, groups []GroupID) {
	for _, n := range names {
		if g, err := GroupByName(n); err == nil {
			if !slices.Contains(groups, g) {
				groups = append(groups, g)
			}
			continue
		}
		algs = append(algs, n)
	}
	return algs, groups
}

// PFSGroups returns the key exchange groups policy p selects for PFS, in
// order of preference; none means no PFS. A group Sabre does not implement
// is an error naming it.
func PFSGroups(p *spd.Policy) ([]GroupID, error) {
	_, g1 := splitPFS(p.ESPAlgorithms)
	_, g2 := splitPFS(p.AHAlgorithms)
	groups := g1
	for _, g := range g2 {
		if !slices.Contains(groups, g) {
			groups = append(groups, g)
		}
	}
	for _, g := range groups {
		if !SupportedGroup(g) {
			return nil, fmt.Errorf("policy %d: PFS group %v is not implemented (use MODP2048+, ECP or CURVE25519)", p.ID, g)
		}
	}
	return groups, nil
}

// withGroups returns proposals with a DH transform for each of groups.
func withGroups(ps []message.Proposal, groups []GroupID) []message.Proposal {
	for i := range ps {
		ts := slices.Clone(ps[i].Transforms)
		for _, g := range groups {
			ts = append(ts, message.DHTransform(message.GroupID(g)))
		}
		ps[i].Transforms = ts
	}
	return ps
}

// pfsKey makes our key exchange half for group g.
func pfsKey(g GroupID) (*ikecrypto.PrivateKey, error) {
	grp, err := lookupGroup(g)
	if err != nil {
		return nil, err
	}
	return grp.GenerateKey()
}

// pfsSecret computes g^ir from our key and the peer's KE payload, which
// must be of our key's group (RFC 7296 §1.3.1), and zeroes our key.
func pfsSecret(dh *ikecrypto.PrivateKey, ke *message.KE) ([]byte, error) {
	defer dh.Zero()
	if GroupID(ke.Group) != dh.Group().ID() {
		return nil, fmt.Errorf("%w: peer's KE is of group %v, ours of %v", ErrInvalidKE, GroupID(ke.Group), dh.Group().ID())
	}
	gir, err := dh.SharedSecret(ke.Data)
	if err != nil {
		return nil, fmt.Errorf("%w: peer's KE: %w", ErrInvalidKE, err)
	}
	return gir, nil
}

// retryPFSGroup reads an INVALID_KE_PAYLOAD answer to Child SA request cr
// (RFC 7296 §1.3.1, §3.10.1): if it asks for another group the policy
// offers, and the request was not retried yet, it returns that group and
// marks it retried; the caller sends the request again with it.
func (d *Daemon) retryPFSGroup(sa *SA, cr *childRequest, retried *bool, ps []message.Payload) (GroupID, bool) {
	n, ok := message.FindNotify(ps, message.InvalidKEPayload)
	if !ok || cr == nil || cr.dh == nil || len(n.Data) != 2 || *retried {
		return 0, false
	}
	want := GroupID(uint16(n.Data[0])<<8 | uint16(n.Data[1]))
	p, err := d.cfg.Messaging.GetPolicy(cr.policyID)
	if err != nil {
		return 0, false
	}
	groups, err := PFSGroups(p)
	if err != nil || want == cr.group || !slices.Contains(groups, want) {
		return 0, false
	}
	*retried = true
	cr.dh.Zero()
	cr.dh = nil
	d.log.Info("Child SA: peer wants another PFS group", "ike_sa", sa.String(), "policy", cr.policyID, "sent", cr.group, "want", want)
	return want, true
}
