package interop

import (
	"encoding/json"
	"fmt"
	"net/netip"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/sabre-ipsec/sabre/internal/testutil/sabre"
)

func TestMain(m *testing.M) { sabre.Main(m) }

// sabrePath builds the sabre binary once per test run, or returns
// $SABRE_INTEROP_BIN if set (a binary built elsewhere).
func sabrePath(t *testing.T) string { return sabre.Binary(t, "SABRE_INTEROP_BIN") }

// noIKE is the skip message of the Sabre cases while `sabre run` does
// not run IKE.
const noIKE = "sabre run has no IKE yet"

// sabred is a `sabre run` daemon in a host's namespace.
type sabred struct {
	h    *host
	rc   string
	sock string // its control socket
	log  string // its standard output and error
	d    *sabre.Daemon
}

// startSabre runs `sabre run -rc <rc> -tun sabre0 -sock ...` in h's
// namespace, waits for its control socket and routes: h's inner address
// on sabre0 and peer's subnet into it. It skips the test if the daemon
// does not apply `ike remote` lines (no IKE in this build).
func startSabre(t *testing.T, h, peer *host, rc string, args ...string) *sabred {
	t.Helper()
	bin := sabrePath(t)
	s := &sabred{h: h, rc: filepath.Join(h.dir, "ike_rc"), sock: filepath.Join(h.dir, "sabre.sock"), log: filepath.Join(h.dir, "sabre.log")}
	if err := os.WriteFile(s.rc, []byte(rc), 0o600); err != nil {
		t.Fatal(err)
	}
	d, err := sabre.Start(t, "sabre run in "+h.role, h.ns.Name, bin, s.sock, s.log,
		append([]string{"-rc", s.rc, "-tun", "sabre0", "-v"}, args...)...)
	s.d = d
	if err != nil { // it exited (sabre.ErrExited)
		log := d.LogText()
		for _, m := range []string{"not available in this build", "no IKE daemon"} {
			if strings.Contains(log, m) {
				t.Skipf("%s: the daemon refused the ike_rc: %s", noIKE, rcOut(firstLine(log, m)))
			}
		}
		t.Fatalf("%v\n%s\nike_rc:\n%s", err, log, rc)
	}
	t.Cleanup(func() { s.stop(t) }) // before the daemon's own cleanup, which then finds it stopped
	if log := d.LogText(); strings.Contains(log, "not applied") {
		t.Skipf("%s: the daemon says %s", noIKE, rcOut(firstLine(log, "not applied")))
	}
	h.ns.IP(t, "addr", "add", netip.PrefixFrom(h.inner, h.subnet.Bits()).String(), "dev", "sabre0")
	h.ns.IP(t, "route", "replace", peer.subnet.String(), "dev", "sabre0")
	return s
}

// firstLine returns the first line of s that contains sub.
func firstLine(s, sub string) string {
	for _, l := range strings.Split(s, "\n") {
		if strings.Contains(l, sub) {
			return strings.TrimSpace(l)
		}
	}
	return ""
}

// rcOut returns what the daemon logged of its ike_rc in a log line: the
// out="..." part, without the file's path.
func rcOut(line string) string {
	if _, v, ok := strings.Cut(line, `out="`); ok {
		line = strings.TrimSuffix(v, `"`)
	}
	if i := strings.Index(line, "ike_rc:"); i >= 0 {
		line = line[i:]
	}
	return line
}

// stop ends the daemon with SIGTERM and checks that it shut down cleanly.
func (s *sabred) stop(t *testing.T) {
	if !s.d.Stop(t) {
		return
	}
	if t.Failed() {
		t.Logf("log of sabre run in %s:\n%s\nike_rc:\n%s", s.h.role, tail(s.d.LogText(), 150), readFile(s.rc))
	}
	keep(t, s.log)
	keep(t, s.rc)
}

// client runs `sabre ipsec|ike -sock ... args...` as an operator would.
func (s *sabred) client(family string, args ...string) (string, error) {
	return s.d.Client(family, args...)
}

// sabreSA is an SA of `sabre ipsec netstat -c -j`.
type sabreSA struct {
	SPI       uint32 `json:"spi"`
	Direction string `json:"direction"`
	Algorithm string `json:"algorithm"`
	Local     string `json:"local"`
	Remote    string `json:"remote"`
	Packets   uint64 `json:"packets"`
	Encap     any    `json:"encap"`
}

// sas returns the daemon's SAs.
func (s *sabred) sas(t *testing.T) []sabreSA {
	t.Helper()
	out, err := s.client("ipsec", "netstat", "-c", "-j")
	if err != nil {
		t.Fatalf("sabre ipsec netstat -c -j in %s: %v\n%s", s.h.role, err, out)
	}
	var ns struct {
		Sessions []struct {
			Name string    `json:"name"`
			SAs  []sabreSA `json:"sas"`
		} `json:"sessions"`
	}
	if err := json.Unmarshal([]byte(out), &ns); err != nil {
		t.Fatalf("netstat JSON: %v\n%s", err, out)
	}
	var sas []sabreSA
	for _, x := range ns.Sessions {
		sas = append(sas, x.SAs...)
	}
	return sas
}

