package sad

import (
	"fmt"
	"log/slog"
	"math"
	"net/netip"
	"sync/atomic"
	"time"

	"github.com/sabre-ipsec/sabre/rfc4301"
	"github.com/sabre-ipsec/sabre/suite"
	"github.com/sabre-ipsec/sabre/xe"
)

// Protocol is the IPsec protocol of an SA, by its IP protocol number.
type Protocol uint8

// Protocols.
const (
	// ProtocolAny matches both ESP and AH where a DB call takes a
	// protocol to match (the reference's IPSEC_PROTO_ANY); it is not the
	// protocol of an SA.
	ProtocolAny Protocol = 0
	ESP         Protocol = 50 // RFC 4303
	AH          Protocol = 51 // RFC 4302
)

// String returns the protocol's name.
func (p Protocol) String() string {
	switch p {
	case ProtocolAny:
		return "any"
	case ESP:
		return "ESP"
	case AH:
		return "AH"
	}
	return fmt.Sprintf("Protocol(%d)", uint8(p))
}

func (p Protocol) matches(q Protocol) bool { return p == ProtocolAny || p == q }

// Direction is whether an SA protects packets this host sends or receives:
// the one definition in rfc4301, shared with spd.
type Direction = rfc4301.Direction

// Directions. The zero Direction is invalid, so that a Config must say.
const (
	Inbound  = rfc4301.Inbound
	Outbound = rfc4301.Outbound
)

// Mode is the IPsec mode of an SA (RFC 4301 §4.1): the one definition in
// rfc4301, shared with spd. The zero Mode is invalid.
type Mode = rfc4301.Mode

// Modes.
const (
	Transport = rfc4301.Transport
	Tunnel    = rfc4301.Tunnel
)

// UDPEncap is the UDP encapsulation of ESP for NAT traversal (RFC 3948):
// the outer UDP ports, usually 4500 on both sides.
type UDPEncap struct {
	SrcPort, DstPort uint16
}

// Config describes an SA to New.
type Config struct {
	SPI       uint32
	Protocol  Protocol
	Direction Direction
	Mode      Mode
	// Local and Remote are the outer addresses: the tunnel endpoints in
	// tunnel mode, the hosts in transport mode. An inbound SA is found by
	// its SPI, protocol and Local address; an outbound SA sends to Remote.
	Local, Remote netip.Addr
	// PolicyID is the SPD policy whose Session the SA joins.
	PolicyID uint32

	// ESP keys an ESP SA's transform, built with suite.NewESP, unless
	// ESPTransform is set; then ESP must be zero and the SA takes
	// ownership of ESPTransform (it calls Close when deleted).
	ESP          suite.ESPConfig
	ESPTransform suite.ESP

	// AHInteg, AHKey and AHShortICV key an AH SA's transform, built with
	// suite.NewAH, unless AHTransform is set; then they must be zero and
	// the SA takes ownership of AHTransform.
	AHInteg     suite.IntegID
	AHKey       []byte
	AHShortICV  bool
	AHTransform suite.AH

	// ESN enables 64-bit extended sequence numbers (RFC 4303 §2.2.1).
	ESN bool
	// ReplayWindow is an inbound SA's anti-replay window in packets,
	// rounded up to a multiple of 64, at most MaxReplayWindow; 0 turns
	// anti-replay checking off. Outbound SAs ignore it.
	ReplayWindow int

	// SoftLifetime and HardLifetime limit the SA's use; zero fields are
	// unlimited. Time lifetimes count from Add and are enforced by the DB.
	SoftLifetime, HardLifetime Lifetime

	// Encap, if set, encapsulates an ESP SA's packets in UDP (RFC 3948).
	Encap *UDPEncap
}

// SA is a security association. Its configuration is read-only; its
// sequence number, counters and state are atomics, safe to use from many
// goroutines.
type SA struct {
	cfg    Config // with key material removed; the transforms hold the keys
	encap  UDPEncap
	esp    suite.ESP
	ah     suite.AH
	replay *ReplayWindow // inbound only

	seq   atomic.Uint64 // outbound: last sequence number handed out
	state atomic.Uint32 // a State

	// Counters are the SA's per-packet counters.
	Counters Counters

	refs     atomic.Int64 // the owner's (New, then the DB's) plus one per Acquire
	ownerRef atomic.Bool  // the owner's reference has been dropped
	deadErr  atomic.Value // error returned once Dead, set before the state changes
	db       atomic.Pointer[DB]
	addedAt  atomic.Int64 // UnixNano, by the DB's clock

	// Guarded by db.mu.
	inDB         bool
	timers       []*timerEntry // time lifetimes waiting in the DB's scheduler
	addSeq       uint64        // add order in the DB
	older, newer *SA           // neighbours in the DB's list in add order
	demoted      bool          // never the current outbound SA again (DB.Demote)
}

