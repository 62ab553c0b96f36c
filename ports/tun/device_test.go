//go:build linux

package tun

import (
	"bytes"
	"crypto/rand"
	"crypto/sha256"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/netip"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/sabre-ipsec/sabre/classify"
	"github.com/sabre-ipsec/sabre/internal/testutil/netns"
	"github.com/sabre-ipsec/sabre/ipsec"
	"github.com/sabre-ipsec/sabre/sad"
	"github.com/sabre-ipsec/sabre/spd"
	"github.com/sabre-ipsec/sabre/suite"
	"github.com/sabre-ipsec/sabre/xe"
)

// host is one end of a two-namespace test tunnel.
type host struct {
	ns           *netns.NS
	outer, inner netip.Addr
	subnet       netip.Prefix
	engine       *ipsec.Engine
	dev          *Device
	ike          chan ikeMsg // what the IKE handler received
}

// ikeMsg is a message the IKE handler got.
type ikeMsg struct {
	msg           string
	local, remote netip.AddrPort
}

// tunnelPair builds two namespaces joined by a veth pair, each with an
// engine keyed with AES-128-GCM tunnel SAs to the other and a Device. The
// outer addresses are IPv6 with outer6, the inner ones always IPv4. With
// ah the SAs are AH+ESP (AH with HMAC-SHA-256 outermost).
func tunnelPair(t *testing.T, encap, outer6, ah bool) (a, b *host) {
	t.Helper()
	return tunnelPairIKE(t, encap, outer6, ah, nil)
}

// tunnelPairIKE is tunnelPair with B's IKE messages going to the handler
// ikeB returns for B's host (its engine made), if ikeB is not nil.
func tunnelPairIKE(t *testing.T, encap, outer6, ah bool, ikeB func(*host) IKEHandler) (a, b *host) {
	t.Helper()
	netns.NeedRoot(t, "tun")
	a = &host{ns: netns.New(t, "sabre-tun-", "a"), outer: netip.MustParseAddr("192.0.2.1"),
		inner: netip.MustParseAddr("10.1.0.1"), subnet: netip.MustParsePrefix("10.1.0.0/24")}
	b = &host{ns: netns.New(t, "sabre-tun-", "b"), outer: netip.MustParseAddr("192.0.2.2"),
		inner: netip.MustParseAddr("10.2.0.1"), subnet: netip.MustParsePrefix("10.2.0.0/24")}
	bits := "/24"
	if outer6 {
		a.outer, b.outer, bits = netip.MustParseAddr("2001:db8::1"), netip.MustParseAddr("2001:db8::2"), "/64"
	}
	vethPair(t, a.ns, "va", a.outer.String()+bits, b.ns, "vb", b.outer.String()+bits)

	keyAB, keyBA := make([]byte, 20), make([]byte, 20)
	rand.Read(keyAB)
	rand.Read(keyBA)
	for _, h := range []struct {
		me, peer      *host
		spiOut, spiIn uint32
		kOut, kIn     []byte
	}{{a, b, 0x1000a, 0x1000b, keyAB, keyBA}, {b, a, 0x1000b, 0x1000a, keyBA, keyAB}} {
		db := spd.NewDB()
		flags := spd.FlagProtoESP | spd.FlagCheckReplay
		if ah {
			flags |= spd.FlagProtoAH
		}
		p := spd.Policy{Action: spd.Secure, Mode: spd.Tunnel, Flags: flags,
			TunnelLocal: h.me.outer, TunnelRemote: h.peer.outer}
		p.Src, _ = classify.SelectorFromPrefix(h.me.subnet)
		p.Dst, _ = classify.SelectorFromPrefix(h.peer.subnet)
		pid, err := db.Add(p)
		if err != nil {
			t.Fatal(err)
		}
		var dev *Device
		h.me.engine = ipsec.New(db, sad.NewDB(), ipsec.Config{})
		m := ipsec.ManualSA{Encr: suite.EncrAESGCM16, EncrKeyIn: h.kIn, EncrKeyOut: h.kOut,
			ESPSPIIn: h.spiIn, ESPSPIOut: h.spiOut}
		if ah {
			m.Integ, m.IntegKeyIn, m.IntegKeyOut = suite.IntegHMACSHA256128, bytes.Repeat(h.kIn[:16], 2), bytes.Repeat(h.kOut[:16], 2)
			m.AHSPIIn, m.AHSPIOut = h.spiIn+0x100, h.spiOut+0x100
		}
		if encap {
			m.Encap = &sad.UDPEncap{SrcPort: 4500, DstPort: 4500}
		}
		if err := h.me.engine.AddManualSA(pid, m); err != nil {
			t.Fatal(err)
		}
		me := h.me
		me.ike = make(chan ikeMsg, 16)
		handler := func(msg []byte, local, remote netip.AddrPort) {
			select {
			case me.ike <- ikeMsg{string(msg), local, remote}:
			default:
			}
		}
		if me == b && ikeB != nil {
			handler = ikeB(me)
		}
		err = h.me.ns.Do(func() error {
			var err error
			dev, err = Open(Config{Engine: h.me.engine, Logger: testLogger(t), IKE: handler})
			return err
		})
		if err != nil {
			t.Fatal(err)
		}
		h.me.dev = dev
		t.Cleanup(func() { dev.Close(); h.me.engine.Close() })
		h.me.ns.IP(t, "addr", "add", h.me.inner.String()+"/24", "dev", dev.Name())
		h.me.ns.IP(t, "route", "add", h.peer.subnet.String(), "dev", dev.Name())
	}
	return a, b
}

