package main

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
)

func TestControlRoundTrip(t *testing.T) {
	for _, args := range [][]string{{"ipsec"}, {"ipsec", "netstat", "-a"}, {"ipsec", "", "policy", "-n", "a b", strings.Repeat("x", 5000)}} {
		var b bytes.Buffer
		if err := writeRequest(&b, args); err != nil {
			t.Fatal(err)
		}
		wire := b.Bytes()
		got, err := readRequest(bytes.NewReader(wire))
		if err != nil || !reflect.DeepEqual(got, args) {
			t.Fatalf("request %q: got %q, %v", args, got, err)
		}
		// Every truncation is an error, never a shorter request.
		for n := 0; n < len(wire); n++ {
			if _, err := readRequest(bytes.NewReader(wire[:n])); err == nil {
				t.Fatalf("request %q truncated to %d bytes: no error", args, n)
			} else if n == 0 && err != io.EOF {
				t.Fatalf("empty connection: %v, want io.EOF", err)
			}
		}
	}
	var b bytes.Buffer
	if err := writeReply(&b, 3, []byte("out\n")); err != nil {
		t.Fatal(err)
	}
	wire := b.Bytes()
	if s, out, err := readReply(bytes.NewReader(wire)); s != 3 || string(out) != "out\n" || err != nil {
		t.Fatalf("reply: %d %q %v", s, out, err)
	}
	for n := 0; n < len(wire); n++ {
		if _, _, err := readReply(bytes.NewReader(wire[:n])); err == nil {
			t.Fatalf("reply truncated to %d bytes: no error", n)
		}
	}
}

func TestControlLimits(t *testing.T) {
	if err := writeRequest(io.Discard, nil); err == nil {
		t.Error("empty request accepted")
	}
	for _, wire := range [][]byte{
		{0, 0, 0, 0},                         // no words
		{0xff, 0xff, 0xff, 0xff},             // too many words
		{0, 0, 0, 1, 0xff, 0xff, 0xff, 0xff}, // a word too long
	} {
		if _, err := readRequest(bytes.NewReader(wire)); err == nil {
			t.Errorf("request % x accepted", wire)
		}
	}
}

// startTestServer serves a control socket whose handler echoes argv.
func startTestServer(t *testing.T) string {
	t.Helper()
	dir := filepath.Join(t.TempDir(), "run", "sabre")
	path := filepath.Join(dir, "sabre.sock")
	s, err := listenControl(path, func(args []string, out io.Writer) int {
		fmt.Fprintf(out, "%q\n", args)
		if args[0] == "fail" {
			return statusFailed
		}
		return statusOK
	}, slog.New(slog.NewTextHandler(io.Discard, nil)))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return path
}

func TestControlServer(t *testing.T) {
	path := startTestServer(t)
	for p, want := range map[string]os.FileMode{path: 0o600, filepath.Dir(path): 0o700} {
		fi, err := os.Stat(p)
		if err != nil {
			t.Fatal(err)
		}
		if fi.Mode().Perm() != want {
			t.Errorf("%s: mode %v, want %v", p, fi.Mode().Perm(), want)
		}
	}
	cc, err := dialControl(path)
	if err != nil {
		t.Fatal(err)
	}
	defer cc.Close()
	for i := 0; i < 3; i++ { // several requests on one connection
		s, out, err := cc.Do([]string{"ipsec", "netstat", fmt.Sprint(i)})
		if err != nil || s != statusOK || string(out) != fmt.Sprintf("[\"ipsec\" \"netstat\" \"%d\"]\n", i) {
			t.Fatalf("request %d: %d %q %v", i, s, out, err)
		}
	}
	if s, _, err := cc.Do([]string{"fail"}); err != nil || s != statusFailed {
		t.Fatalf("failing request: %d %v", s, err)
	}
	// A second daemon on the same socket is refused.
	if _, err := listenControl(path, nil, slog.Default()); err == nil || !strings.Contains(err.Error(), "already") {
		t.Fatalf("second listener: %v", err)
	}
}

