//go:build linux

package netns

import (
	"fmt"
	"net"
	"os"
	"os/exec"
	"strings"
	"sync/atomic"
	"testing"
)

var runs atomic.Int32

// TestNew: a namespace named after this process, lo up inside, code run
// by Do opens its sockets there, and t.Cleanup deletes it; a namespace of
// the same prefix left by a process that is gone is removed by the first
// New, one of a live process is kept.
func TestNew(t *testing.T) {
	NeedRoot(t, "netns")
	// New removes stale namespaces once per prefix and process: each run
	// of the test (-count) has a prefix of its own.
	prefix := fmt.Sprintf("sabre-testutil%d-%d-", os.Getpid(), runs.Add(1))
	// PIDs above pid_max (at most 2^22) belong to no process.
	stale := fmt.Sprintf("%s%d-1-left", prefix, 1<<22+1)
	live := fmt.Sprintf("%s%d-1-other", prefix, os.Getppid())
	for _, name := range []string{stale, live} {
		Run(t, "ip", "netns", "add", name)
		t.Cleanup(func() { exec.Command("ip", "netns", "del", name).Run() })
	}

	var name string
	t.Run("new", func(t *testing.T) {
		n := New(t, prefix, "a")
		name = n.Name
		if want := fmt.Sprintf("%s%d-", prefix, os.Getpid()); !strings.HasPrefix(n.Name, want) || !strings.HasSuffix(n.Name, "-a") {
			t.Errorf("name %q, want %s<n>-a", n.Name, want)
		}
		if out := n.IP(t, "link", "show", "lo"); !strings.Contains(out, "UP") {
			t.Errorf("lo is not up:\n%s", out)
		}
		var ln net.Listener
		if err := n.Do(func() (err error) { ln, err = net.Listen("tcp4", "127.0.0.1:0"); return }); err != nil {
			t.Fatal(err)
		}
		defer ln.Close()
		// The socket is in the namespace: ss there lists it.
		if out := n.Exec(t, "ss", "-ltn"); !strings.Contains(out, ln.Addr().String()) {
			t.Errorf("listener %v not in the namespace:\n%s", ln.Addr(), out)
		}
	})
	list := Run(t, "ip", "netns", "list")
	if strings.Contains(list, name+" ") || strings.Contains(list, name+"\n") {
		t.Errorf("%s outlived its test:\n%s", name, list)
	}
	if strings.Contains(list, stale) {
		t.Errorf("the stale namespace %s was not removed:\n%s", stale, list)
	}
	if !strings.Contains(list, live) {
		t.Errorf("the namespace %s of a live process was removed:\n%s", live, list)
	}
}
