package main

import (
	"net"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
)

// TestSDNotify sends to a socket standing in for systemd's, at a path and
// in the abstract namespace, and checks the datagram.
func TestSDNotify(t *testing.T) {
	for _, abstract := range []bool{false, true} {
		name := filepath.Join(t.TempDir(), "notify")
		env := name
		if abstract {
			name = "\x00sabre-test-notify-" + strconv.Itoa(os.Getpid())
			env = "@" + name[1:]
		}
		c, err := net.ListenUnixgram("unixgram", &net.UnixAddr{Name: name, Net: "unixgram"})
		if err != nil {
			t.Fatal(err)
		}
		t.Setenv("NOTIFY_SOCKET", env)
		sent, err := sdNotify("READY=1\nSTATUS=up")
		if err != nil || !sent {
			t.Fatalf("sdNotify to %q: %v, %v", env, sent, err)
		}
		buf := make([]byte, 100)
		n, err := c.Read(buf)
		c.Close()
		if err != nil || string(buf[:n]) != "READY=1\nSTATUS=up" {
			t.Errorf("received %q, %v", buf[:n], err)
		}
	}
	t.Setenv("NOTIFY_SOCKET", "")
	if sent, err := sdNotify("READY=1"); sent || err != nil {
		t.Errorf("without NOTIFY_SOCKET: %v, %v", sent, err)
	}
	t.Setenv("NOTIFY_SOCKET", "relative/path")
	if _, err := sdNotify("READY=1"); err == nil || !strings.Contains(err.Error(), `"relative/path"`) {
		t.Errorf("bad NOTIFY_SOCKET: %v", err)
	}
}

func TestReadyFile(t *testing.T) {
	path := filepath.Join(t.TempDir(), "ready")
	if err := writeReadyFile(path); err != nil {
		t.Fatal(err)
	}
	b, err := os.ReadFile(path)
	if err != nil || strings.TrimSpace(string(b)) != strconv.Itoa(os.Getpid()) {
		t.Fatalf("ready file holds %q, %v", b, err)
	}
	if err := removeReadyFile(path); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(path); !os.IsNotExist(err) {
		t.Errorf("ready file still there: %v", err)
	}
	// Another process's file is left alone.
	os.WriteFile(path, []byte("1\n"), 0o644)
	removeReadyFile(path)
	if _, err := os.Stat(path); err != nil {
		t.Errorf("another PID's ready file was removed: %v", err)
	}
}
