package interop

import (
	"bytes"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"text/template"
	"time"

	"github.com/sabre-ipsec/sabre/internal/testutil/netns"
)

// Where Debian (and most distributions) put strongSwan.
var (
	charonPaths  = []string{"/usr/lib/ipsec/charon", "/usr/libexec/ipsec/charon", "/usr/lib/strongswan/charon"}
	swanctlPaths = []string{"/usr/sbin/swanctl", "/usr/bin/swanctl"}
)

// The plugins a charon loads, in this order, those of them that are
// installed: kernel-libipsec must come before kernel-netlink.
var wantPlugins = strings.Fields(`random nonce openssl x509 pem pkcs1 revocation constraints pubkey curve25519
	gmp aes sha1 sha2 hmac gcm chapoly kdf socket-default kernel-libipsec kernel-netlink updown vici`)

// viciURI is the vici socket inside each charon's private /run.
const viciURI = "unix:///run/strongswan/charon.vici"

// strongSwan is what the tests found of strongSwan.
type strongSwan struct {
	charon, swanctl, pluginDir string
	plugins                    []string
}

var swan strongSwan

// needStrongSwan skips the test unless charon, swanctl and the
// kernel-libipsec plugin are installed (CI installs them).
func needStrongSwan(t *testing.T) {
	t.Helper()
	netns.NeedRoot(t, "interop")
	if swan.charon != "" {
		return
	}
	find := func(paths []string) string {
		for _, p := range paths {
			if fi, err := os.Stat(p); err == nil && fi.Mode()&0o111 != 0 {
				return p
			}
		}
		return ""
	}
	s := strongSwan{charon: find(charonPaths), swanctl: find(swanctlPaths)}
	if s.charon == "" || s.swanctl == "" {
		t.Skipf("interop: strongSwan is not installed (charon in %v, swanctl in %v; Debian: apt-get install strongswan-charon strongswan-swanctl libstrongswan-standard-plugins libcharon-extra-plugins)",
			charonPaths, swanctlPaths)
	}
	s.pluginDir = filepath.Join(filepath.Dir(s.charon), "plugins")
	if _, err := os.Stat(filepath.Join(s.pluginDir, "libstrongswan-kernel-libipsec.so")); err != nil {
		t.Skipf("interop: strongSwan's kernel-libipsec plugin is not installed (Debian: libcharon-extra-plugins): %v", err)
	}
	for _, p := range wantPlugins {
		if _, err := os.Stat(filepath.Join(s.pluginDir, "libstrongswan-"+p+".so")); err == nil {
			s.plugins = append(s.plugins, p)
		}
	}
	if _, err := exec.LookPath("nsenter"); err != nil {
		t.Skipf("interop: needs util-linux's nsenter: %v", err)
	}
	if _, err := exec.LookPath("unshare"); err != nil {
		t.Skipf("interop: needs util-linux's unshare: %v", err)
	}
	swan = s
}

// charonOptions are the strongswan.conf settings a test chooses.
type charonOptions struct {
	KeepAlive         string  // NAT-keepalive interval
	RetransmitTimeout float64 // seconds
	RetransmitBase    float64
	RetransmitTries   int
	RetransmitLimit   float64 // seconds; 0: none
}

// defaultCharon is strongSwan's own retransmission (4 s, base 1.8, 5
// tries) with keepalives every 5 s instead of 20.
var defaultCharon = charonOptions{KeepAlive: "5s", RetransmitTimeout: 4, RetransmitBase: 1.8, RetransmitTries: 5}

// charon is a charon daemon in a host's namespace, in a mount namespace
// of its own.
type charon struct {
	h    *host
	conf string // strongswan.conf
	log  string // charon's file log
	out  string // its standard output and error
	cmd  *exec.Cmd
	done chan error
}

func render(t *testing.T, tmpl, path string, data any) {
	t.Helper()
	src, err := os.ReadFile(filepath.Join("testdata", tmpl))
	if err != nil {
		t.Fatal(err)
	}
	tp, err := template.New(tmpl).Option("missingkey=error").Parse(string(src))
	if err != nil {
		t.Fatal(err)
	}
	var b bytes.Buffer
	if err := tp.Execute(&b, data); err != nil {
		t.Fatalf("%s: %v", tmpl, err)
	}
	if err := os.WriteFile(path, b.Bytes(), 0o600); err != nil {
		t.Fatal(err)
	}
}

