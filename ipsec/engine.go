package ipsec

import (
	"math/rand/v2"
	"sync/atomic"
	"time"

	"github.com/sabre-ipsec/sabre/classify"
	"github.com/sabre-ipsec/sabre/pktbuf"
	"github.com/sabre-ipsec/sabre/reassembly"
	"github.com/sabre-ipsec/sabre/sad"
	"github.com/sabre-ipsec/sabre/spd"
)

// Config tunes an Engine. The zero value is usable.
type Config struct {
	// MTU is the path MTU of the outer packets; TFC padding never makes a
	// packet longer than this. Default 1500.
	MTU int
	// TTL is the outer header's TTL / hop limit in tunnel mode. Default 64.
	TTL uint8
	// NATTPorts are the UDP destination ports on which Decapsulate accepts
	// UDP-encapsulated ESP (RFC 3948). Default {4500}. Encapsulation uses
	// the ports each SA carries.
	NATTPorts []uint16
	// DefaultBypass lets packets that match no policy through. By default
	// they are dropped, as RFC 4301 §4.4.1 requires.
	DefaultBypass bool
	// Output sends a packet Sabre generated itself (dummy packets). It
	// gets an outer packet ready for the wire and owns the buffer.
	Output func(b *pktbuf.Buffer)
	// Acquire, when set, is called when an outbound packet needs SAs that
	// do not exist yet, once per negotiation (see also SetAcquireHandler,
	// which the messaging layer uses).
	Acquire func(p *spd.Policy, key *classify.Packet)
	// Reassembly configures outer-fragment reassembly.
	Reassembly reassembly.Config
	// Now is the clock; time.Now by default.
	Now func() time.Time
}

// Engine is the IPsec packet engine behind the hooks. All methods are safe
// for concurrent use; the databases are read without locks.
type Engine struct {
	cfg   Config
	spd   *spd.DB
	sad   *sad.DB
	reasm *reassembly.Reassembler
	stats Stats
	ipID  atomic.Uint32
	// defaultResult applies when no policy matches.
	defaultResult Result
	natt          [4]uint16 // small fixed set keeps the inbound check allocation-free
	nnatt         int

	dummy dummyTimers
	acq   acquires
}

// New returns an Engine over the given databases.
func New(policies *spd.DB, sas *sad.DB, cfg Config) *Engine {
	if cfg.MTU == 0 {
		cfg.MTU = 1500
	}
	if cfg.TTL == 0 {
		cfg.TTL = 64
	}
	if cfg.NATTPorts == nil {
		cfg.NATTPorts = []uint16{NATTPort}
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	e := &Engine{cfg: cfg, spd: policies, sad: sas, defaultResult: Drop}
	if cfg.DefaultBypass {
		e.defaultResult = Bypass
	}
	if cfg.Reassembly.Now == nil {
		cfg.Reassembly.Now = cfg.Now
	}
	e.reasm = reassembly.New(cfg.Reassembly)
	e.ipID.Store(rand.Uint32())
	for _, p := range cfg.NATTPorts {
		if e.nnatt < len(e.natt) {
			e.natt[e.nnatt] = p
			e.nnatt++
		}
	}
	e.dummy.init(e)
	return e
}

// SPD returns the engine's policy database.
func (e *Engine) SPD() *spd.DB { return e.spd }

// SAD returns the engine's security association database.
func (e *Engine) SAD() *sad.DB { return e.sad }

// Stats returns the engine's counters.
func (e *Engine) Stats() *Stats { return &e.stats }

// Reassembler returns the outer-fragment reassembler, whose Sweep the owner
// calls now and then to expire incomplete datagrams.
func (e *Engine) Reassembler() *reassembly.Reassembler { return e.reasm }

// Close stops the engine's timers.
func (e *Engine) Close() { e.dummy.stopAll() }

func (e *Engine) isNATTPort(p uint16) bool {
	for i := 0; i < e.nnatt; i++ {
		if e.natt[i] == p {
			return true
		}
	}
	return false
}

// PolicyDeleted releases what the engine holds for a policy that left the
// SPD: its dummy-packet timer and its SAs. Whoever watches the SPD's
// changes (package messaging) calls it.
func (e *Engine) PolicyDeleted(id uint32) {
	e.dummy.stop(id)
	e.sad.DeletePolicy(id)
}
