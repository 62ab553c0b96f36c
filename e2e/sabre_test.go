package e2e

import (
	"bytes"
	"crypto/rand"
	"encoding/json"
	"fmt"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/sabre-ipsec/sabre/internal/testutil/netns"
)

var (
	buildOnce sync.Once
	binDir    string
	sabreBin  string
	buildErr  error
)

func TestMain(m *testing.M) {
	code := m.Run()
	if binDir != "" {
		os.RemoveAll(binDir)
	}
	os.Exit(code)
}

// sabre builds the sabre binary once per test run and returns its path.
func sabre(t *testing.T) string {
	t.Helper()
	buildOnce.Do(func() {
		binDir, buildErr = os.MkdirTemp("", "sabre-e2e-")
		if buildErr != nil {
			return
		}
		goTool, err := exec.LookPath("go")
		if err != nil {
			goTool = filepath.Join(runtime.GOROOT(), "bin", "go")
		}
		sabreBin = filepath.Join(binDir, "sabre")
		cmd := exec.Command(goTool, "build", "-o", sabreBin, "github.com/sabre-ipsec/sabre/cmd/sabre")
		if out, err := cmd.CombinedOutput(); err != nil {
			buildErr = fmt.Errorf("go build ./cmd/sabre: %v\n%s", err, out)
		}
	})
	if buildErr != nil {
		t.Fatal(buildErr)
	}
	return sabreBin
}

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
	cmd    *exec.Cmd
	done   chan error
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
	bin := sabre(t)
	rcFile := s.rcPath()
	s.rewriteRC(t, rc)
	logf, err := os.Create(s.log)
	if err != nil {
		t.Fatal(err)
	}
	argv := append([]string{"netns", "exec", s.ns.Name, bin, "run", "-rc", rcFile, "-sock", s.sock}, args...)
	s.cmd = exec.Command("ip", argv...)
	s.cmd.Stdout, s.cmd.Stderr = logf, logf
	if err := s.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	s.done = make(chan error, 1)
	go func() { s.done <- s.cmd.Wait(); logf.Close() }()
	t.Cleanup(func() { s.stop(t) })
	deadline := time.Now().Add(15 * time.Second)
	for {
		if _, err := s.ipsec("netstat", "-p"); err == nil {
			break
		}
		select {
		case err := <-s.done:
			s.done <- err
			t.Fatalf("sabre run in %s exited: %v\n%s", s.name, err, s.logText())
		default:
		}
		if time.Now().After(deadline) {
			t.Fatalf("sabre run in %s did not open its control socket\n%s", s.name, s.logText())
		}
		time.Sleep(50 * time.Millisecond)
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
func (s *site) stop(t *testing.T) {
	if s.cmd == nil || s.cmd.Process == nil {
		return
	}
	s.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case err := <-s.done:
		if err != nil {
			t.Errorf("sabre run in %s: exit after SIGTERM: %v\n%s", s.name, err, s.logText())
		}
	case <-time.After(10 * time.Second):
		s.cmd.Process.Kill()
		<-s.done
		t.Errorf("sabre run in %s did not stop within 10s of SIGTERM\n%s", s.name, s.logText())
	}
	if t.Failed() {
		t.Logf("log of sabre run in %s:\n%s", s.name, s.logText())
	}
	keep(t, s.log)
	s.cmd = nil
}

func (s *site) logText() string {
	b, _ := os.ReadFile(s.log)
	return string(b)
}

// ipsec runs `sabre ipsec -sock ... args...` as an operator would.
func (s *site) ipsec(args ...string) (string, error) {
	var out bytes.Buffer
	cmd := exec.Command(sabreBin, append([]string{"ipsec", "-sock", s.sock}, args...)...)
	cmd.Stdout, cmd.Stderr = &out, &out
	err := cmd.Run()
	return out.String(), err
}

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
	s.ns.IP(t, "route", "add", peer.subnet.String(), "dev", "sabre0")
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

// keep copies a file to $SABRE_E2E_KEEP if set.
func keep(t *testing.T, path string) {
	dir := os.Getenv("SABRE_E2E_KEEP")
	if dir == "" {
		return
	}
	b, err := os.ReadFile(path)
	if err != nil {
		return
	}
	name := strings.NewReplacer("/", "_").Replace(t.Name()) + "-" + filepath.Base(path)
	os.WriteFile(filepath.Join(dir, name), b, 0o644)
}
