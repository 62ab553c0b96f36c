package ike

import (
	"bytes"
	"io"
	"log/slog"
	"net/netip"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/sabre-ipsec/sabre/classify"
	"github.com/sabre-ipsec/sabre/internal/testutil/packet"
	"github.com/sabre-ipsec/sabre/ipsec"
	"github.com/sabre-ipsec/sabre/ipsec/messaging"
	"github.com/sabre-ipsec/sabre/pktbuf"
	"github.com/sabre-ipsec/sabre/sad"
	"github.com/sabre-ipsec/sabre/spd"
)

// testHost is one in-process IPsec host with its IKE daemon.
type testHost struct {
	name   string
	addr   netip.Addr
	e      *ipsec.Engine
	msg    *messaging.Messaging
	d      *Daemon
	policy uint32
	out    chan *pktbuf.Buffer // packets the engine sent itself (queued after ACQUIRE)

	failMu   sync.Mutex
	failures []Failure // what Config.Failure was told
}

// failed returns what Config.Failure was told so far.
func (h *testHost) failed() []Failure {
	h.failMu.Lock()
	defer h.failMu.Unlock()
	return slices.Clone(h.failures)
}

// network delivers IKE messages between hosts asynchronously, with an
// optional filter to drop, tamper or replay.
type network struct {
	mu     sync.Mutex
	hosts  map[netip.Addr]*testHost
	filter func(b []byte, from, to netip.AddrPort) [][]byte
	wg     sync.WaitGroup
	// queued, when set, makes send queue messages for drain instead of
	// delivering them on goroutines: the handshake benchmark runs both
	// sides on one goroutine.
	queued bool
	queue  []delivery
}

type delivery struct {
	b        []byte
	from, to netip.AddrPort
}

// drain delivers queued messages until none are left.
func (n *network) drain() {
	for {
		n.mu.Lock()
		if len(n.queue) == 0 {
			n.mu.Unlock()
			return
		}
		m := n.queue[0]
		n.queue = n.queue[1:]
		h := n.hosts[m.to.Addr()]
		n.mu.Unlock()
		h.d.HandleMessage(m.b, m.to, m.from)
	}
}

func (n *network) send(b []byte, from, to netip.AddrPort) error {
	n.mu.Lock()
	h := n.hosts[to.Addr()]
	f := n.filter
	if n.queued {
		n.queue = append(n.queue, delivery{bytes.Clone(b), from, to})
		n.mu.Unlock()
		return nil
	}
	n.mu.Unlock()
	msgs := [][]byte{bytes.Clone(b)}
	if f != nil {
		msgs = f(bytes.Clone(b), from, to)
	}
	for _, m := range msgs {
		n.wg.Add(1)
		go func() {
			defer n.wg.Done()
			h.d.HandleMessage(m, to, from)
		}()
	}
	return nil
}

var quietLog = slog.New(slog.NewTextHandler(io.Discard, nil))

