package ike

import (
	"fmt"
	"slices"
	"strings"

	ikecrypto "github.com/sabre-ipsec/sabre/ike/crypto"
	"github.com/sabre-ipsec/sabre/ike/message"
	"github.com/sabre-ipsec/sabre/suite"
)

// KeyedEncr reports whether an encryption ID takes a Key Length attribute
// (RFC 7296 §3.3.5: variable-key-length ciphers; 3DES and ChaCha20 have
// fixed keys and must not carry one).
func KeyedEncr(id suite.EncrID) bool {
	return id != suite.Encr3DES && id != suite.EncrChaCha20Poly1305 && id != suite.EncrNull
}

func encrTransform(e EncrAlg) message.Transform {
	bits := uint16(0)
	if KeyedEncr(e.ID) {
		bits = uint16(e.KeyBits)
	}
	return message.EncrTransform(message.EncrID(e.ID), bits)
}

// IKEProposals returns the IKE SA proposals for remote r: AEAD ciphers and
// the others go in separate proposals, since an AEAD proposal carries no
// integrity transform (RFC 5282 §8). Groups Sabre does not implement are
// left out.
//
// Algorithms Sabre does not implement for the IKE SA (3DES-CBC, HMAC-MD5
// and PRF-HMAC-MD5, which RFC 8247 no longer recommends) are left out;
// AddRemote refuses a remote left with nothing.
func IKEProposals(r *Remote) []message.Proposal {
	var aead, plain message.Proposal
	for _, e := range r.Encr {
		if e.ID.IsAEAD() {
			if _, err := ikecrypto.SKOverheadOf(e.ID, suite.IntegNone); err == nil {
				aead.Transforms = append(aead.Transforms, encrTransform(e))
			}
		} else if _, err := ikecrypto.SKOverheadOf(e.ID, suite.IntegHMACSHA256128); err == nil {
			plain.Transforms = append(plain.Transforms, encrTransform(e))
		}
	}
	common := func(p *message.Proposal) {
		for _, id := range r.PRF {
			if _, err := ikecrypto.NewPRF(id); err == nil {
				p.Transforms = append(p.Transforms, message.PRFTransform(id))
			}
		}
		for _, g := range r.Groups {
			if SupportedGroup(g) {
				p.Transforms = append(p.Transforms, message.DHTransform(g))
			}
		}
	}
	var out []message.Proposal
	if len(aead.Transforms) > 0 {
		common(&aead)
		out = append(out, aead)
	}
	if len(plain.Transforms) > 0 {
		for _, i := range r.Integ {
			if _, err := ikecrypto.SKOverheadOf(suite.EncrAESCBC, i); err == nil {
				plain.Transforms = append(plain.Transforms, message.IntegTransform(message.IntegID(i)))
			}
		}
		common(&plain)
		out = append(out, plain)
	}
	for i := range out {
		out[i].Number = uint8(i + 1)
		out[i].Protocol = message.ProtocolIKE
	}
	return out
}

