// Package demo is `sabre demo`: two gVisor hosts in this process, each
// with Sabre linked in below its stack (ports/gvisor), joined by an
// in-memory link. Each is configured by an ike_rc, negotiates ESP SAs with
// IKEv2 when its first packet needs them (ACQUIRE), and carries a TCP
// echo, a ping and a throughput test through them. Nothing of the host is
// used: no root, no TUN, no socket. The pieces: host.go (a host and the
// link), steps.go (the negotiation as one line per step), traffic.go
// (echo, ping, throughput), keys.go (-keys), capture.go (-pcap).
//
// It sits on top of the layers (it uses cli, ike and ports/gvisor, as
// cmd/sabre does) and lives under ports/gvisor because it is the only
// other package that builds gVisor stacks.
package demo

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/sabre-ipsec/sabre/spd"
)

const demoUsage = `usage: sabre demo [-mode tunnel|transport] [-suite NAME] [-v6] [-t 1s]
                  [-pcap FILE] [-keys FILE] [-dir DIR] [-v]

Two gVisor hosts in this process, A (10.0.0.77) and B (10.0.0.78), or
fd00::77 and fd00::78 with -v6, each with Sabre below its IP stack, joined
by an in-memory link. Each reads an ike_rc (printed below; the pre-shared
key is in a file of mode 0600 beside it) and installs the IKE bypass
policies first (UDP 500 and 4500, priority 2), as "sabre run" does. A's
first TCP packet to B finds no SA (ACQUIRE), A's IKE daemon negotiates
with B's over the stacks' own UDP (IKEv2, PSK), and the held packet goes
out through ESP. Then a TCP echo, a ping (ICMP echo) and a TCP
throughput test run through the SAs, and "ike netstat" and "ipsec
netstat" show both hosts. It needs no root and no network, and exits 0
when every step worked.

Suites (-suite): the IKE SA's and the ESP SAs' algorithms, as ike_rc
names them ("ike remote -e -a -p -d" and "ipsec policy -e -a"):
%s
Flags:
  -mode tunnel|transport  the ESP mode (default tunnel)
  -suite NAME             one of the suites above (default aes128gcm16)
  -v6                     IPv6 hosts instead of IPv4
  -t DURATION             how long the throughput test sends (default 1s)
  -pcap FILE              write every packet on the link (outer packets:
                          IKE, ESP) to FILE, link type raw IP; the capture
                          pauses during the throughput test
  -keys FILE              write the negotiated keys to FILE (mode 0600) in
                          Wireshark's formats, to decrypt the -pcap capture
  -dir DIR                write the ike_rc and PSK files to DIR and keep
                          them (default: a temporary directory, removed)
  -v                      also print every log record of the IKE daemons

Decrypting the capture in Wireshark (-pcap with -keys): the keys file holds
two tables, each under a "# table NAME" line. Lines of "esp_sa" are ESP
SAs (Edit > Preferences > Protocols > ESP > ESP SAs; tick "Attempt to
detect/decode encrypted ESP payloads"), lines of "ikev2_decryption_table"
decrypt the IKE_AUTH and later messages (Protocols > ISAKMP > IKEv2
Decryption Table). Or put each table in a file of that name in a
configuration directory and point Wireshark at it:

  sabre demo -pcap demo.pcap -keys demo.keys
  mkdir -m 700 ws && awk '/^# table /{t="ws/"$3; next} /^[^#]/{print > t}' demo.keys
  echo 'esp.enable_encryption_decode: TRUE' > ws/preferences
  WIRESHARK_CONFIG_DIR=ws tshark -r demo.pcap -Y tcp    # or wireshark

Wireshark 4.0 has no ChaCha20-Poly1305 for ESP or IKEv2: with that suite
the keys are written as comments. The keys are secrets: whoever has the
file can read (and forge) what the SAs protect; delete it when done.
`

// demoSuite is a -suite: ike_rc options for the IKE SA and the ESP SAs.
type demoSuite struct {
	name string
	ike  string // ike remote -e [-a] -p -d
	esp  string // ipsec policy -e [-a]
}

