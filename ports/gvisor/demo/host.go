package demo

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/netip"
	"sync"
	"sync/atomic"
	"time"

	"gvisor.dev/gvisor/pkg/tcpip"
	"gvisor.dev/gvisor/pkg/tcpip/header"
	"gvisor.dev/gvisor/pkg/tcpip/link/channel"
	"gvisor.dev/gvisor/pkg/tcpip/network/ipv4"
	"gvisor.dev/gvisor/pkg/tcpip/network/ipv6"
	"gvisor.dev/gvisor/pkg/tcpip/stack"
	"gvisor.dev/gvisor/pkg/tcpip/transport/icmp"
	"gvisor.dev/gvisor/pkg/tcpip/transport/tcp"
	"gvisor.dev/gvisor/pkg/tcpip/transport/udp"

	"github.com/sabre-ipsec/sabre/cli"
	"github.com/sabre-ipsec/sabre/ike"
	"github.com/sabre-ipsec/sabre/ipsec"
	"github.com/sabre-ipsec/sabre/ipsec/messaging"
	"github.com/sabre-ipsec/sabre/ports/gvisor"
	"github.com/sabre-ipsec/sabre/sad"
	"github.com/sabre-ipsec/sabre/spd"
)

// demoNIC is each stack's one NIC; demoMTU the link's MTU.
const (
	demoNIC = 1
	demoMTU = 1500
)

// demoHost is one gVisor host of the demo: its stack with Sabre below IP,
// its IKE daemon on the stack's UDP, and the cli that configures both.
type demoHost struct {
	name string
	addr netip.Addr
	link *channel.Endpoint // this host's end of the in-memory link
	ep   *gvisor.Endpoint  // Sabre, between the stack and the link
	s    *stack.Stack
	msg  *messaging.Messaging
	conn *gvisor.IKEConn
	ike  *ike.Daemon
	env  *cli.Env
}

// demoNet is the two hosts and the link between them.
type demoNet struct {
	cfg     *demoConfig
	a, b    *demoHost
	steps   *stepLog
	capture *demoCapture
	keys    *demoKeys

	cancel    context.CancelFunc
	movers    sync.WaitGroup
	inFlight  atomic.Int32 // packets a mover has taken and not yet delivered
	closeOnce sync.Once
	closeErr  error
}

// newDemoNet builds the hosts and the link; the hosts are not configured
// yet (their ike_rc comes next).
func newDemoNet(cfg *demoConfig, w io.Writer, addrA, addrB netip.Addr) (*demoNet, error) {
	n := &demoNet{cfg: cfg, keys: &demoKeys{}}
	n.a = &demoHost{name: "A", addr: addrA, link: channel.New(8192, demoMTU, "")}
	n.b = &demoHost{name: "B", addr: addrB, link: channel.New(8192, demoMTU, "")}
	n.steps = newStepLog(n.a, n.b, cfg.mode, cfg.verbose)
	var err error
	if n.capture, err = newDemoCapture(cfg.pcap); err != nil {
		return nil, err
	}
	ctx, cancel := context.WithCancel(context.Background())
	n.cancel = cancel
	n.movers.Add(2)
	go n.move(ctx, n.a, n.b)
	go n.move(ctx, n.b, n.a)
	for _, h := range []*demoHost{n.a, n.b} {
		if err := n.setUp(h); err != nil {
			n.close()
			return nil, fmt.Errorf("host %s: %w", h.name, err)
		}
	}
	return n, nil
}

func (n *demoNet) peer(h *demoHost) *demoHost {
	if h == n.a {
		return n.b
	}
	return n.a
}

// move carries what from writes to the link over to to, as a NIC's
// receive loop would, showing it to the capture and the step log on the
// way.
func (n *demoNet) move(ctx context.Context, from, to *demoHost) {
	defer n.movers.Done()
	for {
		pkt := from.link.ReadContext(ctx)
		if pkt == nil {
			return
		}
		n.inFlight.Add(1)
		buf := pkt.ToBuffer()
		if n.capture.active() || n.steps.recording() {
			data := buf.Flatten()
			n.capture.write(data)
			n.steps.wire(from, to, data)
		}
		// A fresh packet without the sender's header offsets, as a NIC
		// would deliver it.
		np := stack.NewPacketBuffer(stack.PacketBufferOptions{Payload: buf})
		to.link.InjectInbound(pkt.NetworkProtocolNumber, np)
		np.DecRef()
		pkt.DecRef()
		n.inFlight.Add(-1)
	}
}