// startCharon starts charon in h's namespace and waits for its vici
// socket. t.Cleanup stops it (SIGTERM, then SIGKILL) and, if the test
// failed, logs the end of its log.
func startCharon(t *testing.T, h *host, o charonOptions) *charon {
	t.Helper()
	needStrongSwan(t)
	c := &charon{h: h, conf: filepath.Join(h.dir, "strongswan.conf"), log: filepath.Join(h.dir, "charon.log"),
		out: filepath.Join(h.dir, "charon.out")}
	render(t, "strongswan.conf.tmpl", c.conf, struct {
		charonOptions
		Plugins, Log string
	}{o, strings.Join(swan.plugins, " "), c.log})
	outf, err := os.Create(c.out)
	if err != nil {
		t.Fatal(err)
	}
	// ip netns exec, unshare (without --fork) and sh all exec, so the
	// process is charon itself, in the new mount namespace: nsenter
	// --target its PID reaches its /run.
	c.cmd = exec.Command("ip", "netns", "exec", h.ns.Name, "unshare", "--mount", "--propagation", "private",
		"sh", "-c", `mount -t tmpfs -o mode=0755 tmpfs /run && mkdir -p /run/strongswan && exec "$0"`, swan.charon)
	c.cmd.Env = append(os.Environ(), "STRONGSWAN_CONF="+c.conf)
	c.cmd.Stdout, c.cmd.Stderr = outf, outf
	// If the test binary dies, so does charon (its namespace is removed
	// by the next run).
	c.cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	if err := c.cmd.Start(); err != nil {
		outf.Close()
		t.Fatal(err)
	}
	c.done = make(chan error, 1)
	go func() { c.done <- c.cmd.Wait(); outf.Close() }()
	t.Cleanup(func() { c.stop(t) })
	sock := fmt.Sprintf("/proc/%d/root/run/strongswan/charon.vici", c.cmd.Process.Pid)
	deadline := time.Now().Add(15 * time.Second)
	for {
		if fi, err := os.Stat(sock); err == nil && fi.Mode()&os.ModeSocket != 0 {
			break
		}
		select {
		case err := <-c.done:
			c.done <- err
			t.Fatalf("charon in %s exited: %v\n%s\n%s", h.role, err, readFile(c.out), readFile(c.log))
		default:
		}
		if time.Now().After(deadline) {
			t.Fatalf("charon in %s: no vici socket after 15 s\n%s\n%s", h.role, readFile(c.out), readFile(c.log))
		}
		time.Sleep(20 * time.Millisecond)
	}
	// vici answers once the socket exists, but be sure before loading.
	for {
		if _, err := c.swanctl("--stats"); err == nil {
			break
		} else if time.Now().After(deadline) {
			t.Fatalf("charon in %s: swanctl --stats: %v", h.role, err)
		}
		time.Sleep(50 * time.Millisecond)
	}
	return c
}

func readFile(path string) string {
	b, _ := os.ReadFile(path)
	return string(b)
}

// tail returns the last n lines of s.
func tail(s string, n int) string {
	lines := strings.Split(strings.TrimRight(s, "\n"), "\n")
	if len(lines) > n {
		lines = append([]string{fmt.Sprintf("[... %d lines]", len(lines)-n)}, lines[len(lines)-n:]...)
	}
	return strings.Join(lines, "\n")
}

func (c *charon) stop(t *testing.T) {
	if c.cmd == nil {
		return
	}
	c.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-c.done:
	case <-time.After(5 * time.Second):
		c.cmd.Process.Kill()
		<-c.done
		t.Logf("charon in %s did not stop within 5 s of SIGTERM; killed", c.h.role)
	}
	c.cmd = nil
	if t.Failed() {
		t.Logf("charon log of %s (%s):\n%s", c.h.role, c.log, tail(readFile(c.log), 120))
	}
	for _, f := range []string{c.log, c.out, c.conf, filepath.Join(c.h.dir, "swanctl.conf")} {
		keep(t, f)
	}
}

// swanctl runs swanctl against this charon, in its network and mount
// namespaces.
func (c *charon) swanctl(args ...string) (string, error) {
	argv := append([]string{"--target", strconv.Itoa(c.cmd.Process.Pid), "--mount", "--net", swan.swanctl}, args...)
	argv = append(argv, "--uri", viciURI)
	cmd := exec.Command("nsenter", argv...)
	cmd.Env = append(os.Environ(), "STRONGSWAN_CONF="+c.conf)
	out, err := cmd.CombinedOutput()
	return string(out), err
}

// mustSwanctl is swanctl that fails the test on error.
func (c *charon) mustSwanctl(t *testing.T, args ...string) string {
	t.Helper()
	out, err := c.swanctl(args...)
	if err != nil {
		t.Fatalf("swanctl %s in %s: %v\n%s", strings.Join(args, " "), c.h.role, err, out)
	}
	return out
}

