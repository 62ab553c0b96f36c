package gvisor

import (
	"errors"
	"fmt"
	"net/netip"
	"testing"
	"time"

	"gvisor.dev/gvisor/pkg/tcpip"
	"gvisor.dev/gvisor/pkg/tcpip/header"
	"gvisor.dev/gvisor/pkg/tcpip/link/channel"
	"gvisor.dev/gvisor/pkg/tcpip/link/nested"
	"gvisor.dev/gvisor/pkg/tcpip/stack"

	"github.com/sabre-ipsec/sabre/classify"
	hdr "github.com/sabre-ipsec/sabre/header"
	"github.com/sabre-ipsec/sabre/ipsec"
	"github.com/sabre-ipsec/sabre/pktbuf"
	"github.com/sabre-ipsec/sabre/sad"
	"github.com/sabre-ipsec/sabre/spd"
	"github.com/sabre-ipsec/sabre/suite"
	"github.com/sabre-ipsec/sabre/xe"
)

// TestCapabilitiesMasked: the Endpoint hides the child's checksum offload
// and segmentation offload, and keeps its other capabilities.
func TestCapabilitiesMasked(t *testing.T) {
	child := channel.New(1, 1500, "\x02\x00\x00\x00\x00\x01")
	defer child.Close()
	child.LinkEPCapabilities = stack.CapabilityTXChecksumOffload | stack.CapabilityRXChecksumOffload | stack.CapabilityResolutionRequired
	child.SupportedGSOKind = stack.HostGSOSupported
	ep := New(child, spd.NewDB(), sad.NewDB(), ipsec.Config{})
	defer ep.Engine().Close()
	if got := ep.Capabilities(); got != stack.CapabilityResolutionRequired {
		t.Errorf("Capabilities() = %#x, want only CapabilityResolutionRequired (%#x)", got, stack.CapabilityResolutionRequired)
	}
	if ep.GSOMaxSize() != 0 || ep.SupportedGSO() != stack.GSONotSupported {
		t.Errorf("GSOMaxSize() = %d, SupportedGSO() = %v; want 0, GSONotSupported", ep.GSOMaxSize(), ep.SupportedGSO())
	}
}

// offloadLink claims checksum and segmentation offload that it does not
// perform: a stack that believed it would send TCP segments with
// unfinished checksums and larger than the MTU.
type offloadLink struct {
	nested.Endpoint
}

func newOffloadLink(child stack.LinkEndpoint) stack.LinkEndpoint {
	l := &offloadLink{}
	l.Endpoint.Init(child, l)
	return l
}

func (l *offloadLink) Capabilities() stack.LinkEndpointCapabilities {
	return l.Endpoint.Capabilities() | stack.CapabilityTXChecksumOffload | stack.CapabilityRXChecksumOffload
}
func (*offloadLink) GSOMaxSize() uint32               { return 1 << 16 }
func (*offloadLink) SupportedGSO() stack.SupportedGSO { return stack.HostGSOSupported }

// TestTCPOverOffloadingLink runs TCP over a link that claims offloads:
// with them masked the stack completes every checksum before encryption
// and verifies it after decryption, so the transfer succeeds and no packet
// exceeds the link's MTU.
func TestTCPOverOffloadingLink(t *testing.T) {
	n := newNet(t, netConfig{mode: spd.Transport, ethernet: true, wrap: newOffloadLink})
	n.wire.capturing.Store(true)
	tcpEcho(t, n.a, n.b, false, 200<<10)
	tcpEcho(t, n.a, n.b, true, 200<<10)
	if s := summarize(n.wire.captured()); s.largest > 1500 || s.fragments != 0 {
		t.Errorf("largest packet %d bytes, %d fragments; want at most 1500 and none", s.largest, s.fragments)
	}
}

// TestMTU: the Endpoint's MTU is the child's less MaxOverhead.
func TestMTU(t *testing.T) {
	if MaxOverhead != 121 {
		t.Errorf("MaxOverhead = %d, want 40+8+8+16+15+2+32 = 121", MaxOverhead)
	}
	for _, c := range []struct{ child, want uint32 }{{1500, 1379}, {9000, 8879}, {MaxOverhead, 0}, {64, 0}} {
		child := channel.New(1, c.child, "")
		ep := New(child, spd.NewDB(), sad.NewDB(), ipsec.Config{})
		if got := ep.MTU(); got != c.want {
			t.Errorf("child MTU %d: MTU() = %d, want %d", c.child, got, c.want)
		}
		ep.Close()
	}
}

