package e2e

import (
	"bufio"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/sabre-ipsec/sabre/internal/testutil/netns"
	"github.com/sabre-ipsec/sabre/internal/testutil/sabre"
)

// TestREADMEGateway runs the README's gateway walkthrough as written: the
// `sh west`, `sh east` and `sh west-host` blocks of its "Running a VPN
// gateway" section, in document order, each in a shell in that machine's
// network namespace (the gateways' shells with private /etc and /run, so
// that /etc/sabre and /run/sabre are theirs), from the repository's root
// with the sabre under test first in PATH. Every block must succeed; after
// each host block the test also sends TCP both ways between the hosts. The
// one step the README gives in prose, copying the key from west to east,
// the test does itself.
func TestREADMEGateway(t *testing.T) {
	netns.NeedRoot(t, "e2e")
	for _, tool := range []string{"ping", "curl", "base64", "unshare", "sysctl"} {
		if _, err := exec.LookPath(tool); err != nil {
			t.Skipf("e2e: the README's commands need %s: %v", tool, err)
		}
	}
	blocks := readmeBlocks(t)
	bin := filepath.Dir(sabre.Binary(t, ""))
	root, err := filepath.Abs("..")
	if err != nil {
		t.Fatal(err)
	}
	w, e := newLANPair(t)
	shells := map[string]*shell{
		"west": startShell(t, w.gw, bin, root, true),
		"east": startShell(t, e.gw, bin, root, true),
	}
	hosts := map[string]*lanSite{"west-host": w}
	pskCopied := false
	for i, b := range blocks {
		if b.target == "east" && !pskCopied {
			// "Copy it to east over a secure channel."
			key, err := os.ReadFile(filepath.Join(shells["west"].upper, "etc", "sabre", "site.psk"))
			if err != nil {
				t.Fatalf("west has no /etc/sabre/site.psk after its first block: %v", err)
			}
			tmp := filepath.Join(t.TempDir(), "site.psk")
			os.WriteFile(tmp, key, 0o600)
			shells["east"].run(t, "install -d -m 0700 /etc/sabre && install -m 0600 "+tmp+" /etc/sabre/site.psk")
			pskCopied = true
		}
		t.Logf("block %d on %s:\n%s", i+1, b.target, b.text)
		if sh, ok := shells[b.target]; ok {
			out := sh.run(t, b.text)
			t.Logf("output:\n%s", out)
			continue
		}
		site, ok := hosts[b.target]
		if !ok {
			t.Fatalf("README block %d is for %q, a machine the walkthrough does not have", i+1, b.target)
		}
		out, err := exec.Command("ip", "netns", "exec", site.host.Name, "sh", "-e", "-c", b.text).CombinedOutput()
		t.Logf("output:\n%s", out)
		if err != nil {
			t.Fatalf("README block %d on %s failed: %v", i+1, b.target, err)
		}
		peer := map[*lanSite]*lanSite{w: e, e: w}[site]
		netns.Transfer(t, site.host, site.hostAddr, peer.host, peer.hostAddr, 1<<20, time.Minute)
		netns.Transfer(t, peer.host, peer.hostAddr, site.host, site.hostAddr, 1<<20, time.Minute)
	}
	// The walkthrough ends with west stopped: its device and routes are gone.
	if out, err := exec.Command("ip", "-n", w.gw.Name, "link", "show", "sabre0").CombinedOutput(); err == nil {
		t.Errorf("west: sabre0 still there after the README's stop: %s", out)
	}
	if routes := w.gw.IP(t, "route", "show"); strings.Contains(routes, "sabre0") {
		t.Errorf("west: routes into sabre0 left after stop:\n%s", routes)
	}
}

// readmeBlock is a fenced block of the walkthrough and where it runs.
type readmeBlock struct {
	target string
	text   string
}

// readmeBlocks returns the `sh <machine>` blocks of the README's gateway
// section, in order.
func readmeBlocks(t *testing.T) []readmeBlock {
	t.Helper()
	b, err := os.ReadFile("../README.md")
	if err != nil {
		t.Fatal(err)
	}
	text := string(b)
	start := strings.Index(text, "\n## Running a VPN gateway")
	if start < 0 {
		t.Fatal(`README has no "## Running a VPN gateway" section`)
	}
	section := text[start+1:]
	if end := strings.Index(section, "\n## "); end >= 0 {
		section = section[:end]
	}
	re := regexp.MustCompile("(?ms)^```sh ([a-z-]+)\n(.*?)^```$")
	var blocks []readmeBlock
	for _, m := range re.FindAllStringSubmatch(section, -1) {
		blocks = append(blocks, readmeBlock{m[1], m[2]})
	}
	if len(blocks) < 5 {
		t.Fatalf("README's gateway section has %d sh blocks", len(blocks))
	}
	return blocks
}