// TestControlStaleSocket: a stale socket (nobody listens) is replaced;
// anything else at the path — a regular file, a directory, a socket a
// daemon listens on — is refused and left in place, and so is a socket
// directory others can write to.
func TestControlStaleSocket(t *testing.T) {
	handler := func([]string, io.Writer) int { return 0 }
	dir := t.TempDir()
	path := filepath.Join(dir, "sabre.sock")
	// A stale socket: bound, then closed without removing the file, as
	// when a daemon dies.
	ln, err := net.ListenUnix("unix", &net.UnixAddr{Name: path, Net: "unix"})
	if err != nil {
		t.Fatal(err)
	}
	ln.SetUnlinkOnClose(false)
	ln.Close()
	s, err := listenControl(path, handler, slog.Default())
	if err != nil {
		t.Fatalf("stale socket not replaced: %v", err)
	}
	// A live one is refused.
	if _, err := listenControl(path, handler, slog.Default()); err == nil || !strings.Contains(err.Error(), "already listening") {
		t.Errorf("live socket: %v", err)
	}
	s.Close()
	if _, err := os.Stat(path); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("socket left behind after Close: %v", err)
	}

	file := filepath.Join(dir, "file")
	os.WriteFile(file, []byte("precious"), 0o600)
	sub := filepath.Join(dir, "sub")
	os.Mkdir(sub, 0o700)
	open := filepath.Join(dir, "open")
	os.Mkdir(open, 0o700)
	os.Chmod(open, 0o777) // past the umask
	for _, tc := range []struct{ path, want string }{
		{file, "something else is there (a regular file)"},
		{sub, "something else is there (a directory)"},
		{filepath.Join(open, "sabre.sock"), "has mode -rwxrwxrwx: others could replace the socket"},
		{filepath.Join(file, "sabre.sock"), "is not a directory"},
	} {
		if s, err := listenControl(tc.path, handler, slog.Default()); err == nil || !strings.Contains(err.Error(), tc.want) {
			if s != nil {
				s.Close()
			}
			t.Errorf("%s: %v, want %q", tc.path, err, tc.want)
		}
	}
	if b, err := os.ReadFile(file); err != nil || string(b) != "precious" {
		t.Errorf("the file at -sock was touched: %q %v", b, err)
	}
	if fi, err := os.Stat(sub); err != nil || !fi.IsDir() {
		t.Errorf("the directory at -sock was touched: %v", err)
	}
}

func TestClientNotRunning(t *testing.T) {
	path := filepath.Join(t.TempDir(), "none.sock")
	var stdout, stderr bytes.Buffer
	if s := runClient("ipsec", []string{"-sock", path, "netstat"}, &stdout, &stderr); s != statusFailed {
		t.Errorf("status %d", s)
	}
	want := fmt.Sprintf("sabre: daemon not running (no socket at %s): start it with `sabre run`, or name the socket of the running one with -sock PATH or $SABRE_SOCKET\n", path)
	if stderr.String() != want {
		t.Errorf("stderr %q, want %q", stderr.String(), want)
	}
}

// TestClientSockAnywhereAndHelp: -sock may follow the command, and the
// manual is printed without a daemon.
func TestClientSockAnywhereAndHelp(t *testing.T) {
	path := startTestServer(t)
	var stdout, stderr bytes.Buffer
	if s := runClient("ipsec", []string{"netstat", "-a", "-sock", path}, &stdout, &stderr); s != statusOK || stdout.String() != "[\"ipsec\" \"netstat\" \"-a\"]\n" {
		t.Errorf("-sock after the command: %d %q %q", s, stdout.String(), stderr.String())
	}
	stdout.Reset()
	if s := runClient("ike", []string{"netstat", "--sock=" + path}, &stdout, &stderr); s != statusOK || stdout.String() != "[\"ike\" \"netstat\"]\n" {
		t.Errorf("--sock= after the command: %d %q %q", s, stdout.String(), stderr.String())
	}
	stderr.Reset()
	if s := runClient("ike", []string{"-sock", path, "netstat", "-sock", path}, &stdout, &stderr); s != statusUsage || !strings.Contains(stderr.String(), "-sock given twice") {
		t.Errorf("-sock twice: %d %q", s, stderr.String())
	}
	none := filepath.Join(t.TempDir(), "none.sock")
	for _, args := range [][]string{{"ike", "help"}, {"ipsec", "help"}, {"ipsec", "help", "policy"}, {"ike", "flush", "--help"}, {"ipsec", "addsa", "-h"}} {
		stdout.Reset()
		stderr.Reset()
		if s := runClient(args[0], append([]string{"-sock", none}, args[1:]...), &stdout, &stderr); s != statusOK || stdout.Len() == 0 || stderr.Len() != 0 {
			t.Errorf("sabre %s without a daemon: status %d, %d bytes, stderr %q", strings.Join(args, " "), s, stdout.Len(), stderr.String())
		}
	}
	if !strings.HasPrefix(stdout.String(), "ipsec addsa") {
		t.Errorf("ipsec addsa -h: %.60q", stdout.String())
	}
}

func TestClientAndConsole(t *testing.T) {
	path := startTestServer(t)
	var stdout, stderr bytes.Buffer
	if s := runClient("ike", []string{"-sock=" + path, "remote", "-v"}, &stdout, &stderr); s != statusOK || stdout.String() != "[\"ike\" \"remote\" \"-v\"]\n" {
		t.Errorf("client: %d %q %q", s, stdout.String(), stderr.String())
	}
	t.Setenv("SABRE_SOCKET", path)
	stdout.Reset()
	in := strings.NewReader("ipsec netstat -p\n\n  # a comment\npolicy -v -n \"my policy\"\nfail now\nexit\nipsec never\n")
	s := runConsole(nil, in, &stdout, &stderr)
	want := "[\"ipsec\" \"netstat\" \"-p\"]\n[\"ipsec\" \"policy\" \"-v\" \"-n\" \"my policy\"]\n"
	if stdout.String() != want || s != statusFailed || !strings.Contains(stderr.String(), "fail") {
		t.Errorf("console: status %d\nstdout %q\nwant   %q\nstderr %q", s, stdout.String(), want, stderr.String())
	}
}