// TestMaxOverheadIsWorstCase encapsulates packets of exactly the
// Endpoint's MTU (and a few bytes less, for every padding length) under
// every ESP suite, in both modes and families, with UDP encapsulation:
// none may exceed the child's MTU.
func TestMaxOverheadIsWorstCase(t *testing.T) {
	const childMTU = 1500
	suites := []struct {
		name     string
		encr     suite.EncrID
		encrLen  int
		integ    suite.IntegID
		integLen int
	}{
		{"aes128gcm16", suite.EncrAESGCM16, 20, 0, 0},
		{"chacha20poly1305", suite.EncrChaCha20Poly1305, 36, 0, 0},
		{"aes256cbc-sha512", suite.EncrAESCBC, 32, suite.IntegHMACSHA512256, 64},
		{"aes128ctr-sha384", suite.EncrAESCTR, 20, suite.IntegHMACSHA384192, 48},
		{"3des-sha256", suite.Encr3DES, 24, suite.IntegHMACSHA256128, 32},
	}
	worst := 0
	for _, s := range suites {
		for _, m := range modes {
			for _, v6 := range []bool{false, true} {
				local, remote := addrA4, addrB4
				if v6 {
					local, remote = addrA6, addrB6
				}
				db := spd.NewDB()
				sl, _ := classify.SelectorFromAddr(local)
				sr, _ := classify.SelectorFromAddr(remote)
				p := spd.Policy{Action: spd.Secure, Mode: m.mode, Src: sl, Dst: sr, TunnelLocal: local, TunnelRemote: remote}
				id, err := db.Add(p)
				if err != nil {
					t.Fatal(err)
				}
				e := ipsec.New(db, sad.NewDB(), ipsec.Config{MTU: childMTU})
				err = e.AddManualSA(id, ipsec.ManualSA{
					Encr: s.encr, EncrKeyIn: keyBytes(s.encrLen, 1), EncrKeyOut: keyBytes(s.encrLen, 2),
					Integ: s.integ, IntegKeyIn: keyBytes(s.integLen, 3), IntegKeyOut: keyBytes(s.integLen, 4),
					ESPSPIIn: 0x100, ESPSPIOut: 0x200, Local: local,
					Encap: &sad.UDPEncap{SrcPort: ipsec.NATTPort, DstPort: ipsec.NATTPort},
				})
				if err != nil {
					t.Fatalf("%s: %v", s.name, err)
				}
				for size := childMTU - MaxOverhead - 20; size <= childMTU-MaxOverhead; size++ {
					b := udpPacket(local, remote, size)
					res, err := e.Encapsulate(b)
					if res != ipsec.SecureTunnel && res != ipsec.SecureTransport {
						t.Fatalf("%s %s: Encapsulate = %v, %v", s.name, m.name, res, err)
					}
					worst = max(worst, b.Len()-size)
					if b.Len() > childMTU {
						t.Errorf("%s %s v6=%v: a %d-byte packet became %d bytes, over the %d-byte MTU", s.name, m.name, v6, size, b.Len(), childMTU)
					}
					pktbuf.DefaultPool.Put(b)
				}
				e.Close()
			}
		}
	}
	t.Logf("largest growth seen: %d bytes (MaxOverhead %d)", worst, MaxOverhead)
}

// keyBytes returns n key bytes that differ with seed.
func keyBytes(n int, seed byte) []byte {
	k := make([]byte, n)
	for i := range k {
		k[i] = seed*17 + byte(i*31)
	}
	return k
}

// udpPacket returns an IP packet of size bytes carrying UDP from src to dst.
func udpPacket(src, dst netip.Addr, size int) *pktbuf.Buffer {
	b := pktbuf.DefaultPool.Get()
	p := b.Append(size)
	hl := hdr.IPv4MinLen
	if src.Is4() {
		hdr.IPv4(p).Encode(&hdr.IPv4Fields{TotalLength: size, TTL: 64, Protocol: hdr.ProtoUDP, Src: src, Dst: dst})
	} else {
		hl = hdr.IPv6Len
		hdr.IPv6(p).Encode(&hdr.IPv6Fields{PayloadLength: size - hl, NextHeader: hdr.ProtoUDP, HopLimit: 64, Src: src, Dst: dst})
	}
	hdr.UDP(p[hl:]).Encode(1000, 2000, size-hl)
	return b
}

