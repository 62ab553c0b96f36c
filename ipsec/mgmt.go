package ipsec

import (
	"net/netip"

	"github.com/sabre-ipsec/sabre/sad"
	"github.com/sabre-ipsec/sabre/spd"
	"github.com/sabre-ipsec/sabre/suite"
	"github.com/sabre-ipsec/sabre/xe"
)

// ManualSA is a manually keyed SA pair (inbound and outbound) for one
// policy, the parameters of the reference's IPSecMgmtAddSA.
type ManualSA struct {
	Encr                  suite.EncrID // ESP encryption; ignored for AH-only policies
	EncrKeyIn, EncrKeyOut []byte       // with salt/nonce appended where the algorithm has one
	Integ                 suite.IntegID
	IntegKeyIn            []byte
	IntegKeyOut           []byte
	// ESP and AH SPIs; those of protocols the policy does not use are
	// ignored.
	ESPSPIIn, ESPSPIOut uint32
	AHSPIIn, AHSPIOut   uint32
	// ESN enables 64-bit extended sequence numbers (RFC 4303 §2.2.1).
	ESN bool
	// ReplayWindow overrides the policy's window (packets). 0 takes the
	// policy's: its ReplayWindow when SP_CHECK_REPLAY is set, else none.
	ReplayWindow int
	// Local is this host's outer address. Tunnel mode defaults to the
	// policy's TunnelLocal; transport mode to the policy's source selector
	// when that is a single address.
	Local netip.Addr
	// Remote is the peer's outer address, when it differs from the
	// policy's remote endpoint: a key manager that found the peer behind a
	// NAT gives the address the NAT presents.
	Remote netip.Addr
	// Encap enables UDP encapsulation (RFC 3948) with these ports.
	Encap *sad.UDPEncap
	// Soft and Hard lifetimes of each SA.
	Soft, Hard sad.Lifetime
	// Only, if set, adds only the SAs of that direction: an IKE rekey's
	// responder adds the new outbound SA once the peer has the inbound one.
	Only sad.Direction
}

// AddManualSA installs the inbound and outbound SAs of m for policy id,
// the reference's IPSecMgmtAddSA. Either all of them are added or none.
func (e *Engine) AddManualSA(id uint32, m ManualSA) error {
	p := e.spd.Get(id)
	if p == nil {
		return xe.Errorf(xe.PolicyNotFound, "policy %d", id)
	}
	if p.Action != spd.Secure {
		return xe.Errorf(xe.BadParam, "policy %d is not a SECURE policy", id)
	}
	local, remote, err := saEndpoints(p, m.Local, m.Remote)
	if err != nil {
		return err
	}
	window := m.ReplayWindow
	if window == 0 && p.Flags&spd.FlagCheckReplay != 0 {
		window = p.ReplayWindow
	}
	shortICV := p.Flags&spd.FlagAuthSHA2ICVShort != 0
	base := sad.Config{Mode: p.Mode, PolicyID: id, ESN: m.ESN, SoftLifetime: m.Soft, HardLifetime: m.Hard, Encap: m.Encap}

	var cfgs []sad.Config
	if p.Flags&spd.FlagProtoESP != 0 {
		for _, dir := range []sad.Direction{sad.Inbound, sad.Outbound} {
			if m.Only != 0 && dir != m.Only {
				continue
			}
			c := base
			c.Protocol, c.Direction = sad.ESP, dir
			c.ESP = suite.ESPConfig{Encr: m.Encr, Integ: m.Integ, ShortICV: shortICV}
			if dir == sad.Inbound {
				c.SPI, c.Local, c.Remote, c.ReplayWindow = m.ESPSPIIn, local, remote, window
				c.ESP.EncrKey, c.ESP.IntegKey = m.EncrKeyIn, m.IntegKeyIn
			} else {
				c.SPI, c.Local, c.Remote = m.ESPSPIOut, local, remote
				c.ESP.EncrKey, c.ESP.IntegKey = m.EncrKeyOut, m.IntegKeyOut
			}
			if m.Encr.IsAEAD() {
				// A combined-mode cipher has its own ICV; the integrity
				// algorithm is AH's.
				c.ESP.Integ, c.ESP.IntegKey = suite.IntegNone, nil
			}
			cfgs = append(cfgs, c)
		}
	}
	if p.Flags&spd.FlagProtoAH != 0 {
		if m.Encap != nil {
			return xe.Errorf(xe.BadParam, "policy %d: AH cannot be UDP-encapsulated (RFC 3948 covers ESP only)", id)
		}
		for _, dir := range []sad.Direction{sad.Inbound, sad.Outbound} {
			if m.Only != 0 && dir != m.Only {
				continue
			}
			c := base
			c.Protocol, c.Direction, c.AHInteg, c.AHShortICV = sad.AH, dir, m.Integ, shortICV
			if dir == sad.Inbound {
				c.SPI, c.Local, c.Remote, c.ReplayWindow, c.AHKey = m.AHSPIIn, local, remote, window, m.IntegKeyIn
			} else {
				c.SPI, c.Local, c.Remote, c.AHKey = m.AHSPIOut, local, remote, m.IntegKeyOut
			}
			cfgs = append(cfgs, c)
		}
	}
	var sas []*sad.SA
	for _, c := range cfgs {
		sa, err := sad.New(c)
		if err != nil {
			closeAll(sas)
			return err
		}
		sas = append(sas, sa)
	}
	for i, sa := range sas {
		if err := e.sad.Add(sa); err != nil {
			for _, added := range sas[:i] {
				e.sad.DeleteSA(added)
			}
			closeAll(sas[i:])
			return err
		}
	}
	e.sessionChanged(p)
	return nil
}

