package e2e

import (
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"os"
	"os/exec"
	"runtime"
	"strings"
	"testing"

	"golang.org/x/sys/unix"
)

// needRoot skips the test unless the machine can run it.
func needRoot(t *testing.T) {
	t.Helper()
	if os.Geteuid() != 0 {
		t.Skip("e2e: needs root (network namespaces, TUN devices, raw sockets)")
	}
	if _, err := os.Stat("/dev/net/tun"); err != nil {
		t.Skipf("e2e: needs /dev/net/tun: %v", err)
	}
	if _, err := exec.LookPath("ip"); err != nil {
		t.Skipf("e2e: needs iproute2's ip: %v", err)
	}
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

// netns is a network namespace made for one test.
type netns struct {
	name string
	f    *os.File
}

// uniqueID returns a short random name part, so that concurrent runs and
// leftovers of killed runs never collide.
func uniqueID() string {
	var b [4]byte
	rand.Read(b[:])
	return hex.EncodeToString(b[:])
}

// newNetns makes a namespace with lo up; t.Cleanup deletes it, also when
// the test fails.
func newNetns(t *testing.T, name string) *netns {
	t.Helper()
	runCmd(t, "ip", "netns", "add", name)
	t.Cleanup(func() {
		if out, err := exec.Command("ip", "netns", "del", name).CombinedOutput(); err != nil {
			t.Logf("ip netns del %s: %v %s", name, err, out)
		}
	})
	f, err := os.Open("/run/netns/" + name)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { f.Close() })
	runCmd(t, "ip", "-n", name, "link", "set", "lo", "up")
	return &netns{name: name, f: f}
}

// do runs f on a thread inside the namespace. Sockets f opens stay in the
// namespace after it returns, so the test talks through them directly.
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
		// Keep the thread locked: the runtime ends it with the goroutine
		// rather than reuse it in the wrong namespace.
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

// sysctl sets a sysctl in the namespace.
func (n *netns) sysctl(t *testing.T, kv string) {
	t.Helper()
	runCmd(t, "ip", "netns", "exec", n.name, "sysctl", "-q", "-w", kv)
}
