package e2e

import (
	"bufio"
	"fmt"
	"net"
	"net/netip"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/sabre-ipsec/sabre/internal/testutil/netns"
)

// keyManager is internal/testutil/keymanager running in a site's
// namespace, connected to its daemon's messaging socket.
type keyManager struct {
	site   *site
	cmd    *exec.Cmd
	lines  chan string
	log    []string       // every line read so far
	from   map[string]int // where wait(prefix) looks next in log
	policy uint32         // the ID of the policy it keys
}

// buildKeyManager builds internal/testutil/keymanager into a temporary
// directory.
func buildKeyManager(t *testing.T) string {
	t.Helper()
	goTool, err := exec.LookPath("go")
	if err != nil {
		goTool = filepath.Join(runtime.GOROOT(), "bin", "go")
	}
	bin := filepath.Join(t.TempDir(), "keymanager")
	if out, err := exec.Command(goTool, "build", "-o", bin, "github.com/sabre-ipsec/sabre/internal/testutil/keymanager").CombinedOutput(); err != nil {
		t.Fatalf("go build keymanager: %v\n%s", err, out)
	}
	return bin
}

// startKeyManager runs the key manager in s's namespace and waits until
// it has registered and found its policy.
func startKeyManager(t *testing.T, bin string, s *site, msgsock string, args ...string) *keyManager {
	t.Helper()
	argv := append([]string{"netns", "exec", s.ns.Name, bin, "-msgsock", msgsock, "-policy", "km",
		"-local", s.outer.String(), "-secret", "e2e test secret"}, args...)
	k := &keyManager{site: s, cmd: exec.Command("ip", argv...), lines: make(chan string, 256), from: map[string]int{}}
	k.cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	k.cmd.Stderr = k.cmd.Stdout
	stdout, err := k.cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := k.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() {
		defer close(k.lines)
		sc := bufio.NewScanner(stdout)
		for sc.Scan() {
			k.lines <- sc.Text()
		}
	}()
	t.Cleanup(func() {
		k.cmd.Process.Kill()
		k.cmd.Wait()
		if t.Failed() {
			t.Logf("key manager in %s said:\n%s", s.name, strings.Join(k.log, "\n"))
		}
	})
	k.wait(t, "registered ")
	fmt.Sscanf(k.wait(t, "policy "), "policy %d", &k.policy)
	return k
}

// wait returns the next line starting with prefix after the one the
// previous wait for prefix returned, waiting for it if need be; a line
// starting with "error" fails the test.
func (k *keyManager) wait(t *testing.T, prefix string) string {
	t.Helper()
	timeout := time.After(30 * time.Second) // a failure bound only
	for i := k.from[prefix]; ; i++ {
		for i >= len(k.log) {
			select {
			case l, ok := <-k.lines:
				if !ok {
					t.Fatalf("key manager in %s exited waiting for %q", k.site.name, prefix)
				}
				k.log = append(k.log, l)
				if strings.HasPrefix(l, "error") {
					t.Fatalf("key manager in %s: %s", k.site.name, l)
				}
			case <-timeout:
				t.Fatalf("key manager in %s: no %q line within 30 s", k.site.name, prefix)
			}
		}
		if strings.HasPrefix(k.log[i], prefix) {
			k.from[prefix] = i + 1
			return k.log[i]
		}
	}
}

// added waits for the key manager's next "added" line and returns its
// SPIs.
func (k *keyManager) added(t *testing.T) (in, out uint32) {
	t.Helper()
	l := k.wait(t, "added ")
	if _, err := fmt.Sscanf(l, "added in=%v out=%v", &in, &out); err != nil {
		t.Fatalf("key manager in %s: %q: %v", k.site.name, l, err)
	}
	return in, out
}

