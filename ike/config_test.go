package ike

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestLoadPSKOwnerOnly(t *testing.T) {
	dir := t.TempDir()
	f := filepath.Join(dir, "psk")
	os.WriteFile(f, []byte("s3cret\n"), 0o644)
	r := Remote{Name: "x", Method: AuthPSK, PSKFile: f}
	if err := r.LoadPSK(); err == nil || !strings.Contains(err.Error(), "owner only") {
		t.Fatalf("world-readable PSK file accepted: %v", err)
	}
	os.Chmod(f, 0o600)
	if err := r.LoadPSK(); err != nil || string(pskOf(&r)) != "s3cret" {
		t.Fatalf("PSK %q, %v", pskOf(&r), err)
	}
}

// TestAddRemoteRefusesUnimplementedIKEAlgorithms: a remote whose IKE SA
// could only use 3DES or HMAC-MD5 is refused when added, not at the first
// handshake.
func TestAddRemoteRefusesUnimplementedIKEAlgorithms(t *testing.T) {
	d := &Daemon{remotes: map[string]*Remote{}}
	r, err := ParseRemote(strings.Fields("-n old -w -e 3DES-CBC -a HMAC-MD5 -p HMAC-MD5 -d MODP2048 -m PSK -h x -r 192.0.2.1"))
	if err != nil {
		t.Fatal(err)
	}
	if err := d.AddRemote(r); err == nil || !strings.Contains(err.Error(), "no IKE SA proposal") {
		t.Fatalf("AddRemote: %v", err)
	}
	// With one implemented choice in each list it is accepted (the PSK
	// file is checked next).
	r, _ = ParseRemote(strings.Fields("-n mixed -w -e 3DES-CBC,AES128-CBC -a HMAC-MD5,HMAC-SHA-2-256 -p HMAC-MD5,HMAC-SHA-2-256 -d MODP2048 -m PSK -h /nonexistent -r 192.0.2.1"))
	if err := d.AddRemote(r); err == nil || strings.Contains(err.Error(), "no IKE SA proposal") {
		t.Fatalf("AddRemote of a usable remote: %v", err)
	}
	if ps := IKEProposals(&r); len(ps) != 1 || len(ps[0].Transforms) != 4 {
		t.Fatalf("proposals %+v", ps)
	}
}
