package ike

import (
	"bytes"
	"encoding/hex"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
)

// pskOf returns the key buffer r holds (the buffer itself, so that a test
// can see it zeroed).
func pskOf(r *Remote) []byte {
	if r.psk == nil {
		return nil
	}
	return r.psk.b
}

// TestLoadPSKChecksTheOpenedFile: the checks are made on the descriptor
// that is read (fstat), and refuse what is not the operator's own regular
// file: another user's file, also through a symbolic link (the file
// checked is the file read), a directory, a FIFO (without blocking), and
// a file too large to be a key.
func TestLoadPSKChecksTheOpenedFile(t *testing.T) {
	dir := t.TempDir()
	write := func(name, data string, mode os.FileMode) string {
		f := filepath.Join(dir, name)
		if err := os.WriteFile(f, []byte(data), mode); err != nil {
			t.Fatal(err)
		}
		return f
	}
	good := write("good", "0x0102:03ff\n", 0o600)
	other := write("other", "s3cret\n", 0o600)
	chownErr := os.Chown(other, 65534, 65534)
	fifo := filepath.Join(dir, "fifo")
	if err := syscall.Mkfifo(fifo, 0o600); err != nil {
		t.Fatal(err)
	}
	link := filepath.Join(dir, "link")
	if err := os.Symlink(other, link); err != nil {
		t.Fatal(err)
	}
	big := write("big", strings.Repeat("k", maxPSKFile+1), 0o600)
	empty := write("empty", "\r\n", 0o600)
	for _, tc := range []struct{ file, want string }{
		{other, "owned by uid 65534"},
		{dir, "not a regular file"},
		{fifo, "not a regular file"},
		{link, "owned by uid 65534"},
		{big, "at most 4096"},
		{empty, "is empty"},
	} {
		if (tc.file == other || tc.file == link) && chownErr != nil {
			t.Logf("skipping the owner case: chown needs root: %v", chownErr)
			continue
		}
		r := Remote{Name: "x", Method: AuthPSK, PSKFile: tc.file}
		if err := r.LoadPSK(); err == nil || !strings.Contains(err.Error(), tc.want) || !strings.Contains(err.Error(), tc.file) {
			t.Errorf("%s: err %v, want %q", tc.file, err, tc.want)
		}
		if r.psk != nil {
			t.Errorf("%s: a key was kept after the error", tc.file)
		}
	}
	r := Remote{Name: "x", Method: AuthPSK, PSKFile: good}
	if err := r.LoadPSK(); err != nil || !bytes.Equal(pskOf(&r), []byte{1, 2, 3, 0xff}) {
		t.Fatalf("hex key: %x, %v", pskOf(&r), err)
	}
}

// TestPSKZeroed: the key buffer is wiped when its remote is replaced or
// deleted and when the daemon closes; IKE SAs with a replaced remote go.
func TestPSKZeroed(t *testing.T) {
	_, a, b := pair(t, "-e AES128-GCM16 -p PRFSHA256 -d ECP256", "-e AES128-GCM16 -p PRFSHA256 -d ECP256", []string{"AES128-GCM16"})
	key := func(d *Daemon, name string) []byte {
		d.mu.Lock()
		defer d.mu.Unlock()
		return pskOf(d.remotes[name])
	}
	zero := func(k []byte) bool { return len(k) > 0 && bytes.Count(k, []byte{0}) == len(k) }

	// Replace by AddRemote.
	k1 := key(a.d, "b")
	r := a.d.Remotes()[0]
	r.psk = nil
	if err := a.d.AddRemote(r); err != nil {
		t.Fatal(err)
	}
	if !zero(k1) {
		t.Errorf("replaced remote's key not zeroed: %q", k1)
	}
	if k2 := key(a.d, "b"); zero(k2) || string(k2) != "correct horse battery staple" {
		t.Errorf("new key %q", k2)
	}

	// ReplaceRemotes: an IKE SA negotiated with the old remote goes.
	if _, err := a.e.Encapsulate(udpPacket("10.1.0.5", "10.2.0.9", "hello")); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "IKE SA", func() bool { st := a.d.Status(); return len(st) == 1 && st[0].State == "ESTABLISHED" })
	k2 := key(a.d, "b")
	r = a.d.Remotes()[0]
	r.psk = nil
	n, err := a.d.ReplaceRemotes([]Remote{r}, nil)
	if err != nil || n != 1 {
		t.Fatalf("ReplaceRemotes: %d IKE SAs deleted, %v", n, err)
	}
	if !zero(k2) || len(a.d.Status()) != 0 {
		t.Errorf("after ReplaceRemotes: old key %q, IKE SAs %+v", k2, a.d.Status())
	}
	// A refused ReplaceRemotes changes nothing.
	if _, err := a.d.ReplaceRemotes(nil, []string{"nosuch"}); err == nil || !strings.Contains(err.Error(), `"nosuch"`) {
		t.Errorf("ReplaceRemotes of an unknown remote: %v", err)
	}
	if k3 := key(a.d, "b"); zero(k3) {
		t.Error("a refused ReplaceRemotes zeroed the key in use")
	}

	// Delete.
	k3 := key(a.d, "b")
	if err := a.d.DeleteRemote("b"); err != nil {
		t.Fatal(err)
	}
	if !zero(k3) {
		t.Errorf("deleted remote's key not zeroed: %q", k3)
	}

	// Close.
	kb := key(b.d, "a")
	b.d.Close()
	if !zero(kb) {
		t.Errorf("key not zeroed at Close: %q", kb)
	}
}

// FuzzDecodeHexKey: the PSK file's 0x<hex> form decodes to what
// encoding/hex makes of the digits, or is taken as text; never a panic.
func FuzzDecodeHexKey(f *testing.F) {
	for _, s := range []string{"0x00", "0x0102:03ff", "0x", "0xabc", "0xzz", "plain", "0x:", "0XAA"} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, k []byte) {
		got, ok := decodeHexKey(k)
		h, isHex := bytes.CutPrefix(k, []byte("0x"))
		want, err := hex.DecodeString(strings.ReplaceAll(string(h), ":", ""))
		if ok != (isHex && err == nil && len(want) > 0) || ok && !bytes.Equal(got, want) {
			t.Fatalf("decodeHexKey(%q) = %x, %v; encoding/hex: %x, %v", k, got, ok, want, err)
		}
	})
}