// waitLinkIdle waits until no packet is queued on the link or being
// moved, twice in a row a millisecond apart.
func (n *demoNet) waitLinkIdle(timeout time.Duration) {
	deadline := time.Now().Add(timeout)
	for idle := 0; idle < 2 && time.Now().Before(deadline); {
		if n.a.link.NumQueued() == 0 && n.b.link.NumQueued() == 0 && n.inFlight.Load() == 0 {
			idle++
		} else {
			idle = 0
		}
		time.Sleep(time.Millisecond)
	}
}

// setUp makes h's engine (with the IKE bypass policies), stack, IKE
// sockets, IKE daemon and cli environment.
func (n *demoNet) setUp(h *demoHost) error {
	policies := spd.NewDB()
	// IKE must pass in the clear whatever SECURE policy covers the peers:
	// UDP 500 and 4500, at priority 2, before any ike_rc policy.
	if err := gvisor.InstallIKEBypass(policies); err != nil {
		return err
	}
	h.ep = gvisor.New(h.link, policies, sad.NewDB(), ipsec.Config{})
	h.s = stack.New(stack.Options{
		NetworkProtocols:   []stack.NetworkProtocolFactory{ipv4.NewProtocol, ipv6.NewProtocol},
		TransportProtocols: []stack.TransportProtocolFactory{tcp.NewProtocol, udp.NewProtocol, icmp.NewProtocol4, icmp.NewProtocol6},
	})
	// Room for a bulk transfer in flight: 4 MiB TCP buffers.
	snd := tcpip.TCPSendBufferSizeRangeOption{Min: 4096, Default: 4 << 20, Max: 8 << 20}
	rcv := tcpip.TCPReceiveBufferSizeRangeOption{Min: 4096, Default: 4 << 20, Max: 8 << 20}
	if err := h.s.SetTransportProtocolOption(tcp.ProtocolNumber, &snd); err != nil {
		return fmt.Errorf("TCP send buffer: %v", err)
	}
	if err := h.s.SetTransportProtocolOption(tcp.ProtocolNumber, &rcv); err != nil {
		return fmt.Errorf("TCP receive buffer: %v", err)
	}
	if err := h.s.CreateNIC(demoNIC, h.ep); err != nil {
		return fmt.Errorf("CreateNIC: %v", err)
	}
	pa := tcpip.ProtocolAddress{Protocol: demoNetProto(h.addr), AddressWithPrefix: demoAddr(h.addr).WithPrefix()}
	if err := h.s.AddProtocolAddress(demoNIC, pa, stack.AddressProperties{}); err != nil {
		return fmt.Errorf("address %v: %v", h.addr, err)
	}
	h.s.SetRouteTable([]tcpip.Route{
		{Destination: header.IPv4EmptySubnet, NIC: demoNIC},
		{Destination: header.IPv6EmptySubnet, NIC: demoNIC},
	})

	// IKE on the stack's own UDP 500 and 4500.
	var err error
	if h.conn, err = gvisor.ListenIKE(gvisor.IKEConnConfig{Stack: h.s, NIC: demoNIC, Addrs: []netip.Addr{h.addr}}); err != nil {
		return err
	}
	h.msg = messaging.New(h.ep.Engine())
	localAddr := func(remote netip.Addr) (netip.Addr, error) {
		if remote.Is4() != h.addr.Is4() {
			return netip.Addr{}, fmt.Errorf("host %s has no address of %v's family", h.name, remote)
		}
		return h.addr, nil
	}
	h.ike, err = ike.New(ike.Config{
		Messaging:     h.msg,
		Send:          h.conn.Send,
		SendKeepalive: h.conn.SendKeepalive,
		LocalAddr:     localAddr,
		Log:           slog.New(n.steps.handler(h)),
	})
	if err != nil {
		return err
	}
	if n.cfg.keys != "" {
		h.ike.SetKeyExport(n.keys.add)
	}
	if n.cfg.verbose {
		h.ike.SetDebug(true, false)
	}
	// ACQUIREs, for the step list: the demo is one more application on
	// the messaging interface.
	if _, err := h.msg.Register("demo", func(ev messaging.Event) { n.steps.event(h, ev) }); err != nil {
		return err
	}
	if err := h.conn.Serve(h.ike.Enqueue); err != nil {
		return err
	}
	h.env = &cli.Env{Engine: h.ep.Engine(), LocalAddr: localAddr, IKE: h.ike}
	return nil
}

