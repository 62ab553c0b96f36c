package interop

import (
	"fmt"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"

	"golang.org/x/sys/unix"
)

// nsPrefix starts the name of every namespace the tests make; the test
// process's PID follows, so that leftovers of a run that crashed (its PID
// gone) are told apart from a concurrent run's namespaces.
const nsPrefix = "sabre-interop-"

// needRoot skips the test unless the machine can run it.
func needRoot(t *testing.T) {
	t.Helper()
	if os.Geteuid() != 0 {
		t.Skip("interop: needs root (network and mount namespaces, TUN devices)")
	}
	if _, err := exec.LookPath("ip"); err != nil {
		t.Skipf("interop: needs iproute2's ip: %v", err)
	}
	if _, err := os.Stat("/dev/net/tun"); err != nil {
		t.Skipf("interop: needs /dev/net/tun: %v", err)
	}
	cleanStale(t)
}

// runCmd runs a command and fails the test if it fails.
func runCmd(t *testing.T, args ...string) string {
	t.Helper()
	out, err := exec.Command(args[0], args[1:]...).CombinedOutput()
	if err != nil {
		t.Fatalf("%s: %v\n%s", strings.Join(args, " "), err, out)
	}
	return string(out)
}

var (
	staleOnce sync.Once
	nsSeq     atomic.Int32
)

// cleanStale deletes the namespaces of earlier runs whose process is gone,
// after killing what still runs in them (a charon or sabre of a run that
// was killed before its cleanups).
func cleanStale(t *testing.T) {
	staleOnce.Do(func() {
		ents, _ := os.ReadDir("/run/netns")
		for _, e := range ents {
			name := e.Name()
			if !strings.HasPrefix(name, nsPrefix) {
				continue
			}
			pidPart, _, _ := strings.Cut(strings.TrimPrefix(name, nsPrefix), "-")
			pid, err := strconv.Atoi(pidPart)
			if err != nil || pid == os.Getpid() {
				continue
			}
			if _, err := os.Stat(fmt.Sprintf("/proc/%d", pid)); err == nil {
				continue // a run in progress
			}
			out, _ := exec.Command("ip", "netns", "pids", name).Output()
			for _, f := range strings.Fields(string(out)) {
				if p, err := strconv.Atoi(f); err == nil {
					syscall.Kill(p, syscall.SIGKILL)
				}
			}
			if out, err := exec.Command("ip", "netns", "del", name).CombinedOutput(); err != nil {
				t.Logf("removing stale namespace %s: %v %s", name, err, out)
			} else {
				t.Logf("removed stale namespace %s of an earlier run", name)
			}
		}
	})
}

// netns is a network namespace made for one test.
type netns struct {
	name string
	f    *os.File
}

// newNetns makes a namespace with lo up and IPv6 off (the wire carries
// only what the test sends); t.Cleanup deletes it, also when the test
// fails.
func newNetns(t *testing.T, role string) *netns {
	t.Helper()
	name := fmt.Sprintf("%s%d-%d-%s", nsPrefix, os.Getpid(), nsSeq.Add(1), role)
	runCmd(t, "ip", "netns", "add", name)
	t.Cleanup(func() {
		// Whatever the test started in it is stopped by its own cleanup
		// (registered later, so run earlier).
		if out, err := exec.Command("ip", "netns", "del", name).CombinedOutput(); err != nil {
			t.Logf("ip netns del %s: %v %s", name, err, out)
		}
	})
	f, err := os.Open("/run/netns/" + name)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { f.Close() })
	n := &netns{name: name, f: f}
	n.ip(t, "link", "set", "lo", "up")
	n.sysctl(t, "net.ipv6.conf.all.disable_ipv6=1")
	n.sysctl(t, "net.ipv6.conf.default.disable_ipv6=1")
	n.sysctl(t, "net.ipv4.conf.all.rp_filter=0")
	n.sysctl(t, "net.ipv4.conf.default.rp_filter=0")
	return n
}

// do runs f on a thread inside the namespace. Sockets f opens stay in the
// namespace after it returns.
func (n *netns) do(f func() error) error {
	runtime.LockOSThread()
	orig, err := os.Open(fmt.Sprintf("/proc/self/task/%d/ns/net", unix.Gettid()))
	if err != nil {
		runtime.UnlockOSThread()
		return err
	}
	defer orig.Close()
	if err := unix.Setns(int(n.f.Fd()), unix.CLONE_NEWNET); err != nil {
		runtime.UnlockOSThread()
		return fmt.Errorf("setns %s: %w", n.name, err)
	}
	ferr := f()
	if err := unix.Setns(int(orig.Fd()), unix.CLONE_NEWNET); err != nil {
		// Keep the thread locked: the runtime ends it with the goroutine.
		return fmt.Errorf("setns back: %w", err)
	}
	runtime.UnlockOSThread()
	return ferr
}

// ip runs `ip` in the namespace.
func (n *netns) ip(t *testing.T, args ...string) string {
	t.Helper()
	return runCmd(t, append([]string{"ip", "-n", n.name}, args...)...)
}

// exec runs a command in the namespace.
func (n *netns) exec(t *testing.T, args ...string) string {
	t.Helper()
	return runCmd(t, append([]string{"ip", "netns", "exec", n.name}, args...)...)
}

// sysctl sets a sysctl in the namespace.
func (n *netns) sysctl(t *testing.T, kv string) {
	t.Helper()
	runCmd(t, "ip", "netns", "exec", n.name, "sysctl", "-q", "-w", kv)
}

