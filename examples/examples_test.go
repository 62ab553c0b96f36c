// Package examples holds example configurations; this test loads each.
package examples

import (
	"io"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/sabre-ipsec/sabre/cli"
	"github.com/sabre-ipsec/sabre/header"
	"github.com/sabre-ipsec/sabre/ike"
	"github.com/sabre-ipsec/sabre/ipsec"
	"github.com/sabre-ipsec/sabre/ipsec/messaging"
	"github.com/sabre-ipsec/sabre/pktbuf"
	"github.com/sabre-ipsec/sabre/sad"
	"github.com/sabre-ipsec/sabre/spd"
)

// pairs are the two-sided examples: each file of a pair is the mirror
// image of the other.
var pairs = []struct {
	dir, a, b string
	addrA     netip.Addr
	addrB     netip.Addr
}{
	{"site-to-site", "west.ike_rc", "east.ike_rc", netip.MustParseAddr("192.0.2.1"), netip.MustParseAddr("192.0.2.2")},
	{"host-to-host", "alice.ike_rc", "bob.ike_rc", netip.MustParseAddr("192.0.2.1"), netip.MustParseAddr("192.0.2.2")},
	{"manual-keys", "west.ike_rc", "east.ike_rc", netip.MustParseAddr("192.0.2.1"), netip.MustParseAddr("192.0.2.2")},
}

// side is one loaded example file.
type side struct {
	policies []*spd.Policy // the file's (without the engine's bypass policies)
	remotes  []ike.Remote
	engine   *ipsec.Engine
}

