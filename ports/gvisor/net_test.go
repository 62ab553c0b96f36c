package gvisor

import (
	"bytes"
	"context"
	"fmt"
	"net/netip"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"gvisor.dev/gvisor/pkg/tcpip"
	"gvisor.dev/gvisor/pkg/tcpip/adapters/gonet"
	"gvisor.dev/gvisor/pkg/tcpip/header"
	"gvisor.dev/gvisor/pkg/tcpip/link/channel"
	"gvisor.dev/gvisor/pkg/tcpip/link/ethernet"
	"gvisor.dev/gvisor/pkg/tcpip/link/nested"
	"gvisor.dev/gvisor/pkg/tcpip/link/pipe"
	"gvisor.dev/gvisor/pkg/tcpip/link/qdisc/fifo"
	"gvisor.dev/gvisor/pkg/tcpip/network/arp"
	"gvisor.dev/gvisor/pkg/tcpip/network/ipv4"
	"gvisor.dev/gvisor/pkg/tcpip/network/ipv6"
	"gvisor.dev/gvisor/pkg/tcpip/stack"
	"gvisor.dev/gvisor/pkg/tcpip/transport/icmp"
	"gvisor.dev/gvisor/pkg/tcpip/transport/tcp"
	"gvisor.dev/gvisor/pkg/tcpip/transport/udp"
	"gvisor.dev/gvisor/pkg/waiter"

	"github.com/sabre-ipsec/sabre/classify"
	hdr "github.com/sabre-ipsec/sabre/header"
	"github.com/sabre-ipsec/sabre/internal/testutil/packet"
	"github.com/sabre-ipsec/sabre/ipsec"
	"github.com/sabre-ipsec/sabre/pktbuf"
	"github.com/sabre-ipsec/sabre/sad"
	"github.com/sabre-ipsec/sabre/spd"
	"github.com/sabre-ipsec/sabre/suite"
)

const nicID = 1

// The two hosts' addresses.
var (
	addrA4 = netip.MustParseAddr("10.0.0.77")
	addrB4 = netip.MustParseAddr("10.0.0.78")
	addrA6 = netip.MustParseAddr("fd00::77")
	addrB6 = netip.MustParseAddr("fd00::78")
)

// netConfig describes a two-host test network.
type netConfig struct {
	// mode is the IPsec mode of both hosts' policies; 0 runs the hosts
	// without Sabre.
	mode spd.Mode
	// ethernet puts an Ethernet link (with ARP and neighbour discovery)
	// on the pipe.
	ethernet bool
	// mtu is the pipe's MTU (the Ethernet frame's payload when ethernet).
	mtu uint32
	// encr is the ESP cipher, AES-GCM-16 with a 128-bit key by default.
	encr suite.EncrID
	// wrap, if set, wraps each host's link under Sabre (a fake offload
	// link, for example).
	wrap func(stack.LinkEndpoint) stack.LinkEndpoint
	// flags are added to the SECURE policies' flags.
	flags spd.Flags
	// noBypass leaves out InstallDefaultBypass.
	noBypass bool
	// holdA4 installs A's IPv4 policy without its SAs.
	holdA4 bool
	// async joins the hosts with two channel endpoints and a goroutine per
	// direction that moves packets across, like a NIC's receive loop,
	// instead of a pipe, on which the receiving stack runs on the sender's
	// goroutine.
	async bool
	// qdisc queues each host's outbound packets in gVisor's FIFO queueing
	// discipline (runsc's default), whose goroutines write them to the
	// link in batches.
	qdisc bool
}

// testNet is two gVisor stacks joined by an in-memory link.
type testNet struct {
	a, b *host
	wire *wire
}

// host is one stack with its Sabre Endpoint (nil without Sabre).
type host struct {
	s            *stack.Stack
	ep           *Endpoint
	addr4, addr6 netip.Addr
	// policy4 and policy6 are the IDs of the SECURE policies towards the
	// peer.
	policy4, policy6 uint32
}