// AddSA adds an SA built by a key manager and starts what its policy asks
// for (dummy packets).
func (e *Engine) AddSA(sa *sad.SA) error {
	if err := e.sad.Add(sa); err != nil {
		return err
	}
	if p := e.spd.Get(sa.PolicyID()); p != nil {
		e.sessionChanged(p)
	}
	return nil
}

func (e *Engine) sessionChanged(p *spd.Policy) {
	e.flushAcquired(p)
	if p.Flags&spd.FlagTxDummyPkt != 0 && p.Mode == spd.Tunnel && p.Flags&spd.FlagProtoESP != 0 {
		e.dummy.start(p.ID)
	}
}

func closeAll(sas []*sad.SA) {
	for _, sa := range sas {
		sa.Close()
	}
}

// saEndpoints returns the outer addresses of policy p's SAs.
func saEndpoints(p *spd.Policy, local, remote netip.Addr) (netip.Addr, netip.Addr, error) {
	if p.Mode == spd.Tunnel {
		if !local.IsValid() {
			local = p.TunnelLocal
		}
		if !remote.IsValid() {
			remote = p.TunnelRemote
		}
		if !local.IsValid() || !remote.IsValid() {
			return local, remote, xe.Errorf(xe.BadParam, "tunnel policy %d needs local and remote tunnel endpoints", p.ID)
		}
		if local.Is4() != remote.Is4() {
			return local, remote, xe.Errorf(xe.BadParam, "tunnel endpoints %v and %v are of different families", local, remote)
		}
		return local, remote, nil
	}
	if !remote.IsValid() {
		remote = p.TunnelRemote
	}
	if !remote.IsValid() && p.Dst.From() == p.Dst.To() {
		remote = p.Dst.From()
	}
	if !local.IsValid() && p.Src.From() == p.Src.To() {
		local = p.Src.From()
	}
	if !local.IsValid() || !remote.IsValid() {
		return local, remote, xe.Errorf(xe.BadParam, "transport policy %d: give the local address and a remote endpoint (or single-address selectors)", p.ID)
	}
	return local, remote, nil
}
