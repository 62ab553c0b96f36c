package e2e

import (
	"crypto/rand"
	"encoding/json"
	"fmt"
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/sabre-ipsec/sabre/internal/testutil/netns"
	"github.com/sabre-ipsec/sabre/internal/testutil/sabre"
)

func TestMain(m *testing.M) { sabre.Main(m) }

// site is one side of the VPN: a namespace with an outer address on the
// veth, an inner subnet on the TUN, and a sabre daemon.
type site struct {
	name   string // "A" or "B"
	ns     *netns.NS
	veth   string
	outer  netip.Addr
	inner  netip.Addr   // this host's address on sabre0 (tunnel tests)
	subnet netip.Prefix // the inner subnet
	sock   string
	log    string
	d      *sabre.Daemon // once started
}

// newPair makes the two namespaces A (192.0.2.1, 10.1.0.0/24) and B
// (192.0.2.2, 10.2.0.0/24), joined by a veth pair with IPv6 off (so the
// wire carries only what the test sends).
func newPair(t *testing.T) (a, b *site) {
	t.Helper()
	netns.NeedRoot(t, "e2e")
	dir := t.TempDir()
	a = &site{name: "A", ns: netns.New(t, "sabre-e2e-", "a"), veth: "veth-a",
		outer: netip.MustParseAddr("192.0.2.1"), inner: netip.MustParseAddr("10.1.0.1"),
		subnet: netip.MustParsePrefix("10.1.0.0/24"), sock: filepath.Join(dir, "a", "sabre.sock"), log: filepath.Join(dir, "a.log")}
	b = &site{name: "B", ns: netns.New(t, "sabre-e2e-", "b"), veth: "veth-b",
		outer: netip.MustParseAddr("192.0.2.2"), inner: netip.MustParseAddr("10.2.0.1"),
		subnet: netip.MustParsePrefix("10.2.0.0/24"), sock: filepath.Join(dir, "b", "sabre.sock"), log: filepath.Join(dir, "b.log")}
	netns.Veth(t, a.ns, a.veth, b.ns, b.veth)
	for _, s := range []*site{a, b} {
		s.ns.Sysctl(t, "net.ipv6.conf."+s.veth+".disable_ipv6=1")
		s.ns.IP(t, "addr", "add", s.outer.String()+"/24", "dev", s.veth)
		s.ns.IP(t, "link", "set", s.veth, "up")
	}
	return a, b
}

// start runs `sabre run` in the site's namespace with the given ike_rc
// and waits until its control socket answers. t.Cleanup stops it with
// SIGTERM and checks that it exits cleanly.
func (s *site) start(t *testing.T, rc string, args ...string) {
	t.Helper()
	bin := sabre.Binary(t, "")
	s.rewriteRC(t, rc)
	// Registered before Start's cleanup stops the daemon, so run after it:
	// the log is complete.
	t.Cleanup(func() {
		if s.d != nil && t.Failed() {
			t.Logf("log of sabre run in %s:\n%s", s.name, s.d.LogText())
		}
		sabre.Keep(t, "SABRE_E2E_KEEP", s.log)
	})
	d, err := sabre.Start(t, "sabre run in "+s.name, s.ns.Name, bin, s.sock, s.log, append([]string{"-rc", s.rcPath()}, args...)...)
	s.d = d
	if err != nil {
		t.Fatalf("%v\n%s", err, d.LogText())
	}
}

func (s *site) rcPath() string { return filepath.Join(filepath.Dir(s.log), s.name+".ike_rc") }

// rewriteRC writes the site's ike_rc file.
func (s *site) rewriteRC(t *testing.T, rc string) {
	t.Helper()
	if err := os.WriteFile(s.rcPath(), []byte(rc), 0o600); err != nil {
		t.Fatal(err)
	}
}

// stop ends the daemon with SIGTERM and checks that it shut down cleanly.
func (s *site) stop(t *testing.T) { s.d.Stop(t) }

// ipsec runs `sabre ipsec -sock ... args...` as an operator would.
func (s *site) ipsec(args ...string) (string, error) { return s.d.Client("ipsec", args...) }

// netstat is the JSON form of `sabre ipsec netstat -a`.
type netstat struct {
	Drops    map[string]uint64 `json:"drops"`
	Engine   map[string]uint64 `json:"engine"`
	Sessions []struct {
		Name string `json:"name"`
		SAs  []struct {
			SPI         uint32 `json:"spi"`
			Direction   string `json:"direction"`
			Packets     uint64 `json:"packets"`
			ReplayDrops uint64 `json:"replay_drops"`
			ICVFailures uint64 `json:"icv_failures"`
		} `json:"sas"`
	} `json:"sessions"`
}