// newNet builds the network and removes it when the test ends.
func newNet(tb testing.TB, c netConfig) *testNet {
	tb.Helper()
	if c.mtu == 0 {
		c.mtu = 1500
	}
	if c.encr == 0 {
		c.encr = suite.EncrAESGCM16
	}
	w := &wire{}
	macA, macB := tcpip.LinkAddress("\x02\x00\x00\x00\x00\x77"), tcpip.LinkAddress("\x02\x00\x00\x00\x00\x78")
	var la, lb stack.LinkEndpoint
	if c.async {
		la, lb = newChannelLink(tb, macA, macB, c.mtu)
	} else {
		la, lb = pipe.New(macA, macB, c.mtu)
	}
	n := &testNet{wire: w}
	n.a = newHost(tb, c, la, w, addrA4, addrA6)
	n.b = newHost(tb, c, lb, w, addrB4, addrB6)
	if c.mode != 0 {
		n.a.policy4 = secure(tb, n.a.ep, c, n.a.addr4, n.b.addr4, !c.holdA4)
		n.b.policy4 = secure(tb, n.b.ep, c, n.b.addr4, n.a.addr4, true)
		n.a.policy6 = secure(tb, n.a.ep, c, n.a.addr6, n.b.addr6, true)
		n.b.policy6 = secure(tb, n.b.ep, c, n.b.addr6, n.a.addr6, true)
	}
	return n
}

func newHost(tb testing.TB, c netConfig, link stack.LinkEndpoint, w *wire, a4, a6 netip.Addr) *host {
	tb.Helper()
	var l stack.LinkEndpoint = link
	if c.ethernet {
		l = ethernet.New(l)
	}
	l = newTap(l, w)
	if c.wrap != nil {
		l = c.wrap(l)
	}
	h := &host{addr4: a4, addr6: a6}
	if c.mode != 0 {
		policies := spd.NewDB()
		if !c.noBypass {
			if err := InstallDefaultBypass(policies); err != nil {
				tb.Fatal(err)
			}
		}
		h.ep = New(l, policies, sad.NewDB(), ipsec.Config{})
		l = h.ep
	}
	h.s = stack.New(stack.Options{
		NetworkProtocols: []stack.NetworkProtocolFactory{
			ipv4.NewProtocol, arp.NewProtocol,
			// No duplicate address detection: it would delay every test by
			// a retransmission timer.
			ipv6.NewProtocolWithOptions(ipv6.Options{}),
		},
		TransportProtocols: []stack.TransportProtocolFactory{
			tcp.NewProtocol, udp.NewProtocol, icmp.NewProtocol4, icmp.NewProtocol6,
		},
	})
	// Room for a bulk transfer in flight: 4 MiB send and receive buffers.
	sndBuf := tcpip.TCPSendBufferSizeRangeOption{Min: 4096, Default: 4 << 20, Max: 8 << 20}
	rcvBuf := tcpip.TCPReceiveBufferSizeRangeOption{Min: 4096, Default: 4 << 20, Max: 8 << 20}
	if err := h.s.SetTransportProtocolOption(tcp.ProtocolNumber, &sndBuf); err != nil {
		tb.Fatal(err)
	}
	if err := h.s.SetTransportProtocolOption(tcp.ProtocolNumber, &rcvBuf); err != nil {
		tb.Fatal(err)
	}
	var opts stack.NICOptions
	if c.qdisc {
		opts.QDisc = fifo.New(l, 1, 8192)
	}
	if err := h.s.CreateNICWithOptions(nicID, l, opts); err != nil {
		tb.Fatalf("CreateNIC: %v", err)
	}
	for _, a := range []netip.Addr{a4, a6} {
		proto := ipv4.ProtocolNumber
		if a.Is6() {
			proto = ipv6.ProtocolNumber
		}
		pa := tcpip.ProtocolAddress{Protocol: proto, AddressWithPrefix: gaddr(a).WithPrefix()}
		if err := h.s.AddProtocolAddress(nicID, pa, stack.AddressProperties{}); err != nil {
			tb.Fatalf("AddProtocolAddress(%v): %v", a, err)
		}
	}
	h.s.SetRouteTable([]tcpip.Route{
		{Destination: header.IPv4EmptySubnet, NIC: nicID},
		{Destination: header.IPv6EmptySubnet, NIC: nicID},
	})
	tb.Cleanup(func() {
		h.s.Close()
		h.s.Wait()
		h.s.RemoveNIC(nicID)
	})
	return h
}

