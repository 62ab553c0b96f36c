//go:build linux

package tun

import (
	"fmt"
	"os"
	"os/exec"
	"runtime"
	"strings"
	"testing"

	"golang.org/x/sys/unix"
)

// netns is a network namespace made for a test with `ip netns add`.
type netns struct {
	name string
	f    *os.File
}

// needRoot skips the test unless it can make namespaces and TUN devices.
func needRoot(t *testing.T) {
	t.Helper()
	if os.Geteuid() != 0 {
		t.Skip("needs root: creates network namespaces and TUN devices")
	}
	if _, err := os.Stat("/dev/net/tun"); err != nil {
		t.Skipf("needs /dev/net/tun: %v", err)
	}
	if _, err := exec.LookPath("ip"); err != nil {
		t.Skipf("needs iproute2's ip: %v", err)
	}
}

// run runs a command and fails the test if it fails.
func run(t *testing.T, args ...string) string {
	t.Helper()
	out, err := exec.Command(args[0], args[1:]...).CombinedOutput()
	if err != nil {
		t.Fatalf("%s: %v\n%s", strings.Join(args, " "), err, out)
	}
	return string(out)
}

// newNetns makes a namespace that t.Cleanup deletes.
func newNetns(t *testing.T, name string) *netns {
	t.Helper()
	run(t, "ip", "netns", "add", name)
	t.Cleanup(func() { exec.Command("ip", "netns", "del", name).Run() })
	f, err := os.Open("/run/netns/" + name)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { f.Close() })
	run(t, "ip", "-n", name, "link", "set", "lo", "up")
	return &netns{name: name, f: f}
}

// do runs f on a thread in the namespace: sockets and TUN devices f
// creates belong to it for their lifetime.
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
		// Leave the thread locked: the runtime then ends it with the
		// goroutine instead of reusing it in the wrong namespace.
		return fmt.Errorf("setns back: %w", err)
	}
	runtime.UnlockOSThread()
	return ferr
}

// vethPair joins a and b with a veth pair named aName (in a) and bName (in b).
func vethPair(t *testing.T, a *netns, aName, aAddr string, b *netns, bName, bAddr string) {
	t.Helper()
	run(t, "ip", "link", "add", aName, "netns", a.name, "type", "veth", "peer", "name", bName, "netns", b.name)
	run(t, "ip", "-n", a.name, "addr", "add", aAddr, "dev", aName, "nodad")
	run(t, "ip", "-n", b.name, "addr", "add", bAddr, "dev", bName, "nodad")
	run(t, "ip", "-n", a.name, "link", "set", aName, "up")
	run(t, "ip", "-n", b.name, "link", "set", bName, "up")
}
