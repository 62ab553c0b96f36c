package interop

import (
	"crypto/rand"
	"encoding/binary"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"sync"
	"testing"
	"time"

	"golang.org/x/net/icmp"
	"golang.org/x/net/ipv4"
	"golang.org/x/sys/unix"

	"github.com/sabre-ipsec/sabre/internal/testutil/netns"
)

// transferSize is the TCP transfer of every case.
const transferSize = 4 << 20

// pinger sends ICMP echoes from one address in a namespace.
type pinger struct {
	c   *icmp.PacketConn
	src netip.Addr
	id  int
	seq int
}

func newPinger(t *testing.T, ns *netns.NS, src netip.Addr) *pinger {
	t.Helper()
	p := &pinger{src: src}
	if err := ns.Do(func() (err error) { p.c, err = icmp.ListenPacket("ip4:icmp", src.String()); return }); err != nil {
		t.Fatalf("ping from %v: %v", src, err)
	}
	t.Cleanup(func() { p.c.Close() })
	var b [2]byte
	rand.Read(b[:])
	p.id = int(binary.BigEndian.Uint16(b[:]))
	return p
}

// echo sends one echo request to dst and waits up to wait for its reply.
func (p *pinger) echo(dst netip.Addr, wait time.Duration) (time.Duration, error) {
	p.seq++
	payload := make([]byte, 56)
	rand.Read(payload)
	m := icmp.Message{Type: ipv4.ICMPTypeEcho, Body: &icmp.Echo{ID: p.id, Seq: p.seq, Data: payload}}
	wb, err := m.Marshal(nil)
	if err != nil {
		return 0, err
	}
	start := time.Now()
	if _, err := p.c.WriteTo(wb, &net.IPAddr{IP: dst.AsSlice()}); err != nil {
		return 0, fmt.Errorf("send: %w", err)
	}
	p.c.SetReadDeadline(start.Add(wait))
	buf := make([]byte, 1500)
	for {
		n, _, err := p.c.ReadFrom(buf)
		if err != nil {
			return 0, err
		}
		r, err := icmp.ParseMessage(1, buf[:n])
		if err != nil || r.Type != ipv4.ICMPTypeEchoReply {
			continue
		}
		if e, ok := r.Body.(*icmp.Echo); ok && e.ID == p.id && e.Seq == p.seq && string(e.Data) == string(payload) {
			return time.Since(start), nil
		}
	}
}

// pingUntil pings dst every 250 ms until a reply comes (the first packets
// may start the negotiation and be lost) or within passes; it returns how
// long that took.
func pingUntil(t *testing.T, ns *netns.NS, src, dst netip.Addr, within time.Duration) time.Duration {
	t.Helper()
	p := newPinger(t, ns, src)
	start := time.Now()
	var err error
	for time.Since(start) < within {
		if _, err = p.echo(dst, 250*time.Millisecond); err == nil {
			return time.Since(start)
		}
	}
	t.Fatalf("ping %v -> %v: no reply within %v (last error: %v)", src, dst, within, err)
	return 0
}

// ping sends count echoes from src to dst and fails the test if a reply is
// missing.
func ping(t *testing.T, ns *netns.NS, src, dst netip.Addr, count int) {
	t.Helper()
	p := newPinger(t, ns, src)
	var sum time.Duration
	for i := 0; i < count; i++ {
		rtt, err := p.echo(dst, 3*time.Second)
		if err != nil {
			t.Fatalf("ping %v -> %v: echo %d of %d: %v", src, dst, i+1, count, err)
		}
		sum += rtt
	}
	t.Logf("ping %v -> %v: %d/%d replies, avg rtt %v", src, dst, count, count, (sum / time.Duration(count)).Round(time.Microsecond))
}

// transfer sends size random bytes over TCP from src (in namespace from)
// to dst (in namespace to) and checks that exactly those bytes arrived
// within a minute.
func transfer(t *testing.T, from *netns.NS, src netip.Addr, to *netns.NS, dst netip.Addr, size int) {
	t.Helper()
	netns.Transfer(t, from, src, to, dst, size, time.Minute)
}

// udpWatch records the UDP datagrams on one interface (an AF_PACKET
// socket in the namespace, as tcpdump would open).
type udpWatch struct {
	fd   int
	ifi  int
	stop chan struct{}
	done chan struct{}
	mu   sync.Mutex
	seen []udpSeen
}

