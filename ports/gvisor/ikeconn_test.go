package gvisor

import (
	"bytes"
	"fmt"
	"net"
	"net/netip"
	"sort"
	"sync"
	"testing"
	"time"

	"gvisor.dev/gvisor/pkg/tcpip"
	"gvisor.dev/gvisor/pkg/tcpip/adapters/gonet"
	"gvisor.dev/gvisor/pkg/tcpip/header"
	"gvisor.dev/gvisor/pkg/tcpip/link/pipe"
	"gvisor.dev/gvisor/pkg/tcpip/network/ipv4"
	"gvisor.dev/gvisor/pkg/tcpip/network/ipv6"
	"gvisor.dev/gvisor/pkg/tcpip/stack"
	"gvisor.dev/gvisor/pkg/tcpip/transport/udp"

	"github.com/sabre-ipsec/sabre/classify"
	"github.com/sabre-ipsec/sabre/ipsec"
	"github.com/sabre-ipsec/sabre/sad"
	"github.com/sabre-ipsec/sabre/spd"
	"github.com/sabre-ipsec/sabre/suite"
	"github.com/sabre-ipsec/sabre/xe"
)

func TestIKEMessageMarker(t *testing.T) {
	ike := []byte("IKE header and payloads")
	for _, tc := range []struct {
		name string
		in   []byte
		natt bool
		want []byte
		kind datagramKind
	}{
		{"IKE port: as is", ike, false, ike, datagramIKE},
		{"IKE port: zeros are not a marker", append([]byte{0, 0, 0, 0}, ike...), false, append([]byte{0, 0, 0, 0}, ike...), datagramIKE},
		{"IKE port: 0xFF is no keepalive", []byte{0xff}, false, []byte{0xff}, datagramIKE},
		{"NAT-T: marker removed", append([]byte{0, 0, 0, 0}, ike...), true, ike, datagramIKE},
		{"NAT-T: marker alone", []byte{0, 0, 0, 0}, true, []byte{}, datagramIKE},
		{"NAT-T: keepalive", []byte{0xff}, true, nil, datagramKeepalive},
		{"NAT-T: ESP (SPI 0x100)", []byte{0, 0, 1, 0, 0, 0, 0, 1, 9, 9}, true, nil, datagramNonIKE},
		{"NAT-T: no marker", ike, true, nil, datagramNonIKE},
		{"NAT-T: short", []byte{0, 0}, true, nil, datagramNonIKE},
		{"NAT-T: one zero octet", []byte{0}, true, nil, datagramNonIKE},
		{"NAT-T: empty", nil, true, nil, datagramNonIKE},
	} {
		got, kind := ikeMessage(tc.in, tc.natt)
		if kind != tc.kind || !bytes.Equal(got, tc.want) || (tc.want != nil) != (got != nil) {
			t.Errorf("%s: ikeMessage(%x, %v) = %x, %d; want %x, %d", tc.name, tc.in, tc.natt, got, kind, tc.want, tc.kind)
		}
	}
	if m := AddNonESPMarker(ike); !bytes.Equal(m, append([]byte{0, 0, 0, 0}, ike...)) {
		t.Errorf("AddNonESPMarker = %x", m)
	}
	if got, kind := ikeMessage(AddNonESPMarker(ike), true); kind != datagramIKE || !bytes.Equal(got, ike) {
		t.Errorf("marker round trip: %x, %d", got, kind)
	}
}

// ikcHost is a stack of the IKEConn tests, with its Sabre Endpoint (nil
// without Sabre).
type ikcHost struct {
	s            *stack.Stack
	ep           *Endpoint
	addr4, addr6 netip.Addr
}

func (h *ikcHost) addr(v6 bool) netip.Addr {
	if v6 {
		return h.addr6
	}
	return h.addr4
}