// secure adds the SECURE policy for local <-> remote in mode c.mode and,
// if withSA, its manually keyed SAs. It returns the policy's ID.
func secure(tb testing.TB, ep *Endpoint, c netConfig, local, remote netip.Addr, withSA bool) uint32 {
	tb.Helper()
	src, _ := classify.SelectorFromAddr(local)
	dst, _ := classify.SelectorFromAddr(remote)
	p := spd.Policy{Action: spd.Secure, Mode: c.mode, Flags: spd.FlagProtoESP | spd.FlagCheckReplay | c.flags,
		Src: src, Dst: dst, TunnelRemote: remote, ReplayWindow: 1024}
	if c.mode == spd.Tunnel {
		p.TunnelLocal = local
	}
	id, err := ep.Engine().SPD().Add(p)
	if err != nil {
		tb.Fatal(err)
	}
	if withSA {
		if err := ep.Engine().AddManualSA(id, manualSA(c, local, remote)); err != nil {
			tb.Fatal(err)
		}
	}
	return id
}

// manualSA returns the SAs of the host at local towards remote: the SPIs
// and keys derive from the two addresses, so that the peers' mirror.
func manualSA(c netConfig, local, remote netip.Addr) ipsec.ManualSA {
	if c.encr == 0 {
		c.encr = suite.EncrAESGCM16
	}
	spi := func(a netip.Addr) uint32 {
		n := 0x4000 | uint32(a.As16()[15])
		if a.Is6() {
			n |= 0x600
		}
		return n
	}
	return ipsec.ManualSA{
		Encr:       c.encr,
		EncrKeyOut: testKey(c.encr, byte(spi(local))), EncrKeyIn: testKey(c.encr, byte(spi(remote))),
		ESPSPIOut: spi(remote), ESPSPIIn: spi(local),
		Local: local,
	}
}

// testKey returns a deterministic key (with salt) for encr.
func testKey(encr suite.EncrID, seed byte) []byte {
	n := 20 // AES-128 and a 4-byte salt
	if encr == suite.EncrChaCha20Poly1305 {
		n = 36
	}
	k := make([]byte, n)
	for i := range k {
		k[i] = seed ^ byte(i*29+3)
	}
	return k
}

func gaddr(a netip.Addr) tcpip.Address { return tcpip.AddrFromSlice(a.AsSlice()) }

func netProto(a netip.Addr) tcpip.NetworkProtocolNumber {
	if a.Is4() {
		return ipv4.ProtocolNumber
	}
	return ipv6.ProtocolNumber
}

// newChannelLink returns two channel endpoints joined by a goroutine per
// direction, stopped when the test ends.
func newChannelLink(tb testing.TB, macA, macB tcpip.LinkAddress, mtu uint32) (*channel.Endpoint, *channel.Endpoint) {
	a, b := channel.New(8192, mtu, macA), channel.New(8192, mtu, macB)
	ctx, cancel := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	move := func(from, to *channel.Endpoint) {
		defer wg.Done()
		for {
			pkt := from.ReadContext(ctx)
			if pkt == nil {
				return
			}
			// A fresh packet without the sender's header offsets, as a
			// NIC would deliver it.
			np := stack.NewPacketBuffer(stack.PacketBufferOptions{Payload: pkt.ToBuffer()})
			to.InjectInbound(pkt.NetworkProtocolNumber, np)
			np.DecRef()
			pkt.DecRef()
		}
	}
	wg.Add(2)
	go move(a, b)
	go move(b, a)
	tb.Cleanup(func() {
		cancel()
		wg.Wait()
		a.Close()
		b.Close()
	})
	return a, b
}

// wire records what crosses the link, in both directions, while capturing.
type wire struct {
	capturing atomic.Bool
	mu        sync.Mutex
	frames    []frame
}

// frame is one packet on the wire: its network protocol and its bytes
// from the network header on.
type frame struct {
	proto tcpip.NetworkProtocolNumber
	link  []byte // the link header, if any
	data  []byte
}