// New validates cfg and builds its SA, Mature and in no DB. The SA owns its
// transform; Close, or deletion from a DB, zeroes its keys. New does not
// keep cfg's key slices.
func New(cfg Config) (*SA, error) {
	if err := cfg.validate(); err != nil {
		return nil, err
	}
	s := &SA{cfg: cfg}
	s.cfg.Local, s.cfg.Remote = cfg.Local.Unmap(), cfg.Remote.Unmap()
	if cfg.Encap != nil {
		s.encap = *cfg.Encap
		s.cfg.Encap = &s.encap
	}
	if cfg.Direction == Inbound {
		var err error
		if s.replay, err = NewReplayWindow(cfg.ReplayWindow, cfg.ESN); err != nil {
			return nil, err
		}
	} else {
		s.cfg.ReplayWindow = 0
	}
	var err error
	if s.esp, s.ah, err = buildTransform(&cfg); err != nil {
		return nil, err
	}
	// Drop references to the caller's keys and transforms.
	s.cfg.ESP.EncrKey, s.cfg.ESP.IntegKey, s.cfg.AHKey = nil, nil, nil
	s.cfg.ESPTransform, s.cfg.AHTransform = nil, nil
	s.state.Store(uint32(Mature))
	s.refs.Store(1)
	return s, nil
}

func (c *Config) validate() error {
	switch c.Protocol {
	case ESP, AH:
	default:
		return xe.Errorf(xe.BadParam, "SA protocol %d: neither ESP (50) nor AH (51)", uint8(c.Protocol))
	}
	if c.SPI <= 255 {
		// RFC 4303 §2.1: 1..255 are reserved by IANA, 0 for local use.
		code := xe.BadESPSPI
		if c.Protocol == AH {
			code = xe.BadAHSPI
		}
		return xe.Errorf(code, "%v SPI %d: 0..255 are reserved", c.Protocol, c.SPI)
	}
	if c.Direction != Inbound && c.Direction != Outbound {
		return xe.Errorf(xe.BadParam, "SPI %#08x: direction %d: neither inbound nor outbound", c.SPI, uint8(c.Direction))
	}
	if c.Mode != Transport && c.Mode != Tunnel {
		return xe.Errorf(xe.BadParam, "SPI %#08x: mode %d: neither transport nor tunnel", c.SPI, uint8(c.Mode))
	}
	l, r := c.Local.Unmap(), c.Remote.Unmap()
	if !l.IsValid() || !r.IsValid() {
		return xe.Errorf(xe.BadParam, "SPI %#08x: local %v, remote %v: both addresses are required", c.SPI, c.Local, c.Remote)
	}
	if l.Is4() != r.Is4() {
		return xe.Errorf(xe.BadParam, "SPI %#08x: local %v and remote %v are of different families", c.SPI, l, r)
	}
	if c.ReplayWindow < 0 || c.ReplayWindow > MaxReplayWindow {
		return xe.Errorf(xe.BadParam, "SPI %#08x: replay window %d: not in 0..%d", c.SPI, c.ReplayWindow, MaxReplayWindow)
	}
	if err := checkLifetimes(c.SoftLifetime, c.HardLifetime); err != nil {
		return xe.Errorf(xe.BadParam, "SPI %#08x: %v", c.SPI, err)
	}
	if c.Encap != nil {
		if c.Protocol != ESP {
			return xe.Errorf(xe.BadParam, "SPI %#08x: UDP encapsulation (RFC 3948) is for ESP, not %v", c.SPI, c.Protocol)
		}
		if c.Encap.SrcPort == 0 || c.Encap.DstPort == 0 {
			return xe.Errorf(xe.BadPortNumber, "SPI %#08x: UDP encapsulation ports %d->%d: 0 is not a port", c.SPI, c.Encap.SrcPort, c.Encap.DstPort)
		}
	}
	espSet := c.ESP.Encr != 0 || c.ESP.Integ != 0 || len(c.ESP.EncrKey) != 0 || len(c.ESP.IntegKey) != 0 || c.ESP.ShortICV
	ahSet := c.AHInteg != suite.IntegNone || len(c.AHKey) != 0 || c.AHShortICV
	switch c.Protocol {
	case ESP:
		if ahSet || c.AHTransform != nil {
			return xe.Errorf(xe.BadParam, "ESP SA SPI %#08x: has an AH transform", c.SPI)
		}
		if c.ESPTransform != nil && espSet {
			return xe.Errorf(xe.BadParam, "ESP SA SPI %#08x: both an ESP config and a built ESP transform", c.SPI)
		}
		if c.ESPTransform == nil && !espSet {
			return xe.Errorf(xe.UnknownAlgorithm, "ESP SA SPI %#08x: no ESP transform", c.SPI)
		}
	case AH:
		if espSet || c.ESPTransform != nil {
			return xe.Errorf(xe.BadParam, "AH SA SPI %#08x: has an ESP transform", c.SPI)
		}
		if c.AHTransform != nil && ahSet {
			return xe.Errorf(xe.BadParam, "AH SA SPI %#08x: both an AH config and a built AH transform", c.SPI)
		}
		if c.AHTransform == nil && c.AHInteg == suite.IntegNone {
			return xe.Errorf(xe.UnknownAlgorithm, "AH SA SPI %#08x: no integrity algorithm", c.SPI)
		}
	}
	return nil
}