// TestExternalKeyManager: a key manager in another process keys a tunnel
// through `sabre run -msgsock`, speaking the reference's messaging
// protocol alone. Each side's policy names no IKE remote; the first packet
// of each side raises an ACQUIRE on its socket, the key managers agree
// SPIs (GET_SPI) and install the SAs (ADD_SA) with keys from a shared
// secret, the queued packets leave, ping and TCP pass through ESP, a
// short soft lifetime raises SA_EXPIRED, and the rekeyed SAs it leads to
// carry the traffic.
func TestExternalKeyManager(t *testing.T) {
	a, b := newPair(t)
	km := buildKeyManager(t)
	const softPackets = 4
	msgsock := map[*site]string{}
	for _, s := range []struct{ s, peer *site }{{a, b}, {b, a}} {
		msgsock[s.s] = filepath.Join(filepath.Dir(s.s.sock), "msg", "msg.sock")
		rc := fmt.Sprintf("ipsec policy -n km -t ESP -m tunnel -r %v -s %v -d %v -e AES128-GCM16 -o\n", s.peer.outer, s.s.subnet, s.peer.subnet)
		s.s.start(t, rc, "-msgsock", msgsock[s.s])
	}
	a.routeTunnel(t, b)
	b.routeTunnel(t, a)
	// B responds on its outer address; A initiates.
	kb := startKeyManager(t, km, b, msgsock[b], "-listen", netip.AddrPortFrom(b.outer, 7000).String(), "-soft-packets", fmt.Sprint(softPackets))
	ka := startKeyManager(t, km, a, msgsock[a], "-peer", netip.AddrPortFrom(b.outer, 7000).String(), "-soft-packets", fmt.Sprint(softPackets))

	// B's first packet raises ACQUIRE at B and waits in its queue: B's key
	// manager leaves the negotiation to A's.
	var udp *net.UDPConn
	if err := a.ns.Do(func() (err error) {
		udp, err = net.ListenUDP("udp4", net.UDPAddrFromAddrPort(netip.AddrPortFrom(a.inner, 9000)))
		return
	}); err != nil {
		t.Fatal(err)
	}
	defer udp.Close()
	if err := b.ns.Do(func() error {
		c, err := net.DialUDP("udp4", net.UDPAddrFromAddrPort(netip.AddrPortFrom(b.inner, 9001)), net.UDPAddrFromAddrPort(netip.AddrPortFrom(a.inner, 9000)))
		if err != nil {
			return err
		}
		defer c.Close()
		_, err = c.Write([]byte("queued at B"))
		return err
	}); err != nil {
		t.Fatal(err)
	}
	kb.wait(t, "event ACQUIRE")

	// A's first packet raises ACQUIRE at A: the exchange runs, and every
	// packet queued on either side leaves once its SAs are in.
	rtts := ping(t, a.ns, a.inner, b.inner, 1)
	ka.wait(t, "event ACQUIRE")
	aIn, aOut := ka.added(t)
	bIn, bOut := kb.added(t)
	if aIn != bOut || aOut != bIn {
		t.Fatalf("SPIs do not match: A in %#x out %#x, B in %#x out %#x", aIn, aOut, bIn, bOut)
	}
	udp.SetReadDeadline(time.Now().Add(10 * time.Second))
	buf := make([]byte, 64)
	if n, from, err := udp.ReadFromUDPAddrPort(buf); err != nil || string(buf[:n]) != "queued at B" || from.Addr() != b.inner {
		t.Fatalf("B's queued datagram at A: %q from %v, %v", buf[:n], from, err)
	}
	rtts = append(rtts, ping(t, a.ns, a.inner, b.inner, softPackets)...)
	t.Logf("ping %v -> %v through the externally keyed tunnel: %d replies, avg rtt %v", a.inner, b.inner, len(rtts), avg(rtts).Round(time.Microsecond))
	netns.Transfer(t, a.ns, a.inner, b.ns, b.inner, transferSize/4, 2*time.Minute)

	// More than softPackets packets each way: SA_EXPIRED for each SA.
	for _, x := range []struct {
		k       *keyManager
		in, out uint32
	}{{ka, aIn, aOut}, {kb, bIn, bOut}} {
		x.k.wait(t, fmt.Sprintf("event SA_EXPIRED policy=%d spi=%#x dir=inbound", x.k.policy, x.in))
		x.k.wait(t, fmt.Sprintf("event SA_EXPIRED policy=%d spi=%#x dir=outbound", x.k.policy, x.out))
	}
	// A's key manager rekeys on its outbound SA's SA_EXPIRED: a new pair
	// (no soft lifetime this time), which the traffic then takes.
	aIn2, aOut2 := ka.added(t)
	bIn2, bOut2 := kb.added(t)
	if aIn2 != bOut2 || aOut2 != bIn2 || aIn2 == aIn || aOut2 == aOut {
		t.Fatalf("rekeyed SPIs: A in %#x out %#x, B in %#x out %#x (before: A in %#x out %#x)", aIn2, aOut2, bIn2, bOut2, aIn, aOut)
	}
	const after = 3
	ping(t, a.ns, a.inner, b.inner, after)
	nb, na := b.netstat(t), a.netstat(t)
	// The first softPackets echo requests reached the soft lifetime before
	// the rekey began; the transfer ran across it; the last pings took the
	// new SAs.
	oldB, _, icv1, ok1 := nb.inboundSA(bIn)
	newB, _, icv2, ok2 := nb.inboundSA(bIn2)
	if !ok1 || !ok2 || oldB < softPackets || newB < after || oldB+newB < transferSize/4/1500 || icv1+icv2 != 0 {
		t.Errorf("B's inbound SAs: %#x %d packets, rekeyed %#x %d packets (found %v %v), %d ICV failures; want >= %d, >= %d and the transfer's",
			bIn, oldB, bIn2, newB, ok1, ok2, icv1+icv2, softPackets, after)
	}
	oldA, _, icv1, ok1 := na.inboundSA(aIn)
	newA, _, icv2, ok2 := na.inboundSA(aIn2)
	if !ok1 || !ok2 || oldA == 0 || newA < after || icv1+icv2 != 0 {
		t.Errorf("A's inbound SAs: %#x %d packets, rekeyed %#x %d packets (found %v %v), %d ICV failures; want > 0 and >= %d",
			aIn, oldA, aIn2, newA, ok1, ok2, icv1+icv2, after)
	}
}