func (w *wire) record(pkt *stack.PacketBuffer) {
	var vb viewBuffer
	copyIn(pkt, &vb)
	f := frame{
		proto: pkt.NetworkProtocolNumber,
		link:  append([]byte(nil), pkt.LinkHeader().Slice()...),
		data:  append([]byte(nil), vb.bytes()...),
	}
	vb.release()
	w.mu.Lock()
	w.frames = append(w.frames, f)
	w.mu.Unlock()
}

func (w *wire) captured() []frame {
	w.mu.Lock()
	defer w.mu.Unlock()
	return append([]frame(nil), w.frames...)
}

// tap is a link endpoint that shows what its host writes to the wire.
type tap struct {
	nested.Endpoint
	w *wire
}

func newTap(child stack.LinkEndpoint, w *wire) *tap {
	t := &tap{w: w}
	t.Endpoint.Init(child, t)
	return t
}

// WritePackets implements stack.LinkEndpoint.
func (t *tap) WritePackets(pkts stack.PacketBufferList) (int, tcpip.Error) {
	if t.w.capturing.Load() {
		for _, pkt := range pkts.AsSlice() {
			t.w.record(pkt)
		}
	}
	return t.Endpoint.WritePackets(pkts)
}

// tcpEcho runs an echo server on b and sends n bytes from a through it,
// checking that they come back unchanged.
func tcpEcho(tb testing.TB, a, b *host, v6 bool, n int) {
	tb.Helper()
	tcpEchoPort(tb, a, b, v6, n, 7)
}

// tcpEchoPort is tcpEcho on the given port. Its failures are reported with
// Error, so that it can run on any goroutine.
func tcpEchoPort(tb testing.TB, a, b *host, v6 bool, n int, port uint16) {
	tb.Helper()
	if err := runTCPEcho(a, b, v6, n, port); err != nil {
		tb.Error(err)
	}
}

func runTCPEcho(a, b *host, v6 bool, n int, port uint16) error {
	dst := b.addr4
	if v6 {
		dst = b.addr6
	}
	addr := tcpip.FullAddress{NIC: nicID, Addr: gaddr(dst), Port: port}
	l, err := gonet.ListenTCP(b.s, addr, netProto(dst))
	if err != nil {
		return err
	}
	defer l.Close()
	served := make(chan error, 1)
	go func() {
		c, err := l.Accept()
		if err != nil {
			served <- err
			return
		}
		defer c.Close()
		c.SetDeadline(time.Now().Add(60 * time.Second))
		buf := make([]byte, 32<<10)
		for total := 0; total < n; {
			k, err := c.Read(buf)
			if err != nil {
				served <- fmt.Errorf("server read after %d bytes: %v", total, err)
				return
			}
			if _, err := c.Write(buf[:k]); err != nil {
				served <- fmt.Errorf("server write: %v", err)
				return
			}
			total += k
		}
		served <- nil
	}()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	c, err := gonet.DialContextTCP(ctx, a.s, addr, netProto(dst))
	if err != nil {
		return fmt.Errorf("dial %v: %v", addr.Addr, err)
	}
	defer c.Close()
	c.SetDeadline(time.Now().Add(60 * time.Second))
	msg := make([]byte, n)
	for i := range msg {
		msg[i] = byte(i*7 + i>>11)
	}
	wrote := make(chan error, 1)
	go func() {
		_, err := c.Write(msg)
		wrote <- err
	}()
	got := make([]byte, n)
	for off := 0; off < n; {
		k, err := c.Read(got[off:])
		if err != nil {
			return fmt.Errorf("client read after %d of %d bytes: %v", off, n, err)
		}
		off += k
	}
	if err := <-wrote; err != nil {
		return fmt.Errorf("client write: %v", err)
	}
	if err := <-served; err != nil {
		return err
	}
	if !bytes.Equal(got, msg) {
		return fmt.Errorf("echo of %d bytes differs from what was sent", n)
	}
	return nil
}

