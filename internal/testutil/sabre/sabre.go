//go:build linux

// Package sabre runs the sabre binary in tests (e2e, e2e/interop): it
// builds cmd/sabre once per test process, starts `sabre run` in a network
// namespace, waits for its control socket, talks to it as an operator
// would (`sabre ipsec|ike -sock ...`) and stops it with SIGTERM, checking
// that it shuts down cleanly.
package sabre

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

var (
	buildOnce sync.Once
	binDir    string
	bin       string
	buildErr  error
)

// Binary returns the path of the sabre binary: the file named by the
// environment variable env if env is not "" and it is set (a binary built
// elsewhere), else one built from cmd/sabre the first time Binary is
// called in this process. Main removes the built one.
func Binary(t testing.TB, env string) string {
	t.Helper()
	buildOnce.Do(func() {
		if p := os.Getenv(env); env != "" && p != "" {
			bin = p
			return
		}
		binDir, buildErr = os.MkdirTemp("", "sabre-test-")
		if buildErr != nil {
			return
		}
		goTool, err := exec.LookPath("go")
		if err != nil {
			goTool = filepath.Join(runtime.GOROOT(), "bin", "go")
		}
		bin = filepath.Join(binDir, "sabre")
		cmd := exec.Command(goTool, "build", "-o", bin, "github.com/sabre-ipsec/sabre/cmd/sabre")
		if out, err := cmd.CombinedOutput(); err != nil {
			buildErr = fmt.Errorf("go build ./cmd/sabre: %v\n%s", err, out)
		}
	})
	if buildErr != nil {
		t.Fatal(buildErr)
	}
	return bin
}

// Main runs the tests of a package that uses Binary, then removes the
// binary it built: the package's TestMain is
//
//	func TestMain(m *testing.M) { sabre.Main(m) }
func Main(m *testing.M) {
	code := m.Run()
	if binDir != "" {
		os.RemoveAll(binDir)
	}
	os.Exit(code)
}

// ErrExited is what Start returns when the daemon exits before its control
// socket answers (its log says why).
var ErrExited = errors.New("sabre run exited")

// Daemon is a `sabre run` in a network namespace.
type Daemon struct {
	// Where says where it runs, for messages: "sabre run in A".
	Where string
	// Bin is the sabre binary, Sock its control socket, Log the file that
	// gets its standard output and error.
	Bin, Sock, Log string
	// Cmd is the running process (nil once stopped).
	Cmd  *exec.Cmd
	done chan error
}

// Start runs `sabre run -sock sock args...` in the namespace ns, its
// output to the file log, and waits up to 15 s until its control socket
// answers (`sabre ipsec netstat -p`). The daemon is killed if the test
// process dies, and t.Cleanup stops it (Stop). If it exits before its
// socket answers, Start returns an error wrapping ErrExited and the
// daemon's exit status; the test reads the log (LogText) to tell why.
func Start(t testing.TB, where, ns, bin, sock, log string, args ...string) (*Daemon, error) {
	t.Helper()
	d := &Daemon{Where: where, Bin: bin, Sock: sock, Log: log}
	logf, err := os.Create(log)
	if err != nil {
		t.Fatal(err)
	}
	argv := append([]string{"netns", "exec", ns, bin, "run", "-sock", sock}, args...)
	d.Cmd = exec.Command("ip", argv...)
	d.Cmd.Stdout, d.Cmd.Stderr = logf, logf
	d.Cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	if err := d.Cmd.Start(); err != nil {
		logf.Close()
		t.Fatal(err)
	}
	d.done = make(chan error, 1)
	go func() { d.done <- d.Cmd.Wait(); logf.Close() }()
	t.Cleanup(func() { d.Stop(t) })
	deadline := time.Now().Add(15 * time.Second)
	for {
		if _, err := d.Client("ipsec", "netstat", "-p"); err == nil {
			return d, nil
		}
		select {
		case err := <-d.done:
			d.Cmd = nil
			return d, fmt.Errorf("%s: %w: %v", d.Where, ErrExited, err)
		default:
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s did not open its control socket within 15 s\n%s", d.Where, d.LogText())
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// Stop ends the daemon with SIGTERM and fails the test unless it exits
// cleanly within 10 s. It reports whether it stopped the daemon: false if
// it was stopped already.
func (d *Daemon) Stop(t testing.TB) bool {
	if d.Cmd == nil {
		return false
	}
	d.Cmd.Process.Signal(syscall.SIGTERM)
	select {
	case err := <-d.done:
		if err != nil {
			t.Errorf("%s: exit after SIGTERM: %v", d.Where, err)
		}
	case <-time.After(10 * time.Second):
		d.Cmd.Process.Kill()
		<-d.done
		t.Errorf("%s did not stop within 10 s of SIGTERM", d.Where)
	}
	d.Cmd = nil
	return true
}

// Client runs `sabre family -sock <its socket> args...` (family is ipsec
// or ike) as an operator would, and returns its output.
func (d *Daemon) Client(family string, args ...string) (string, error) {
	var out bytes.Buffer
	cmd := exec.Command(d.Bin, append([]string{family, "-sock", d.Sock}, args...)...)
	cmd.Stdout, cmd.Stderr = &out, &out
	err := cmd.Run()
	return out.String(), err
}

// LogText returns what the daemon has logged so far.
func (d *Daemon) LogText() string {
	b, _ := os.ReadFile(d.Log)
	return string(b)
}

// Keep copies the file at path into the directory named by the
// environment variable env, if it is set, for a look after the test: as
// <test name>-<its directory's name>-<its name>.
func Keep(t testing.TB, env, path string) {
	dir := os.Getenv(env)
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