// ikcNet joins two stacks (A at .77, B at .78) by a pipe without link
// headers; with sabre each has an Endpoint with the IKE bypass policies.
func ikcNet(t *testing.T, sabre bool) (a, b *ikcHost) {
	t.Helper()
	la, lb := pipe.New("", "", 1500)
	mk := func(l stack.LinkEndpoint, a4, a6 string) *ikcHost {
		h := &ikcHost{addr4: netip.MustParseAddr(a4), addr6: netip.MustParseAddr(a6)}
		var link stack.LinkEndpoint = l
		if sabre {
			db := spd.NewDB()
			if err := InstallIKEBypass(db); err != nil {
				t.Fatal(err)
			}
			h.ep = New(l, db, sad.NewDB(), ipsec.Config{})
			link = h.ep
		}
		h.s = stack.New(stack.Options{
			NetworkProtocols:   []stack.NetworkProtocolFactory{ipv4.NewProtocol, ipv6.NewProtocol},
			TransportProtocols: []stack.TransportProtocolFactory{udp.NewProtocol},
		})
		if err := h.s.CreateNIC(1, link); err != nil {
			t.Fatalf("CreateNIC: %v", err)
		}
		for _, a := range []netip.Addr{h.addr4, h.addr6} {
			proto := ipv4.ProtocolNumber
			if a.Is6() {
				proto = ipv6.ProtocolNumber
			}
			pa := tcpip.ProtocolAddress{Protocol: proto, AddressWithPrefix: tcpip.AddrFromSlice(a.AsSlice()).WithPrefix()}
			if err := h.s.AddProtocolAddress(1, pa, stack.AddressProperties{}); err != nil {
				t.Fatal(err)
			}
		}
		h.s.SetRouteTable([]tcpip.Route{{Destination: header.IPv4EmptySubnet, NIC: 1}, {Destination: header.IPv6EmptySubnet, NIC: 1}})
		t.Cleanup(func() { h.s.Close(); h.s.Wait() })
		return h
	}
	return mk(la, "10.0.0.77", "fd00::77"), mk(lb, "10.0.0.78", "fd00::78")
}

// ikeRecorder records what an IKEConn hands its handler.
type ikeRecorder struct {
	mu  sync.Mutex
	got []ikeRecord
	ch  chan struct{}
}

type ikeRecord struct {
	msg           string
	local, remote netip.AddrPort
}

func newIKERecorder() *ikeRecorder { return &ikeRecorder{ch: make(chan struct{}, 100)} }

func (r *ikeRecorder) handle(msg []byte, local, remote netip.AddrPort) {
	r.mu.Lock()
	r.got = append(r.got, ikeRecord{string(msg), local, remote})
	r.mu.Unlock()
	r.ch <- struct{}{}
}

// wait waits for n messages in all.
func (r *ikeRecorder) wait(t *testing.T, n int) []ikeRecord {
	t.Helper()
	timeout := time.After(5 * time.Second)
	for {
		r.mu.Lock()
		got := append([]ikeRecord(nil), r.got...)
		r.mu.Unlock()
		if len(got) >= n {
			return got
		}
		select {
		case <-r.ch:
		case <-timeout:
			t.Fatalf("%d IKE messages handled, want %d: %+v", len(got), n, got)
		}
	}
}

// ikcSocket opens a plain UDP socket on h at port.
func ikcSocket(t *testing.T, h *ikcHost, v6 bool, port uint16) *gonet.UDPConn {
	t.Helper()
	a := h.addr(v6)
	proto := ipv4.ProtocolNumber
	if v6 {
		proto = ipv6.ProtocolNumber
	}
	c, err := gonet.DialUDP(h.s, &tcpip.FullAddress{NIC: 1, Addr: tcpip.AddrFromSlice(a.AsSlice()), Port: port}, nil, proto)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	c.SetDeadline(time.Now().Add(5 * time.Second))
	return c
}

func udpTo(ap netip.AddrPort) *net.UDPAddr {
	return &net.UDPAddr{IP: ap.Addr().AsSlice(), Port: int(ap.Port())}
}