// ChildProposals returns the ESP (or AH) proposals for a policy's
// algorithm names (`ipsec policy -e/-a`), with SPI spi, offering ESN and
// no ESN. esp false makes AH proposals from the integrity names alone.
func ChildProposals(esp bool, encrNames, integNames []string, spi uint32) ([]message.Proposal, error) {
	var aead, plain message.Proposal
	var integ []message.Transform
	for _, n := range integNames {
		id, err := suite.IntegByName(n)
		if err != nil {
			return nil, err
		}
		integ = append(integ, message.IntegTransform(message.IntegID(id)))
	}
	if esp {
		for _, n := range encrNames {
			id, bits, err := suite.EncrByName(n)
			if err != nil {
				return nil, err
			}
			t := encrTransform(EncrAlg{ID: id, KeyBits: bits})
			if id.IsAEAD() {
				aead.Transforms = append(aead.Transforms, t)
			} else {
				plain.Transforms = append(plain.Transforms, t)
			}
		}
		if len(aead.Transforms)+len(plain.Transforms) == 0 {
			return nil, fmt.Errorf("ESP policy without encryption algorithms")
		}
		if len(plain.Transforms) > 0 && len(integ) == 0 {
			return nil, fmt.Errorf("ESP with %v needs an integrity algorithm", plain.Transforms[0].IDString())
		}
	} else {
		if len(integ) == 0 {
			return nil, fmt.Errorf("AH policy without integrity algorithms")
		}
		plain.Transforms = nil
	}
	proto := message.ProtocolESP
	if !esp {
		proto = message.ProtocolAH
	}
	spiBytes := []byte{byte(spi >> 24), byte(spi >> 16), byte(spi >> 8), byte(spi)}
	esn := []message.Transform{message.ESNTransform(1), message.ESNTransform(0)}
	var out []message.Proposal
	if len(aead.Transforms) > 0 {
		aead.Transforms = append(aead.Transforms, esn...)
		out = append(out, aead)
	}
	if len(plain.Transforms) > 0 || !esp {
		plain.Transforms = append(plain.Transforms, integ...)
		plain.Transforms = append(plain.Transforms, esn...)
		out = append(out, plain)
	}
	for i := range out {
		out[i].Number = uint8(i + 1)
		out[i].Protocol = proto
		out[i].SPI = spiBytes
	}
	return out, nil
}

// SupportedGroup reports whether Sabre implements key exchange group g.
func SupportedGroup(g GroupID) bool {
	switch g {
	case message.MODP768, message.MODP6144, message.MODP8192:
		return false
	}
	_, err := lookupGroup(g)
	return err == nil
}

// sameTransform compares type, ID and key length.
func sameTransform(a, b message.Transform) bool {
	if a.Type != b.Type || a.ID != b.ID {
		return false
	}
	ka, _ := a.KeyLength()
	kb, _ := b.KeyLength()
	return ka == kb
}

// Select is the responder's proposal selection (RFC 7296 §2.7): walking its
// own proposals in its configured order of preference, it takes the first
// of the peer's proposals (of the same protocol) that offers, for every
// transform type of ours, at least one transform we have; of those it picks
// the one we prefer. The result keeps the peer's proposal number and SPI and
// holds one transform per type. ok is false for NO_PROPOSAL_CHOSEN.
func Select(ours, theirs []message.Proposal) (message.Proposal, bool) {
	for _, o := range ours {
		for _, t := range theirs {
			if t.Protocol != o.Protocol {
				continue
			}
			if p, ok := intersect(o, t); ok {
				return p, true
			}
		}
	}
	return message.Proposal{}, false
}

func intersect(ours, theirs message.Proposal) (message.Proposal, bool) {
	types := map[message.TransformType]bool{}
	for _, tr := range ours.Transforms {
		types[tr.Type] = true
	}
	// The peer must not require a type we lack (other than none: an AEAD
	// proposal of ours has no INTEG; a peer proposal with INTEG NONE is
	// fine).
	for _, tr := range theirs.Transforms {
		if !types[tr.Type] && !(tr.Type == message.TransformINTEG && tr.ID == 0) && !(tr.Type == message.TransformDH && tr.ID == 0) {
			return message.Proposal{}, false
		}
	}
	out := message.Proposal{Number: theirs.Number, Protocol: theirs.Protocol, SPI: theirs.SPI}
	order := []message.TransformType{message.TransformENCR, message.TransformPRF, message.TransformINTEG, message.TransformDH, message.TransformESN}
	for _, typ := range order {
		if !types[typ] {
			continue
		}
		found := false
		for _, mine := range ours.Transforms {
			if mine.Type != typ {
				continue
			}
			if slices.ContainsFunc(theirs.Transforms, func(t message.Transform) bool { return sameTransform(mine, t) }) {
				out.Transforms = append(out.Transforms, mine)
				found = true
				break
			}
		}
		if !found {
			return message.Proposal{}, false
		}
	}
	return out, true
}

