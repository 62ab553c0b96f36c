package cli

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math"
	"net/netip"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/sabre-ipsec/sabre/ike"
	"github.com/sabre-ipsec/sabre/internal/testutil/packet"
	"github.com/sabre-ipsec/sabre/ipsec"
	"github.com/sabre-ipsec/sabre/ipsec/messaging"
	"github.com/sabre-ipsec/sabre/pktbuf"
	"github.com/sabre-ipsec/sabre/sad"
	"github.com/sabre-ipsec/sabre/spd"
	"github.com/sabre-ipsec/sabre/xe"
)

// ikeNet carries IKE messages between in-process sites.
type ikeNet struct {
	mu     sync.Mutex
	sites  map[netip.Addr]*ikeSite
	wg     sync.WaitGroup
	closed bool
}

// ikeSite is a host: an engine, an IKE daemon and the Env over them.
type ikeSite struct {
	addr netip.Addr
	env  *Env
	out  chan *pktbuf.Buffer // packets the engine sent itself (queued during negotiation)
	rc   string
}

func (n *ikeNet) send(b []byte, from, to netip.AddrPort) error {
	n.mu.Lock()
	defer n.mu.Unlock()
	s := n.sites[to.Addr()]
	if s == nil || n.closed {
		return fmt.Errorf("no host %v", to)
	}
	b = bytes.Clone(b)
	n.wg.Add(1)
	go func() { defer n.wg.Done(); s.env.IKE.HandleMessage(b, to, from) }()
	return nil
}

var quietLog = slog.New(slog.NewTextHandler(io.Discard, nil))

// newIKESite starts a site at addr that runs the ike_rc text rc.
func newIKESite(t *testing.T, n *ikeNet, addr, rc string) *ikeSite {
	t.Helper()
	s := &ikeSite{addr: netip.MustParseAddr(addr), out: make(chan *pktbuf.Buffer, 64)}
	e := ipsec.New(spd.NewDB(), sad.NewDB(), ipsec.Config{Output: func(b *pktbuf.Buffer) { s.out <- b }})
	local := func(netip.Addr) (netip.Addr, error) { return s.addr, nil }
	d, err := ike.New(ike.Config{Messaging: messaging.New(e), Send: n.send, Log: quietLog, LocalAddr: local})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		n.mu.Lock()
		n.closed = true
		n.mu.Unlock()
		n.wg.Wait()
		d.Close()
		e.Close()
	})
	s.env = &Env{Engine: e, LocalAddr: local, IKE: d}
	s.rc = writeRC(t, "ike_rc", rc)
	if err := s.env.RunRC(s.rc, io.Discard); err != nil {
		t.Fatal(err)
	}
	n.mu.Lock()
	n.sites[s.addr] = s
	n.mu.Unlock()
	return s
}