var demoSuites = []demoSuite{
	{"aes128gcm16", "-e AES128-GCM16 -p HMAC-SHA-2-256 -d CURVE25519", "-e AES128-GCM16"},
	{"aes256gcm16", "-e AES256-GCM16 -p HMAC-SHA-2-384 -d ECP384", "-e AES256-GCM16"},
	{"chacha20poly1305", "-e CHACHA20-POLY1305 -p HMAC-SHA-2-256 -d CURVE25519", "-e CHACHA20-POLY1305"},
	{"aes128cbc-sha256", "-e AES128-CBC -a HMAC-SHA-2-256 -p HMAC-SHA-2-256 -d MODP2048", "-e AES128-CBC -a HMAC-SHA-2-256"},
	{"aes256cbc-sha256", "-e AES256-CBC -a HMAC-SHA-2-256 -p HMAC-SHA-2-256 -d ECP256", "-e AES256-CBC -a HMAC-SHA-2-256"},
	{"aes256cbc-sha384", "-e AES256-CBC -a HMAC-SHA-2-384 -p HMAC-SHA-2-384 -d ECP384", "-e AES256-CBC -a HMAC-SHA-2-384"},
}

func suiteTable() string {
	var b strings.Builder
	for _, s := range demoSuites {
		fmt.Fprintf(&b, "  %-17s ike remote %s\n  %-17s ipsec policy %s\n", s.name, s.ike, "", s.esp)
	}
	return b.String()
}

func findSuite(name string) (demoSuite, error) {
	for _, s := range demoSuites {
		if strings.EqualFold(s.name, name) {
			return s, nil
		}
	}
	names := make([]string, len(demoSuites))
	for i, s := range demoSuites {
		names[i] = s.name
	}
	return demoSuite{}, fmt.Errorf("demo: -suite %q: want one of %s", name, strings.Join(names, ", "))
}

// demoConfig is what the flags of `sabre demo` say.
type demoConfig struct {
	mode     spd.Mode
	suite    demoSuite
	v6       bool
	duration time.Duration
	pcap     string
	keys     string
	dir      string
	verbose  bool
	// wrongPSK gives B another pre-shared key than A (tests).
	wrongPSK bool
}

func parseDemoFlags(args []string, w io.Writer) (*demoConfig, error) {
	fs := flag.NewFlagSet("demo", flag.ContinueOnError)
	fs.SetOutput(w)
	fs.Usage = func() { fmt.Fprintf(w, demoUsage, suiteTable()) }
	mode := fs.String("mode", "tunnel", "")
	suiteName := fs.String("suite", "aes128gcm16", "")
	c := &demoConfig{}
	fs.BoolVar(&c.v6, "v6", false, "")
	fs.DurationVar(&c.duration, "t", time.Second, "")
	fs.StringVar(&c.pcap, "pcap", "", "")
	fs.StringVar(&c.keys, "keys", "", "")
	fs.StringVar(&c.dir, "dir", "", "")
	fs.BoolVar(&c.verbose, "v", false, "")
	if err := fs.Parse(args); err != nil {
		return nil, err
	}
	if fs.NArg() > 0 {
		return nil, fmt.Errorf("demo: unexpected argument %q (see sabre demo -h)", fs.Arg(0))
	}
	switch *mode {
	case "tunnel":
		c.mode = spd.Tunnel
	case "transport":
		c.mode = spd.Transport
	default:
		return nil, fmt.Errorf("demo: -mode %q: want tunnel or transport", *mode)
	}
	var err error
	if c.suite, err = findSuite(*suiteName); err != nil {
		return nil, err
	}
	if c.duration <= 0 {
		return nil, fmt.Errorf("demo: -t %v: must be positive", c.duration)
	}
	return c, nil
}

// Timeouts of the demo's steps: generous for a loaded machine, short
// enough that a failure shows quickly.
const (
	demoNegotiationTimeout = 10 * time.Second
	demoStepTimeout        = 10 * time.Second
)