// checkSAs checks that Sabre's ESP SAs are the strongSwan child's, crossed:
// Sabre's outbound SPI is strongSwan's inbound one and the other way round,
// both UDP-encapsulated; it returns the packets of Sabre's inbound SA.
func (s *sabred) checkSAs(t *testing.T, sw swanSAs) uint64 {
	t.Helper()
	sas := s.sas(t)
	var in, out *sabreSA
	for i := range sas {
		spi := fmt.Sprintf("%08x", sas[i].SPI)
		switch {
		case sas[i].Direction == "inbound" && spi == sw.spiOut:
			in = &sas[i]
		case sas[i].Direction == "outbound" && spi == sw.spiIn:
			out = &sas[i]
		}
	}
	text, _ := s.client("ipsec", "netstat", "-c")
	if in == nil || out == nil {
		t.Fatalf("Sabre's SAs in %s are not strongSwan's (strongSwan in %s out %s):\n%s", s.h.role, sw.spiIn, sw.spiOut, text)
	}
	if in.Encap == nil || out.Encap == nil {
		t.Errorf("Sabre's SAs in %s are not UDP-encapsulated (libipsec sends ESP only in UDP):\n%s", s.h.role, text)
	}
	t.Logf("sabre ipsec netstat -c in %s:\n%s", s.h.role, text)
	return in.Packets
}

// waitNoSAs waits until the daemon has removed every SA.
func (s *sabred) waitNoSAs(t *testing.T, within time.Duration) {
	t.Helper()
	deadline := time.Now().Add(within)
	for len(s.sas(t)) > 0 {
		if time.Now().After(deadline) {
			out, _ := s.client("ipsec", "netstat", "-c")
			t.Fatalf("Sabre in %s still has SAs %v after strongSwan deleted the IKE SA:\n%s", s.h.role, within, out)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// ikeSA is an IKE SA of `sabre ike netstat -p 3 -j`.
type ikeSA struct {
	SPIi, SPIr  string
	Initiator   bool
	Remote      string
	Local, Peer string
	State       string
	NAT         string
	Algorithms  string
	Children    []struct {
		SPIIn     string `json:"spi_in"`
		SPIOut    string `json:"spi_out"`
		Algorithm string `json:"algorithm"`
	}
}

// ikeNetstat is `sabre ike netstat -p 3 -j`; ok is false if the command
// failed (logged).
func (s *sabred) ikeNetstat(t *testing.T) (sas []ikeSA, counters map[string]uint64, ok bool) {
	t.Helper()
	out, err := s.client("ike", "netstat", "-p", "3", "-j")
	if err != nil {
		t.Logf("sabre ike netstat -p 3 -j in %s: %v\n%s", s.h.role, err, out)
		return nil, nil, false
	}
	var v struct {
		SAs      []ikeSA           `json:"ike_sas"`
		Counters map[string]uint64 `json:"counters"`
	}
	if err := json.Unmarshal([]byte(out), &v); err != nil {
		t.Errorf("sabre ike netstat -p 3 -j in %s: %v\n%s", s.h.role, err, out)
		return nil, nil, false
	}
	return v.SAs, v.Counters, true
}

// checkIKE checks `sabre ike netstat`: one ESTABLISHED IKE SA of the
// remote "sw" with the peer on port 4500, the NAT as Sabre should see it
// (one of wantNAT), and strongSwan's child under it.
func (s *sabred) checkIKE(t *testing.T, sw swanSAs, initiator bool, wantNAT ...string) {
	t.Helper()
	sas, _, ok := s.ikeNetstat(t)
	if !ok {
		return
	}
	text, _ := s.client("ike", "netstat")
	t.Logf("sabre ike netstat in %s:\n%s", s.h.role, text)
	var est []ikeSA
	for _, sa := range sas {
		if sa.State == "ESTABLISHED" {
			est = append(est, sa)
		}
	}
	if len(est) != 1 {
		t.Errorf("sabre ike netstat: %d ESTABLISHED IKE SAs, want 1", len(est))
		return
	}
	sa := est[0]
	if sa.Remote != "sw" || sa.Initiator != initiator || !strings.HasSuffix(sa.Peer, ":4500") || !slices.Contains(wantNAT, sa.NAT) {
		t.Errorf("sabre ike netstat: remote %q initiator %v peer %s NAT %q, want sw, %v, port 4500, one of %q",
			sa.Remote, sa.Initiator, sa.Peer, sa.NAT, initiator, wantNAT)
	}
	found := false
	for _, c := range sa.Children {
		found = found || c.SPIIn == sw.spiOut && c.SPIOut == sw.spiIn
	}
	if !found {
		t.Errorf("sabre ike netstat: the IKE SA has no child with strongSwan's SPIs (in %s out %s)", sw.spiOut, sw.spiIn)
	}
}

// sabreRemote is the ike_rc of a Sabre end toward a strongSwan peer for a
// case: `ike remote sw` (with extra options, if any) and one tunnel policy
// negotiated by it.
func sabreRemote(c ikeCase, me, peer *host, peerAddr netip.Addr, pskFile string, initiate bool, extra ...string) string {
	var b strings.Builder
	fmt.Fprintf(&b, "# Sabre %s toward strongSwan, %s\n", map[bool]string{true: "initiator", false: "responder"}[initiate], c.name)
	w := ""
	if initiate {
		w = " -w"
	}
	fmt.Fprintf(&b, "ike remote -n sw -z 2%s -u %s -m PresharedKey -h %s -r %v -f ipv4:%v -g ipv4:%v",
		w, c.sabreIKE, pskFile, peerAddr, peer.outer, me.outer)
	for _, x := range extra {
		b.WriteString(" " + x)
	}
	b.WriteString("\n")
	fmt.Fprintf(&b, "ipsec policy -n p1 -g sw -t ESP %s -m tunnel -r %v -s %v -d %v\n", c.sabreESP, peerAddr, me.subnet, peer.subnet)
	return b.String()
}

// writePSK writes the PSK file (mode 0600, as Sabre demands).
func writePSK(t *testing.T, h *host, psk string) string {
	t.Helper()
	p := filepath.Join(h.dir, "psk")
	if err := os.WriteFile(p, []byte(psk+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}