func (s *site) netstat(t *testing.T) netstat {
	t.Helper()
	out, err := s.ipsec("netstat", "-a", "-j")
	if err != nil {
		t.Fatalf("sabre ipsec netstat -a -j in %s: %v\n%s", s.name, err, out)
	}
	var ns netstat
	if err := json.Unmarshal([]byte(out), &ns); err != nil {
		t.Fatalf("netstat JSON: %v\n%s", err, out)
	}
	return ns
}

// inboundSA returns the counters of the inbound SA with the given SPI.
func (n netstat) inboundSA(spi uint32) (packets, replayDrops, icvFailures uint64, ok bool) {
	for _, s := range n.Sessions {
		for _, sa := range s.SAs {
			if sa.SPI == spi && sa.Direction == "inbound" {
				return sa.Packets, sa.ReplayDrops, sa.ICVFailures, true
			}
		}
	}
	return 0, 0, 0, false
}

// routeTunnel gives the site its inner address on sabre0 and routes the
// peer's subnet into it: the operator's part of a tunnel.
func (s *site) routeTunnel(t *testing.T, peer *site) {
	t.Helper()
	s.ns.IP(t, "addr", "add", s.inner.String()+"/24", "dev", "sabre0")
	s.ns.IP(t, "route", "replace", peer.subnet.String(), "dev", "sabre0")
}

// suite is an ESP algorithm as the cli names it, with its key lengths
// and the names tshark's esp_sa table gives it.
type suite struct {
	name            string
	encr, integ     string // -e and -a
	encrLen, intLen int
	tsharkEncr      string
	tsharkAuth      string
}

var (
	aesGCM = suite{name: "aes128gcm16", encr: "AES128-GCM16", encrLen: 20,
		tsharkEncr: "AES-GCM with 16 octet ICV [RFC4106]", tsharkAuth: "NULL"}
	aesCBCSHA256 = suite{name: "aes128cbc-sha256", encr: "AES128-CBC", integ: "HMAC-SHA-2-256", encrLen: 16, intLen: 32,
		tsharkEncr: "AES-CBC [RFC3602]", tsharkAuth: "HMAC-SHA-256-128 [RFC4868]"}
)

// sa is one direction's manual SA.
type sa struct {
	spi              uint32
	src, dst         netip.Addr // outer addresses
	encrKey, intgKey []byte
}

// keys makes the two directions' SAs of a suite with random keys.
func keys(s suite, a, b *site) (ab, ba sa) {
	mk := func(n int) []byte {
		k := make([]byte, n)
		rand.Read(k)
		return k
	}
	ab = sa{spi: 0x1000 + uint32(mk(1)[0]), src: a.outer, dst: b.outer, encrKey: mk(s.encrLen), intgKey: mk(s.intLen)}
	ba = sa{spi: 0x2000 + uint32(mk(1)[0]), src: b.outer, dst: a.outer, encrKey: mk(s.encrLen), intgKey: mk(s.intLen)}
	return ab, ba
}

// rcOptions shape the ike_rc of a test.
type rcOptions struct {
	mode     string // tunnel or transport
	src, dst string // selectors
	encap    bool   // -u 4500
}

// ikeRC writes the ike_rc for a site whose outbound SA is out and inbound
// SA is in: one manual-keying policy and its SA pair.
func ikeRC(s suite, o rcOptions, peer netip.Addr, out, in sa) string {
	var b strings.Builder
	fmt.Fprintf(&b, "# %s %s, manual keys\n", o.mode, s.name)
	fmt.Fprintf(&b, "ipsec policy -n p1 -t ESP -m %s -r %v -s %s -d %s -e %s", o.mode, peer, o.src, o.dst, s.encr)
	if s.integ != "" {
		fmt.Fprintf(&b, " -a %s", s.integ)
	}
	b.WriteString(" -o\n")
	fmt.Fprintf(&b, "ipsec addsa -n p1 -e %s -f %x -g %x -w %#x -x %#x", s.encr, in.encrKey, out.encrKey, in.spi, out.spi)
	if s.integ != "" {
		fmt.Fprintf(&b, " \\\n    -a %s -b %x -c %x", s.integ, in.intgKey, out.intgKey)
	}
	if o.encap {
		b.WriteString(" -u 4500")
	}
	b.WriteString("\n")
	return b.String()
}