// TestIKEConnMarker sends IKE messages, keepalives and marker-less
// datagrams to an IKEConn from a plain socket and checks what its handler
// gets, then what its Send and SendKeepalive put on the wire; over IPv4
// and IPv6, with and without Sabre below the stacks.
func TestIKEConnMarker(t *testing.T) {
	for _, sabre := range []bool{false, true} {
		for _, v6 := range []bool{false, true} {
			t.Run(fmt.Sprintf("sabre=%v/v6=%v", sabre, v6), func(t *testing.T) {
				a, b := ikcNet(t, sabre)
				conn, err := ListenIKE(IKEConnConfig{Stack: b.s, NIC: 1, Addrs: []netip.Addr{b.addr4, b.addr6}})
				if err != nil {
					t.Fatal(err)
				}
				defer conn.Close()
				rec := newIKERecorder()
				if err := conn.Serve(rec.handle); err != nil {
					t.Fatal(err)
				}
				if err := conn.Serve(rec.handle); err == nil {
					t.Error("second Serve succeeded")
				}
				// The peer's sockets on its own 500 and 4500, as its IKE
				// daemon would have them.
				peer500, peer4500 := ikcSocket(t, a, v6, 500), ikcSocket(t, a, v6, 4500)
				b500 := netip.AddrPortFrom(b.addr(v6), 500)
				b4500 := netip.AddrPortFrom(b.addr(v6), 4500)
				send := func(c *gonet.UDPConn, to netip.AddrPort, p []byte) {
					t.Helper()
					if _, err := c.WriteTo(p, udpTo(to)); err != nil {
						t.Fatal(err)
					}
				}
				send(peer500, b500, []byte("init on 500"))
				send(peer4500, b4500, []byte{0xff})                          // keepalive
				send(peer4500, b4500, []byte("\x00\x00\x01\x00esp-looking")) // no marker
				send(peer4500, b4500, append([]byte{0, 0, 0, 0}, "auth on 4500"...))
				got := rec.wait(t, 2)
				// The two ports' readers run on goroutines of their own.
				sort.Slice(got, func(i, j int) bool { return got[i].local.Port() < got[j].local.Port() })
				want := []ikeRecord{
					{"init on 500", b500, netip.AddrPortFrom(a.addr(v6), 500)},
					{"auth on 4500", b4500, netip.AddrPortFrom(a.addr(v6), 4500)},
				}
				if fmt.Sprint(got) != fmt.Sprint(want) {
					t.Errorf("handler got %+v\nwant %+v", got, want)
				}
				// Below the stack, the engine consumes the keepalive and takes
				// the marker-less datagram for ESP in UDP (whose SPI it does
				// not know); without Sabre both reach the socket, which drops
				// them.
				st := conn.Stats()
				if sabre {
					sb := b.ep.Engine().Stats().Snapshot()
					if sb.NATKeepalives != 1 || sb.Drops[xe.BadESPSPI.Name()] != 1 || st.KeepalivesIn.Load() != 0 || st.NonIKE.Load() != 0 {
						t.Errorf("engine consumed %d keepalives and dropped %v, socket saw %d keepalives and %d other; want 1, one unknown SPI, 0, 0",
							sb.NATKeepalives, sb.Drops, st.KeepalivesIn.Load(), st.NonIKE.Load())
					}
				} else if st.KeepalivesIn.Load() != 1 || st.NonIKE.Load() != 1 {
					t.Errorf("keepalives in %d, non-IKE %d; want 1, 1", st.KeepalivesIn.Load(), st.NonIKE.Load())
				}
				if st.Received.Load() != 2 {
					t.Errorf("received %d, want 2", st.Received.Load())
				}

				// Sending: a marker in front on 4500, none on 500.
				buf := make([]byte, 2000)
				recv := func(c *gonet.UDPConn) (string, netip.AddrPort) {
					t.Helper()
					n, from, err := c.ReadFrom(buf)
					if err != nil {
						t.Fatal(err)
					}
					ap := from.(*net.UDPAddr).AddrPort()
					return string(buf[:n]), netip.AddrPortFrom(ap.Addr().Unmap(), ap.Port())
				}
				if err := conn.Send([]byte("resp on 500"), b500, netip.AddrPortFrom(a.addr(v6), 500)); err != nil {
					t.Fatal(err)
				}
				if m, from := recv(peer500); m != "resp on 500" || from != b500 {
					t.Errorf("on 500: %q from %v", m, from)
				}
				if err := conn.Send([]byte("resp on 4500"), b4500, netip.AddrPortFrom(a.addr(v6), 4500)); err != nil {
					t.Fatal(err)
				}
				if m, from := recv(peer4500); m != "\x00\x00\x00\x00resp on 4500" || from != b4500 {
					t.Errorf("on 4500: %q from %v", m, from)
				}
				// A local address the daemon does not know (unspecified):
				// the socket of the family on that port.
				if err := conn.Send([]byte("any"), netip.AddrPortFrom(netip.Addr{}, 500), netip.AddrPortFrom(a.addr(v6), 500)); err != nil {
					t.Fatal(err)
				}
				if m, from := recv(peer500); m != "any" || from != b500 {
					t.Errorf("from an unknown local address: %q from %v", m, from)
				}
				if err := conn.SendKeepalive(b500, netip.AddrPortFrom(a.addr(v6), 4500)); err != nil {
					t.Fatal(err)
				}
				if sabre {
					// A's engine consumes it; the socket never sees it.
					deadline := time.Now().Add(5 * time.Second)
					for a.ep.Engine().Stats().Snapshot().NATKeepalives != 1 && time.Now().Before(deadline) {
						time.Sleep(time.Millisecond)
					}
					if n := a.ep.Engine().Stats().Snapshot().NATKeepalives; n != 1 {
						t.Errorf("peer's engine saw %d keepalives, want 1", n)
					}
				} else if m, from := recv(peer4500); m != "\xff" || from != b4500 {
					t.Errorf("keepalive: %q from %v", m, from)
				}
				if err := conn.Send([]byte("x"), netip.AddrPortFrom(b.addr(v6), 501), netip.AddrPortFrom(a.addr(v6), 500)); err == nil {
					t.Error("Send from port 501 succeeded")
				}
				conn.Close()
				if err := conn.Send([]byte("x"), b500, netip.AddrPortFrom(a.addr(v6), 500)); err == nil {
					t.Error("Send after Close succeeded")
				}
			})
		}
	}
}