// udpSeen is one IPv4 UDP datagram on the wire.
type udpSeen struct {
	at       time.Time
	src, dst netip.AddrPort
	payload  []byte // up to 16 bytes
	length   int    // payload length
}

func htons(v uint16) uint16 { return v<<8 | v>>8 }

func watchUDP(t *testing.T, ns *netns.NS, ifname string) *udpWatch {
	t.Helper()
	w := &udpWatch{stop: make(chan struct{}), done: make(chan struct{})}
	err := ns.Do(func() error {
		ifi, err := net.InterfaceByName(ifname)
		if err != nil {
			return err
		}
		w.ifi = ifi.Index
		// ETH_P_ALL: only such sockets see the packets the host sends.
		fd, err := unix.Socket(unix.AF_PACKET, unix.SOCK_DGRAM|unix.SOCK_CLOEXEC, int(htons(unix.ETH_P_ALL)))
		if err != nil {
			return err
		}
		w.fd = fd
		if err := unix.Bind(fd, &unix.SockaddrLinklayer{Protocol: htons(unix.ETH_P_ALL), Ifindex: ifi.Index}); err != nil {
			unix.Close(fd)
			return err
		}
		return unix.SetsockoptTimeval(fd, unix.SOL_SOCKET, unix.SO_RCVTIMEO, &unix.Timeval{Usec: 50000})
	})
	if err != nil {
		t.Fatalf("capture on %s: %v", ifname, err)
	}
	go w.run()
	t.Cleanup(w.Stop)
	return w
}

func (w *udpWatch) run() {
	defer close(w.done)
	buf := make([]byte, 1<<16)
	for {
		select {
		case <-w.stop:
			return
		default:
		}
		n, from, err := unix.Recvfrom(w.fd, buf, 0)
		if err != nil {
			if errors.Is(err, unix.EAGAIN) || errors.Is(err, unix.EINTR) {
				continue
			}
			return
		}
		if ll, ok := from.(*unix.SockaddrLinklayer); !ok || ll.Ifindex != w.ifi || ll.Protocol != htons(unix.ETH_P_IP) {
			continue
		}
		p := buf[:n]
		if len(p) < 20 || p[0]>>4 != 4 || p[9] != unix.IPPROTO_UDP {
			continue
		}
		ihl := int(p[0]&0xf) * 4
		if len(p) < ihl+8 {
			continue
		}
		u := p[ihl:]
		s := udpSeen{at: time.Now(),
			src:    netip.AddrPortFrom(netip.AddrFrom4([4]byte(p[12:16])), binary.BigEndian.Uint16(u[0:])),
			dst:    netip.AddrPortFrom(netip.AddrFrom4([4]byte(p[16:20])), binary.BigEndian.Uint16(u[2:])),
			length: int(binary.BigEndian.Uint16(u[4:])) - 8}
		s.payload = append([]byte(nil), u[8:min(len(u), 8+16)]...)
		w.mu.Lock()
		w.seen = append(w.seen, s)
		w.mu.Unlock()
	}
}

// Stop ends the capture.
func (w *udpWatch) Stop() {
	select {
	case <-w.stop:
	default:
		close(w.stop)
		<-w.done
		unix.Close(w.fd)
	}
}

// keepalives returns the NAT-keepalives seen (RFC 3948 §2.3: one octet,
// 0xFF, to port 4500).
func (w *udpWatch) keepalives() []udpSeen {
	w.mu.Lock()
	defer w.mu.Unlock()
	var k []udpSeen
	for _, s := range w.seen {
		if s.dst.Port() == 4500 && s.length == 1 && len(s.payload) == 1 && s.payload[0] == 0xff {
			k = append(k, s)
		}
	}
	return k
}

// waitKeepalive waits until a NAT-keepalive has been seen, and fails the
// test if none comes within d.
func (w *udpWatch) waitKeepalive(t *testing.T, d time.Duration) udpSeen {
	t.Helper()
	deadline := time.Now().Add(d)
	for {
		if k := w.keepalives(); len(k) > 0 {
			return k[0]
		}
		if time.Now().After(deadline) {
			w.mu.Lock()
			n := len(w.seen)
			w.mu.Unlock()
			t.Fatalf("no NAT-keepalive (1-octet 0xFF UDP payload to port 4500) on the wire within %v (%d UDP datagrams seen)", d, n)
		}
		time.Sleep(100 * time.Millisecond)
	}
}
