package main

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"log/slog"
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

func TestControlStaleSocket(t *testing.T) {
	path := filepath.Join(t.TempDir(), "sabre.sock")
	if err := os.WriteFile(path, nil, 0o600); err != nil { // not a listening socket
		t.Fatal(err)
	}
	s, err := listenControl(path, func([]string, io.Writer) int { return 0 }, slog.Default())
	if err != nil {
		t.Fatalf("stale socket not replaced: %v", err)
	}
	s.Close()
	if _, err := os.Stat(path); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("socket left behind after Close: %v", err)
	}
}

func TestClientNotRunning(t *testing.T) {
	path := filepath.Join(t.TempDir(), "none.sock")
	var stdout, stderr bytes.Buffer
	if s := runClient("ipsec", []string{"-sock", path, "netstat"}, &stdout, &stderr); s != statusFailed {
		t.Errorf("status %d", s)
	}
	want := fmt.Sprintf("sabre: daemon not running (no socket at %s): start it with `sabre run`\n", path)
	if stderr.String() != want {
		t.Errorf("stderr %q, want %q", stderr.String(), want)
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
