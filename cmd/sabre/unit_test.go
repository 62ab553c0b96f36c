package main

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// TestSystemdUnit checks contrib/systemd/sabre.service: the directives the
// service relies on, an ExecStart whose flags `sabre run` takes, and, where
// systemd-analyze exists, systemd's own verification (with the man pages
// its Documentation= names generated beside it).
func TestSystemdUnit(t *testing.T) {
	const unit = "../../contrib/systemd/sabre.service"
	b, err := os.ReadFile(unit)
	if err != nil {
		t.Fatal(err)
	}
	keys := map[string]string{}
	for _, l := range strings.Split(string(b), "\n") {
		if k, v, ok := strings.Cut(l, "="); ok && !strings.HasPrefix(l, "#") {
			keys[k] = v
		}
	}
	for k, v := range map[string]string{
		"Type":                    "notify",
		"ExecReload":              "/bin/kill -HUP $MAINPID",
		"CapabilityBoundingSet":   "CAP_NET_ADMIN CAP_NET_RAW CAP_NET_BIND_SERVICE",
		"ProtectSystem":           "strict",
		"RuntimeDirectory":        "sabre",
		"RuntimeDirectoryMode":    "0700",
		"NoNewPrivileges":         "yes",
		"DeviceAllow":             "/dev/net/tun rw",
		"RestrictAddressFamilies": "AF_UNIX AF_INET AF_INET6 AF_NETLINK",
	} {
		if keys[k] != v {
			t.Errorf("%s=%q, want %q", k, keys[k], v)
		}
	}
	exe := strings.Fields(keys["ExecStart"])
	if len(exe) < 2 || exe[1] != "run" {
		t.Fatalf("ExecStart=%q is not sabre run", keys["ExecStart"])
	}
	if _, err := parseRunFlags(exe[2:], os.Stderr); err != nil {
		t.Errorf("ExecStart flags: %v", err)
	}
	analyze, err := exec.LookPath("systemd-analyze")
	if err != nil {
		t.Skip("no systemd-analyze")
	}
	// systemd-analyze verify wants ExecStart's binary to exist and man to
	// find the pages of Documentation=.
	dir := t.TempDir()
	if err := runMan([]string{"-dir", filepath.Join(dir, "man", "man8")}); err != nil {
		t.Fatal(err)
	}
	os.MkdirAll(filepath.Join(dir, "man", "man5"), 0o755)
	os.Rename(filepath.Join(dir, "man", "man8", "ike_rc.5"), filepath.Join(dir, "man", "man5", "ike_rc.5"))
	self, _ := os.Executable()
	test := strings.Replace(string(b), exe[0], self, 1)
	path := filepath.Join(dir, "sabre.service")
	os.WriteFile(path, []byte(test), 0o644)
	cmd := exec.Command(analyze, "verify", path)
	cmd.Env = append(os.Environ(), "MANPATH="+filepath.Join(dir, "man"))
	if out, err := cmd.CombinedOutput(); err != nil || len(out) > 0 {
		t.Errorf("systemd-analyze verify: %v\n%s", err, out)
	}
}
