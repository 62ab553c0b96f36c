package gvisor

// IKE over the stack's own UDP: a program whose only network is a gVisor
// stack runs Sabre's IKE daemon on that stack's sockets, with nothing from
// the host.
//
// What reaches the sockets. The Endpoint sits below the stack, so every
// datagram on the IKE and NAT-T ports has been through Decapsulate before
// the stack's UDP sees it:
//
//   - UDP-encapsulated ESP on the NAT-T port (a non-zero SPI where the
//     marker would be, RFC 3948 §2.2) is decrypted there and goes up as the
//     inner packet; it never reaches the socket.
//   - NAT-keepalives (the one octet 0xFF, RFC 3948 §2.3) are consumed
//     there too (ipsec.Consumed).
//   - IKE (port 500, and the four-zero-octet non-ESP marker on 4500) is
//     subject to the SPD like any packet: it needs BYPASS policies for UDP
//     to and from the local ports 500 and 4500, at a higher priority than
//     any SECURE policy whose selectors cover the peers' addresses, or it
//     is secured (or dropped, waiting for SAs that only IKE could make).
//     InstallIKEBypass adds them, as `sabre run` does.
//
// IKEConn nevertheless drops keepalives and marker-less datagrams on the
// NAT-T port itself (counted in IKEStats), so that it also works on a
// stack without an Endpoint below it.

import (
	"errors"
	"fmt"
	"io"
	"net"
	"net/netip"
	"sync"
	"sync/atomic"
	"time"

	"gvisor.dev/gvisor/pkg/tcpip"
	"gvisor.dev/gvisor/pkg/tcpip/adapters/gonet"
	"gvisor.dev/gvisor/pkg/tcpip/network/ipv4"
	"gvisor.dev/gvisor/pkg/tcpip/network/ipv6"
	"gvisor.dev/gvisor/pkg/tcpip/stack"

	"github.com/sabre-ipsec/sabre/classify"
	"github.com/sabre-ipsec/sabre/header"
	"github.com/sabre-ipsec/sabre/spd"
)

// The IKE ports (RFC 7296 §2, §2.23), IKEConnConfig's defaults.
const (
	DefaultIKEPort  = 500
	DefaultNATTPort = 4500
)

// IKEBypassPriority is the priority of the policies InstallIKEBypass adds:
// spd.PriorityHigh (2), above the default 4 of the operator's policies,
// as the reference installs them (§4.4).
const IKEBypassPriority = spd.PriorityHigh

// NonESPMarkerLen is the length of the four zero octets in front of an IKE
// message on the NAT-T port (RFC 3948 §2.2): where ESP has its SPI, and SPI
// 0 is reserved.
const NonESPMarkerLen = 4

// maxDatagram is the largest UDP payload (IPv4: 65535 less the IP and UDP
// headers; a larger read buffer would only hide truncation).
const maxDatagram = 65535

// IKEHandler receives one IKE message that arrived on local from remote,
// with the non-ESP marker removed: (*ike.Daemon).Enqueue, which queues a
// copy for the daemon's workers and returns at once, so that a key
// exchange never holds up a socket's reader. msg is valid only during the
// call.
type IKEHandler func(msg []byte, local, remote netip.AddrPort)

// IKEConnConfig says where an IKEConn listens.
type IKEConnConfig struct {
	// Stack is the gVisor stack whose UDP the IKEConn uses.
	Stack *stack.Stack
	// NIC restricts the sockets to one NIC; 0 binds to the addresses
	// on whichever NIC has them.
	NIC tcpip.NICID
	// Addrs are this host's addresses to run IKE on, IPv4 and/or IPv6:
	// each gets a socket on the IKE port and one on the NAT-T port, so
	// that a message's local address is that of its socket. They must be
	// assigned to the stack already.
	Addrs []netip.Addr
	// IKEPort and NATTPort default to DefaultIKEPort and DefaultNATTPort.
	IKEPort, NATTPort uint16
}

