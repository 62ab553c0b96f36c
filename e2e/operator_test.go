package e2e

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"golang.org/x/net/icmp"
	"golang.org/x/net/ipv4"

	"github.com/sabre-ipsec/sabre/internal/testutil/netns"
)

// The operator path (issue 13's proof): go install, the site-to-site
// example for two gateways with hosts behind them, start with
// -ready-file, tunnel up, the forwarding warning present while forwarding
// is off and gone once it is on, metrics scraped and moving, a SIGHUP
// reload with traffic running and nothing lost, stop, and the device and
// its routes gone.

// lanSite is a gateway with a host behind it.
type lanSite struct {
	name       string
	gw, host   *netns.NS
	wan        netip.Addr // the gateway's outer address
	lanGW      netip.Addr // the gateway's LAN address
	hostAddr   netip.Addr
	dir        string // the gateway's "/etc/sabre" and "/run/sabre"
	rc, ready  string
	log        string
	metrics    string // host:port inside the gateway's namespace
	cmd        *exec.Cmd
	notify     *net.UnixConn // systemd's notification socket, played by the test
	done       chan error
	stdoutFile *os.File
}

// newLANPair makes west (192.0.2.1, 10.201.1.0/24 with host .10) and east
// (192.0.2.2, 10.201.2.0/24 with host .10), the example's addresses, with
// forwarding off on both gateways (a fresh namespace's default).
func newLANPair(t *testing.T) (w, e *lanSite) {
	t.Helper()
	netns.NeedRoot(t, "e2e")
	mk := func(name string, wan, lan, host string) *lanSite {
		s := &lanSite{name: name, gw: netns.New(t, "sabre-e2e-", name+"gw"), host: netns.New(t, "sabre-e2e-", name+"host"),
			wan: netip.MustParseAddr(wan), lanGW: netip.MustParseAddr(lan), hostAddr: netip.MustParseAddr(host),
			dir: filepath.Join(t.TempDir(), name)}
		if err := os.MkdirAll(s.dir, 0o700); err != nil {
			t.Fatal(err)
		}
		s.rc, s.ready, s.log = filepath.Join(s.dir, "ike_rc"), filepath.Join(s.dir, "ready"), filepath.Join(s.dir, "sabre.log")
		netns.Run(t, "ip", "link", "add", "lan", "netns", s.gw.Name, "type", "veth", "peer", "name", "eth0", "netns", s.host.Name)
		s.gw.IP(t, "addr", "add", lan+"/24", "dev", "lan")
		s.gw.IP(t, "link", "set", "lan", "up")
		s.host.IP(t, "addr", "add", host+"/24", "dev", "eth0")
		s.host.IP(t, "link", "set", "eth0", "up")
		s.host.IP(t, "route", "add", "default", "via", lan)
		s.gw.Sysctl(t, "net.ipv4.ip_forward=0")
		return s
	}
	w = mk("w", "192.0.2.1", "10.201.1.1", "10.201.1.10")
	e = mk("e", "192.0.2.2", "10.201.2.1", "10.201.2.10")
	netns.Run(t, "ip", "link", "add", "wan", "netns", w.gw.Name, "type", "veth", "peer", "name", "wan", "netns", e.gw.Name)
	for _, s := range []*lanSite{w, e} {
		s.gw.Sysctl(t, "net.ipv6.conf.wan.disable_ipv6=1")
		s.gw.IP(t, "addr", "add", s.wan.String()+"/24", "dev", "wan")
		s.gw.IP(t, "link", "set", "wan", "up")
	}
	return w, e
}

// installExample copies an example ike_rc to the gateway's directory
// with the PSK file it names moved there too (mode 0600).
func (s *lanSite) installExample(t *testing.T, example string) {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("..", "examples", example))
	if err != nil {
		t.Fatal(err)
	}
	key, err := os.ReadFile(filepath.Join("..", "examples", "site-to-site", "site.psk"))
	if err != nil {
		t.Fatal(err)
	}
	psk := filepath.Join(s.dir, "site.psk")
	if err := os.WriteFile(psk, key, 0o600); err != nil {
		t.Fatal(err)
	}
	rc := strings.ReplaceAll(string(b), "/etc/sabre/site.psk", psk)
	if err := os.WriteFile(s.rc, []byte(rc), 0o600); err != nil {
		t.Fatal(err)
	}
}