func writePSK(t testing.TB, psk string) string {
	f := filepath.Join(t.TempDir(), "psk")
	if err := os.WriteFile(f, []byte(psk+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	return f
}

func newHost(t testing.TB, n *network, name, addr, src, dst, peer, remoteArgs string, esp []string) *testHost {
	h := &testHost{name: name, addr: netip.MustParseAddr(addr), out: make(chan *pktbuf.Buffer, 64)}
	h.e = ipsec.New(spd.NewDB(), sad.NewDB(), ipsec.Config{Output: func(b *pktbuf.Buffer) { h.out <- b }})
	h.msg = messaging.New(h.e)
	var err error
	h.d, err = New(Config{Messaging: h.msg, Send: n.send, Log: quietLog,
		Failure:   func(f Failure) { h.failMu.Lock(); h.failures = append(h.failures, f); h.failMu.Unlock() },
		LocalAddr: func(netip.Addr) (netip.Addr, error) { return h.addr, nil }})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(h.d.Close)
	r, err := ParseRemote(strings.Fields(remoteArgs))
	if err != nil {
		t.Fatal(err)
	}
	if err := h.d.AddRemote(r); err != nil {
		t.Fatal(err)
	}
	h.policy, err = h.e.SPD().Add(spd.Policy{Action: spd.Secure, Mode: spd.Tunnel, Flags: spd.FlagProtoESP | spd.FlagCheckReplay,
		Src: classify.MustParseSelector(src), Dst: classify.MustParseSelector(dst),
		TunnelLocal: h.addr, TunnelRemote: netip.MustParseAddr(peer), RemoteName: r.Name, ESPAlgorithms: esp})
	if err != nil {
		t.Fatal(err)
	}
	n.mu.Lock()
	n.hosts[h.addr] = h
	n.mu.Unlock()
	return h
}

func udpPacket(src, dst string, payload string) *pktbuf.Buffer {
	return packet.UDPBuffer(netip.AddrPortFrom(netip.MustParseAddr(src), 1000), netip.AddrPortFrom(netip.MustParseAddr(dst), 2000), []byte(payload))
}

func waitFor(t testing.TB, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

func pair(t testing.TB, suiteA, suiteB string, esp []string) (*network, *testHost, *testHost) {
	n := &network{hosts: map[netip.Addr]*testHost{}}
	psk := writePSK(t, "correct horse battery staple")
	a := newHost(t, n, "a", "192.0.2.1", "10.1.0.0/24", "10.2.0.0/24", "192.0.2.2",
		"-n b -w -u "+suiteA+" -m PSK -h "+psk+" -r 192.0.2.2 -f ipv4:192.0.2.2 -g ipv4:192.0.2.1", esp)
	b := newHost(t, n, "b", "192.0.2.2", "10.2.0.0/24", "10.1.0.0/24", "192.0.2.1",
		"-n a -u "+suiteB+" -m PSK -h "+psk+" -f ipv4:192.0.2.1 -g ipv4:192.0.2.2", esp)
	return n, a, b
}

// TestHandshakeACQUIRE: a packet for a SECURE policy without SAs triggers
// IKE_SA_INIT and IKE_AUTH; the queued packet then leaves through ESP and
// the peer decapsulates it.
func TestHandshakeACQUIRE(t *testing.T) {
	for _, tc := range []struct{ name, suite string }{
		{"aes128-sha256-modp2048", "-e AES128-CBC -a HMAC-SHA-2-256 -p HMAC-SHA-2-256 -d MODP2048"},
		{"aes256gcm16-prfsha384-ecp384", "-e AES256-GCM16 -p PRFSHA384 -d ECP384"},
		{"chacha20poly1305-prfsha256-x25519", "-e CHACHA20-POLY1305 -p PRFSHA256 -d CURVE25519"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, a, b := pair(t, tc.suite, tc.suite, []string{"AES128-GCM16"})
			res, err := a.e.Encapsulate(udpPacket("10.1.0.5", "10.2.0.9", "hello"))
			if res != ipsec.Pending || err != nil {
				t.Fatalf("first packet: %v %v", res, err)
			}
			var sent *pktbuf.Buffer
			select {
			case sent = <-a.out:
			case <-time.After(10 * time.Second):
				t.Fatalf("no SA after 10s: A %+v B %+v", a.d.Status(), b.d.Status())
			}
			if res, err := b.e.Decapsulate(sent); res != ipsec.SecureTunnel || !bytes.HasSuffix(sent.Bytes(), []byte("hello")) {
				t.Fatalf("B decapsulates: %v %v", res, err)
			}
			// And back, on the SAs B installed.
			back := udpPacket("10.2.0.9", "10.1.0.5", "world")
			if res, err := b.e.Encapsulate(back); res != ipsec.SecureTunnel {
				t.Fatalf("B encapsulates: %v %v", res, err)
			}
			if res, err := a.e.Decapsulate(back); res != ipsec.SecureTunnel {
				t.Fatalf("A decapsulates: %v %v", res, err)
			}
			st := a.d.Status()
			if len(st) != 1 || st[0].State != "ESTABLISHED" || len(st[0].Children) != 1 {
				t.Fatalf("A status %+v", st)
			}
		})
	}
}

func mustSel(s string) classify.Selector { return classify.MustParseSelector(s) }