// Accepts reports whether the single-transform proposal the responder chose
// is one we offered (the initiator's check, RFC 7296 §2.7).
func Accepts(offered []message.Proposal, chosen message.Proposal) bool {
	for _, o := range offered {
		if o.Number != chosen.Number || o.Protocol != chosen.Protocol {
			continue
		}
		seen := map[message.TransformType]bool{}
		for _, c := range chosen.Transforms {
			if seen[c.Type] || !slices.ContainsFunc(o.Transforms, func(t message.Transform) bool { return sameTransform(c, t) }) {
				return false
			}
			seen[c.Type] = true
		}
		for _, t := range o.Transforms {
			if !seen[t.Type] {
				return false
			}
		}
		return true
	}
	return false
}

// Transforms is a negotiated proposal by transform type.
type Transforms struct {
	Encr    EncrAlg
	Integ   suite.IntegID
	PRF     PRFID
	Group   GroupID // 0: none
	ESN     bool
	HasDH   bool
	Proto   message.ProtocolID
	SPI     []byte
	Summary string
}

// Chosen reads a single-transform proposal.
func Chosen(p message.Proposal) Transforms {
	t := Transforms{Proto: p.Protocol, SPI: p.SPI}
	var names []string
	for _, tr := range p.Transforms {
		switch tr.Type {
		case message.TransformENCR:
			bits, _ := tr.KeyLength()
			t.Encr = EncrAlg{ID: suite.EncrID(tr.ID), KeyBits: int(bits)}
			if t.Encr.KeyBits == 0 && t.Encr.ID == suite.Encr3DES {
				t.Encr.KeyBits = 192
			}
			if t.Encr.ID == suite.EncrChaCha20Poly1305 {
				t.Encr.KeyBits = 256
			}
			names = append(names, t.Encr.String())
		case message.TransformINTEG:
			t.Integ = suite.IntegID(tr.ID)
			if tr.ID != 0 {
				names = append(names, IntegName(t.Integ))
			}
		case message.TransformPRF:
			t.PRF = PRFID(tr.ID)
			names = append(names, "PRF-"+PRFName(t.PRF))
		case message.TransformDH:
			t.Group, t.HasDH = GroupID(tr.ID), tr.ID != 0
			if tr.ID != 0 {
				names = append(names, GroupName(t.Group))
			}
		case message.TransformESN:
			t.ESN = tr.ID == 1
			if t.ESN {
				names = append(names, "ESN")
			}
		}
	}
	t.Summary = strings.Join(names, "/")
	return t
}

// usableProposals reports whether every proposal has each transform type
// an IKE SA needs: encryption, PRF, key exchange, and integrity unless the
// cipher is an AEAD.
func usableProposals(ps []message.Proposal) bool {
	if len(ps) == 0 {
		return false
	}
	for _, p := range ps {
		have := map[message.TransformType]bool{}
		aead := false
		for _, t := range p.Transforms {
			have[t.Type] = true
			if t.Type == message.TransformENCR && suite.EncrID(t.ID).IsAEAD() {
				aead = true
			}
		}
		if !have[message.TransformENCR] || !have[message.TransformPRF] || !have[message.TransformDH] || !aead && !have[message.TransformINTEG] {
			return false
		}
	}
	return true
}

// proposalsString describes proposals for the log as strongSwan does
// ("received proposals: ..., configured proposals: ..."): each proposal's
// protocol and transforms joined by "/", proposals by ", ".
func proposalsString(ps []message.Proposal) string {
	var b strings.Builder
	for i, p := range ps {
		if i > 0 {
			b.WriteString(", ")
		}
		b.WriteString(p.Protocol.String())
		for j, t := range p.Transforms {
			if j == 0 {
				b.WriteByte(':')
			} else {
				b.WriteByte('/')
			}
			b.WriteString(t.IDString())
			if bits, ok := t.KeyLength(); ok && bits > 0 {
				fmt.Fprintf(&b, "_%d", bits)
			}
		}
	}
	return b.String()
}