// shell is a long-lived sh in a namespace, fed blocks on its standard
// input, so that background jobs (sabre run &) live across blocks.
type shell struct {
	name  string
	cmd   *exec.Cmd
	in    io.WriteCloser
	out   *bufio.Reader
	upper string // the upper layer of its private /etc and /run
	n     int
}

// startShell starts sh in ns, with private /etc and /run (overlays on the
// machine's) when private, PATH starting with bin, in dir.
func startShell(t *testing.T, ns *netns.NS, bin, dir string, private bool) *shell {
	t.Helper()
	s := &shell{name: ns.Name, upper: t.TempDir()}
	work := t.TempDir()
	script := "exec sh"
	if private {
		var mounts []string
		for _, d := range []string{"etc", "run"} {
			for _, sub := range []string{filepath.Join(s.upper, d), filepath.Join(work, d)} {
				if err := os.MkdirAll(sub, 0o755); err != nil {
					t.Fatal(err)
				}
			}
			mounts = append(mounts, fmt.Sprintf("mount -t overlay overlay -o lowerdir=/%s,upperdir=%s,workdir=%s /%s",
				d, filepath.Join(s.upper, d), filepath.Join(work, d), d))
		}
		script = strings.Join(mounts, " && ") + " && exec sh"
	}
	s.cmd = exec.Command("ip", "netns", "exec", ns.Name, "unshare", "--mount", "--propagation", "private", "sh", "-c", script)
	s.cmd.Dir = dir
	s.cmd.Env = append(os.Environ(), "PATH="+bin+":"+os.Getenv("PATH"))
	s.cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	var err error
	if s.in, err = s.cmd.StdinPipe(); err != nil {
		t.Fatal(err)
	}
	pr, pw := io.Pipe()
	s.cmd.Stdout, s.cmd.Stderr = pw, pw
	s.out = bufio.NewReader(pr)
	if err := s.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	done := make(chan struct{})
	go func() { s.cmd.Wait(); pw.Close(); close(done) }()
	t.Cleanup(func() {
		// Stop what the blocks left running (sabre run &), then the shell.
		// ($(jobs -p) would run in a subshell, which has no jobs.)
		jobs := filepath.Join(work, "jobs")
		io.WriteString(s.in, "jobs -p >"+jobs+"; kill $(cat "+jobs+") 2>/dev/null; wait; exit\n")
		go io.Copy(io.Discard, s.out)
		select {
		case <-done:
		case <-time.After(15 * time.Second):
			syscall.Kill(-s.cmd.Process.Pid, syscall.SIGKILL)
			<-done
			t.Errorf("shell in %s did not exit", s.name)
		}
	})
	return s
}

// run feeds the shell a block and returns its output once the block is
// done; a failing command (status not 0) fails the test.
func (s *shell) run(t *testing.T, block string) string {
	t.Helper()
	s.n++
	marker := fmt.Sprintf("__sabre_readme_block_%d_done__", s.n)
	// Each line runs only if those before it succeeded (set -e would end
	// the shell, and with it the background jobs).
	var b strings.Builder
	b.WriteString("__st=0\n")
	for _, l := range strings.Split(strings.TrimRight(block, "\n"), "\n") {
		fmt.Fprintf(&b, "if [ $__st = 0 ]; then %s\n__st=$?; fi\n", l)
	}
	fmt.Fprintf(&b, "echo %s $__st\n", marker)
	if _, err := io.WriteString(s.in, b.String()); err != nil {
		t.Fatalf("shell in %s: %v", s.name, err)
	}
	type result struct {
		out    string
		status string
		err    error
	}
	ch := make(chan result, 1)
	go func() {
		var out strings.Builder
		for {
			l, err := s.out.ReadString('\n')
			if err != nil {
				ch <- result{out.String(), "", err}
				return
			}
			if st, ok := strings.CutPrefix(l, marker+" "); ok {
				ch <- result{out.String(), strings.TrimSpace(st), nil}
				return
			}
			out.WriteString(l)
		}
	}()
	select {
	case r := <-ch:
		if r.err != nil || r.status != "0" {
			t.Fatalf("README block in %s failed (status %q, %v):\n%s\noutput:\n%s", s.name, r.status, r.err, block, r.out)
		}
		return r.out
	case <-time.After(60 * time.Second):
		t.Fatalf("README block in %s did not finish in 60 s:\n%s", s.name, block)
	}
	return ""
}