// pskFile writes a PSK file readable by its owner only.
func pskFile(t *testing.T, key string) string {
	t.Helper()
	f := filepath.Join(t.TempDir(), "psk")
	if err := os.WriteFile(f, []byte(key+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	return f
}

// rcA and rcB are the two sites' ike_rc files: a tunnel 10.1.0.0/24 --
// 10.2.0.0/24 between 192.0.2.1 (initiator) and 192.0.2.2, keyed by IKE.
func rcA(psk string) string {
	return "ike remote -n b -z 2 -w -u -e AES128-GCM16 -p PRFSHA256 -d ECP256 -m PresharedKey -h " + psk +
		" -r 192.0.2.2 -f ipv4:192.0.2.2 -g ipv4:192.0.2.1\n" +
		"ipsec policy -n tun -g b -m tunnel -t ESP -e AES128-GCM16 -r 192.0.2.2 -s 10.1.0.0/24 -d 10.2.0.0/24\n"
}

func rcB(psk string) string {
	return "ike remote -n a -z 2 -u -e AES128-GCM16 -p PRFSHA256 -d ECP256 -m PresharedKey -h " + psk +
		" -f ipv4:192.0.2.1 -g ipv4:192.0.2.2\n" +
		"ipsec policy -n tun -g a -m tunnel -t ESP -e AES128-GCM16 -r 192.0.2.1 -s 10.2.0.0/24 -d 10.1.0.0/24\n"
}

func udpPacket(src, dst string, payload string) *pktbuf.Buffer {
	return packet.UDPBuffer(netip.AddrPortFrom(netip.MustParseAddr(src), 1000), netip.AddrPortFrom(netip.MustParseAddr(dst), 2000), []byte(payload))
}

// tunnelUp starts the tunnel with a first packet from A and returns once
// B has decapsulated it.
func tunnelUp(t *testing.T, a, b *ikeSite) {
	t.Helper()
	if res, err := a.env.Engine.Encapsulate(udpPacket("10.1.0.5", "10.2.0.9", "first")); res != ipsec.Pending {
		t.Fatalf("first packet: %v %v", res, err)
	}
	select {
	case sent := <-a.out:
		if res, err := b.env.Engine.Decapsulate(sent); res != ipsec.SecureTunnel {
			t.Fatalf("B decapsulates the first packet: %v %v", res, err)
		}
	case <-time.After(20 * time.Second):
		t.Fatalf("no tunnel after 20 s: A %+v B %+v", a.env.IKE.Status(), b.env.IKE.Status())
	}
}

// roundTrip sends one packet each way and reports what went wrong.
func roundTrip(a, b *ikeSite, i int) error {
	p := udpPacket("10.1.0.5", "10.2.0.9", fmt.Sprint("ping ", i))
	if res, err := a.env.Engine.Encapsulate(p); res != ipsec.SecureTunnel {
		return fmt.Errorf("packet %d: A encapsulates: %v %v", i, res, err)
	}
	if res, err := b.env.Engine.Decapsulate(p); res != ipsec.SecureTunnel {
		return fmt.Errorf("packet %d: B decapsulates: %v %v", i, res, err)
	}
	q := udpPacket("10.2.0.9", "10.1.0.5", fmt.Sprint("pong ", i))
	if res, err := b.env.Engine.Encapsulate(q); res != ipsec.SecureTunnel {
		return fmt.Errorf("packet %d: B encapsulates: %v %v", i, res, err)
	}
	if res, err := a.env.Engine.Decapsulate(q); res != ipsec.SecureTunnel {
		return fmt.Errorf("packet %d: A decapsulates: %v %v", i, res, err)
	}
	return nil
}

// snapshot is what a reload of an unchanged file must leave as it is.
type snapshot struct {
	policies []*spd.Policy
	sas      []*sad.SA
	ikeSAs   []string
	remotes  []string
}

func snap(s *ikeSite) snapshot {
	var sn snapshot
	sn.policies = s.env.Engine.SPD().List()
	sn.sas = s.env.Engine.SAD().All()
	slices.SortFunc(sn.sas, func(a, b *sad.SA) int { return int(a.SPI()) - int(b.SPI()) })
	for _, st := range s.env.IKE.Status() {
		sn.ikeSAs = append(sn.ikeSAs, st.SPIi+"/"+st.SPIr+"/"+st.State)
	}
	for _, r := range s.env.IKE.Remotes() {
		sn.remotes = append(sn.remotes, strings.Join(RemoteArgs(&r), " "))
	}
	slices.Sort(sn.remotes)
	return sn
}

func (a snapshot) equal(b snapshot) bool {
	return slices.Equal(a.policies, b.policies) && slices.Equal(a.sas, b.sas) &&
		slices.Equal(a.ikeSAs, b.ikeSAs) && slices.Equal(a.remotes, b.remotes)
}

// TestReloadKeepsTunnel: SIGHUP's reload of an unchanged ike_rc with an
// `ike remote` line changes nothing — the same policies, SAs, IKE SAs and
// remotes — and packets keep flowing through the tunnel both ways while
// both sites reload again and again. (It failed with "a remote of that
// name exists", and every policy and SA was gone.)
func TestReloadKeepsTunnel(t *testing.T) {
	n := &ikeNet{sites: map[netip.Addr]*ikeSite{}}
	psk := pskFile(t, "correct horse battery staple")
	a := newIKESite(t, n, "192.0.2.1", rcA(psk))
	b := newIKESite(t, n, "192.0.2.2", rcB(psk))
	tunnelUp(t, a, b)
	beforeA, beforeB := snap(a), snap(b)

	// Traffic runs while the sites reload. One goroutine sends: two
	// senders on one SA reorder packets, and a packet delayed past the
	// replay window (a preempted sender while the other runs on) is taken
	// by RFC 4303 Appendix A2.2 for the next ESN epoch and fails its ICV —
	// right for the receiver, a flake for the test.
	var failures atomic.Int64
	var firstErr atomic.Value
	stop := make(chan bool)
	sent := make(chan int)
	started := make(chan bool)
	go func() {
		i := 0
		defer func() { sent <- i }()
		for {
			if i == 1 {
				close(started)
			}
			select {
			case <-stop:
				return
			default:
			}
			if err := roundTrip(a, b, i); err != nil {
				failures.Add(1)
				firstErr.CompareAndSwap(nil, err.Error())
			}
			i++
		}
	}()
	<-started // a round trip has crossed; the reloads run under traffic
	for range 10 {
		for _, s := range []*ikeSite{a, b} {
			var out strings.Builder
			if err := s.env.ReloadRC(s.rc, &out); err != nil {
				t.Fatalf("reload of %v: %v", s.addr, err)
			}
			if !strings.Contains(out.String(), "reloaded: 2 parts unchanged, 0 changed, 0 added, 0 removed") {
				t.Errorf("reload output: %q", out.String())
			}
		}
	}
	close(stop)
	packets := <-sent
	// The tunnel still carries packets after the reloads.
	for range 50 {
		if err := roundTrip(a, b, -1); err != nil {
			t.Fatal(err)
		}
	}
	if f := failures.Load(); f > 0 {
		t.Errorf("%d of %d round trips failed across the reloads; first: %v", f, packets, firstErr.Load())
	}
	if after := snap(a); !after.equal(beforeA) {
		t.Errorf("A changed across the reloads:\nbefore %+v\nafter  %+v", beforeA, after)
	}
	if after := snap(b); !after.equal(beforeB) {
		t.Errorf("B changed across the reloads:\nbefore %+v\nafter  %+v", beforeB, after)
	}
	t.Logf("%d round trips during 20 reloads, none lost", packets)

	// A changed PSK file replaces the remote (its IKE SA goes, and its
	// Child SAs with it) but not the policy; the new key is used.
	if err := os.WriteFile(psk, []byte("another key\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	pol := a.env.Engine.SPD().ByName("tun")
	var out strings.Builder
	if err := a.env.ReloadRC(a.rc, &out); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(out.String(), "reloaded: 1 part unchanged, 1 changed, 0 added, 0 removed") ||
		!strings.Contains(out.String(), "1 IKE SA deleted") {
		t.Errorf("reload with a new PSK: %q", out.String())
	}
	if a.env.Engine.SPD().ByName("tun") != pol {
		t.Error("the unchanged policy was replaced")
	}
	if st := a.env.IKE.Status(); len(st) != 0 {
		t.Errorf("IKE SAs of the replaced remote left: %+v", st)
	}
	// B reloads the new key too, and the tunnel comes back.
	if err := b.env.ReloadRC(b.rc, io.Discard); err != nil {
		t.Fatal(err)
	}
	// B may still hold the Child SAs until A's Delete arrives; wait for
	// them to go so that the next packet negotiates afresh.
	deadline := time.Now().Add(10 * time.Second)
	for len(b.env.IKE.Status()) > 0 || b.env.Engine.SAD().Len() > 0 {
		if time.Now().After(deadline) {
			t.Fatalf("B keeps SAs: %+v", b.env.IKE.Status())
		}
		time.Sleep(5 * time.Millisecond)
	}
	tunnelUp(t, a, b)
	if err := roundTrip(a, b, 0); err != nil {
		t.Fatal(err)
	}
}

// TestReloadDiff: without IKE, an unchanged part keeps its policy and SAs
// (the same objects), a changed one is replaced, a removed one deleted,
// a new one added; a reload that fails leaves the configuration as it was
// and says so.
func TestReloadDiff(t *testing.T) {
	env, _ := newEnv(t)
	path := writeRC(t, "ike_rc", rcGood)
	if err := env.RunRC(path, io.Discard); err != nil {
		t.Fatal(err)
	}
	spdb := env.Engine.SPD()
	p1, p2, m1 := spdb.ByName("p1"), spdb.ByName("p2"), spdb.ByName("m1")
	sas := env.Engine.SAD().All()

	var out strings.Builder
	if err := env.ReloadRC(path, &out); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(out.String(), "reloaded: 5 parts unchanged, 0 changed, 0 added, 0 removed") {
		t.Errorf("output %q", out.String())
	}
	if spdb.ByName("p1") != p1 || spdb.ByName("p2") != p2 || spdb.ByName("m1") != m1 || !slices.Equal(env.Engine.SAD().All(), sas) {
		t.Error("an unchanged reload replaced policies or SAs")
	}

	// p2 changes (tcp -> any), p3 goes, p4 comes.
	next := strings.Replace(rcGood, "policy -n p2 -g mongo -p tcp", "policy -n p2 -g mongo -p any", 1)
	next = strings.Replace(next, "policy -n p3 -b bypass -s any -d any -l 7\n", "policy -n p4 -b drop -s 10.4.0.0/16 -d any\n", 1)
	nextPath := writeRC(t, "next", next)
	out.Reset()
	if err := env.ReloadRC(nextPath, &out); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(out.String(), "reloaded: 3 parts unchanged, 1 changed, 1 added, 1 removed") {
		t.Errorf("output %q", out.String())
	}
	if spdb.ByName("p1") != p1 || spdb.ByName("m1") != m1 || !slices.Equal(env.Engine.SAD().All(), sas) {
		t.Error("unchanged parts were touched")
	}
	if p := spdb.ByName("p2"); p == p2 || p == nil || p.Proto != 0 {
		t.Errorf("p2 not replaced: %+v", p)
	}
	if got := policyNames(env); !slices.Equal(got, []string{"m1", "p1", "p2", "p4"}) {
		t.Errorf("policies %v", got)
	}

	// A reload that the SPD refuses (p5 selects the traffic of a console
	// policy) is found on a copy of the SPD: nothing is touched.
	mustRun(t, env, "ipsec policy -n console -b drop -s 10.5.0.0/16 -d any")
	p2b, p4 := spdb.ByName("p2"), spdb.ByName("p4")
	bad := strings.Replace(next, "policy -n p2 -g mongo -p any", "policy -n p2 -g mongo -p icmp", 1) +
		"policy -n p5 -b drop -s 10.5.0.0/16 -d any\n"
	badPath := writeRC(t, "bad", bad)
	err := env.ReloadRC(badPath, &out)
	wantErr(t, "refused reload", err, 0, fmt.Sprintf("%s:%d: ", badPath, strings.Count(bad, "\n")), "selects the same traffic", badPath+": nothing changed")
	if spdb.ByName("p1") != p1 || spdb.ByName("m1") != m1 || spdb.ByName("p2") != p2b || spdb.ByName("p4") != p4 || !slices.Equal(env.Engine.SAD().All(), sas) {
		t.Error("a refused reload touched the configuration")
	}

	// So is one the SAD would refuse (an SA whose SPI m1's SAs use).
	bad = strings.Replace(next, "policy -n p2 -g mongo -p any", "policy -n p2 -g mongo -p icmp", 1) +
		"ipsec addsa -n m9 -s 10.9.9.0/24 -d 10.8.8.0/24 -m tunnel -r 192.0.2.1 -e aes128gcm16 " +
		"-f 000102030405060708090a0b0c0d0e0f10111213 -g 000102030405060708090a0b0c0d0e0f10111214 -w 0x1001 -x 0x1002\n"
	badPath = writeRC(t, "bad2", bad)
	err = env.ReloadRC(badPath, &out)
	wantErr(t, "SPI in use", err, xe.Exist, fmt.Sprintf("%s:%d: ipsec addsa: SPI 0x1001 (ESP to 10.0.0.77) is in use by an SA of policy %d", badPath, strings.Count(bad, "\n"), m1.ID),
		badPath+": nothing changed")
	if spdb.ByName("p1") != p1 || spdb.ByName("m1") != m1 || spdb.ByName("p2") != p2b || spdb.ByName("p4") != p4 || !slices.Equal(env.Engine.SAD().All(), sas) {
		t.Error("a refused reload touched the configuration")
	}

	// What the check cannot foresee (here the local address, found the
	// first time and not the second) fails after p2 was replaced: p2 is
	// applied again as the previous file had it, the rest is untouched.
	calls := 0
	env.LocalAddr = func(remote netip.Addr) (netip.Addr, error) {
		if calls++; calls > 1 {
			return netip.Addr{}, errors.New("no route")
		}
		return testLocal(remote)
	}
	bad = strings.Replace(next, "policy -n p2 -g mongo -p any", "policy -n p2 -g mongo -p icmp", 1) +
		"policy -n t1 -e aes128gcm16 -m tunnel -r 192.0.2.9 -s 10.6.0.0/16 -d 10.7.0.0/16\n"
	badPath = writeRC(t, "bad3", bad)
	err = env.ReloadRC(badPath, &out)
	env.LocalAddr = testLocal
	wantErr(t, "failing reload", err, 0, fmt.Sprintf("%s:%d: ", badPath, strings.Count(bad, "\n")), "no route",
		"reload failed; the previous configuration is in place: 4 parts were not touched, 1 changed or removed parts were applied again from the previous file")
	if spdb.ByName("p1") != p1 || spdb.ByName("m1") != m1 || spdb.ByName("p4") != p4 || !slices.Equal(env.Engine.SAD().All(), sas) {
		t.Error("a failed reload touched unchanged parts")
	}
	if p := spdb.ByName("p2"); p == nil || p == p2b || p.Proto != 0 {
		t.Errorf("p2 not restored as the previous file had it: %+v", p)
	}
	if got := policyNames(env); !slices.Equal(got, []string{"console", "m1", "p1", "p2", "p4"}) {
		t.Errorf("policies after the failed reload %v", got)
	}
	// The restored p2 is tracked: the next good reload replaces it.
	if err := env.ReloadRC(path, io.Discard); err != nil {
		t.Fatal(err)
	}
	if p := spdb.ByName("p2"); p == nil || p.Proto != 6 {
		t.Errorf("p2 after reloading the first file: %+v", p)
	}
}

// TestIKEReload: `ike reload` deletes every IKE SA and remote and re-reads
// the ike_rc; a file with errors stops it before anything is flushed.
func TestIKEReload(t *testing.T) {
	n := &ikeNet{sites: map[netip.Addr]*ikeSite{}}
	psk := pskFile(t, "correct horse battery staple")
	a := newIKESite(t, n, "192.0.2.1", rcA(psk))
	b := newIKESite(t, n, "192.0.2.2", rcB(psk))
	tunnelUp(t, a, b)
	mustRun(t, a.env, "ike remote -n extra -u -e AES128-GCM16 -p PRFSHA256 -d ECP256 -m PSK -h "+psk)

	good, err := os.ReadFile(a.rc)
	if err != nil {
		t.Fatal(err)
	}
	os.WriteFile(a.rc, []byte("ipsec bogus\n"), 0o600)
	_, err = run(t, a.env, "ike reload")
	wantErr(t, "ike reload of a bad file", err, 0, a.rc+":1: ipsec: unknown command", "nothing changed")
	if len(a.env.IKE.Status()) != 1 || len(a.env.IKE.Remotes()) != 2 {
		t.Errorf("a refused ike reload flushed: %+v, %d remotes", a.env.IKE.Status(), len(a.env.IKE.Remotes()))
	}

	os.WriteFile(a.rc, good, 0o600)
	out := mustRun(t, a.env, "ike reload")
	if !strings.Contains(out, "ike reload: 1 IKE SA and 2 remotes deleted, "+a.rc+" re-read") {
		t.Errorf("ike reload output %q", out)
	}
	if rs := a.env.IKE.Remotes(); len(rs) != 1 || rs[0].Name != "b" || len(a.env.IKE.Status()) != 0 {
		t.Errorf("after ike reload: remotes %+v, IKE SAs %+v", rs, a.env.IKE.Status())
	}
	// The tunnel comes back with the re-read remote.
	deadline := time.Now().Add(10 * time.Second)
	for len(b.env.IKE.Status()) > 0 || b.env.Engine.SAD().Len() > 0 {
		if time.Now().After(deadline) {
			t.Fatalf("B keeps SAs: %+v", b.env.IKE.Status())
		}
		time.Sleep(5 * time.Millisecond)
	}
	tunnelUp(t, a, b)
	if _, err := ParseRC(strings.NewReader("ike reload\n"), "rc"); err == nil || !strings.Contains(err.Error(), "not allowed in an ike_rc") {
		t.Errorf("ike reload in an ike_rc: %v", err)
	}
}

// TestIKEFlushAndVersions: -p is checked (1 and 2 are IKEv1's phases,
// not taken for IKEv2), and ike flush says what it deleted.
func TestIKEFlushAndVersions(t *testing.T) {
	n := &ikeNet{sites: map[netip.Addr]*ikeSite{}}
	psk := pskFile(t, "correct horse battery staple")
	a := newIKESite(t, n, "192.0.2.1", rcA(psk))
	b := newIKESite(t, n, "192.0.2.2", rcB(psk))
	for _, line := range []string{"ike flush -p 1", "ike flush -p 2", "ike netstat -p 1", "ike netstat -p 2"} {
		_, err := run(t, a.env, line)
		wantErr(t, line, err, 0, "IKEv1 is not in this build (IKEv2 SAs are -p 3)")
	}
	_, err := run(t, a.env, "ike flush -p 4")
	wantErr(t, "-p 4", err, 0, `-p "4": want 3`)
	_, err = run(t, a.env, "ike flush -n b")
	wantErr(t, "-n without -r", err, 0, "-n is for use with -r")
	_, err = run(t, a.env, "ike flush -r -n nosuch")
	wantErr(t, "unknown remote", err, 0, "ike flush -r -n nosuch: no remote of that name")

	tunnelUp(t, a, b)
	if out := mustRun(t, a.env, "ike flush -p 3"); out != "ike flush: 1 IKE SA deleted\n" {
		t.Errorf("ike flush -p 3: %q", out)
	}
	mustRun(t, a.env, "ike remote -n extra -u -e AES128-GCM16 -p PRFSHA256 -d ECP256 -m PSK -h "+psk)
	if out := mustRun(t, a.env, "ike flush -r -n extra"); out != "ike flush: 1 remote deleted\n" {
		t.Errorf("ike flush -r -n extra: %q", out)
	}
	if out := mustRun(t, a.env, "ike flush"); out != "ike flush: 0 IKE SAs and 1 remote deleted\n" {
		t.Errorf("ike flush: %q", out)
	}
	mustRun(t, a.env, "ike remote -n x1 -u -e AES128-GCM16 -p PRFSHA256 -d ECP256 -m PSK -h "+psk)
	mustRun(t, a.env, "ike remote -n x2 -u -e AES128-GCM16 -p PRFSHA256 -d ECP256 -m PSK -h "+psk)
	if out := mustRun(t, a.env, "ike remote -x ALLREMOTES"); out != "2 remotes deleted\n" {
		t.Errorf("ike remote -x ALLREMOTES: %q", out)
	}
	if rs := a.env.IKE.Remotes(); len(rs) != 0 {
		t.Errorf("remotes left: %+v", rs)
	}
	// help is static text.
	if out := mustRun(t, a.env, "ike help"); !strings.HasPrefix(out, "ike - IKEv2 commands") {
		t.Errorf("ike help: %q", out)
	}
	for _, args := range [][]string{{"ike", "help"}, {"ipsec", "help"}, {"ipsec", "help", "addsa"}, {"ike", "flush", "--help"}} {
		if text, ok := Help(args); !ok || text == "" {
			t.Errorf("Help(%q): %v", args, ok)
		}
	}
	if _, ok := Help([]string{"ipsec", "netstat"}); ok {
		t.Error("Help took ipsec netstat for a help request")
	}
}

// TestReloadRefusesRemoteTwice: two remotes of one name in an ike_rc are
// an error at check time.
func TestReloadRefusesRemoteTwice(t *testing.T) {
	line := "ike remote -n x -u -e AES128-GCM16 -p PRFSHA256 -d ECP256 -m PSK -h f\n"
	_, err := ParseRC(strings.NewReader(line+line), "rc")
	wantErr(t, "remote twice", err, 0, `rc:2: ike remote: -n "x": a remote of that name is added at line 1`)
}

// TestJoinLinesLinear: a 32k-line command (option continuation lines)
// is joined in memory linear in the file (it was quadratic: 2.7 GB), and
// oversized lines, commands and files are refused with clear errors.
//
// Linear is checked as a ratio: 4× the lines must cost about 4× the
// bytes (quadratic would be 16×), plus a bound per input byte. Each size
// is measured as the least of several runs, each between a GC and
// ReadMemStats, so allocations by the runtime or another goroutine in the
// process cannot push a measure up.
func TestJoinLinesLinear(t *testing.T) {
	rc := func(lines int) string {
		var b strings.Builder
		b.WriteString("ipsec policy -n big -b drop -s any -d any\n")
		for range lines {
			b.WriteString("    -x 0123456789abcdef\n")
		}
		return b.String()
	}
	joined := func(text string) uint64 {
		least := uint64(math.MaxUint64)
		for range 3 {
			var before, after runtime.MemStats
			runtime.GC()
			runtime.ReadMemStats(&before)
			lines, errs := joinLines(strings.NewReader(text), "rc")
			runtime.ReadMemStats(&after)
			if len(errs) != 0 || len(lines) != 1 {
				t.Fatalf("%d lines, errors %v", len(lines), errs)
			}
			least = min(least, after.TotalAlloc-before.TotalAlloc)
		}
		return least
	}
	small, large := rc(8<<10), rc(32<<10)
	allocSmall, allocLarge := joined(small), joined(large)
	if ratio := float64(allocLarge) / float64(allocSmall); ratio > 8 {
		t.Errorf("4× the lines allocated %.1f× the bytes (%d, then %d): not linear", ratio, allocSmall, allocLarge)
	}
	if limit := uint64(16 * len(large)); allocLarge > limit {
		t.Errorf("joining %d bytes allocated %d bytes (limit %d)", len(large), allocLarge, limit)
	}
	t.Logf("joined %d bytes with %d bytes allocated, %d bytes with %d", len(small), allocSmall, len(large), allocLarge)

	for _, tc := range []struct{ text, want string }{
		{"ipsec policy " + strings.Repeat("x", maxRCLine) + "\n", "rc:1: line longer than 65536 bytes"},
		{"ipsec policy -n a\n" + strings.Repeat("  -x "+strings.Repeat("y", 1000)+"\n", 1100), "rc:1: the command is longer than 1048576 bytes"},
		{"ipsec policy -n a -b drop -s " + strings.Repeat("z", 10000) + " -d any\n", "more bytes)"},
	} {
		_, err := ParseRC(strings.NewReader(tc.text), "rc")
		if err == nil || !strings.Contains(err.Error(), tc.want) || len(err.Error()) > 2*maxErrorText {
			msg := fmt.Sprint(err)
			t.Errorf("error %.200q (%d bytes), want %q", msg, len(msg), tc.want)
		}
	}
	// Only the first maxRCErrors errors are listed; the rest are counted.
	_, err := ParseRC(strings.NewReader(strings.Repeat("ipsec bogus\n", 250)), "rc")
	if err == nil || !strings.Contains(err.Error(), "rc: 150 more errors not shown") || strings.Count(err.Error(), "\n") > maxRCErrors+1 {
		t.Errorf("250 errors: %.300q", fmt.Sprint(err))
	}
	// A file past maxRCFile (an endless stream of comments) is refused
	// once it passes the limit.
	_, err = ParseRC(io.LimitReader(endless{}, maxRCFile+1<<20), "rc")
	if err == nil || !strings.Contains(err.Error(), "file larger than 67108864 bytes") {
		t.Errorf("huge file: %.300q", fmt.Sprint(err))
	}
}

// endless reads as comment lines forever.
type endless struct{}

func (endless) Read(p []byte) (int, error) {
	for i := range p {
		p[i] = '#'
		if i%1024 == 1023 {
			p[i] = '\n'
		}
	}
	return len(p), nil
}

// BenchmarkJoinLines32k measures joining a 32k-line command.
func BenchmarkJoinLines32k(b *testing.B) {
	var sb strings.Builder
	sb.WriteString("ipsec policy -n big -b drop -s any -d any\n")
	for range 32 << 10 {
		sb.WriteString("    -x 0123456789abcdef\n")
	}
	text := sb.String()
	b.ReportAllocs()
	b.SetBytes(int64(len(text)))
	for b.Loop() {
		joinLines(strings.NewReader(text), "rc")
	}
}

// TestDurationAndCountRanges: every duration and count option of the cli
// is range-checked and the error names the value (ike remote's -i/-l are
// tested in package ike).
func TestDurationAndCountRanges(t *testing.T) {
	env, _ := newEnv(t)
	for _, tc := range []struct{ line, want string }{
		{"ipsec policy -n a -e aes128gcm16 -m transport -s 10.0.0.1 -d 10.0.0.2 -k 1e10", `-k "1e10"`},
		{"ipsec policy -n a -e aes128gcm16 -m transport -s 10.0.0.1 -d 10.0.0.2 -k 9223372036854775808", `-k "9223372036854775808"`},
		{"ipsec policy -n a -e aes128gcm16 -m transport -s 10.0.0.1 -d 10.0.0.2 -k -5", `-k "-5"`},
		{"ipsec policy -n a -e aes128gcm16 -m transport -s 10.0.0.1 -d 10.0.0.2 -R 70000", `-R "70000"`},
		{"ipsec policy -n a -e aes128gcm16 -m transport -s 10.0.0.1 -d 10.0.0.2 -l 8", `-l "8"`},
		{"ipsec addsa -n a -e aes128gcm16 -m transport -s 10.0.0.1 -d 10.0.0.2 -r 10.0.0.2 -f 000102030405060708090a0b0c0d0e0f10111213 -g 000102030405060708090a0b0c0d0e0f10111214 -w 0x1001 -x 0x1002 -k 3000000000", `-k "3000000000"`},
		{"ike remote -n x -u -e AES128-GCM16 -p PRFSHA256 -d ECP256 -m PSK -h f -l 1e10", `-l "1e10"`},
		{"ike remote -n x -u -e AES128-GCM16 -p PRFSHA256 -d ECP256 -m PSK -h f -l 8h -l 9h", `"-l" given twice`},
	} {
		_, err := run(t, env, tc.line)
		wantErr(t, tc.line, err, 0, tc.want)
	}
}

// TestTunnelPacketPastWindow shows why TestReloadKeepsTunnel keeps one
// sender: a packet held while more than a replay window of others cross
// the same SA arrives below the window, is taken for the next ESN epoch
// (RFC 4303 Appendix A2.2) and fails its ICV. Two senders, one of them
// preempted between its Encapsulate and Decapsulate, did exactly that.
func TestTunnelPacketPastWindow(t *testing.T) {
	n := &ikeNet{sites: map[netip.Addr]*ikeSite{}}
	psk := pskFile(t, "correct horse battery staple")
	a := newIKESite(t, n, "192.0.2.1", rcA(psk))
	b := newIKESite(t, n, "192.0.2.2", rcB(psk))
	tunnelUp(t, a, b)
	held := udpPacket("10.2.0.9", "10.1.0.5", "held")
	if res, err := b.env.Engine.Encapsulate(held); res != ipsec.SecureTunnel {
		t.Fatalf("B encapsulates: %v %v", res, err)
	}
	window := 0 // the largest replay window of A's inbound SAs
	for _, sa := range a.env.Engine.SAD().All() {
		if w := sa.Replay(); w != nil {
			if !sa.ESN() {
				t.Fatalf("SA %#08x: no ESN negotiated", sa.SPI())
			}
			window = max(window, w.Size())
		}
	}
	if window == 0 {
		t.Fatal("A has no inbound SA with a replay window")
	}
	for i := range window + 1 {
		if err := roundTrip(a, b, i); err != nil {
			t.Fatal(err)
		}
	}
	res, err := a.env.Engine.Decapsulate(held)
	if res == ipsec.SecureTunnel || !errors.Is(err, xe.ESPDigestMismatch) {
		t.Errorf("a packet a window late: %v %v, want a drop for XE_ESP_DIGEST_MISMATCH", res, err)
	}
}