// waitNegotiated waits until both hosts have an established IKE SA with
// a Child SA, or a step failed, or the time is up.
func (n *demoNet) waitNegotiated(timeout time.Duration) error {
	deadline := time.Now().Add(timeout)
	for {
		if err := n.steps.failure(); err != nil {
			return fmt.Errorf("negotiation failed: %w", err)
		}
		if established(n.a.ike) && established(n.b.ike) {
			return nil
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("negotiation did not complete in %v: A has %s, B has %s", timeout, saSummary(n.a.ike), saSummary(n.b.ike))
		}
		time.Sleep(time.Millisecond)
	}
}

func established(d *ike.Daemon) bool {
	for _, s := range d.Status() {
		if s.State == "ESTABLISHED" && len(s.Children) > 0 {
			return true
		}
	}
	return false
}

func saSummary(d *ike.Daemon) string {
	st := d.Status()
	if len(st) == 0 {
		return "no IKE SA"
	}
	s := ""
	for i, x := range st {
		if i > 0 {
			s += ", "
		}
		s += fmt.Sprintf("an IKE SA in state %s with %d Child SAs", x.State, len(x.Children))
	}
	return s
}

// checkClean verifies that each host secured and accepted packets on its
// SAs.
func (n *demoNet) checkClean() error {
	for _, h := range []*demoHost{n.a, n.b} {
		s := h.ep.Engine().Stats().Snapshot()
		if s.OutPackets == 0 || s.InPackets == 0 {
			return fmt.Errorf("host %s: its engine secured %d and accepted %d packets; want both non-zero", h.name, s.OutPackets, s.InPackets)
		}
		if len(h.ep.Engine().SAD().All()) < 2 {
			return fmt.Errorf("host %s: %d SAs in its SAD, want an inbound and an outbound one", h.name, len(h.ep.Engine().SAD().All()))
		}
	}
	return nil
}

// close tears the demo down: the IKE daemons delete their SAs (telling
// each other), then the sockets, the link and the stacks go, and the
// capture is flushed. It may be called more than once.
func (n *demoNet) close() error {
	n.closeOnce.Do(func() {
		hosts := []*demoHost{n.a, n.b}
		// A deletes its IKE SA (and with it the Child SA) and tells B,
		// whose answer completes the exchange before B stops too.
		for _, h := range hosts {
			if h.ike == nil {
				continue
			}
			h.ike.Close()
			if p := n.peer(h); p.ike != nil {
				deadline := time.Now().Add(time.Second)
				for len(p.ike.Status()) > 0 && time.Now().Before(deadline) {
					time.Sleep(time.Millisecond)
				}
			}
		}
		n.waitLinkIdle(time.Second) // the last answers into the capture
		for _, h := range hosts {
			if h.conn != nil {
				h.conn.Close()
			}
		}
		n.cancel()
		n.movers.Wait()
		for _, h := range hosts {
			if h.s != nil {
				h.s.Close()
				h.s.Wait() // removes the NIC, closing Sabre's Endpoint and the link
			} else {
				h.link.Close()
			}
		}
		n.closeErr = n.capture.close()
	})
	return n.closeErr
}

func demoAddr(a netip.Addr) tcpip.Address { return tcpip.AddrFromSlice(a.AsSlice()) }

func demoNetProto(a netip.Addr) tcpip.NetworkProtocolNumber {
	if a.Is4() {
		return ipv4.ProtocolNumber
	}
	return ipv6.ProtocolNumber
}

var errDemoTimeout = errors.New("timed out")