func TestDeviceTunnel(t *testing.T) {
	for _, tc := range []struct{ encap, outer6, ah bool }{
		{false, false, false}, {true, false, false}, {false, true, false}, {true, true, false},
		{false, false, true}, {false, true, true},
	} {
		t.Run(fmt.Sprintf("encap=%v,outer6=%v,ah=%v", tc.encap, tc.outer6, tc.ah), func(t *testing.T) {
			a, b := tunnelPair(t, tc.encap, tc.outer6, tc.ah)

			// UDP echo through the tunnel.
			var srv, cli net.PacketConn
			if err := b.ns.Do(func() (err error) { srv, err = net.ListenPacket("udp4", b.inner.String()+":7777"); return }); err != nil {
				t.Fatal(err)
			}
			defer srv.Close()
			go func() {
				buf := make([]byte, 2000)
				for {
					n, from, err := srv.ReadFrom(buf)
					if err != nil {
						return
					}
					srv.WriteTo(buf[:n], from)
				}
			}()
			if err := a.ns.Do(func() (err error) { cli, err = net.ListenPacket("udp4", a.inner.String()+":0"); return }); err != nil {
				t.Fatal(err)
			}
			defer cli.Close()
			dst := &net.UDPAddr{IP: b.inner.AsSlice(), Port: 7777}
			buf := make([]byte, 2000)
			for _, size := range []int{1, 100, 1300} {
				msg := bytes.Repeat([]byte{byte(size)}, size)
				cli.SetReadDeadline(time.Now().Add(5 * time.Second))
				if _, err := cli.WriteTo(msg, dst); err != nil {
					t.Fatal(err)
				}
				n, _, err := cli.ReadFrom(buf)
				if err != nil {
					t.Fatalf("echo of %d bytes: %v\nA: %+v\nB: %+v\nA engine: %+v\nB engine: %+v", size, err,
						a.dev.Stats().Snapshot(), b.dev.Stats().Snapshot(), a.engine.Stats().Snapshot(), b.engine.Stats().Snapshot())
				}
				if !bytes.Equal(buf[:n], msg) {
					t.Fatalf("echo of %d bytes came back as %d bytes", size, n)
				}
			}

			// A TCP transfer: GSO super-packets from the TUN, GRO into it.
			const size = 8 << 20
			data := make([]byte, size)
			rand.Read(data)
			var ln net.Listener
			if err := b.ns.Do(func() (err error) { ln, err = net.Listen("tcp4", b.inner.String()+":7778"); return }); err != nil {
				t.Fatal(err)
			}
			defer ln.Close()
			got := make(chan [32]byte, 1)
			go func() {
				c, err := ln.Accept()
				if err != nil {
					got <- [32]byte{}
					return
				}
				defer c.Close()
				h := sha256.New()
				io.Copy(h, c)
				got <- [32]byte(h.Sum(nil))
			}()
			var c net.Conn
			if err := a.ns.Do(func() (err error) {
				c, err = net.DialTimeout("tcp4", b.inner.String()+":7778", 5*time.Second)
				return
			}); err != nil {
				t.Fatal(err)
			}
			start := time.Now()
			c.SetDeadline(time.Now().Add(60 * time.Second))
			if _, err := c.Write(data); err != nil {
				t.Fatal(err)
			}
			c.Close()
			select {
			case sum := <-got:
				if sum != sha256.Sum256(data) {
					t.Fatal("TCP transfer: data differs")
				}
			case <-time.After(60 * time.Second):
				t.Fatal("TCP transfer timed out")
			}
			el := time.Since(start)
			t.Logf("%d MiB in %v: %.0f Mbit/s", size>>20, el, float64(size)*8/el.Seconds()/1e6)
			if tc.ah && tc.outer6 && a.dev.Stats().TooBig.Load() == 0 {
				// 1400-byte inner packets with AH+ESP and an IPv6 header
				// exceed 1500: the sender must have been told.
				t.Error("no ICMP packet-too-big sent for inner packets that did not fit once secured")
			}
			t.Logf("A: %+v", a.dev.Stats().Snapshot())
			t.Logf("B: %+v", b.dev.Stats().Snapshot())
			t.Logf("A engine drops: %v, B engine drops: %v", a.engine.Stats().Snapshot().Drops, b.engine.Stats().Snapshot().Drops)
		})
	}
}