// Run is `sabre demo`: args are its flags, w gets its output (and the
// usage for -h). It returns nil when every step worked.
func Run(args []string, w io.Writer) error {
	cfg, err := parseDemoFlags(args, w)
	if err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return nil
		}
		return err
	}
	return runDemoConfig(cfg, w)
}

// runDemoConfig runs the demo as cfg says.
func runDemoConfig(cfg *demoConfig, w io.Writer) error {
	start := time.Now()
	dir := cfg.dir
	var err error
	if dir == "" {
		if dir, err = os.MkdirTemp("", "sabre-demo-"); err != nil {
			return err
		}
		defer os.RemoveAll(dir)
	} else if err := os.MkdirAll(dir, 0o700); err != nil {
		return err
	}

	a4, b4 := netip.MustParseAddr("10.0.0.77"), netip.MustParseAddr("10.0.0.78")
	if cfg.v6 {
		a4, b4 = netip.MustParseAddr("fd00::77"), netip.MustParseAddr("fd00::78")
	}
	n, err := newDemoNet(cfg, w, a4, b4)
	if err != nil {
		return err
	}
	defer n.close()
	a, b := n.a, n.b

	fmt.Fprintf(w, "Sabre demo: hosts A (%v) and B (%v), two gVisor stacks with Sabre below IP, joined by an in-memory link.\n", a.addr, b.addr)
	fmt.Fprintf(w, "IKEv2 with a pre-shared key, ESP in %s mode, suite %s.\n\n", modeName(cfg.mode), cfg.suite.name)

	// The configuration: a PSK file and an ike_rc per host.
	psk, err := writeDemoPSK(dir, "psk")
	if err != nil {
		return err
	}
	for _, h := range []*demoHost{a, b} {
		peer := n.peer(h)
		hostPSK := psk
		if cfg.wrongPSK && h == b {
			if hostPSK, err = writeDemoPSK(dir, "psk-B"); err != nil {
				return err
			}
		}
		rc := demoRC(cfg, h, peer, hostPSK)
		path := filepath.Join(dir, h.name+".ike_rc")
		if err := os.WriteFile(path, []byte(rc), 0o600); err != nil {
			return err
		}
		fmt.Fprintf(w, "ike_rc of %s (%s):\n%s", h.name, path, indent(rc, "  "))
		var out strings.Builder
		if err := h.env.RunRC(path, &out); err != nil {
			return fmt.Errorf("host %s: %w\n%s", h.name, err, out.String())
		}
		fmt.Fprintf(w, "  installed before it, by the host (gvisor.InstallIKEBypass, as sabre run does):\n")
		for _, p := range h.ep.Engine().SPD().List() {
			if p.Action == spd.Bypass {
				fmt.Fprintf(w, "    %v\n", p)
			}
		}
		fmt.Fprintln(w)
	}

	// Negotiation, triggered by the TCP echo's first packet.
	tr := &demoTraffic{cfg: cfg, a: a, b: b, w: w}
	fmt.Fprintf(w, "A connects to B's TCP echo port; its first packet triggers the negotiation:\n")
	n.steps.startRecording()
	echoErr := tr.startEcho()
	negErr := n.waitNegotiated(demoNegotiationTimeout)
	if echoErr == nil && negErr == nil {
		echoErr = tr.finishEcho()
		n.steps.waitFirstESP(2, time.Second) // both directions' first ESP packet, for the step list
		n.steps.waitAcquire(a, time.Second)
	}
	n.steps.print(w)
	if negErr != nil {
		return negErr
	}
	if echoErr != nil {
		return fmt.Errorf("TCP echo through the SAs: %w", echoErr)
	}
	n.steps.stopRecording()
	fmt.Fprintln(w)
	fmt.Fprint(w, tr.echoReport)

	if err := tr.ping(3); err != nil {
		return fmt.Errorf("ping through the SAs: %w", err)
	}
	n.capture.pause(true)
	err = tr.throughput(cfg.duration)
	n.capture.pause(false)
	if err != nil {
		return fmt.Errorf("TCP throughput test: %w", err)
	}

	for _, h := range []*demoHost{a, b} {
		for _, cmd := range [][]string{{"ike", "netstat"}, {"ipsec", "netstat"}} {
			var out strings.Builder
			if err := h.env.Exec(cmd, &out); err != nil {
				return fmt.Errorf("host %s: %s: %w", h.name, strings.Join(cmd, " "), err)
			}
			fmt.Fprintf(w, "\n%s> %s\n%s", h.name, strings.Join(cmd, " "), out.String())
		}
	}
	fmt.Fprintln(w)
	for _, h := range []*demoHost{a, b} {
		fmt.Fprintln(w, engineSummary(h))
	}
	if err := n.checkClean(); err != nil {
		return err
	}

	// Teardown: the IKE daemons delete their SAs (INFORMATIONAL, in the
	// capture too), then the stacks go.
	if err := n.close(); err != nil {
		return err
	}
	fmt.Fprintln(w)
	if cfg.pcap != "" {
		fmt.Fprintf(w, "capture: %s (%d packets; paused during the throughput test)\n", cfg.pcap, n.capture.count())
	}
	if cfg.keys != "" {
		nESP, nIKE, err := n.keys.write(cfg.keys)
		if err != nil {
			return err
		}
		fmt.Fprintf(w, "keys: %s (mode 0600: %d ESP SAs, %d IKE SAs; secrets, delete when done)\n", cfg.keys, nESP, nIKE)
	}
	fmt.Fprintf(w, "demo OK in %v\n", time.Since(start).Round(time.Millisecond))
	return nil
}

