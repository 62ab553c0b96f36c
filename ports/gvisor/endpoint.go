package gvisor

import (
	"math/rand/v2"
	"net/netip"
	"sync"
	"sync/atomic"
	"time"

	"gvisor.dev/gvisor/pkg/tcpip/link/nested"
	"gvisor.dev/gvisor/pkg/tcpip/stack"

	"github.com/sabre-ipsec/sabre/ipsec"
	"github.com/sabre-ipsec/sabre/reassembly"
	"github.com/sabre-ipsec/sabre/sad"
	"github.com/sabre-ipsec/sabre/spd"
)

// MaxOverhead is the most ESP makes a packet grow, under any algorithm
// Sabre implements, in tunnel or transport mode, with UDP encapsulation:
//
//	outer IPv6 header                   40
//	UDP encapsulation (RFC 3948)         8
//	ESP header (SPI, sequence number)    8
//	IV (AES-CBC)                        16
//	padding to a 16-byte block          15
//	pad length, next header              2
//	ICV (HMAC-SHA-512-256)              32
//	                                   ---
//	                                   121
//
// MTU subtracts it from the child's MTU. A policy that bundles AH with ESP
// adds up to 48 more (AH header 12 and a 32-byte ICV, 8-aligned for IPv6);
// the Endpoint fragments those outer packets that then exceed the child's
// MTU.
const MaxOverhead = 40 + 8 + 8 + 16 + 15 + 2 + 32

// innerFragmentTimeout bounds how long the outbound reassembler waits for
// the rest of a datagram the stack fragmented: the stack writes the
// fragments of one datagram back to back.
const innerFragmentTimeout = 5 * time.Second

// Endpoint is a stack.LinkEndpoint that applies IPsec to the IP packets
// between a gVisor stack and the child link endpoint it wraps.
type Endpoint struct {
	nested.Endpoint

	engine *ipsec.Engine
	// innerReasm reassembles the fragments the stack makes of datagrams
	// larger than MTU, so that whole datagrams are encapsulated.
	innerReasm *reassembly.Reassembler
	// routes maps an outer destination (netip.Addr) to the
	// stack.RouteInfo of the last packet secured towards it; Output uses it
	// for engine-generated packets when the child resolves link addresses.
	routes sync.Map
	// fragID numbers the IPv6 outer datagrams the Endpoint fragments.
	fragID atomic.Uint32

	stats Stats
}

var _ stack.GSOEndpoint = (*Endpoint)(nil)
var _ stack.LinkEndpoint = (*Endpoint)(nil)
var _ stack.NetworkDispatcher = (*Endpoint)(nil)

// New returns an Endpoint that secures the traffic between a stack and
// child with an engine over policies and sas. cfg.MTU defaults to the
// child's MTU (it bounds TFC padding) and cfg.Output, when nil, to the
// Endpoint's Output. Closing the Endpoint closes the engine.
func New(child stack.LinkEndpoint, policies *spd.DB, sas *sad.DB, cfg ipsec.Config) *Endpoint {
	e := &Endpoint{
		innerReasm: reassembly.New(reassembly.Config{
			TimeoutIPv4: innerFragmentTimeout,
			TimeoutIPv6: innerFragmentTimeout,
		}),
	}
	e.fragID.Store(rand.Uint32())
	if cfg.MTU == 0 {
		cfg.MTU = int(child.MTU())
	}
	if cfg.Output == nil {
		cfg.Output = e.Output
	}
	e.engine = ipsec.New(policies, sas, cfg)
	e.Endpoint.Init(child, e)
	return e
}

// Engine returns the IPsec engine: its SPD, SAD, counters and management
// calls.
func (e *Endpoint) Engine() *ipsec.Engine { return e.engine }

// Stats returns the Endpoint's counters. The engine counts what it drops
// in Engine().Stats().
func (e *Endpoint) Stats() *Stats { return &e.stats }

// MTU implements stack.LinkEndpoint: the child's MTU less MaxOverhead.
func (e *Endpoint) MTU() uint32 {
	mtu := e.Endpoint.MTU()
	if mtu <= MaxOverhead {
		return 0
	}
	return mtu - MaxOverhead
}

// Capabilities implements stack.LinkEndpoint: the child's, without checksum
// offload, because a checksum cannot be completed after encryption nor
// trusted before decryption.
func (e *Endpoint) Capabilities() stack.LinkEndpointCapabilities {
	return e.Endpoint.Capabilities() &^ (stack.CapabilityTXChecksumOffload | stack.CapabilityRXChecksumOffload)
}

// GSOMaxSize implements stack.GSOEndpoint: no segmentation offload, since
// each segment must be encrypted on its own.
func (*Endpoint) GSOMaxSize() uint32 { return 0 }

// SupportedGSO implements stack.GSOEndpoint.
func (*Endpoint) SupportedGSO() stack.SupportedGSO { return stack.GSONotSupported }

// Close implements stack.LinkEndpoint. It closes the child and stops the
// engine's timers.
func (e *Endpoint) Close() {
	e.engine.Close()
	e.Endpoint.Close()
}

// rememberRoute records the route of a packet secured towards the outer
// destination dst, for Output. It writes only when the link addresses
// change.
func (e *Endpoint) rememberRoute(dst netip.Addr, r *stack.RouteInfo) {
	if e.Endpoint.Capabilities()&stack.CapabilityResolutionRequired == 0 {
		return
	}
	if v, ok := e.routes.Load(dst); ok {
		old := v.(*stack.RouteInfo)
		if old.RemoteLinkAddress == r.RemoteLinkAddress && old.LocalLinkAddress == r.LocalLinkAddress {
			return
		}
	}
	rc := *r
	e.routes.Store(dst, &rc)
}

// routeTo returns the route Output uses towards the outer destination dst.
func (e *Endpoint) routeTo(dst netip.Addr) (stack.RouteInfo, bool) {
	if e.Endpoint.Capabilities()&stack.CapabilityResolutionRequired == 0 {
		return stack.RouteInfo{}, true
	}
	v, ok := e.routes.Load(dst)
	if !ok {
		return stack.RouteInfo{}, false
	}
	return *v.(*stack.RouteInfo), true
}
