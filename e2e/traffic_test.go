package e2e

import (
	"crypto/rand"
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