// swanConn is a connection of swanctl.conf.tmpl.
type swanConn struct {
	Name, Child             string
	LocalAddrs, RemoteAddrs string
	LocalID, RemoteID       string
	IKE, ESP                string
	LocalTS, RemoteTS       string
	Encap                   bool
	PSK                     string
}

// load writes swanctl.conf and loads it.
func (c *charon) load(t *testing.T, conn swanConn) {
	t.Helper()
	path := filepath.Join(c.h.dir, "swanctl.conf")
	render(t, "swanctl.conf.tmpl", path, conn)
	out := c.mustSwanctl(t, "--load-all", "--file", path)
	if !strings.Contains(out, "successfully loaded 1 connections") {
		t.Fatalf("swanctl --load-all in %s:\n%s", c.h.role, out)
	}
}

// initiate brings the child (and its IKE SA) up and returns swanctl's
// output.
func (c *charon) initiate(t *testing.T, child string) string {
	t.Helper()
	out, err := c.swanctl("--initiate", "--child", child, "--timeout", "30")
	if err != nil || !strings.Contains(out, "initiate completed successfully") {
		t.Fatalf("swanctl --initiate --child %s in %s: %v\n%s", child, c.h.role, err, tail(out, 40))
	}
	return out
}

// terminate deletes the IKE SAs of a connection (and their children) and
// waits for the peer's answer.
func (c *charon) terminate(t *testing.T, ike string) {
	t.Helper()
	c.terminateArgs(t, "--ike", ike)
}

// terminateID deletes one IKE SA by its unique id.
func (c *charon) terminateID(t *testing.T, id int) {
	t.Helper()
	c.terminateArgs(t, "--ike-id", strconv.Itoa(id))
}

func (c *charon) terminateArgs(t *testing.T, args ...string) {
	t.Helper()
	out, err := c.swanctl(append(append([]string{"--terminate"}, args...), "--timeout", "60")...)
	if err != nil || !strings.Contains(out, "terminate completed successfully") {
		t.Fatalf("swanctl --terminate %s in %s: %v\n%s", strings.Join(args, " "), c.h.role, err, tail(out, 40))
	}
}

// swanSAs is what `swanctl --list-sas` shows of an IKE SA and its first
// child; listSAs returns the first IKE SA with the whole text and the
// counts over all of them.
type swanSAs struct {
	text                  string
	id                    int // the IKE SA's unique id (#N)
	ikeEstablished        int
	ikeAlgs               string // e.g. AES_CBC-128/HMAC_SHA2_256_128/PRF_HMAC_SHA2_256/MODP_2048
	local, remote         string // "192.0.2.1[4500]"
	childInstalled        int
	childMode             string // TUNNEL-in-UDP
	espAlgs               string // e.g. AES_GCM_16-128
	spiIn, spiOut         string
	packetsIn, packetsOut uint64
}

var (
	reIKE      = regexp.MustCompile(`(?m)^\S+: #(\d+), (\w+), IKEv2`)
	reEndpoint = regexp.MustCompile(`(?m)^  (local|remote)\s+'[^']*' @ (\S+)`)
	reIKEAlgs  = regexp.MustCompile(`(?m)^  ([A-Z0-9_]+[-/][A-Z0-9_/-]+)\s*$`)
	reChild    = regexp.MustCompile(`(?m)^  \S+: #\d+, reqid \d+, (\w+), ([\w-]+), ESP:(\S+)`)
	reSPI      = regexp.MustCompile(`(?m)^\s+(in|out)\s+([0-9a-f]{8})[_i]*[_o]*,\s+(\d+) bytes,\s+(\d+) packets`)
)

// parseSAs parses --list-sas output into one swanSAs per IKE SA.
func parseSAs(out string) []swanSAs {
	var all []swanSAs
	starts := reIKE.FindAllStringSubmatchIndex(out, -1)
	for i, st := range starts {
		end := len(out)
		if i+1 < len(starts) {
			end = starts[i+1][0]
		}
		blk := out[st[0]:end]
		s := swanSAs{text: blk}
		s.id, _ = strconv.Atoi(out[st[2]:st[3]])
		if out[st[4]:st[5]] == "ESTABLISHED" {
			s.ikeEstablished = 1
		}
		for _, m := range reEndpoint.FindAllStringSubmatch(blk, 2) {
			if m[1] == "local" {
				s.local = m[2]
			} else {
				s.remote = m[2]
			}
		}
		if m := reIKEAlgs.FindStringSubmatch(blk); m != nil {
			s.ikeAlgs = m[1]
		}
		for j, m := range reChild.FindAllStringSubmatch(blk, -1) {
			if m[1] == "INSTALLED" {
				s.childInstalled++
			}
			if j == 0 {
				s.childMode, s.espAlgs = m[2], m[3]
			}
		}
		for _, m := range reSPI.FindAllStringSubmatch(blk, 2) {
			pk, _ := strconv.ParseUint(m[4], 10, 64)
			if m[1] == "in" {
				s.spiIn, s.packetsIn = m[2], pk
			} else {
				s.spiOut, s.packetsOut = m[2], pk
			}
		}
		all = append(all, s)
	}
	return all
}