// TestIKEConnBypassAndESPinUDP checks the two things the IKEConn relies
// on when Sabre is below the stack: a SECURE policy between the hosts
// (all protocols, the hosts' own addresses) does not catch IKE, thanks to
// the IKE bypass policies, and UDP-encapsulated ESP on port 4500 is
// decrypted below the stack: the inner datagram reaches its own socket and
// nothing reaches the IKEConn.
func TestIKEConnBypassAndESPinUDP(t *testing.T) {
	for _, v6 := range []bool{false, true} {
		t.Run(fmt.Sprintf("v6=%v", v6), func(t *testing.T) {
			a, b := ikcNet(t, true)
			for _, h := range []struct {
				me, peer *ikcHost
				out, in  uint32
			}{{a, b, 0x1078, 0x1077}, {b, a, 0x1077, 0x1078}} {
				src, _ := classify.SelectorFromAddr(h.me.addr(v6))
				dst, _ := classify.SelectorFromAddr(h.peer.addr(v6))
				id, err := h.me.ep.Engine().SPD().Add(spd.Policy{Action: spd.Secure, Mode: spd.Transport,
					Flags: spd.FlagProtoESP | spd.FlagCheckReplay, Src: src, Dst: dst, TunnelRemote: h.peer.addr(v6)})
				if err != nil {
					t.Fatal(err)
				}
				key := func(spi uint32) []byte { return bytes.Repeat([]byte{byte(spi)}, 20) }
				if err := h.me.ep.Engine().AddManualSA(id, ipsec.ManualSA{Encr: suite.EncrAESGCM16,
					EncrKeyOut: key(h.out), EncrKeyIn: key(h.in), ESPSPIOut: h.out, ESPSPIIn: h.in,
					Local: h.me.addr(v6), Encap: &sad.UDPEncap{SrcPort: 4500, DstPort: 4500}}); err != nil {
					t.Fatal(err)
				}
			}
			conn, err := ListenIKE(IKEConnConfig{Stack: b.s, Addrs: []netip.Addr{b.addr(v6)}})
			if err != nil {
				t.Fatal(err)
			}
			defer conn.Close()
			rec := newIKERecorder()
			conn.Serve(rec.handle)

			// IKE passes in the clear, both ports.
			peer500, peer4500 := ikcSocket(t, a, v6, 500), ikcSocket(t, a, v6, 4500)
			b500, b4500 := netip.AddrPortFrom(b.addr(v6), 500), netip.AddrPortFrom(b.addr(v6), 4500)
			peer500.WriteTo([]byte("ike"), udpTo(b500))
			peer4500.WriteTo(AddNonESPMarker([]byte("natt ike")), udpTo(b4500))
			rec.wait(t, 2)

			// Other traffic is ESP in UDP to port 4500.
			const port = 7777
			sink := ikcSocket(t, b, v6, port)
			srcSock := ikcSocket(t, a, v6, port)
			if _, err := srcSock.WriteTo([]byte("secured datagram"), udpTo(netip.AddrPortFrom(b.addr(v6), port))); err != nil {
				t.Fatal(err)
			}
			buf := make([]byte, 100)
			n, _, err := sink.ReadFrom(buf)
			if err != nil || string(buf[:n]) != "secured datagram" {
				t.Fatalf("inner datagram: %q, %v", buf[:n], err)
			}
			sb := b.ep.Engine().Stats().Snapshot()
			if sb.InPackets != 1 {
				t.Errorf("B's engine decrypted %d packets, want 1", sb.InPackets)
			}
			if st := conn.Stats(); st.Received.Load() != 2 || st.NonIKE.Load() != 0 {
				t.Errorf("IKEConn: received %d, non-IKE %d; want 2, 0", st.Received.Load(), st.NonIKE.Load())
			}
			// And IKE from B to A stays in the clear under the SECURE policy.
			if err := conn.Send([]byte("reply"), b500, netip.AddrPortFrom(a.addr(v6), 500)); err != nil {
				t.Fatal(err)
			}
			peer500.SetDeadline(time.Now().Add(5 * time.Second))
			if n, _, err := peer500.ReadFrom(buf); err != nil || string(buf[:n]) != "reply" {
				t.Fatalf("IKE reply: %q, %v", buf[:n], err)
			}
			if sa := a.ep.Engine().Stats().Snapshot(); sa.InPackets != 0 || sa.OutPackets != 1 {
				t.Errorf("A's engine: in %d out %d secured, want 0 and 1", sa.InPackets, sa.OutPackets)
			}
		})
	}
}

// TestIKEConnStackClosedFirst: closing the stack under a serving IKEConn
// ends its readers (no busy loop), and Close still returns.
func TestIKEConnStackClosedFirst(t *testing.T) {
	_, b := ikcNet(t, false)
	conn, err := ListenIKE(IKEConnConfig{Stack: b.s, Addrs: []netip.Addr{b.addr4}})
	if err != nil {
		t.Fatal(err)
	}
	conn.Serve(func([]byte, netip.AddrPort, netip.AddrPort) {})
	b.s.Close()
	done := make(chan struct{})
	go func() { conn.wg.Wait(); close(done) }()
	select {
	case <-done:
	case <-time.After(5 * time.Second):
		t.Fatal("readers still running after the stack closed")
	}
	if n := conn.Stats().ReadErrors.Load(); n != 0 {
		t.Errorf("%d read errors", n)
	}
	conn.Close()
}
