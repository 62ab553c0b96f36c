package e2e

import (
	"crypto/rand"
	"crypto/sha256"
	"io"
	"net"
	"net/netip"
	"os"
	"testing"
	"time"

	"golang.org/x/net/icmp"
	"golang.org/x/net/ipv4"

	"github.com/sabre-ipsec/sabre/internal/testutil/netns"
)

// ping sends count ICMP echo requests from src (in namespace ns) to dst
// and returns the round-trip times; it fails the test if a reply is
// missing.
func ping(t *testing.T, ns *netns.NS, src, dst netip.Addr, count int) []time.Duration {
	t.Helper()
	var c *icmp.PacketConn
	if err := ns.Do(func() (err error) { c, err = icmp.ListenPacket("ip4:icmp", src.String()); return }); err != nil {
		t.Fatalf("ping: %v", err)
	}
	defer c.Close()
	id := os.Getpid()&0x7fff | 0x4000
	var rtts []time.Duration
	buf := make([]byte, 1500)
	for seq := 1; seq <= count; seq++ {
		payload := make([]byte, 56)
		rand.Read(payload)
		m := icmp.Message{Type: ipv4.ICMPTypeEcho, Body: &icmp.Echo{ID: id, Seq: seq, Data: payload}}
		wb, err := m.Marshal(nil)
		if err != nil {
			t.Fatal(err)
		}
		start := time.Now()
		if _, err := c.WriteTo(wb, &net.IPAddr{IP: dst.AsSlice()}); err != nil {
			t.Fatalf("ping %v: %v", dst, err)
		}
		c.SetReadDeadline(time.Now().Add(3 * time.Second))
		for {
			n, _, err := c.ReadFrom(buf)
			if err != nil {
				t.Fatalf("ping %v from %v: no reply to echo %d: %v", dst, src, seq, err)
			}
			r, err := icmp.ParseMessage(1, buf[:n])
			if err != nil || r.Type != ipv4.ICMPTypeEchoReply {
				continue
			}
			if e, ok := r.Body.(*icmp.Echo); ok && e.ID == id && e.Seq == seq && string(e.Data) == string(payload) {
				rtts = append(rtts, time.Since(start))
				break
			}
		}
	}
	return rtts
}

// avg is the mean of ds.
func avg(ds []time.Duration) time.Duration {
	var sum time.Duration
	for _, d := range ds {
		sum += d
	}
	return sum / time.Duration(max(len(ds), 1))
}

// transfer sends size random bytes over TCP from src (in namespace from)
// to dst (in namespace to) and checks that exactly those bytes arrived. It
// returns the throughput in Mbit/s.
func transfer(t *testing.T, from *netns.NS, src netip.Addr, to *netns.NS, dst netip.Addr, size int) float64 {
	t.Helper()
	data := make([]byte, size)
	rand.Read(data)
	var ln net.Listener
	if err := to.Do(func() (err error) { ln, err = net.Listen("tcp4", netip.AddrPortFrom(dst, 0).String()); return }); err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	type result struct {
		n   int64
		sum [32]byte
		err error
	}
	got := make(chan result, 1)
	go func() {
		c, err := ln.Accept()
		if err != nil {
			got <- result{err: err}
			return
		}
		defer c.Close()
		c.SetDeadline(time.Now().Add(2 * time.Minute))
		h := sha256.New()
		n, err := io.Copy(h, c)
		got <- result{n, [32]byte(h.Sum(nil)), err}
	}()
	var c net.Conn
	d := net.Dialer{LocalAddr: &net.TCPAddr{IP: src.AsSlice()}, Timeout: 10 * time.Second}
	if err := from.Do(func() (err error) { c, err = d.Dial("tcp4", ln.Addr().String()); return }); err != nil {
		t.Fatalf("TCP connect %v -> %v: %v", src, ln.Addr(), err)
	}
	start := time.Now()
	c.SetDeadline(time.Now().Add(2 * time.Minute))
	if _, err := c.Write(data); err != nil {
		t.Fatalf("TCP send: %v", err)
	}
	c.Close()
	var r result
	select {
	case r = <-got:
	case <-time.After(2 * time.Minute):
		t.Fatal("TCP transfer did not finish in 2 minutes")
	}
	el := time.Since(start)
	if r.err != nil {
		t.Fatalf("TCP receive: %v after %d bytes", r.err, r.n)
	}
	if r.n != int64(size) || r.sum != sha256.Sum256(data) {
		t.Fatalf("TCP transfer: received %d bytes (want %d), checksum match %v", r.n, size, r.sum == sha256.Sum256(data))
	}
	mbps := float64(size) * 8 / el.Seconds() / 1e6
	t.Logf("TCP %v -> %v: %d MiB in %v, %.0f Mbit/s, sha256 ok", src, dst, size>>20, el.Round(time.Millisecond), mbps)
	return mbps
}