// load applies an example ike_rc file to a fresh engine and IKE daemon, as
// `sabre run -rc` does, with its PSK files (/etc/sabre/...) read from a
// private copy of the example's key.
func load(t *testing.T, dir, name string, local netip.Addr) side {
	t.Helper()
	text, err := os.ReadFile(filepath.Join(dir, name))
	if err != nil {
		t.Fatal(err)
	}
	rc := string(text)
	if strings.Contains(rc, "/etc/sabre/") {
		psk := filepath.Join(t.TempDir(), "example.psk")
		key, err := os.ReadFile(filepath.Join("site-to-site", "site.psk"))
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(psk, key, 0o600); err != nil {
			t.Fatal(err)
		}
		for _, f := range []string{"/etc/sabre/site.psk", "/etc/sabre/hosts.psk"} {
			rc = strings.ReplaceAll(rc, f, psk)
		}
	}
	path := filepath.Join(t.TempDir(), name)
	if err := os.WriteFile(path, []byte(rc), 0o600); err != nil {
		t.Fatal(err)
	}
	engine := ipsec.New(spd.NewDB(), sad.NewDB(), ipsec.Config{})
	t.Cleanup(engine.Close)
	localAddr := func(netip.Addr) (netip.Addr, error) { return local, nil }
	d, err := ike.New(ike.Config{
		Messaging: messaging.New(engine),
		Send:      func([]byte, netip.AddrPort, netip.AddrPort) error { return nil },
		LocalAddr: localAddr,
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(d.Close)
	env := &cli.Env{Engine: engine, LocalAddr: localAddr, IKE: d}
	if err := env.RunRC(path, io.Discard); err != nil {
		t.Fatalf("%s/%s: %v", dir, name, err)
	}
	return side{policies: engine.SPD().List(), remotes: d.Remotes(), engine: engine}
}

// TestExamples loads both files of every example and checks that they are
// mirror images: selectors, tunnel endpoints, identities and algorithms
// swapped or equal as a peer's must be, and at least one side initiates.
func TestExamples(t *testing.T) {
	for _, p := range pairs {
		t.Run(p.dir, func(t *testing.T) {
			a := load(t, p.dir, p.a, p.addrA)
			b := load(t, p.dir, p.b, p.addrB)
			if len(a.policies) == 0 || len(a.policies) != len(b.policies) {
				t.Fatalf("%s has %d policies, %s %d", p.a, len(a.policies), p.b, len(b.policies))
			}
			for i, pa := range a.policies {
				pb := b.policies[i]
				if pa.Src != pb.Dst || pa.Dst != pb.Src || pa.Mode != pb.Mode || pa.Proto != pb.Proto ||
					!slices.Equal(pa.ESPAlgorithms, pb.ESPAlgorithms) || !slices.Equal(pa.AHAlgorithms, pb.AHAlgorithms) {
					t.Errorf("policies are not mirror images:\n%s: %+v\n%s: %+v", p.a, pa, p.b, pb)
				}
				if pa.TunnelRemote != p.addrB || pb.TunnelRemote != p.addrA {
					t.Errorf("remote endpoints %v and %v, want %v and %v", pa.TunnelRemote, pb.TunnelRemote, p.addrB, p.addrA)
				}
			}
			if len(a.remotes) != len(b.remotes) {
				t.Fatalf("%s has %d IKE remotes, %s %d", p.a, len(a.remotes), p.b, len(b.remotes))
			}
			for i, ra := range a.remotes {
				rb := b.remotes[i]
				if ra.LocalID.String() != rb.RemoteID.String() || ra.RemoteID.String() != rb.LocalID.String() || ra.Address != p.addrB || rb.Address != p.addrA {
					t.Errorf("remotes are not mirror images: %+v / %+v", ra, rb)
				}
				if !slices.Equal(ra.Encr, rb.Encr) || !slices.Equal(ra.PRF, rb.PRF) || !slices.Equal(ra.Groups, rb.Groups) {
					t.Errorf("remotes propose different algorithms: %+v / %+v", ra, rb)
				}
				if !ra.Initiate && !rb.Initiate || !ra.Accept || !rb.Accept {
					t.Errorf("remotes: initiate %v/%v accept %v/%v: one must initiate and both accept", ra.Initiate, rb.Initiate, ra.Accept, rb.Accept)
				}
			}
		})
	}
}

// TestManualKeysMirror checks the manual-keys example end to end: a packet
// that west's engine secures is opened by east's.
func TestManualKeysMirror(t *testing.T) {
	west := load(t, "manual-keys", "west.ike_rc", netip.MustParseAddr("192.0.2.1"))
	east := load(t, "manual-keys", "east.ike_rc", netip.MustParseAddr("192.0.2.2"))
	roundTrip(t, west.engine, east.engine, netip.MustParseAddr("10.201.1.5"), netip.MustParseAddr("10.201.2.7"))
	roundTrip(t, east.engine, west.engine, netip.MustParseAddr("10.201.2.7"), netip.MustParseAddr("10.201.1.5"))
}

// roundTrip secures a UDP packet from src to dst with from and opens it
// with to, which must give back the packet.
func roundTrip(t *testing.T, from, to *ipsec.Engine, src, dst netip.Addr) {
	t.Helper()
	const payload = "through the example tunnel"
	b := pktbuf.DefaultPool.Get()
	defer pktbuf.DefaultPool.Put(b)
	l := header.IPv4MinLen + header.UDPLen + len(payload)
	p := b.Append(l)
	header.IPv4(p).Encode(&header.IPv4Fields{TotalLength: l, TTL: 64, Protocol: header.ProtoUDP, Src: src, Dst: dst})
	header.UDP(p[header.IPv4MinLen:]).Encode(1000, 2000, header.UDPLen+len(payload))
	copy(p[header.IPv4MinLen+header.UDPLen:], payload)
	inner := slices.Clone(b.Bytes())
	if res, err := from.Encapsulate(b); err != nil || res != ipsec.SecureTunnel {
		t.Fatalf("Encapsulate %v -> %v: %v, %v; want SecureTunnel", src, dst, res, err)
	}
	if res, err := to.Decapsulate(b); err != nil || res != ipsec.SecureTunnel {
		t.Fatalf("Decapsulate %v -> %v: %v, %v; want SecureTunnel", src, dst, res, err)
	}
	if !slices.Equal(b.Bytes(), inner) {
		t.Errorf("opened packet differs from the one secured")
	}
}

// TestExamplesCheck runs `sabre run -check -rc FILE` on every example
// file, as an operator would before installing it (the PSK paths point at
// a private copy of the example key).
func TestExamplesCheck(t *testing.T) {
	if testing.Short() {
		t.Skip("builds sabre")
	}
	bin := filepath.Join(t.TempDir(), "sabre")
	if out, err := exec.Command("go", "build", "-o", bin, "github.com/sabre-ipsec/sabre/cmd/sabre").CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	files, err := filepath.Glob("*/*.ike_rc")
	if err != nil || len(files) < 6 {
		t.Fatalf("example files: %v, %v", files, err)
	}
	key, err := os.ReadFile(filepath.Join("site-to-site", "site.psk"))
	if err != nil {
		t.Fatal(err)
	}
	psk := filepath.Join(t.TempDir(), "example.psk")
	if err := os.WriteFile(psk, key, 0o600); err != nil {
		t.Fatal(err)
	}
	for _, f := range files {
		text, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		rc := strings.NewReplacer("/etc/sabre/site.psk", psk, "/etc/sabre/hosts.psk", psk).Replace(string(text))
		path := filepath.Join(t.TempDir(), filepath.Base(f))
		if err := os.WriteFile(path, []byte(rc), 0o600); err != nil {
			t.Fatal(err)
		}
		out, err := exec.Command(bin, "run", "-check", "-rc", path).CombinedOutput()
		if err != nil || !strings.Contains(string(out), ": OK: ") {
			t.Errorf("sabre run -check -rc %s: %v\n%s", f, err, out)
		}
	}
}