// host is one machine of a topology: a namespace, its outer address on
// the veth "ext" and the subnet behind it (10.1.0.0/24 on the left,
// 10.2.0.0/24 on the right), whose first address is the host's inner
// address.
type host struct {
	role   string // left, right, mid
	ns     *netns
	outer  netip.Addr
	inner  netip.Addr
	subnet netip.Prefix
	dir    string // configuration and logs
}

func newHost(t *testing.T, role string, outer, subnet string) *host {
	t.Helper()
	h := &host{role: role, ns: newNetns(t, role), dir: filepath.Join(t.TempDir(), role)}
	if outer != "" {
		h.outer = netip.MustParseAddr(outer)
	}
	if subnet != "" {
		h.subnet = netip.MustParsePrefix(subnet)
		h.inner = h.subnet.Addr().Next()
	}
	if err := os.MkdirAll(h.dir, 0o700); err != nil {
		t.Fatal(err)
	}
	return h
}

// link joins a's interface an and b's interface bn with a veth pair.
func link(t *testing.T, a *netns, an string, b *netns, bn string) {
	t.Helper()
	runCmd(t, "ip", "link", "add", an, "netns", a.name, "type", "veth", "peer", "name", bn, "netns", b.name)
	a.ip(t, "link", "set", an, "up")
	b.ip(t, "link", "set", bn, "up")
}

// pair makes the two-host topology: left 192.0.2.1 and right 192.0.2.2 on
// one veth, 10.1.0.0/24 behind the left and 10.2.0.0/24 behind the right.
func pair(t *testing.T) (left, right *host) {
	t.Helper()
	needRoot(t)
	left = newHost(t, "left", "192.0.2.1", "10.1.0.0/24")
	right = newHost(t, "right", "192.0.2.2", "10.2.0.0/24")
	link(t, left.ns, "ext", right.ns, "ext")
	left.ns.ip(t, "addr", "add", "192.0.2.1/24", "dev", "ext")
	right.ns.ip(t, "addr", "add", "192.0.2.2/24", "dev", "ext")
	return left, right
}

// natTopology makes three hosts: left 192.0.2.1/24 behind a NAT (mid:
// 192.0.2.254 on its interface "in", 198.51.100.254 on "out",
// masquerading what leaves "out") and right 198.51.100.2/24. The left's
// default route is mid; the right has no route to 192.0.2.0/24 and sees
// the left as 198.51.100.254.
func natTopology(t *testing.T) (left, mid, right *host) {
	t.Helper()
	needRoot(t)
	nft := needNft(t)
	left = newHost(t, "left", "192.0.2.1", "10.1.0.0/24")
	mid = newHost(t, "mid", "", "")
	right = newHost(t, "right", "198.51.100.2", "10.2.0.0/24")
	link(t, left.ns, "ext", mid.ns, "in")
	link(t, mid.ns, "out", right.ns, "ext")
	left.ns.ip(t, "addr", "add", "192.0.2.1/24", "dev", "ext")
	left.ns.ip(t, "route", "add", "default", "via", "192.0.2.254")
	mid.ns.ip(t, "addr", "add", "192.0.2.254/24", "dev", "in")
	mid.ns.ip(t, "addr", "add", "198.51.100.254/24", "dev", "out")
	mid.ns.sysctl(t, "net.ipv4.ip_forward=1")
	right.ns.ip(t, "addr", "add", "198.51.100.2/24", "dev", "ext")
	mid.ns.nft(t, nft, `table ip nat {
	chain postrouting {
		type nat hook postrouting priority srcnat; policy accept;
		oifname "out" masquerade
	}
}`)
	return left, mid, right
}

// needNft returns the path of nft, failing the test when it is missing:
// the NAT and loss cases need it, and CI installs it.
func needNft(t *testing.T) string {
	t.Helper()
	p, err := exec.LookPath("nft")
	if err != nil {
		t.Fatalf("interop: nft (Debian package nftables) is not installed; the NAT and loss tests need it: " +
			"add nftables to what .ci/run (make deps) installs, or apt-get install nftables")
	}
	return p
}

// nft loads a ruleset into the namespace.
func (n *netns) nft(t *testing.T, nft, ruleset string) {
	t.Helper()
	cmd := exec.Command("ip", "netns", "exec", n.name, nft, "-f", "-")
	cmd.Stdin = strings.NewReader(ruleset)
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("nft -f in %s: %v\n%s\nruleset:\n%s", n.name, err, out, ruleset)
	}
}

// addSubnet puts the host's inner address on a veth pair of its own (the
// kernel here has no dummy interfaces), standing for the LAN behind it.
func (h *host) addSubnet(t *testing.T) {
	t.Helper()
	h.ns.ip(t, "link", "add", "lan", "type", "veth", "peer", "name", "lan-peer")
	h.ns.ip(t, "link", "set", "lan", "up")
	h.ns.ip(t, "link", "set", "lan-peer", "up")
	h.ns.ip(t, "addr", "add", netip.PrefixFrom(h.inner, h.subnet.Bits()).String(), "dev", "lan")
}

// keep copies a file to $SABRE_INTEROP_KEEP if set.
func keep(t *testing.T, path string) {
	dir := os.Getenv("SABRE_INTEROP_KEEP")
	if dir == "" {
		return
	}
	b, err := os.ReadFile(path)
	if err != nil {
		return
	}
	name := strings.NewReplacer("/", "_").Replace(t.Name()) + "-" + filepath.Base(filepath.Dir(path)) + "-" + filepath.Base(path)
	os.WriteFile(filepath.Join(dir, name), b, 0o644)
}
