package ike

import (
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	"github.com/sabre-ipsec/sabre/ike/message"
	"github.com/sabre-ipsec/sabre/suite"
)

func TestParseRemoteReferenceExamples(t *testing.T) {
	for _, line := range []string{
		// §4.8, first example (MODP1024 is accepted by name; policy decides use).
		"-n mongo -z 2 -w -u -a HMAC-MD5 -e 3DES-CBC -d MODP2048,MODP1024 -p HMAC-MD5 -m PSK -h secret -r 10.0.0.76 -f ipv4:10.0.0.76 -g ipv4:10.0.0.140",
		// §5.1 host1.
		"-n remoteINFO -z 2 -w -u -a HMAC-SHA-2-384 -e 3DES-CBC -p HMAC-SHA-2-384 -m PresharedKey -d MODP768 -r 10.0.0.78 -f ipv4:10.0.0.78 -g ipv4:10.0.0.77 -h secret_file.txt",
		// IPv6.
		"-n mongoV6 -z 2 -w -u -a HMAC-MD5 -e 3DES -d MODP2048,MODP1024 -p MD5 -m PSK -h secret -r fe80::0240:f4ff:feed:8b77 -f ipv6:fe80::0240:f4ff:feed:8b77 -g ipv6:fe80::862b:2bff:fe88:2662",
		// Modern names.
		"-n ss -z 2 -w -u -e AES256-GCM16,CHACHA20-POLY1305 -p PRFSHA384 -d ECP384,CURVE25519 -m PresharedKey -h k -r 192.0.2.2,4500 -f fqdn:gw.example -g email:me@example -i 250ms -l 3600",
	} {
		r, err := ParseRemote(strings.Fields(line))
		if err != nil {
			t.Fatalf("%s: %v", line, err)
		}
		again, err := ParseRemote(r.Args())
		if err != nil {
			t.Fatalf("%s: re-parse of %q: %v", line, r.Args(), err)
		}
		if !reflect.DeepEqual(r, again) {
			t.Fatalf("round trip:\n%+v\n%+v", r, again)
		}
	}
	r, _ := ParseRemote(strings.Fields("-n ss -w -e AES256-GCM16 -p PRFSHA384 -d ECP384,CURVE25519 -m PSK -r 192.0.2.2"))
	if r.Encr[0] != (EncrAlg{suite.EncrAESGCM16, 256}) || r.PRF[0] != message.PRFHMACSHA2384 || r.Groups[1] != message.Curve25519 {
		t.Fatalf("parsed %+v", r)
	}
}

func TestParseRemoteErrors(t *testing.T) {
	for _, tc := range []struct{ line, want string }{
		{"-z 2 -w -e AES128-CBC -a HMAC-SHA-1 -p HMAC-SHA-1 -d MODP2048 -m PSK -r 1.2.3.4", "-n <name>"},
		{"-n x -z 1 -w", "only IKE version 2"},
		{"-n x -w -e AES999 -p sha1 -d modp2048 -m PSK -r 1.2.3.4", "AES999"},
		{"-n x -w -e AES128-CBC -p sha1 -d modp2048 -m PSK -r 1.2.3.4", "needs -a"},
		{"-n x -w -e AES128-GCM16 -p sha1 -d modp9999 -m PSK -r 1.2.3.4", "modp9999"},
		{"-n x -w -e AES128-GCM16 -p sha1 -d modp2048 -m PSK", "needs -r"},
		{"-n x -w -e AES128-GCM16 -p sha1 -d modp2048 -m RSASIG -r 1.2.3.4", "not in this build"},
		{"-n x -w -e NULL_ENC -p sha1 -d modp2048 -m PSK -r 1.2.3.4", "must be encrypted"},
		{"-n x -w -e AES128-GCM16 -p sha1 -d modp2048 -m PSK -r 1.2.3.4 -f ipv4:fe80::1", "family"},
		{"-n x -w -e AES128-GCM16 -p sha1 -d modp2048 -m PSK -r 1.2.3.4 -q 1", `unknown option "-q"`},
		{"-n x -w -e", "-e needs a value"},
		{"-n x -u -e AESGCM -p sha1 -d modp2048 -m PSK", "give the key size"},
	} {
		_, err := ParseRemote(strings.Fields(tc.line))
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: err %v, want %q", tc.line, err, tc.want)
		}
	}
}

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