// IKEStats are an IKEConn's counters.
type IKEStats struct {
	Received   atomic.Uint64 // IKE messages handed to the handler
	Sent       atomic.Uint64 // IKE messages sent
	Keepalives atomic.Uint64 // NAT-keepalives sent
	// KeepalivesIn counts NAT-keepalives that reached a NAT-T socket
	// (none do when an Endpoint is below the stack: the engine consumes
	// them); they are dropped.
	KeepalivesIn atomic.Uint64
	// NonIKE counts datagrams on a NAT-T socket without the non-ESP marker
	// (UDP-encapsulated ESP that no Endpoint decapsulated, or junk), and
	// datagrams that arrived before Serve; they are dropped.
	NonIKE     atomic.Uint64
	SendErrors atomic.Uint64
	ReadErrors atomic.Uint64
}

// ikeSocket is one UDP socket of an IKEConn.
type ikeSocket struct {
	conn  *gonet.UDPConn
	local netip.AddrPort
	natt  bool
}

// IKEConn owns the UDP sockets of IKE (port 500) and NAT-T (port 4500) on
// a gVisor stack, for each configured address. It reads IKE messages from
// them for a handler (Serve), and its Send and SendKeepalive are
// ike.Config's:
//
//	conn, err := gvisor.ListenIKE(gvisor.IKEConnConfig{Stack: s, Addrs: addrs})
//	d, err := ike.New(ike.Config{Messaging: messaging.New(ep.Engine()),
//		Send: conn.Send, SendKeepalive: conn.SendKeepalive, ...})
//	conn.Serve(d.Enqueue)
//	...
//	d.Close()    // sends its Deletes through conn
//	conn.Close()
type IKEConn struct {
	cfg     IKEConnConfig
	sockets []*ikeSocket

	serving atomic.Bool
	closed  atomic.Bool
	wg      sync.WaitGroup
	stats   IKEStats
}

// ListenIKE opens the sockets: for every address in cfg.Addrs, one on the
// IKE port and one on the NAT-T port. Nothing is read until Serve.
func ListenIKE(cfg IKEConnConfig) (*IKEConn, error) {
	if cfg.Stack == nil {
		return nil, errors.New("gvisor: ListenIKE needs a Stack")
	}
	if len(cfg.Addrs) == 0 {
		return nil, errors.New("gvisor: ListenIKE needs at least one local address")
	}
	if cfg.IKEPort == 0 {
		cfg.IKEPort = DefaultIKEPort
	}
	if cfg.NATTPort == 0 {
		cfg.NATTPort = DefaultNATTPort
	}
	if cfg.IKEPort == cfg.NATTPort {
		return nil, fmt.Errorf("gvisor: IKE and NAT-T ports are both %d", cfg.IKEPort)
	}
	c := &IKEConn{cfg: cfg}
	for _, a := range cfg.Addrs {
		a = a.Unmap()
		proto := ipv4.ProtocolNumber
		if a.Is6() {
			proto = ipv6.ProtocolNumber
		}
		for _, port := range []uint16{cfg.IKEPort, cfg.NATTPort} {
			la := tcpip.FullAddress{NIC: cfg.NIC, Addr: tcpip.AddrFromSlice(a.AsSlice()), Port: port}
			u, err := gonet.DialUDP(cfg.Stack, &la, nil, proto)
			if err != nil {
				c.closeSockets()
				return nil, fmt.Errorf("gvisor: IKE socket on %v: %w", netip.AddrPortFrom(a, port), err)
			}
			c.sockets = append(c.sockets, &ikeSocket{conn: u, local: netip.AddrPortFrom(a, port), natt: port == cfg.NATTPort})
		}
	}
	return c, nil
}

// Stats returns the IKEConn's counters.
func (c *IKEConn) Stats() *IKEStats { return &c.stats }