// start runs the installed sabre in the gateway's namespace with
// -ready-file and -metrics, and waits for the ready file (or the exit).
func (s *lanSite) start(t *testing.T, bin string) {
	t.Helper()
	s.metrics = "127.0.0.1:9469"
	f, err := os.Create(s.log)
	if err != nil {
		t.Fatal(err)
	}
	s.cmd = exec.Command("ip", "netns", "exec", s.gw.Name, bin, "run", "-rc", s.rc, "-sock", filepath.Join(s.dir, "sabre.sock"),
		"-ready-file", s.ready, "-metrics", s.metrics)
	s.cmd.Stdout, s.cmd.Stderr = f, f
	if s.notify != nil {
		s.cmd.Env = append(os.Environ(), "NOTIFY_SOCKET="+s.notify.LocalAddr().String())
	}
	if err := s.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	s.done = make(chan error, 1)
	go func() { s.done <- s.cmd.Wait(); f.Close() }()
	t.Cleanup(func() {
		if s.cmd != nil {
			s.cmd.Process.Kill()
			<-s.done
		}
		if t.Failed() {
			t.Logf("log of %s:\n%s", s.name, s.logText())
		}
	})
	deadline := time.After(20 * time.Second)
	for {
		if _, err := os.Stat(s.ready); err == nil {
			return
		}
		select {
		case err := <-s.done:
			s.cmd = nil
			t.Fatalf("sabre run in %s exited before it was ready: %v\n%s", s.name, err, s.logText())
		case <-deadline:
			t.Fatalf("sabre run in %s: no ready file in 20 s\n%s", s.name, s.logText())
		case <-time.After(20 * time.Millisecond):
		}
	}
}

func (s *lanSite) logText() string {
	b, _ := os.ReadFile(s.log)
	return string(b)
}

