package main

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestRunCheck: `sabre run -check -rc FILE` finds what the IKE daemon
// would refuse when the file is applied (a remote with no proposal Sabre
// implements, a PSK file others can read), with file:line, besides the
// file's syntax errors; a good file passes. No device or socket is made.
func TestRunCheck(t *testing.T) {
	dir := t.TempDir()
	psk := filepath.Join(dir, "psk")
	os.WriteFile(psk, []byte("s3cret\n"), 0o600)
	open := filepath.Join(dir, "open")
	os.WriteFile(open, []byte("s3cret\n"), 0o600)
	os.Chmod(open, 0o644)
	const remote = "ike remote -n peer -z 2 -w -u -r 192.0.2.2 -m PresharedKey "
	policy := "ipsec policy -n tun -g peer -m tunnel -t ESP -e AES128-GCM16 -r 192.0.2.2 -L 192.0.2.1 -s 10.1.0.0/24 -d 10.2.0.0/24\n"
	for _, tc := range []struct {
		name, rc, want string
	}{
		{"good", remote + "-e AES128-GCM16 -p PRFSHA256 -d ECP256 -h " + psk + "\n" + policy, "OK: 2 commands: 1 policy, 1 remote, 0 SAs would be installed"},
		{"no-proposal", "# first line\n" + remote + "-e 3DES-CBC -a HMAC-MD5 -p HMAC-MD5 -d MODP2048 -h " + psk + "\n", ":2: ike remote peer: no IKE SA proposal"},
		{"open-psk", remote + "-e AES128-GCM16 -p PRFSHA256 -d ECP256 -h " + open + "\n", ":1: remote \"peer\": PSK file " + open + " has mode -rw-r--r--"},
		{"missing-psk", remote + "-e AES128-GCM16 -p PRFSHA256 -d ECP256 -h " + psk + "-missing\n", ":1: remote \"peer\": PSK file: open"},
		{"syntax", policy + "ipsec bogus\n", ":2: ipsec: unknown command \"bogus\""},
		{"all-errors", "ike remote -n a -z 2 -u -m PSK -e 3DES-CBC -a HMAC-MD5 -p HMAC-MD5 -d MODP2048 -h " + psk + "\n" +
			"ike remote -n b -z 2 -u -m PSK -e AES128-GCM16 -p PRFSHA256 -d ECP256 -h " + open + "\n" + policy + strings.Replace(policy, "-n tun", "-n tun2", 1),
			":1: ike remote a: no IKE SA proposal"},
		{"duplicate-traffic", policy + strings.Replace(policy, "-n tun", "-n tun2", 1) + remote + "-e AES128-GCM16 -p PRFSHA256 -d ECP256 -h " + psk + "\n", ":2: ipsec policy -n tun2: XE_EXIST"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			rc := filepath.Join(dir, tc.name)
			os.WriteFile(rc, []byte(tc.rc), 0o600)
			var stderr bytes.Buffer
			err := runDaemon([]string{"-check", "-rc", rc, "-sock", filepath.Join(dir, "never.sock")}, &stderr)
			got := stderr.String()
			if err != nil {
				got += err.Error()
			}
			if (err == nil) != (tc.name == "good") || !strings.Contains(got, tc.want) {
				t.Errorf("err %v\nstderr %q\nwant %q", err, stderr.String(), tc.want)
			}
			if err != nil && !strings.Contains(err.Error(), ": the daemon would refuse this file") {
				t.Errorf("error does not end in the verdict: %v", err)
			}
			if tc.name == "all-errors" && (!strings.Contains(got, ":2: remote \"b\": PSK file") || !strings.Contains(got, ":4: ipsec policy -n tun2: XE_EXIST") || !strings.Contains(got, "3 errors")) {
				t.Errorf("not every error reported: %v", err)
			}
		})
	}
	if _, err := os.Stat(filepath.Join(dir, "never.sock")); err == nil {
		t.Error("-check made a control socket")
	}
	var stderr bytes.Buffer
	// A -sock path that is not a stale socket stops the daemon before it
	// opens its device.
	file := filepath.Join(dir, "good")
	if err := runDaemon([]string{"-sock", file, "-tun", "sabrechk0"}, &stderr); err == nil || !strings.Contains(err.Error(), "something else is there (a regular file)") {
		t.Errorf("run -sock <regular file>: %v", err)
	}
	if b, _ := os.ReadFile(file); !strings.Contains(string(b), "ike remote") {
		t.Errorf("the file at -sock was changed: %q", b)
	}
	if err := runDaemon([]string{"-check"}, &stderr); err == nil || !strings.Contains(err.Error(), "-check needs -rc FILE") {
		t.Errorf("-check without -rc: %v", err)
	}
	if err := runDaemon([]string{"-mtu", "1e10"}, &stderr); err == nil {
		t.Error("-mtu 1e10 accepted")
	}
	if err := runDaemon([]string{"-mtu", "70000"}, &stderr); err == nil || !strings.Contains(err.Error(), "-mtu 70000: want 68..65535") {
		t.Errorf("-mtu 70000: %v", err)
	}
}

// TestRunIKEWorkerFlags: -ike-workers and -ike-queue reach the daemon's
// configuration, and values out of range are refused, naming the value.
func TestRunIKEWorkerFlags(t *testing.T) {
	for _, tc := range []struct {
		args           []string
		workers, queue int
		err            string
	}{
		{nil, 0, 0, ""},
		{[]string{"-ike-workers", "1"}, 1, 0, ""},
		{[]string{"-ike-workers", "8", "-ike-queue", "4096"}, 8, 4096, ""},
		{[]string{"-ike-workers", "-1"}, 0, 0, "-ike-workers -1: want 0..1024"},
		{[]string{"-ike-workers", "1025"}, 0, 0, "-ike-workers 1025: want 0..1024"},
		{[]string{"-ike-queue", "1"}, 0, 0, "-ike-queue 1: want 0 or 2..1048576"},
		{[]string{"-ike-queue", "-5"}, 0, 0, "-ike-queue -5: want 0 or 2..1048576"},
		{[]string{"-ike-workers", "two"}, 0, 0, "invalid value \"two\" for flag -ike-workers"},
	} {
		var stderr bytes.Buffer
		c, err := parseRunFlags(tc.args, &stderr)
		if tc.err != "" {
			if err == nil || !strings.Contains(err.Error(), tc.err) {
				t.Errorf("%q: err %v, want %q", tc.args, err, tc.err)
			}
			continue
		}
		if err != nil {
			t.Errorf("%q: %v", tc.args, err)
			continue
		}
		if c.ikeWorkers != tc.workers || c.ikeQueue != tc.queue {
			t.Errorf("%q: workers %d queue %d, want %d %d", tc.args, c.ikeWorkers, c.ikeQueue, tc.workers, tc.queue)
		}
	}
}