// LocalAddrs returns the addresses and ports the IKEConn listens on.
func (c *IKEConn) LocalAddrs() []netip.AddrPort {
	out := make([]netip.AddrPort, len(c.sockets))
	for i, s := range c.sockets {
		out[i] = s.local
	}
	return out
}

// Serve starts reading: a goroutine per socket hands every IKE message to
// h, one at a time per socket. It may be called once; Close stops it.
func (c *IKEConn) Serve(h IKEHandler) error {
	if h == nil {
		return errors.New("gvisor: Serve needs a handler")
	}
	if c.closed.Load() {
		return errors.New("gvisor: IKEConn closed")
	}
	if c.serving.Swap(true) {
		return errors.New("gvisor: IKEConn already serving")
	}
	for _, s := range c.sockets {
		c.wg.Add(1)
		go c.read(s, h)
	}
	return nil
}

// read is the loop of one socket.
func (c *IKEConn) read(s *ikeSocket, h IKEHandler) {
	defer c.wg.Done()
	buf := make([]byte, maxDatagram)
	for {
		n, from, err := s.conn.ReadFrom(buf)
		if err != nil {
			// io.EOF: the socket was closed for receiving (the stack
			// closed its endpoints); it will not read again.
			if c.closed.Load() || errors.Is(err, io.EOF) {
				return
			}
			c.stats.ReadErrors.Add(1)
			time.Sleep(time.Millisecond) // no busy loop on a persistent error
			continue
		}
		ua, ok := from.(*net.UDPAddr)
		if !ok {
			c.stats.ReadErrors.Add(1)
			continue
		}
		remote := ua.AddrPort()
		remote = netip.AddrPortFrom(remote.Addr().Unmap(), remote.Port())
		msg, kind := ikeMessage(buf[:n], s.natt)
		switch kind {
		case datagramIKE:
			c.stats.Received.Add(1)
			h(msg, s.local, remote)
		case datagramKeepalive:
			c.stats.KeepalivesIn.Add(1)
		default:
			c.stats.NonIKE.Add(1)
		}
	}
}

// datagramKind classifies what arrived on an IKE socket.
type datagramKind uint8

const (
	datagramIKE       datagramKind = iota // an IKE message
	datagramKeepalive                     // a NAT-keepalive (NAT-T port)
	datagramNonIKE                        // no non-ESP marker (NAT-T port)
)

// ikeMessage returns the IKE message in the payload p of a datagram: all
// of it on the IKE port; on the NAT-T port what follows the non-ESP
// marker, if p starts with one (RFC 3948 §2.2). On the NAT-T port the
// one octet 0xFF is a keepalive and anything else is not IKE's.
func ikeMessage(p []byte, natt bool) ([]byte, datagramKind) {
	if !natt {
		return p, datagramIKE
	}
	switch {
	case len(p) == 1 && p[0] == 0xff:
		return nil, datagramKeepalive
	case len(p) >= NonESPMarkerLen && p[0]|p[1]|p[2]|p[3] == 0:
		return p[NonESPMarkerLen:], datagramIKE
	}
	return nil, datagramNonIKE
}

// socketFor returns the socket to send from: the one bound to local, else
// one of local's family on its port (when local's address is not one of
// ours, or is unspecified).
func (c *IKEConn) socketFor(local netip.AddrPort, remote netip.Addr) (*ikeSocket, error) {
	la := local.Addr().Unmap()
	v4 := remote.Unmap().Is4()
	var fallback *ikeSocket
	for _, s := range c.sockets {
		if s.local.Port() != local.Port() || s.local.Addr().Is4() != v4 {
			continue
		}
		if s.local.Addr() == la {
			return s, nil
		}
		if fallback == nil {
			fallback = s
		}
	}
	if fallback != nil {
		return fallback, nil
	}
	return nil, fmt.Errorf("gvisor: no IKE socket on port %d for %v (listening on %v)", local.Port(), remote, c.LocalAddrs())
}