func modeName(m spd.Mode) string {
	if m == spd.Transport {
		return "transport"
	}
	return "tunnel"
}

// demoRC is the ike_rc of host h toward peer: the `ike remote` entry and
// the policy it negotiates.
func demoRC(cfg *demoConfig, h, peer *demoHost, psk string) string {
	fam := "ipv4"
	if h.addr.Is6() {
		fam = "ipv6"
	}
	var b strings.Builder
	fmt.Fprintf(&b, "# host %s: IKEv2 toward %s with a pre-shared key, both initiating (-w) and accepting (-u)\n", h.name, peer.name)
	fmt.Fprintf(&b, "ike remote -n %s -z 2 -w -u %s -m PresharedKey -h %s -r %v -f %s:%v -g %s:%v\n",
		peer.name, cfg.suite.ike, rcWord(psk), peer.addr, fam, peer.addr, fam, h.addr)
	fmt.Fprintf(&b, "# traffic between the hosts goes through ESP SAs that remote %s negotiates\n", peer.name)
	fmt.Fprintf(&b, "ipsec policy -n to-%s -g %s -t ESP %s -m %s -r %v -s %v -d %v\n",
		peer.name, peer.name, cfg.suite.esp, modeName(cfg.mode), peer.addr, h.addr, peer.addr)
	return b.String()
}

func indent(s, prefix string) string {
	lines := strings.SplitAfter(s, "\n")
	var b strings.Builder
	for _, l := range lines {
		if l != "" {
			b.WriteString(prefix + l)
		}
	}
	return b.String()
}

// engineSummary is one line of h's engine counters.
func engineSummary(h *demoHost) string {
	s := h.ep.Engine().Stats().Snapshot()
	drops := "none"
	if len(s.Drops) > 0 {
		drops = fmt.Sprint(s.Drops)
	}
	return fmt.Sprintf("engine of %s: %d packets secured, %d accepted from ESP, %d out and %d in bypassing IPsec (IKE), %d held during negotiation; drops: %s",
		h.name, s.OutPackets, s.InPackets, s.OutBypass, s.InBypass, s.AcquireQueued, drops)
}

// rcWord quotes a word for an ike_rc if it has blanks or a '#' (the
// syntax has no escapes; a path with a double quote cannot be written).
func rcWord(s string) string {
	if strings.ContainsAny(s, " \t#") {
		return `"` + s + `"`
	}
	return s
}