// SPI returns the SA's Security Parameters Index.
func (s *SA) SPI() uint32 { return s.cfg.SPI }

// Protocol returns ESP or AH.
func (s *SA) Protocol() Protocol { return s.cfg.Protocol }

// Direction returns Inbound or Outbound.
func (s *SA) Direction() Direction { return s.cfg.Direction }

// Mode returns Transport or Tunnel.
func (s *SA) Mode() Mode { return s.cfg.Mode }

// Local returns this host's outer address.
func (s *SA) Local() netip.Addr { return s.cfg.Local }

// Remote returns the peer's outer address.
func (s *SA) Remote() netip.Addr { return s.cfg.Remote }

// Src returns the outer source address of the SA's packets.
func (s *SA) Src() netip.Addr {
	if s.cfg.Direction == Inbound {
		return s.cfg.Remote
	}
	return s.cfg.Local
}

// Dst returns the outer destination address of the SA's packets, which
// with the SPI and protocol identifies the SA (RFC 4301 §4.1).
func (s *SA) Dst() netip.Addr {
	if s.cfg.Direction == Inbound {
		return s.cfg.Local
	}
	return s.cfg.Remote
}

// PolicyID returns the id of the SPD policy the SA belongs to.
func (s *SA) PolicyID() uint32 { return s.cfg.PolicyID }

// ESN reports whether the SA uses extended sequence numbers.
func (s *SA) ESN() bool { return s.cfg.ESN }

// SoftLifetime returns the soft lifetime.
func (s *SA) SoftLifetime() Lifetime { return s.cfg.SoftLifetime }

// HardLifetime returns the hard lifetime.
func (s *SA) HardLifetime() Lifetime { return s.cfg.HardLifetime }

// Encap returns the UDP encapsulation and whether there is one.
func (s *SA) Encap() (UDPEncap, bool) { return s.encap, s.cfg.Encap != nil }

// ESP returns an ESP SA's transform, nil for AH.
func (s *SA) ESP() suite.ESP { return s.esp }

// AH returns an AH SA's transform, nil for ESP.
func (s *SA) AH() suite.AH { return s.ah }

// Replay returns an inbound SA's replay window, nil for outbound.
func (s *SA) Replay() *ReplayWindow { return s.replay }

// State returns the SA's state.
func (s *SA) State() State { return State(s.state.Load()) }

// AddedAt returns when the SA was added to a DB, zero if it never was.
func (s *SA) AddedAt() time.Time {
	if ns := s.addedAt.Load(); ns != 0 {
		return time.Unix(0, ns)
	}
	return time.Time{}
}

// Algorithm returns the name of the SA's transform, e.g. "aes128gcm16".
func (s *SA) Algorithm() string {
	switch {
	case s.esp != nil:
		return s.esp.Name()
	case s.ah != nil:
		return s.ah.Name()
	}
	return ""
}

// String describes the SA without its keys.
func (s *SA) String() string {
	return fmt.Sprintf("%v %v SA SPI %#08x %v->%v", s.cfg.Protocol, s.cfg.Direction, s.cfg.SPI, s.Src(), s.Dst())
}

