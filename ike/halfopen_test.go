package ike

import (
	"net/netip"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/sabre-ipsec/sabre/ike/message"
	"github.com/sabre-ipsec/sabre/ipsec"
)

// flooder sends IKE_SA_INIT requests to a daemon from one address, as a
// host that is not spoofed: it receives the COOKIE replies and returns
// the cookies.
type flooder struct {
	t       *testing.T
	addr    netip.AddrPort
	target  *testHost
	props   []message.Proposal
	public  []byte
	mu      sync.Mutex
	replies map[uint64][]byte // by SPIi: the last reply
	sent    int
}

func newFlooder(t *testing.T, n *network, target *testHost, addr string) *flooder {
	g, err := lookupGroup(31)
	if err != nil {
		t.Fatal(err)
	}
	k, err := g.GenerateKey()
	if err != nil {
		t.Fatal(err)
	}
	r, err := ParseRemote(strings.Fields("-n flood -w -r 192.0.2.2 " + fastSuite + " -m PSK -h unused"))
	if err != nil {
		t.Fatal(err)
	}
	f := &flooder{t: t, addr: netip.MustParseAddrPort(addr), target: target, props: IKEProposals(&r), public: k.PublicValue(), replies: map[uint64][]byte{}}
	prev := n.filter
	n.mu.Lock()
	n.filter = func(b []byte, from, to netip.AddrPort) [][]byte {
		if to == f.addr {
			if m, err := message.Parse(b); err == nil {
				f.mu.Lock()
				f.replies[m.Header.SPIi] = b
				f.mu.Unlock()
			}
			return nil
		}
		if prev != nil {
			return prev(b, from, to)
		}
		return [][]byte{b}
	}
	n.mu.Unlock()
	return f
}

func (f *flooder) request(spii uint64, nonce, cookie []byte) []byte {
	var ps []message.Payload
	if cookie != nil {
		ps = append(ps, &message.Notify{Type: message.Cookie, Data: cookie})
	}
	ps = append(ps, &message.SA{Proposals: f.props}, &message.KE{Group: 31, Data: f.public}, &message.Nonce{Data: nonce})
	b, err := (&message.Message{Header: message.Header{SPIi: spii, Exchange: message.IKESAInit, Flags: message.FlagInitiator}, Payloads: ps}).Marshal()
	if err != nil {
		f.t.Error(err)
	}
	return b
}

// init sends one IKE_SA_INIT, and again with the cookie if one comes back.
func (f *flooder) init(spii uint64) {
	nonce := newNonce()
	to := netip.AddrPortFrom(f.target.addr, IKEPort)
	f.target.d.HandleMessage(f.request(spii, nonce, nil), to, f.addr)
	f.sent++
	f.mu.Lock()
	reply := f.replies[spii]
	f.mu.Unlock()
	if reply == nil {
		return
	}
	m, err := message.Parse(reply)
	if err != nil {
		f.t.Error(err)
		return
	}
	if n, ok := message.FindNotify(m.Payloads, message.Cookie); ok {
		f.target.d.HandleMessage(f.request(spii, nonce, n.Data), to, f.addr)
		f.sent++
	}
}

// TestHalfOpenFloodFromOneAddress: 1300 IKE_SA_INIT requests from one
// address, cookies returned, hold no more than DefaultMaxHalfOpenPerPeer
// half-open IKE SAs (strongSwan's block_threshold), and a legitimate peer
// connects while they come.
func TestHalfOpenFloodFromOneAddress(t *testing.T) {
	n, a, b := pair(t, fastSuite, fastSuite, []string{"AES128-GCM16"})
	f := newFlooder(t, n, b, "203.0.113.9:500")
	done := make(chan struct{})
	go func() {
		defer close(done)
		for i := range 1300 {
			f.init(uint64(0x1000 + i))
		}
	}()
	sent := handshake(t, a, 20*time.Second)
	<-done
	if res, err := b.e.Decapsulate(sent); res != ipsec.SecureTunnel {
		t.Fatalf("B decapsulates %v %v", res, err)
	}
	if got := b.d.mgr.HalfOpenFrom(f.addr.Addr()); got != DefaultMaxHalfOpenPerPeer {
		t.Fatalf("the flooding address holds %d half-open IKE SAs, want %d", got, DefaultMaxHalfOpenPerPeer)
	}
	if b.d.Stats().CookiesSent.Load() == 0 {
		t.Fatal("no cookie demanded from the flooding address")
	}
	if got := b.d.Stats().HalfOpenRefused.Load(); got != 1300-DefaultMaxHalfOpenPerPeer {
		t.Fatalf("%d IKE_SA_INIT refused, want %d", got, 1300-DefaultMaxHalfOpenPerPeer)
	}
	t.Logf("%d requests from the flooding address", f.sent)
}

// TestOwnInitiationsOutsideResponderBudget: with every responder half-open
// slot taken by a flood, the daemon's own IKE SAs are still made: they
// have their own budget.
func TestOwnInitiationsOutsideResponderBudget(t *testing.T) {
	_, a, b := pair(t, fastSuite, fastSuite+" -w -r 192.0.2.1", []string{"AES128-GCM16"})
	b.d.mgr.MaxHalfOpen = 4
	for i := range 4 {
		key := SAKey{SPIi: uint64(1000 + i), SPIr: uint64(2000 + i)}
		peer := netip.AddrPortFrom(netip.AddrFrom4([4]byte{198, 51, 100, byte(i + 1)}), 500)
		if err := b.d.mgr.Add(key, peer, true, &SA{key: key}); err != nil {
			t.Fatal(err)
		}
		b.d.mgr.Checkin(key)
	}
	res, err := b.e.Encapsulate(udpPacket("10.2.0.9", "10.1.0.5", "outbound"))
	if res != ipsec.Pending {
		t.Fatalf("first packet: %v %v", res, err)
	}
	select {
	case out := <-b.out:
		if res, err := a.e.Decapsulate(out); res != ipsec.SecureTunnel {
			t.Fatalf("A decapsulates %v %v", res, err)
		}
	case <-time.After(20 * time.Second):
		t.Fatalf("B's own IKE SA not made with the responder budget full: %+v", b.d.Status())
	}
}
