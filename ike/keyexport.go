package ike

// Key export: a deliberately narrow hook for decrypting captures in a
// protocol analyser (Wireshark's IKEv2 decryption table and ESP SA
// table), as `sabre demo -keys` does. Nothing else in the daemon hands out
// keys: `ike netstat` and Status never show them, and an IKE SA drops its
// SK_e and SK_a keys as soon as it is established (SA.compact).
//
// The hook is off unless a program sets it. It is called twice per
// successful negotiation of a host: once when the IKE SA is established
// (before the keys are dropped) and once per Child SA installed, the first
// one in IKE_AUTH and later ones in CREATE_CHILD_SA (rekeys included).

import (
	"fmt"
	"net/netip"
	"slices"

	"github.com/sabre-ipsec/sabre/ike/message"
	"github.com/sabre-ipsec/sabre/ipsec"
	"github.com/sabre-ipsec/sabre/sad"
	"github.com/sabre-ipsec/sabre/suite"
)

// KeyExport is the key material of one newly established SA. Exactly one
// of IKE and Child is set. The slices are copies the receiver owns; they
// are secrets: write them only where the operator asked, readable by the
// owner only, and clear them when done.
type KeyExport struct {
	IKE   *IKESAKeyExport
	Child *ChildSAKeyExport
}

// IKESAKeyExport is an IKE SA's keys (RFC 7296 §2.14), named as the
// exchange's roles name them: SK_ei, SK_ai protect what the original
// initiator sends, whichever end this host is.
type IKESAKeyExport struct {
	SPIi, SPIr uint64
	// Initiator reports whether this host is the original initiator.
	Initiator   bool
	Local, Peer netip.AddrPort
	Remote      string // the `ike remote` name
	Encr        EncrAlg
	Integ       suite.IntegID // suite.IntegNone with an AEAD cipher
	PRF         PRFID
	Group       GroupID
	Summary     string // the algorithms as `ike netstat` shows them
	// SK_ei and SK_er include the salt of AEAD ciphers (RFC 5282 §7.1),
	// SK_ai and SK_ar are empty with them.
	SKei, SKer, SKai, SKar []byte
}

// ChildSAKeyExport is a Child SA pair's keys (RFC 7296 §2.17) as the data
// plane got them: inbound (Remote to Local, our SPI) and outbound (Local
// to Remote, the peer's SPI).
type ChildSAKeyExport struct {
	// IKESPIi and IKESPIr name the IKE SA that negotiated it.
	IKESPIi, IKESPIr uint64
	PolicyID         uint32
	ESP              bool // ESP, else AH
	Tunnel           bool
	// Local and Remote are the outer addresses on the wire; Encap the UDP
	// ports when ESP is UDP-encapsulated (RFC 3948), else nil.
	Local, Remote netip.Addr
	Encap         *sad.UDPEncap
	Encr          EncrAlg // zero for AH
	Integ         suite.IntegID
	ESN           bool
	Summary       string
	SPIIn, SPIOut uint32
	// Encryption keys include the salt or nonce of AES-GCM, AES-CTR,
	// AES-GMAC and ChaCha20-Poly1305 (RFC 4106 §8.1 and kin).
	EncrKeyIn, EncrKeyOut, IntegKeyIn, IntegKeyOut []byte
}

// SetKeyExport sets the function that receives the keys of every SA d
// establishes from now on; nil turns the export off. f runs synchronously
// on the goroutine that completes the negotiation, with the IKE SA held:
// it must return quickly and must not call d.
//
// Use it only to decrypt captures of traffic one is entitled to read:
// anyone holding the exported keys can read, and with the IKE SA's keys
// forge, what the SAs protect.
func (d *Daemon) SetKeyExport(f func(KeyExport)) {
	if f == nil {
		d.keyExportFn.Store(nil)
		return
	}
	d.keyExportFn.Store(&f)
}

func (d *Daemon) keyExport() func(KeyExport) {
	if f := d.keyExportFn.Load(); f != nil {
		return *f
	}
	return nil
}

// exportIKEKeys hands the keys of sa, just established, to the hook. It
// must run before sa.compact.
func (d *Daemon) exportIKEKeys(sa *SA) {
	f := d.keyExport()
	if f == nil || sa.keys == nil {
		return
	}
	name := ""
	if sa.remote != nil {
		name = sa.remote.Name
	}
	f(KeyExport{IKE: &IKESAKeyExport{
		SPIi: sa.key.SPIi, SPIr: sa.key.SPIr, Initiator: sa.initiator,
		Local: sa.local, Peer: sa.peer, Remote: name,
		Encr: sa.algs.Encr, Integ: sa.algs.Integ, PRF: sa.algs.PRF, Group: sa.algs.Group, Summary: sa.algs.Summary,
		SKei: slices.Clone(sa.keys.SKei), SKer: slices.Clone(sa.keys.SKer),
		SKai: slices.Clone(sa.keys.SKai), SKar: slices.Clone(sa.keys.SKar),
	}})
}

// exportChildKeys hands the keys of Child SA c, just installed as m, to
// the hook.
func (d *Daemon) exportChildKeys(sa *SA, c *child, m *ipsec.ManualSA) {
	f := d.keyExport()
	if f == nil {
		return
	}
	x := &ChildSAKeyExport{
		IKESPIi: sa.key.SPIi, IKESPIr: sa.key.SPIr, PolicyID: c.policyID,
		ESP: c.proto == message.ProtocolESP, Tunnel: c.tunnel,
		Local: m.Local, Remote: m.Remote,
		Integ: c.algs.Integ, ESN: c.algs.ESN, Summary: c.algs.Summary,
		SPIIn: c.inSPI, SPIOut: c.outSPI,
		EncrKeyIn: slices.Clone(m.EncrKeyIn), EncrKeyOut: slices.Clone(m.EncrKeyOut),
		IntegKeyIn: slices.Clone(m.IntegKeyIn), IntegKeyOut: slices.Clone(m.IntegKeyOut),
	}
	if x.ESP {
		x.Encr = c.algs.Encr
	}
	if m.Encap != nil {
		e := *m.Encap
		x.Encap = &e
	}
	f(KeyExport{Child: x})
}

// String describes the export without its keys.
func (k KeyExport) String() string {
	switch {
	case k.IKE != nil:
		return fmt.Sprintf("IKE SA %016x_i %016x_r %s", k.IKE.SPIi, k.IKE.SPIr, k.IKE.Summary)
	case k.Child != nil:
		return fmt.Sprintf("Child SA %08x/%08x %s", k.Child.SPIIn, k.Child.SPIOut, k.Child.Summary)
	}
	return "no SA"
}