// TestOuterFragmentation sends UDP datagrams larger than the MTU. The stack
// fragments them; the Endpoint reassembles, encapsulates the datagram
// whole (transport mode cannot protect a fragment) and fragments the outer
// packet to the link's MTU; the peer's engine reassembles the outer
// fragments before decapsulating.
func TestOuterFragmentation(t *testing.T) {
	for _, m := range modes {
		for _, v6 := range []bool{false, true} {
			t.Run(fmt.Sprintf("%s/v6=%v", m.name, v6), func(t *testing.T) {
				n := newNet(t, netConfig{mode: m.mode, ethernet: true})
				n.wire.capturing.Store(true)
				udpExchange(t, n.a, n.b, v6, 4000)
				s := summarize(n.wire.captured())
				if s.other != "" {
					t.Errorf("cleartext on the wire: %s", s.other)
				}
				if s.fragments < 4 || s.largest > 1500 {
					t.Errorf("wire: %d fragments, largest %d bytes; want 3 + 2 fragments of at most 1500", s.fragments, s.largest)
				}
				a, b := n.a.ep.Stats().Snapshot(), n.b.ep.Engine().Stats().Snapshot()
				if a.InnerReassembled != 1 || a.OuterFragmented != 1 || a.OuterFragments != 3 {
					t.Errorf("A: reassembled %d stack datagrams, fragmented %d outer packets into %d; want 1, 1, 3",
						a.InnerReassembled, a.OuterFragmented, a.OuterFragments)
				}
				if b.Reassembled != 1 {
					t.Errorf("B's engine reassembled %d datagrams, want 1", b.Reassembled)
				}
			})
		}
	}
}

// TestOuterDFTooBig: a tunnel whose outer header sets DF cannot be
// fragmented; the Endpoint drops the packet and counts it.
func TestOuterDFTooBig(t *testing.T) {
	n := newNet(t, netConfig{mode: spd.Tunnel, ethernet: true, flags: spd.FlagDFSet})
	udpExchange(t, n.a, n.b, false, 500) // small packets pass
	sendUDP(t, n.a, n.b, false, 3000)
	waitFor(t, "a TooBig drop", func() bool { return n.a.ep.Stats().TooBig.Load() == 1 })
}

// TestBypassFragments: a datagram that bypasses IPsec goes out in
// cleartext fragments and arrives whole.
func TestBypassFragments(t *testing.T) {
	n := newNet(t, netConfig{mode: spd.Transport, ethernet: true})
	for _, h := range []struct {
		h      *host
		peer   *host
		local  uint16
		remote uint16
	}{{n.a, n.b, 4001, 4002}, {n.b, n.a, 4002, 4001}} {
		src, _ := classify.SelectorFromAddr(h.h.addr4)
		dst, _ := classify.SelectorFromAddr(h.peer.addr4)
		src, _ = src.WithPorts(h.local, h.local)
		dst, _ = dst.WithPorts(h.remote, h.remote)
		if _, err := h.h.ep.Engine().SPD().Add(spd.Policy{Action: spd.Bypass, Priority: spd.PriorityHigh, Proto: hdr.ProtoUDP, Src: src, Dst: dst}); err != nil {
			t.Fatal(err)
		}
	}
	n.wire.capturing.Store(true)
	udpExchange(t, n.a, n.b, false, 3000)
	s := summarize(n.wire.captured())
	if s.esp != 0 || s.fragments < 4 {
		t.Errorf("wire: %d ESP packets, %d fragments; want cleartext fragments only", s.esp, s.fragments)
	}
	if got := n.b.ep.Engine().Stats().Reassembled.Load(); got != 1 {
		t.Errorf("B reassembled %d datagrams, want 1", got)
	}
}

// TestNeighbourDiscoveryBypass: InstallDefaultBypass lets ICMPv6 types
// 133..137 through in both directions and nothing else.
func TestNeighbourDiscoveryBypass(t *testing.T) {
	db := spd.NewDB()
	if err := InstallDefaultBypass(db); err != nil {
		t.Fatal(err)
	}
	if err := InstallDefaultBypass(db); !errors.Is(err, xe.Exist) {
		t.Errorf("second InstallDefaultBypass: %v, want XE_EXIST", err)
	}
	p := db.ByName(NDBypassName)
	if p == nil || p.Priority != spd.PriorityHighest {
		t.Fatalf("policy %v, want priority 1", p)
	}
	e := ipsec.New(db, sad.NewDB(), ipsec.Config{})
	defer e.Close()
	src, dst := netip.MustParseAddr("fe80::1"), netip.MustParseAddr("ff02::1:ff00:78")
	for typ := 128; typ <= 143; typ++ {
		pkt := make([]byte, hdr.IPv6Len+8)
		hdr.IPv6(pkt).Encode(&hdr.IPv6Fields{PayloadLength: 8, NextHeader: hdr.ProtoICMPv6, HopLimit: 255, Src: src, Dst: dst})
		pkt[hdr.IPv6Len] = byte(typ)
		want := ipsec.Drop
		if typ >= 133 && typ <= 137 {
			want = ipsec.Bypass
		}
		for _, d := range []spd.Direction{spd.Outbound, spd.Inbound} {
			if got, _, err := e.GetPolicy(pkt, d); got != want {
				t.Errorf("ICMPv6 type %d %v: %v (%v), want %v", typ, d, got, err, want)
			}
		}
	}
}