// listAll runs swanctl --list-sas and parses every IKE SA.
func (c *charon) listAll(t *testing.T) []swanSAs {
	t.Helper()
	return parseSAs(c.mustSwanctl(t, "--list-sas"))
}

// listSAs runs swanctl --list-sas: the first IKE SA and its child, with
// the text and the ESTABLISHED and INSTALLED counts of all.
func (c *charon) listSAs(t *testing.T) swanSAs {
	t.Helper()
	out := c.mustSwanctl(t, "--list-sas")
	all := parseSAs(out)
	var s swanSAs
	if len(all) > 0 {
		s = all[0]
	}
	s.text, s.ikeEstablished, s.childInstalled = out, 0, 0
	for _, x := range all {
		s.ikeEstablished += x.ikeEstablished
		s.childInstalled += x.childInstalled
	}
	return s
}

// waitNoSAs waits until charon has no IKE SA left.
func (c *charon) waitNoSAs(t *testing.T, within time.Duration) {
	t.Helper()
	deadline := time.Now().Add(within)
	for {
		out := c.mustSwanctl(t, "--list-sas")
		if strings.TrimSpace(out) == "" {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("charon in %s still has SAs %v after the delete:\n%s", c.h.role, within, out)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// logCount counts the lines of charon's log that contain s.
func (c *charon) logCount(s string) int {
	return strings.Count(readFile(c.log), s)
}

// newPSK returns a random pre-shared key as text (strongSwan's secret
// and Sabre's PSK file hold the same characters).
func newPSK() string {
	var b [24]byte
	rand.Read(b[:])
	return "interop-" + hex.EncodeToString(b[:])
}

// ikeCase is one IKE and ESP suite, as strongSwan and Sabre name it, with
// what swanctl --list-sas shows once it is negotiated.
type ikeCase struct {
	name             string
	ike, esp         string // swanctl proposals
	sabreIKE         string // ike remote options
	sabreESP         string // ipsec policy options
	wantIKE, wantESP string
}

var ikeCases = []ikeCase{
	{name: "aes128-sha256-modp2048+aes128gcm16",
		ike: "aes128-sha256-modp2048", esp: "aes128gcm16",
		sabreIKE: "-e AES128-CBC -a HMAC-SHA-2-256 -p HMAC-SHA-2-256 -d MODP2048", sabreESP: "-e AES128-GCM16",
		wantIKE: "AES_CBC-128/HMAC_SHA2_256_128/PRF_HMAC_SHA2_256/MODP_2048", wantESP: "AES_GCM_16-128"},
	{name: "aes256gcm16-prfsha384-ecp384+aes256-sha256",
		ike: "aes256gcm16-prfsha384-ecp384", esp: "aes256-sha256",
		sabreIKE: "-e AES256-GCM16 -p PRFSHA384 -d ECP384", sabreESP: "-e AES256-CBC -a HMAC-SHA-2-256",
		wantIKE: "AES_GCM_16-256/PRF_HMAC_SHA2_384/ECP_384", wantESP: "AES_CBC-256/HMAC_SHA2_256_128"},
	{name: "chacha20poly1305-prfsha256-x25519+chacha20poly1305",
		ike: "chacha20poly1305-prfsha256-x25519", esp: "chacha20poly1305",
		sabreIKE: "-e CHACHA20-POLY1305 -p PRFSHA256 -d CURVE25519", sabreESP: "-e CHACHA20-POLY1305",
		wantIKE: "CHACHA20_POLY1305/PRF_HMAC_SHA2_256/CURVE_25519", wantESP: "CHACHA20_POLY1305"},
}

// The names in every swanctl.conf.
const (
	connName  = "interop"
	childName = "net"
)

// conn is the swanctl connection of me toward peer for a case: tunnel
// between the two subnets, identities the outer addresses.
func conn(c ikeCase, me, peer *host, psk string) swanConn {
	return swanConn{Name: connName, Child: childName,
		LocalAddrs: me.outer.String(), RemoteAddrs: peer.outer.String(),
		LocalID: me.outer.String(), RemoteID: peer.outer.String(),
		IKE: c.ike, ESP: c.esp, LocalTS: me.subnet.String(), RemoteTS: peer.subnet.String(),
		Encap: true, PSK: psk}
}