// udpExchange sends a datagram of n bytes from a to b and an answer back.
func udpExchange(tb testing.TB, a, b *host, v6 bool, n int) {
	tb.Helper()
	src, dst := a.addr4, b.addr4
	if v6 {
		src, dst = a.addr6, b.addr6
	}
	la := tcpip.FullAddress{NIC: nicID, Addr: gaddr(src), Port: 4001}
	lb := tcpip.FullAddress{NIC: nicID, Addr: gaddr(dst), Port: 4002}
	cb, err := gonet.DialUDP(b.s, &lb, nil, netProto(dst))
	if err != nil {
		tb.Fatal(err)
	}
	defer cb.Close()
	ca, err := gonet.DialUDP(a.s, &la, &lb, netProto(dst))
	if err != nil {
		tb.Fatal(err)
	}
	defer ca.Close()
	msg := make([]byte, n)
	for i := range msg {
		msg[i] = byte(i * 13)
	}
	deadline := time.Now().Add(10 * time.Second)
	cb.SetDeadline(deadline)
	ca.SetDeadline(deadline)
	if _, err := ca.Write(msg); err != nil {
		tb.Fatalf("send %d bytes: %v", n, err)
	}
	buf := make([]byte, n+100)
	k, from, err := cb.ReadFrom(buf)
	if err != nil {
		tb.Fatalf("receive %d bytes: %v", n, err)
	}
	if k != n || string(buf[:k]) != string(msg) {
		tb.Fatalf("received %d bytes, sent %d (content equal: %v)", k, n, string(buf[:k]) == string(msg))
	}
	if _, err := cb.WriteTo(msg[:n/2], from); err != nil {
		tb.Fatalf("answer: %v", err)
	}
	if k, err = ca.Read(buf); err != nil || k != n/2 {
		tb.Fatalf("answer: got %d bytes, %v; want %d", k, err, n/2)
	}
}

// ping sends an ICMP (or ICMPv6) echo request with size bytes of data from
// a to b and waits for the reply. The reply is generated inside b's
// receive path, so on a pipe it is written while a's write is still on
// the stack.
func ping(tb testing.TB, a, b *host, v6 bool, size int) {
	tb.Helper()
	dst := b.addr4
	proto, typ, reply := icmp.ProtocolNumber4, byte(header.ICMPv4Echo), byte(header.ICMPv4EchoReply)
	if v6 {
		dst = b.addr6
		proto, typ, reply = icmp.ProtocolNumber6, byte(header.ICMPv6EchoRequest), byte(header.ICMPv6EchoReply)
	}
	var wq waiter.Queue
	ep, err := a.s.NewEndpoint(proto, netProto(dst), &wq)
	if err != nil {
		tb.Fatalf("ICMP endpoint: %v", err)
	}
	defer ep.Close()
	we, ch := waiter.NewChannelEntry(waiter.ReadableEvents)
	wq.EventRegister(&we)
	defer wq.EventUnregister(&we)
	msg := make([]byte, 8+size)
	msg[0] = typ
	msg[7] = 1 // sequence number
	for i := 8; i < len(msg); i++ {
		msg[i] = byte(i)
	}
	if _, err := ep.Write(bytes.NewReader(msg), tcpip.WriteOptions{To: &tcpip.FullAddress{NIC: nicID, Addr: gaddr(dst)}}); err != nil {
		tb.Fatalf("ping %v: %v", dst, err)
	}
	timeout := time.After(10 * time.Second)
	for {
		var buf bytes.Buffer
		_, err := ep.Read(&buf, tcpip.ReadOptions{})
		if _, ok := err.(*tcpip.ErrWouldBlock); ok {
			select {
			case <-ch:
			case <-timeout:
				tb.Fatalf("ping %v: no reply", dst)
			}
			continue
		}
		if err != nil {
			tb.Fatalf("ping %v: read: %v", dst, err)
		}
		got := buf.Bytes()
		if len(got) != len(msg) || got[0] != reply || !bytes.Equal(got[8:], msg[8:]) {
			tb.Fatalf("ping %v: reply of %d bytes, type %d; want %d bytes, type %d", dst, len(got), got[0], len(msg), reply)
		}
		return
	}
}