// TestDeviceIKE sends IKE messages between two devices from the IKE port
// and from the NAT-T port, where the non-ESP marker is added and removed.
func TestDeviceIKE(t *testing.T) {
	for _, outer6 := range []bool{false, true} {
		t.Run(fmt.Sprintf("outer6=%v", outer6), func(t *testing.T) {
			a, b := tunnelPair(t, false, outer6, false)
			for _, port := range []uint16{DefaultIKEPort, DefaultNATTPort} {
				msg := fmt.Sprintf("IKE_SA_INIT via %d", port)
				to := netip.AddrPortFrom(b.outer, port)
				var got ikeMsg
				deadline := time.After(5 * time.Second)
			retry: // the first datagrams may race the neighbour discovery
				for {
					if err := a.dev.SendIKE([]byte(msg), port, to); err != nil {
						t.Fatal(err)
					}
					select {
					case got = <-b.ike:
						if strings.HasPrefix(got.msg, "IKE_SA_INIT via") && got.msg != msg {
							continue // a retried earlier message
						}
						break retry
					case <-time.After(200 * time.Millisecond):
					case <-deadline:
						t.Fatalf("no IKE message on port %d; B: %+v", port, b.dev.Stats().Snapshot())
					}
				}
				if got.msg != msg || got.local != to || got.remote != netip.AddrPortFrom(a.outer, port) {
					t.Errorf("got %q on %v from %v, want %q on %v from %v:%d", got.msg, got.local, got.remote, msg, to, a.outer, port)
				}
			}
			if n := b.dev.Stats().IKERx.Load(); n < 2 {
				t.Errorf("IKERx %d", n)
			}
			if err := a.dev.SendIKE([]byte("x"), 4501, netip.AddrPortFrom(b.outer, 500)); err == nil {
				t.Error("SendIKE from a port the device does not own succeeded")
			}
		})
	}
}

// testLogger logs to the test log when SABRE_TEST_DEBUG is set.
func testLogger(t *testing.T) *slog.Logger {
	if os.Getenv("SABRE_TEST_DEBUG") == "" {
		return slog.New(slog.NewTextHandler(io.Discard, nil))
	}
	return slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelDebug}))
}

// TestDeviceZeroLengthDatagram sends empty UDP datagrams to the IKE and
// NAT-T ports: each one is counted, on the IKE port by the IKE handler and
// on the NAT-T port by the engine as XE_MALFORMED_PACKET.
func TestDeviceZeroLengthDatagram(t *testing.T) {
	a, b := tunnelPair(t, true, false, false)
	send := func(port uint16) {
		t.Helper()
		err := a.ns.Do(func() error {
			c, err := net.DialUDP("udp4", nil, net.UDPAddrFromAddrPort(netip.AddrPortFrom(b.outer, port)))
			if err != nil {
				return err
			}
			defer c.Close()
			_, err = c.Write(nil)
			return err
		})
		if err != nil {
			t.Fatal(err)
		}
	}
	deadline := time.After(10 * time.Second)
	// The IKE port: the handler gets the empty message (and the daemon
	// counts it as unparsable).
ike:
	for {
		send(DefaultIKEPort)
		select {
		case m := <-b.ike:
			if m.msg != "" {
				t.Fatalf("IKE handler got %q", m.msg)
			}
			break ike
		case <-time.After(200 * time.Millisecond): // neighbour discovery may lose the first
		case <-deadline:
			t.Fatalf("empty datagram on port %d not counted: %+v", DefaultIKEPort, b.dev.Stats().Snapshot())
		}
	}
	// The NAT-T port: the engine counts it.
	for b.engine.Stats().Dropped(xe.MalformedPacket) == 0 {
		send(DefaultNATTPort)
		select {
		case <-time.After(50 * time.Millisecond):
		case <-deadline:
			t.Fatalf("empty datagram on port %d not counted: device %+v engine %+v", DefaultNATTPort, b.dev.Stats().Snapshot(), b.engine.Stats().Snapshot())
		}
	}
	if s := b.dev.Stats().Snapshot(); s.IKERx == 0 {
		t.Errorf("IKERx %d", s.IKERx)
	}
}
