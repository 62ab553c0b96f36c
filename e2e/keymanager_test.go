package e2e

import (
	"bufio"
	"fmt"
	"net"
	"net/netip"
	"os/exec"
	"path/filepath"
	"runtime"
	"slices"
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
	log    []string // every line read so far
	policy uint32   // the ID of the policy it keys
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
	k := &keyManager{site: s, cmd: exec.Command("ip", argv...), lines: make(chan string, 256)}
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

// waitAll waits until each of lines has been printed, in any order.
func (k *keyManager) waitAll(t *testing.T, lines ...string) {
	t.Helper()
	for _, want := range lines {
		if !slices.Contains(k.log, want) {
			k.wait(t, want)
			k.waitAll(t, lines...)
			return
		}
	}
}

// wait returns the next line that starts with prefix; a line starting
// with "error" fails the test.
func (k *keyManager) wait(t *testing.T, prefix string) string {
	t.Helper()
	timeout := time.After(30 * time.Second) // a failure bound only
	for {
		select {
		case l, ok := <-k.lines:
			if !ok {
				t.Fatalf("key manager in %s exited waiting for %q", k.site.name, prefix)
			}
			k.log = append(k.log, l)
			if strings.HasPrefix(l, "error") {
				t.Fatalf("key manager in %s: %s", k.site.name, l)
			}
			if strings.HasPrefix(l, prefix) {
				return l
			}
		case <-timeout:
			t.Fatalf("key manager in %s: no %q line within 30 s", k.site.name, prefix)
		}
	}
}

// TestExternalKeyManager: a key manager in another process keys a tunnel
// through `sabre run -msgsock`, speaking the reference's messaging
// protocol alone. Each side's policy names no IKE remote; the first packet
// of each side raises an ACQUIRE on its socket, the key managers agree
// SPIs (GET_SPI) and install the SAs (ADD_SA) with keys from a shared
// secret, the queued packets leave, ping and TCP pass through ESP, and a
// short soft lifetime raises SA_EXPIRED.
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
	added := map[*site]string{a: ka.wait(t, "added "), b: kb.wait(t, "added ")}
	var aIn, aOut, bIn, bOut uint32
	fmt.Sscanf(added[a], "added in=%v out=%v", &aIn, &aOut)
	fmt.Sscanf(added[b], "added in=%v out=%v", &bIn, &bOut)
	if aIn == 0 || aOut == 0 || aIn != bOut || aOut != bIn {
		t.Fatalf("SPIs do not match: A %q, B %q", added[a], added[b])
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
		x.k.waitAll(t, fmt.Sprintf("event SA_EXPIRED policy=%d spi=%#x dir=inbound", x.k.policy, x.in),
			fmt.Sprintf("event SA_EXPIRED policy=%d spi=%#x dir=outbound", x.k.policy, x.out))
	}
	nb, na := b.netstat(t), a.netstat(t)
	if pk, _, icv, ok := nb.inboundSA(bIn); !ok || pk < transferSize/4/1500 || icv != 0 {
		t.Errorf("B's inbound SA %#x: %d packets, %d ICV failures (found %v); want the transfer's", bIn, pk, icv, ok)
	}
	if pk, _, icv, ok := na.inboundSA(aIn); !ok || pk == 0 || icv != 0 {
		t.Errorf("A's inbound SA %#x: %d packets, %d ICV failures (found %v)", aIn, pk, icv, ok)
	}
}