// TestIPv6NeedsNDBypass: without the neighbour discovery bypass an IPv6
// host cannot resolve its peer over Ethernet, and the engine counts the
// neighbour solicitations it drops.
func TestIPv6NeedsNDBypass(t *testing.T) {
	n := newNet(t, netConfig{mode: spd.Transport, ethernet: true, noBypass: true})
	sendUDP(t, n.a, n.b, true, 100)
	waitFor(t, "a dropped neighbour solicitation", func() bool {
		return n.a.ep.Engine().Stats().Dropped(xe.PolicyDrop) > 0
	})
	if got := n.b.ep.Engine().Stats().InBypass.Load(); got != 0 {
		t.Errorf("B let %d packets through, want 0", got)
	}
}

// TestDummyPacketsLeaveThroughOutput: the engine's dummy packets go to the
// child with the link addresses of the traffic secured before; before any,
// there are none to use and the packet is counted.
func TestDummyPacketsLeaveThroughOutput(t *testing.T) {
	n := newNet(t, netConfig{mode: spd.Tunnel, ethernet: true})
	p := n.a.ep.Engine().SPD().Get(n.a.policy4)
	if err := n.a.ep.Engine().SendDummy(p); err != nil {
		t.Fatal(err)
	}
	if got := n.a.ep.Stats().NoLinkAddress.Load(); got != 1 {
		t.Errorf("dummy before any traffic: NoLinkAddress = %d, want 1", got)
	}
	udpExchange(t, n.a, n.b, false, 100)
	n.wire.capturing.Store(true)
	if err := n.a.ep.Engine().SendDummy(p); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "B to discard a dummy packet", func() bool { return n.b.ep.Engine().Stats().DummyRx.Load() == 1 })
	if s := summarize(n.wire.captured()); s.esp != 1 || s.other != "" {
		t.Errorf("wire: %+v, want one ESP packet", s)
	}
}

// TestHeldPacketsLeaveThroughOutput: a packet whose SAs do not exist yet
// is held by the engine (Pending) and sent through Output when they are
// added.
func TestHeldPacketsLeaveThroughOutput(t *testing.T) {
	for _, m := range modes {
		t.Run(m.name, func(t *testing.T) {
			c := netConfig{mode: m.mode, ethernet: true, holdA4: true}
			n := newNet(t, c)
			lb := tcpip.FullAddress{NIC: nicID, Addr: gaddr(n.b.addr4), Port: 4002}
			cb := listenUDP(t, n.b, lb)
			sendUDP(t, n.a, n.b, false, 300)
			waitFor(t, "the engine to hold the packet", func() bool { return n.a.ep.Engine().Stats().AcquireQueued.Load() == 1 })
			if err := n.a.ep.Engine().AddManualSA(n.a.policy4, manualSA(c, n.a.addr4, n.b.addr4)); err != nil {
				t.Fatal(err)
			}
			buf := make([]byte, 1000)
			cb.SetDeadline(time.Now().Add(10 * time.Second))
			if k, err := cb.Read(buf); err != nil || k != 300 {
				t.Fatalf("B received %d bytes, %v; want the 300 held", k, err)
			}
			if got := n.a.ep.Stats().OutputPackets.Load(); got != 1 {
				t.Errorf("OutputPackets = %d, want 1", got)
			}
		})
	}
}

// TestLinkHeadersOfRebuiltPackets: the child's AddHeader runs on the
// packets the Endpoint builds, so their Ethernet frames go from one host's
// address to the other's with the EtherType of the outer packet.
func TestLinkHeadersOfRebuiltPackets(t *testing.T) {
	n := newNet(t, netConfig{mode: spd.Tunnel, ethernet: true})
	n.wire.capturing.Store(true)
	udpExchange(t, n.a, n.b, false, 100)
	udpExchange(t, n.a, n.b, true, 100)
	macs := map[string]bool{"\x02\x00\x00\x00\x00\x77": true, "\x02\x00\x00\x00\x00\x78": true}
	esp := 0
	for _, f := range n.wire.captured() {
		if len(f.link) != header.EthernetMinimumSize {
			t.Fatalf("frame with a %d-byte link header", len(f.link))
		}
		eth := header.Ethernet(f.link)
		if eth.Type() != f.proto {
			t.Errorf("EtherType %#x on a packet of protocol %#x", eth.Type(), f.proto)
		}
		if f.proto == header.ARPProtocolNumber || summarize([]frame{f}).esp == 0 {
			continue
		}
		esp++
		src, dst := string(eth.SourceAddress()), string(eth.DestinationAddress())
		if !macs[src] || !macs[dst] || src == dst {
			t.Errorf("ESP frame from %x to %x, want between the two hosts", src, dst)
		}
	}
	if esp != 4 {
		t.Errorf("%d ESP frames, want 4 (two exchanges of two datagrams)", esp)
	}
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