// waitLog waits until the log holds n lines matching re.
func (s *lanSite) waitLog(t *testing.T, re *regexp.Regexp, n int) {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for len(re.FindAllString(s.logText(), -1)) < n {
		if time.Now().After(deadline) {
			t.Fatalf("%s: log has no %d lines matching %q:\n%s", s.name, n, re, s.logText())
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// stop sends SIGTERM and waits for a clean exit.
func (s *lanSite) stop(t *testing.T) {
	t.Helper()
	s.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case err := <-s.done:
		if err != nil {
			t.Errorf("sabre run in %s: exit after SIGTERM: %v", s.name, err)
		}
	case <-time.After(15 * time.Second):
		t.Fatalf("sabre run in %s did not stop within 15 s of SIGTERM", s.name)
	}
	s.cmd = nil
}

// scrape fetches the gateway's metrics from inside its namespace and
// returns them by name with labels ("sabre_packets_total{direction=\"out\"}").
func (s *lanSite) scrape(t *testing.T) map[string]float64 {
	t.Helper()
	// The connection is made on the namespace's thread (an http.Client
	// would dial on a goroutine of its own, outside the namespace).
	var conn net.Conn
	if err := s.gw.Do(func() (err error) { conn, err = net.DialTimeout("tcp", s.metrics, 10*time.Second); return }); err != nil {
		t.Fatalf("scrape %s: %v", s.name, err)
	}
	defer conn.Close()
	conn.SetDeadline(time.Now().Add(10 * time.Second))
	var body []byte
	err := func() error {
		fmt.Fprintf(conn, "GET /metrics HTTP/1.1\r\nHost: %s\r\nConnection: close\r\n\r\n", s.metrics)
		resp, err := http.ReadResponse(bufio.NewReader(conn), nil)
		if err != nil {
			return err
		}
		defer resp.Body.Close()
		if resp.StatusCode != 200 {
			return fmt.Errorf("status %s", resp.Status)
		}
		body, err = io.ReadAll(resp.Body)
		return err
	}()
	if err != nil {
		t.Fatalf("scrape %s: %v", s.name, err)
	}
	m := map[string]float64{}
	sc := bufio.NewScanner(bytes.NewReader(body))
	for sc.Scan() {
		l := sc.Text()
		if l == "" || l[0] == '#' {
			continue
		}
		i := strings.LastIndexByte(l, ' ')
		v, err := strconv.ParseFloat(l[i+1:], 64)
		if err != nil {
			t.Fatalf("metrics line %q: %v", l, err)
		}
		m[l[:i]] = v
	}
	return m
}

// sum adds the values of the metrics named name, whatever their labels.
func sum(m map[string]float64, name string) float64 {
	var s float64
	for k, v := range m {
		if k == name || strings.HasPrefix(k, name+"{") {
			s += v
		}
	}
	return s
}

// echoes sends count ICMP echo requests from src (in ns) to dst, one
// every interval, and returns how many were answered within wait of the
// last one. Unlike ping, loss is a result, not a failure.
func echoes(t *testing.T, ns *netns.NS, src, dst netip.Addr, count int, interval, wait time.Duration) int {
	t.Helper()
	var c *icmp.PacketConn
	if err := ns.Do(func() (err error) { c, err = icmp.ListenPacket("ip4:icmp", src.String()); return }); err != nil {
		t.Fatalf("echo: %v", err)
	}
	defer c.Close()
	id := os.Getpid()&0x3fff | 0x8000
	answered := make(chan map[int]bool, 1)
	go func() {
		seen := map[int]bool{}
		buf := make([]byte, 1500)
		for {
			n, _, err := c.ReadFrom(buf)
			if err != nil {
				answered <- seen
				return
			}
			r, err := icmp.ParseMessage(1, buf[:n])
			if err != nil || r.Type != ipv4.ICMPTypeEchoReply {
				continue
			}
			if e, ok := r.Body.(*icmp.Echo); ok && e.ID == id {
				seen[e.Seq] = true
			}
		}
	}()
	for seq := 1; seq <= count; seq++ {
		m := icmp.Message{Type: ipv4.ICMPTypeEcho, Body: &icmp.Echo{ID: id, Seq: seq, Data: []byte("sabre operator path")}}
		wb, _ := m.Marshal(nil)
		if _, err := c.WriteTo(wb, &net.IPAddr{IP: dst.AsSlice()}); err != nil {
			t.Fatalf("echo to %v: %v", dst, err)
		}
		time.Sleep(interval)
	}
	c.SetReadDeadline(time.Now().Add(wait))
	return len(<-answered)
}

var (
	reForwardWarn = regexp.MustCompile(`level=WARN msg="IP forwarding is off`)
	reReloaded    = regexp.MustCompile(`msg="ike_rc reloaded"`)
	reNotFwd      = regexp.MustCompile(`were not forwarded: IP forwarding is off`)
)

func TestOperatorPath(t *testing.T) {
	netns.NeedRoot(t, "e2e")
	// go install, as the README says (from this checkout).
	gobin := t.TempDir()
	install := exec.Command("go", "install", "github.com/sabre-ipsec/sabre/cmd/sabre")
	install.Env = append(os.Environ(), "GOBIN="+gobin)
	if out, err := install.CombinedOutput(); err != nil {
		t.Fatalf("go install: %v\n%s", err, out)
	}
	bin := filepath.Join(gobin, "sabre")
	if out, err := exec.Command(bin, "--version").CombinedOutput(); err != nil || !strings.HasPrefix(string(out), "sabre ") {
		t.Fatalf("sabre --version: %v %q", err, out)
	}

	w, e := newLANPair(t)
	w.installExample(t, "site-to-site/west.ike_rc")
	e.installExample(t, "site-to-site/east.ike_rc")
	// West forwards; east starts with forwarding off and must say so.
	w.gw.Sysctl(t, "net.ipv4.ip_forward=1")
	// West runs as under systemd's Type=notify too.
	w.listenNotify(t)
	w.start(t, bin)
	w.expectNotify(t, "READY=1")
	e.start(t, bin)
	// A second daemon on the same machine says what is in its way, and
	// reports nothing as applied.
	for _, c := range []struct{ tun, want string }{
		{"sabre0", `TUN device "sabre0" is busy (another sabre run or VPN has it open): name another with -tun`},
		{"sabre9", "another IKE daemon (charon? pluto?) holds UDP 500"},
	} {
		out, err := exec.Command("ip", "netns", "exec", w.gw.Name, bin, "run", "-rc", w.rc, "-tun", c.tun,
			"-sock", filepath.Join(w.dir, "second.sock")).CombinedOutput()
		if err == nil || !strings.Contains(string(out), c.want) || strings.Contains(string(out), "applied") {
			t.Errorf("second sabre run -tun %s: %v, want an error saying %q and nothing applied:\n%s", c.tun, err, c.want, out)
		}
	}
	if reForwardWarn.MatchString(w.logText()) {
		t.Errorf("west forwards, yet warns:\n%s", w.logText())
	}
	if !reForwardWarn.MatchString(e.logText()) || !strings.Contains(e.logText(), "sysctl -w net.ipv4.ip_forward=1") {
		t.Errorf("east does not forward and does not warn:\n%s", e.logText())
	}
	for _, s := range []*lanSite{w, e} {
		peer := map[*lanSite]*lanSite{w: e, e: w}[s]
		route := s.gw.IP(t, "route", "show", "dev", "sabre0")
		if !strings.Contains(route, netip.PrefixFrom(peer.lanGW, 24).Masked().String()) {
			t.Errorf("%s: no route to the peer's LAN on sabre0: %q", s.name, route)
		}
	}

	// West's host starts the tunnel; east's kernel does not forward what
	// comes out of it, and sabre counts that.
	before := e.scrape(t)
	echoes(t, w.host, w.hostAddr, e.hostAddr, 3, 100*time.Millisecond, time.Second)
	e.waitLog(t, reNotFwd, 1)
	afterLoss := e.scrape(t)
	if afterLoss["sabre_not_forwarded_total"] <= before["sabre_not_forwarded_total"] {
		t.Errorf("sabre_not_forwarded_total did not move: %v -> %v", before["sabre_not_forwarded_total"], afterLoss["sabre_not_forwarded_total"])
	}
	if afterLoss["sabre_ip_forwarding{family=\"ipv4\"}"] != 0 {
		t.Errorf("sabre_ip_forwarding{family=\"ipv4\"} = %v on east", afterLoss["sabre_ip_forwarding{family=\"ipv4\"}"])
	}

	// Forwarding on: traffic flows, and a reload no longer warns.
	e.gw.Sysctl(t, "net.ipv4.ip_forward=1")
	e.cmd.Process.Signal(syscall.SIGHUP)
	e.waitLog(t, reReloaded, 1)
	if n := len(reForwardWarn.FindAllString(e.logText(), -1)); n != 1 {
		t.Errorf("east warned %d times about forwarding, want only the once at start (before it was on)", n)
	}
	if n := echoes(t, w.host, w.hostAddr, e.hostAddr, 5, 200*time.Millisecond, 2*time.Second); n != 5 {
		t.Fatalf("ping through the tunnel: %d of 5 answered", n)
	}
	m1 := w.scrape(t)
	netns.Transfer(t, w.host, w.hostAddr, e.host, e.hostAddr, 2<<20, time.Minute)
	netns.Transfer(t, e.host, e.hostAddr, w.host, w.hostAddr, 1<<20, time.Minute)
	m2 := w.scrape(t)
	for _, name := range []string{`sabre_packets_total{direction="out"}`, `sabre_packets_total{direction="in"}`,
		`sabre_bytes_total{direction="out"}`, `sabre_bytes_total{direction="in"}`,
		`sabre_tun_packets_total{direction="rx"}`, `sabre_wire_packets_total{direction="tx"}`} {
		if m2[name] <= m1[name] {
			t.Errorf("west: %s did not move during traffic: %v -> %v", name, m1[name], m2[name])
		}
	}
	if sum(m2, "sabre_sa_bytes_total") <= sum(m1, "sabre_sa_bytes_total") || sum(m2, "sabre_sas") < 2 {
		t.Errorf("west: per-SA bytes %v -> %v, %v SAs", sum(m1, "sabre_sa_bytes_total"), sum(m2, "sabre_sa_bytes_total"), m2["sabre_sas"])
	}
	if m2[`sabre_ike_handshakes_total{result="established"}`] < 1 || m2[`sabre_ike_sas{state="ESTABLISHED"}`] != 1 {
		t.Errorf("west: IKE metrics: established %v, ike_sas ESTABLISHED %v",
			m2[`sabre_ike_handshakes_total{result="established"}`], m2[`sabre_ike_sas{state="ESTABLISHED"}`])
	}

	// ike netstat -w redraws every second until interrupted.
	watchNetstat(t, bin, w)

	// SIGHUP both gateways while a ping runs: nothing is lost.
	const during = 40
	pingDone := make(chan int, 1)
	go func() {
		pingDone <- echoes(t, w.host, w.hostAddr, e.hostAddr, during, 50*time.Millisecond, 2*time.Second)
	}()
	// Reload once the ping is under way (its first reply has crossed).
	deadline := time.Now().Add(10 * time.Second)
	for m := w.scrape(t); m[`sabre_packets_total{direction="in"}`] <= m2[`sabre_packets_total{direction="in"}`]; m = w.scrape(t) {
		if time.Now().After(deadline) {
			t.Fatal("the ping never crossed the tunnel")
		}
		time.Sleep(10 * time.Millisecond)
	}
	w.cmd.Process.Signal(syscall.SIGHUP)
	w.expectNotify(t, "RELOADING=1")
	w.expectNotify(t, "READY=1")
	e.cmd.Process.Signal(syscall.SIGHUP)
	w.waitLog(t, reReloaded, 1)
	e.waitLog(t, reReloaded, 2)
	if n := <-pingDone; n != during {
		t.Errorf("ping during the reloads: %d of %d answered", n, during)
	}
	netns.Transfer(t, w.host, w.hostAddr, e.host, e.hostAddr, 1<<20, time.Minute)

	// Stop: the ready file, the device and its routes go.
	for _, s := range []*lanSite{w, e} {
		s.stop(t)
		if s.notify != nil {
			s.expectNotify(t, "STOPPING=1")
		}
		if _, err := os.Stat(s.ready); !errors.Is(err, os.ErrNotExist) {
			t.Errorf("%s: ready file left after stop: %v", s.name, err)
		}
		if out, err := exec.Command("ip", "-n", s.gw.Name, "link", "show", "sabre0").CombinedOutput(); err == nil {
			t.Errorf("%s: sabre0 still there after stop: %s", s.name, out)
		}
		if routes := s.gw.IP(t, "route", "show"); strings.Contains(routes, "10.201.") && strings.Contains(routes, "sabre0") {
			t.Errorf("%s: routes into sabre0 left after stop:\n%s", s.name, routes)
		}
	}
	t.Logf("west's log:\n%s", w.logText())
}

// watchNetstat runs `sabre ike netstat -w` against the site's daemon until
// it has drawn the IKE SA twice, then interrupts it.
func watchNetstat(t *testing.T, bin string, s *lanSite) {
	t.Helper()
	var out syncBuf
	cmd := exec.Command(bin, "ike", "-sock", filepath.Join(s.dir, "sabre.sock"), "netstat", "-w")
	cmd.Stdout, cmd.Stderr = &out, &out
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(10 * time.Second)
	for strings.Count(out.String(), "ESTABLISHED") < 2 {
		if time.Now().After(deadline) {
			cmd.Process.Kill()
			cmd.Wait()
			t.Fatalf("sabre ike netstat -w drew no two rounds in 10 s:\n%s", out.String())
		}
		time.Sleep(50 * time.Millisecond)
	}
	cmd.Process.Signal(os.Interrupt)
	if err := cmd.Wait(); err != nil {
		t.Errorf("sabre ike netstat -w after Ctrl-C: %v\n%s", err, out.String())
	}
	if n := strings.Count(out.String(), "Every 1s: sabre [ike netstat]"); n < 2 {
		t.Errorf("sabre ike netstat -w: %d headers:\n%s", n, out.String())
	}
}

// syncBuf is a bytes.Buffer written by a process and read by the test.
type syncBuf struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuf) Write(p []byte) (int, error) { s.mu.Lock(); defer s.mu.Unlock(); return s.b.Write(p) }
func (s *syncBuf) String() string              { s.mu.Lock(); defer s.mu.Unlock(); return s.b.String() }

// listenNotify makes the socket sabre reports its state on ($NOTIFY_SOCKET,
// sd_notify(3)), as systemd does for a Type=notify service.
func (s *lanSite) listenNotify(t *testing.T) {
	t.Helper()
	c, err := net.ListenUnixgram("unixgram", &net.UnixAddr{Name: filepath.Join(s.dir, "notify"), Net: "unixgram"})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	s.notify = c
}

// expectNotify reads the next state notification; its first line must be
// want.
func (s *lanSite) expectNotify(t *testing.T, want string) {
	t.Helper()
	s.notify.SetReadDeadline(time.Now().Add(20 * time.Second))
	buf := make([]byte, 4096)
	n, err := s.notify.Read(buf)
	if err != nil {
		t.Fatalf("%s: no %s notification: %v", s.name, want, err)
	}
	if first, _, _ := strings.Cut(string(buf[:n]), "\n"); first != want {
		t.Fatalf("%s: notification %q, want %s first", s.name, buf[:n], want)
	}
}