// LogValue makes an SA a structured log/slog attribute.
func (s *SA) LogValue() slog.Value {
	return slog.GroupValue(
		slog.String("spi", fmt.Sprintf("%#08x", s.cfg.SPI)),
		slog.String("proto", s.cfg.Protocol.String()),
		slog.String("dir", s.cfg.Direction.String()),
		slog.String("dst", s.Dst().String()),
		slog.Uint64("policy", uint64(s.cfg.PolicyID)),
	)
}

// NextSequence returns the sequence number for the next outbound packet:
// 1 for the first (RFC 4303 §3.3.3). The counter never cycles: once 2^32-1
// (2^64-1 with ESN) has been sent it fails with xe.SAExpired and marks the
// SA Dying so that it is rekeyed. Concurrent callers get distinct numbers.
func (s *SA) NextSequence() (uint64, error) {
	if s.State() == Dead {
		return 0, s.deadError()
	}
	limit := uint64(math.MaxUint32)
	if s.cfg.ESN {
		limit = math.MaxUint64
	}
	for {
		n := s.seq.Load()
		if n >= limit {
			s.softExpire("sequence number space exhausted")
			return 0, xe.Errorf(xe.SAExpired, "%v: sequence number %d sent, the counter may not cycle", s, n)
		}
		if s.seq.CompareAndSwap(n, n+1) {
			return n + 1, nil
		}
	}
}

// CheckReplay infers the full sequence number of an inbound packet and
// checks it against the replay window (see ReplayWindow.Check), counting a
// drop in Counters.ReplayDrops.
func (s *SA) CheckReplay(seqLow uint32) (uint64, error) {
	if s.replay == nil {
		return 0, xe.Errorf(xe.BadParam, "%v: no replay window on an outbound SA", s)
	}
	seq, err := s.replay.Check(seqLow)
	if err != nil {
		s.Counters.ReplayDrops.Add(1)
	}
	return seq, err
}

// CheckReplayDrop is CheckReplay recording a failure in d, which it
// returns as the error: the packet path's version, which allocates
// nothing.
func (s *SA) CheckReplayDrop(seqLow uint32, d *xe.Drop) (uint64, error) {
	if s.replay == nil {
		return 0, d.Set(xe.BadParam, "no replay window on outbound SA %#08x", xe.Uint(s.cfg.SPI))
	}
	seq, err := s.replay.CheckDrop(seqLow, d)
	if err != nil {
		s.Counters.ReplayDrops.Add(1)
	}
	return seq, err
}

// CommitReplay marks seq received once the packet's ICV verified (see
// ReplayWindow.Commit), counting a drop in Counters.ReplayDrops.
func (s *SA) CommitReplay(seq uint64) error {
	if s.replay == nil {
		return xe.Errorf(xe.BadParam, "%v: no replay window on an outbound SA", s)
	}
	err := s.replay.Commit(seq)
	if err != nil {
		s.Counters.ReplayDrops.Add(1)
	}
	return err
}

// Acquire takes a reference that keeps the SA's keys alive while a packet
// uses them. It fails once the SA is Dead. Every successful Acquire must be
// followed by a Release.
func (s *SA) Acquire() bool {
	if s.State() == Dead {
		return false
	}
	for {
		r := s.refs.Load()
		if r <= 0 {
			return false
		}
		if s.refs.CompareAndSwap(r, r+1) {
			return true
		}
	}
}

// Release drops a reference taken by Acquire.
func (s *SA) Release() { s.release() }

// Close discards an SA: it is deleted from its DB if it is in one, and
// otherwise marked Dead; its keys are zeroed once no packet holds it.
func (s *SA) Close() {
	if db := s.db.Load(); db != nil {
		db.DeleteSA(s) // drops the owner's reference, or someone else did
		return
	}
	s.kill(xe.Errorf(xe.SAExpired, "%v closed", s))
	s.dropOwner()
}

// kill marks the SA Dead with err as the error of later packets. It reports
// whether this call made it Dead.
func (s *SA) kill(err error) bool {
	s.deadErr.CompareAndSwap(nil, err)
	return s.transition(Dead)
}

func (s *SA) deadError() error {
	if err, _ := s.deadErr.Load().(error); err != nil {
		return err
	}
	return xe.Errorf(xe.SAExpired, "%v is dead", s)
}

func (s *SA) dropOwner() {
	if s.ownerRef.CompareAndSwap(false, true) {
		s.release()
	}
}

func (s *SA) release() {
	if s.refs.Add(-1) == 0 {
		if s.esp != nil {
			s.esp.Close()
		}
		if s.ah != nil {
			s.ah.Close()
		}
	}
}
