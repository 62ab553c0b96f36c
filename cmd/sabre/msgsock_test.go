package main

import (
	"errors"
	"io"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/sabre-ipsec/sabre/classify"
	"github.com/sabre-ipsec/sabre/ipsec"
	"github.com/sabre-ipsec/sabre/ipsec/messaging"
	"github.com/sabre-ipsec/sabre/ipsec/messaging/wire"
	"github.com/sabre-ipsec/sabre/sad"
	"github.com/sabre-ipsec/sabre/spd"
)

// TestMessagingSocket: -msgsock is owner-only, speaks the wire protocol
// (APP_REGISTER, then events between replies), refuses what the control
// socket refuses, naming -msgsock, and unregisters its applications when
// it closes.
func TestMessagingSocket(t *testing.T) {
	e := ipsec.New(spd.NewDB(), sad.NewDB(), ipsec.Config{})
	t.Cleanup(e.Close)
	m := messaging.New(e)
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	path := filepath.Join(t.TempDir(), "run", "sabre", "msg.sock")
	s, err := listenMessaging(path, m, log)
	if err != nil {
		t.Fatal(err)
	}
	closed := false
	t.Cleanup(func() {
		if !closed {
			s.Close()
		}
	})
	for p, want := range map[string]os.FileMode{path: 0o600, filepath.Dir(path): 0o700} {
		if fi, err := os.Stat(p); err != nil || fi.Mode().Perm() != want {
			t.Errorf("%s: %v %v, want mode %v", p, fi.Mode().Perm(), err, want)
		}
	}
	if _, err := listenMessaging(path, m, log); err == nil || !strings.Contains(err.Error(), "already listening") {
		t.Errorf("second listener: %v", err)
	}
	c, err := net.Dial("unix", path)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	c.SetDeadline(time.Now().Add(10 * time.Second)) // a failure bound only
	b, _ := wire.EncodeRequest(wire.PartyIKE, 1, wire.AppRegisterRequest{Name: "km"})
	if _, err := c.Write(b); err != nil {
		t.Fatal(err)
	}
	reply, err := wire.ReadMessage(c)
	if err != nil {
		t.Fatal(err)
	}
	r, err := wire.DecodeReply(reply)
	if err != nil || reply.Seq != 1 {
		t.Fatalf("APP_REGISTER: %+v %v", reply, err)
	}
	app := r.(wire.AppRegisterReply).ID
	if m.Apps()[app] != "km" {
		t.Fatalf("registered: %v", m.Apps())
	}
	id, err := m.AddPolicy(spd.Policy{Action: spd.Bypass, Src: classify.AnyIPv4(), Dst: classify.AnyIPv4()})
	if err != nil {
		t.Fatal(err)
	}
	ev, err := wire.ReadMessage(c)
	if err != nil {
		t.Fatal(err)
	}
	if got, err := wire.DecodeEvent(ev); err != nil || got.Type != messaging.MsgPolicyAdded || got.PolicyID != id || ev.Dst != wire.Party(app) {
		t.Fatalf("event %+v %+v %v", ev, got, err)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	closed = true
	if len(m.Apps()) != 0 {
		t.Errorf("still registered after Close: %v", m.Apps())
	}
	if _, err := os.Stat(path); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("socket left behind: %v", err)
	}
	file := filepath.Join(t.TempDir(), "file")
	os.WriteFile(file, nil, 0o600)
	if _, err := listenMessaging(file, m, log); err == nil || !strings.Contains(err.Error(), "messaging socket "+file+": something else is there (a regular file); remove it yourself or choose another -msgsock") {
		t.Errorf("a file at -msgsock: %v", err)
	}
}

func TestRunMsgsockFlag(t *testing.T) {
	c, err := parseRunFlags([]string{"-msgsock", "/run/sabre/msg.sock"}, io.Discard)
	if err != nil || c.msgsock != "/run/sabre/msg.sock" {
		t.Fatalf("-msgsock: %+v %v", c, err)
	}
	if _, err := parseRunFlags([]string{"-sock", "/run/sabre/x.sock", "-msgsock", "/run/sabre/./x.sock"}, io.Discard); err == nil || !strings.Contains(err.Error(), "is the control socket") {
		t.Errorf("-msgsock = -sock: %v", err)
	}
}

// TestRunMsgsockRefusedFirst: a -msgsock path that is not a stale socket
// stops the daemon before it opens its device or control socket, and is
// left as it was.
func TestRunMsgsockRefusedFirst(t *testing.T) {
	dir := t.TempDir()
	file := filepath.Join(dir, "precious")
	os.WriteFile(file, []byte("precious"), 0o600)
	sock := filepath.Join(dir, "run", "sabre.sock")
	err := runDaemon([]string{"-sock", sock, "-msgsock", file, "-tun", "sabrechk0"}, io.Discard)
	if err == nil || !strings.Contains(err.Error(), "messaging socket "+file+": something else is there (a regular file)") {
		t.Errorf("run -msgsock <regular file>: %v", err)
	}
	if b, _ := os.ReadFile(file); string(b) != "precious" {
		t.Errorf("the file at -msgsock was changed: %q", b)
	}
	if _, err := os.Stat(filepath.Dir(sock)); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("the control socket's directory was made: %v", err)
	}
}