// Send sends an IKE message from local (its port the IKE or the NAT-T
// port) to remote, with the non-ESP marker in front on the NAT-T port. It
// is ike.Config.Send.
func (c *IKEConn) Send(msg []byte, local, remote netip.AddrPort) error {
	if c.closed.Load() {
		return errors.New("gvisor: IKEConn closed")
	}
	s, err := c.socketFor(local, remote.Addr())
	if err != nil {
		c.stats.SendErrors.Add(1)
		return err
	}
	if s.natt {
		msg = AddNonESPMarker(msg)
	}
	if err := c.write(s, msg, remote); err != nil {
		return err
	}
	c.stats.Sent.Add(1)
	return nil
}

// SendKeepalive sends a NAT-keepalive, the one octet 0xFF from the NAT-T
// port (RFC 3948 §2.3). It is ike.Config.SendKeepalive.
func (c *IKEConn) SendKeepalive(local, remote netip.AddrPort) error {
	if c.closed.Load() {
		return errors.New("gvisor: IKEConn closed")
	}
	s, err := c.socketFor(netip.AddrPortFrom(local.Addr(), c.cfg.NATTPort), remote.Addr())
	if err != nil {
		c.stats.SendErrors.Add(1)
		return err
	}
	if err := c.write(s, []byte{0xff}, remote); err != nil {
		return err
	}
	c.stats.Keepalives.Add(1)
	return nil
}

func (c *IKEConn) write(s *ikeSocket, b []byte, remote netip.AddrPort) error {
	to := &net.UDPAddr{IP: remote.Addr().Unmap().AsSlice(), Port: int(remote.Port())}
	if _, err := s.conn.WriteTo(b, to); err != nil {
		c.stats.SendErrors.Add(1)
		return err
	}
	return nil
}

// AddNonESPMarker returns msg with the four zero octets of the non-ESP
// marker in front (RFC 3948 §2.2), in a new slice.
func AddNonESPMarker(msg []byte) []byte {
	m := make([]byte, NonESPMarkerLen+len(msg))
	copy(m[NonESPMarkerLen:], msg)
	return m
}

// Close stops reading and closes the sockets; Send fails afterwards.
// Close the IKE daemon first, so that its Delete notifications still
// leave.
func (c *IKEConn) Close() error {
	if c.closed.Swap(true) {
		return nil
	}
	c.closeSockets()
	c.wg.Wait()
	return nil
}

func (c *IKEConn) closeSockets() {
	for _, s := range c.sockets {
		// The deadline wakes a reader waiting for a datagram, whatever
		// Close itself notifies.
		s.conn.SetReadDeadline(time.Now())
		s.conn.Close()
	}
}

// InstallIKEBypass adds to db the policies that let IKE through the
// engine: UDP from or to the local ports (DefaultIKEPort and
// DefaultNATTPort when none are given), both directions, IPv4 and IPv6,
// at IKEBypassPriority. They are the policies `sabre run` installs,
// named ike-bypass-500, ike-bypass6-500 and so on.
func InstallIKEBypass(db *spd.DB, ports ...uint16) error {
	if len(ports) == 0 {
		ports = []uint16{DefaultIKEPort, DefaultNATTPort}
	}
	for _, fam := range []struct {
		name string
		any  func() classify.Selector
	}{{"", classify.AnyIPv4}, {"6", classify.AnyIPv6}} {
		for _, port := range ports {
			local, err := fam.any().WithPorts(port, port)
			if err != nil {
				return err
			}
			// Selectors are from this host's outbound view: local port
			// `port` outbound, and by the mirror image inbound too.
			p := spd.Policy{Name: fmt.Sprintf("ike-bypass%s-%d", fam.name, port), Action: spd.Bypass,
				Proto: header.ProtoUDP, Priority: IKEBypassPriority, Src: local, Dst: fam.any()}
			if _, err := db.Add(p); err != nil {
				return fmt.Errorf("IKE bypass policy: %w", err)
			}
		}
	}
	return nil
}