// wireSummary counts the packets on the wire by kind.
type wireSummary struct {
	esp, nd, arp, fragments int
	// other describes the first packet that is none of these.
	other string
	// largest is the longest IP packet.
	largest int
}

// summarize classifies every captured packet: ESP (whole or an outer
// fragment), IPv6 neighbour discovery, ARP, or something else.
func summarize(frames []frame) wireSummary {
	var s wireSummary
	for _, f := range frames {
		p := f.data
		s.largest = max(s.largest, len(p))
		switch f.proto {
		case header.ARPProtocolNumber:
			s.arp++
			continue
		case header.IPv4ProtocolNumber:
			h := hdr.IPv4(p)
			if h.IsFragment() {
				s.fragments++
			}
			if h.Protocol() == hdr.ProtoESP {
				s.esp++
				continue
			}
			if s.other == "" {
				s.other = fmt.Sprintf("IPv4 protocol %d, %d bytes", h.Protocol(), len(p))
			}
			continue
		case header.IPv6ProtocolNumber:
			c, ok := hdr.ParseIPv6Chain(p)
			if !ok {
				break
			}
			if c.Fragment {
				s.fragments++
			}
			switch {
			case c.Proto == hdr.ProtoESP:
				s.esp++
				continue
			case c.Proto == hdr.ProtoICMPv6 && len(p) > c.ProtoOffset && p[c.ProtoOffset] >= 133 && p[c.ProtoOffset] <= 137:
				s.nd++
				continue
			}
			if s.other == "" {
				s.other = fmt.Sprintf("IPv6 next header %d, %d bytes", c.Proto, len(p))
			}
			continue
		}
		if s.other == "" {
			s.other = fmt.Sprintf("network protocol %#x, %d bytes", f.proto, len(p))
		}
	}
	return s
}

// gonetDialUDP opens a UDP socket on h bound to la and connected to ra.
func gonetDialUDP(h *host, la, ra *tcpip.FullAddress) (*gonet.UDPConn, error) {
	proto := ipv4.ProtocolNumber
	if la.Addr.Len() == 16 {
		proto = ipv6.ProtocolNumber
	}
	return gonet.DialUDP(h.s, la, ra, proto)
}

// listenUDP opens a UDP socket on h bound to la, closed when the test ends.
func listenUDP(tb testing.TB, h *host, la tcpip.FullAddress) *gonet.UDPConn {
	tb.Helper()
	proto := ipv4.ProtocolNumber
	if la.Addr.Len() == 16 {
		proto = ipv6.ProtocolNumber
	}
	c, err := gonet.DialUDP(h.s, &la, nil, proto)
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { c.Close() })
	return c
}

// udpPacket returns an IP packet of size bytes carrying UDP from src to dst.
func udpPacket(src, dst netip.Addr, size int) *pktbuf.Buffer {
	return packet.UDPBuffer(netip.AddrPortFrom(src, 1000), netip.AddrPortFrom(dst, 2000), make([]byte, size-packet.IPHeaderLen(src)-hdr.UDPLen))
}

// sendUDP sends one datagram of size bytes from a to b's port 4002.
func sendUDP(tb testing.TB, a, b *host, v6 bool, size int) {
	tb.Helper()
	src, dst := a.addr4, b.addr4
	if v6 {
		src, dst = a.addr6, b.addr6
	}
	la := tcpip.FullAddress{NIC: nicID, Addr: gaddr(src), Port: 4001}
	lb := tcpip.FullAddress{NIC: nicID, Addr: gaddr(dst), Port: 4002}
	c, err := gonetDialUDP(a, &la, &lb)
	if err != nil {
		tb.Fatal(err)
	}
	defer c.Close()
	if _, err := c.Write(make([]byte, size)); err != nil {
		tb.Fatalf("send: %v", err)
	}
}

// waitFor polls cond for up to 10 seconds.
func waitFor(tb testing.TB, what string, cond func() bool) {
	tb.Helper()
	for deadline := time.Now().Add(10 * time.Second); !cond(); {
		if time.Now().After(deadline) {
			tb.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(time.Millisecond)
	}
}
