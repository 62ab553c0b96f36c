//go:build linux

// Package netns makes Linux network namespaces for tests (e2e,
// e2e/interop, ports/tun): each named after the test process's PID so that
// concurrent runs never collide and the leftovers of a killed run are
// removed by the next one, deleted by t.Cleanup, with a way to run code
// and commands inside.
package netns

import (
	"fmt"
	"os"
	"os/exec"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"

	"golang.org/x/sys/unix"
)

// NeedRoot skips the test unless the machine can make namespaces and TUN
// devices: root, /dev/net/tun and iproute2's ip. who starts the message.
func NeedRoot(t testing.TB, who string) {
	t.Helper()
	if os.Geteuid() != 0 {
		t.Skipf("%s: needs root (network namespaces, TUN devices)", who)
	}
	if _, err := os.Stat("/dev/net/tun"); err != nil {
		t.Skipf("%s: needs /dev/net/tun: %v", who, err)
	}
	if _, err := exec.LookPath("ip"); err != nil {
		t.Skipf("%s: needs iproute2's ip: %v", who, err)
	}
}

// Run runs a command and fails the test if it fails; it returns the
// command's output.
func Run(t testing.TB, args ...string) string {
	t.Helper()
	out, err := exec.Command(args[0], args[1:]...).CombinedOutput()
	if err != nil {
		t.Fatalf("%s: %v\n%s", strings.Join(args, " "), err, out)
	}
	return string(out)
}

// NS is a network namespace made for one test.
type NS struct {
	// Name is the namespace's name, as `ip netns` knows it.
	Name string
	f    *os.File
}

var (
	seq   atomic.Int32
	stale sync.Map // prefix → *sync.Once
)

// New makes a namespace named prefix, this process's PID, a sequence
// number and role (prefix1234-7-left), with lo up; t.Cleanup deletes it,
// also when the test fails. The first call for a prefix removes the
// namespaces of earlier runs with that prefix whose process is gone.
func New(t testing.TB, prefix, role string) *NS {
	t.Helper()
	once, _ := stale.LoadOrStore(prefix, new(sync.Once))
	once.(*sync.Once).Do(func() { cleanStale(t, prefix) })
	name := fmt.Sprintf("%s%d-%d-%s", prefix, os.Getpid(), seq.Add(1), role)
	Run(t, "ip", "netns", "add", name)
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
	n := &NS{Name: name, f: f}
	n.IP(t, "link", "set", "lo", "up")
	return n
}

// cleanStale deletes the namespaces named prefix<pid>-... whose process
// is gone, after killing what still runs in them (a charon or sabre of a
// run that was killed before its cleanups).
func cleanStale(t testing.TB, prefix string) {
	ents, _ := os.ReadDir("/run/netns")
	for _, e := range ents {
		name := e.Name()
		if !strings.HasPrefix(name, prefix) {
			continue
		}
		pidPart, _, _ := strings.Cut(strings.TrimPrefix(name, prefix), "-")
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
}

// Do runs f on a thread inside the namespace. Sockets and TUN devices f
// creates belong to the namespace for their lifetime, so the test talks
// through them directly after Do returns.
func (n *NS) Do(f func() error) error {
	runtime.LockOSThread()
	orig, err := os.Open(fmt.Sprintf("/proc/self/task/%d/ns/net", unix.Gettid()))
	if err != nil {
		runtime.UnlockOSThread()
		return err
	}
	defer orig.Close()
	if err := unix.Setns(int(n.f.Fd()), unix.CLONE_NEWNET); err != nil {
		runtime.UnlockOSThread()
		return fmt.Errorf("setns %s: %w", n.Name, err)
	}
	ferr := f()
	if err := unix.Setns(int(orig.Fd()), unix.CLONE_NEWNET); err != nil {
		// Keep the thread locked: the runtime then ends it with the
		// goroutine instead of reusing it in the wrong namespace.
		return fmt.Errorf("setns back: %w", err)
	}
	runtime.UnlockOSThread()
	return ferr
}

// IP runs `ip` in the namespace.
func (n *NS) IP(t testing.TB, args ...string) string {
	t.Helper()
	return Run(t, append([]string{"ip", "-n", n.Name}, args...)...)
}

// Exec runs a command in the namespace.
func (n *NS) Exec(t testing.TB, args ...string) string {
	t.Helper()
	return Run(t, append([]string{"ip", "netns", "exec", n.Name}, args...)...)
}

// Sysctl sets a sysctl ("net.ipv4.ip_forward=1") in the namespace.
func (n *NS) Sysctl(t testing.TB, kv string) {
	t.Helper()
	Run(t, "ip", "netns", "exec", n.Name, "sysctl", "-q", "-w", kv)
}

// Nft loads an nftables ruleset into the namespace with the nft at path
// nft.
func (n *NS) Nft(t testing.TB, nft, ruleset string) {
	t.Helper()
	cmd := exec.Command("ip", "netns", "exec", n.Name, nft, "-f", "-")
	cmd.Stdin = strings.NewReader(ruleset)
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("nft -f in %s: %v\n%s\nruleset:\n%s", n.Name, err, out, ruleset)
	}
}

// Veth makes a veth pair: interface an in a and bn in b, both down (the
// caller sets what must be set before they carry packets, then ups them).
func Veth(t testing.TB, a *NS, an string, b *NS, bn string) {
	t.Helper()
	Run(t, "ip", "link", "add", an, "netns", a.Name, "type", "veth", "peer", "name", bn, "netns", b.Name)
}
