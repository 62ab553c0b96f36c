// Package tshark lets tests check Sabre's packets with an independent
// decoder, Wireshark's dissectors run as tshark: it writes pcap files,
// Wireshark configuration directories (preferences and the esp_sa table
// that keys its ESP dissector), and runs tshark over a capture.
package tshark

import (
	"bytes"
	"encoding/hex"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// Path finds tshark or skips the test; in CI (where `make test` installs
// it) a missing tshark fails the test instead.
func Path(t testing.TB) string {
	t.Helper()
	p, err := exec.LookPath("tshark")
	if err != nil {
		if os.Getenv("CI") != "" {
			t.Fatalf("tshark is not installed (CI must install it, as `make test` does): %v", err)
		}
		t.Skipf("tshark is not installed (make test installs it when run as root; apt-get install tshark): %v", err)
	}
	return p
}

// ESPPreferences turns on decryption and ICV checking in the ESP
// dissector; sequence number analysis is off, since tests reuse SPIs and
// restart their sequence numbers.
const ESPPreferences = "esp.enable_encryption_decode: TRUE\n" +
	"esp.enable_authentication_check: TRUE\n" +
	"esp.do_esp_sequence_analysis: FALSE\n"

// Config makes a Wireshark configuration directory (for
// WIRESHARK_CONFIG_DIR) holding files: name → content, such as
// "preferences" and "esp_sa".
func Config(t testing.TB, files map[string]string) string {
	t.Helper()
	dir := filepath.Join(t.TempDir(), "wireshark")
	if err := os.MkdirAll(dir, 0o700); err != nil {
		t.Fatal(err)
	}
	for name, body := range files {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(body), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	return dir
}

// ESPSA is one row of Wireshark's esp_sa table: an SA its ESP dissector
// decrypts and authenticates with.
type ESPSA struct {
	IPv6     bool   // the SA's protocol: IPv6, else IPv4
	Src, Dst string // addresses, or "*" for any
	SPI      uint32
	Encr     string // the table's name of the encryption algorithm: "AES-CBC [RFC3602]"
	EncrKey  []byte
	Auth     string // the table's name of the authentication algorithm: "NULL"
	AuthKey  []byte
}

// ESPSATable returns the content of an esp_sa file holding sas.
func ESPSATable(sas []ESPSA) string {
	var b strings.Builder
	for _, sa := range sas {
		fam := "IPv4"
		if sa.IPv6 {
			fam = "IPv6"
		}
		fmt.Fprintf(&b, "%q,%q,%q,\"0x%08x\",%q,%q,%q,%q\n", fam, sa.Src, sa.Dst, sa.SPI,
			sa.Encr, hexKey(sa.EncrKey), sa.Auth, hexKey(sa.AuthKey))
	}
	return b.String()
}

// hexKey is a key as the esp_sa table writes it: 0x and hex digits, or
// nothing for no key.
func hexKey(k []byte) string {
	if len(k) == 0 {
		return ""
	}
	return "0x" + hex.EncodeToString(k)
}

// Run runs tshark with args, with the configuration directory conf
// (none if ""), and returns what it printed. A rejected table row or
// preference is only a warning to tshark, which then decodes without
// it: a warning about a table, a preference or an error fails the test,
// other lines of its standard error are logged.
func Run(t testing.TB, tshark, conf string, args ...string) string {
	t.Helper()
	cmd := exec.Command(tshark, args...)
	cmd.Env = os.Environ()
	if conf != "" {
		cmd.Env = append(cmd.Env, "WIRESHARK_CONFIG_DIR="+conf)
	}
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("tshark %v: %v\n%s", args, err, stderr.String())
	}
	for _, line := range strings.Split(stderr.String(), "\n") {
		switch l := strings.ToLower(line); {
		case strings.TrimSpace(l) == "", strings.HasPrefix(l, "running as user"):
		case strings.Contains(l, "esp"), strings.Contains(l, "table"), strings.Contains(l, "uat"),
			strings.Contains(l, "preference"), strings.Contains(l, "error"):
			t.Errorf("tshark: %s", line)
		default:
			t.Logf("tshark: %s", line)
		}
	}
	return string(out)
}

// Row is one frame as tshark printed it with Fields: every occurrence of
// each field, in the order of the frame's layers.
type Row map[string][]string

// First returns the first occurrence of field f (the outermost layer's),
// or "".
func (r Row) First(f string) string {
	if v := r[f]; len(v) > 0 {
		return v[0]
	}
	return ""
}

// Last returns the last occurrence of field f (the innermost layer's),
// or "".
func (r Row) Last(f string) string {
	if v := r[f]; len(v) > 0 {
		return v[len(v)-1]
	}
	return ""
}

// Fields runs tshark over the capture pcap (with the configuration
// directory conf, none if "", and extra arguments such as a display
// filter) and returns fields of each frame it shows, one Row per frame.
func Fields(t testing.TB, tshark, conf, pcap string, fields []string, extra ...string) []Row {
	t.Helper()
	args := []string{"-n", "-r", pcap, "-T", "fields", "-E", "occurrence=a", "-E", "aggregator=,", "-E", "separator=/t"}
	for _, f := range fields {
		args = append(args, "-e", f)
	}
	out := Run(t, tshark, conf, append(args, extra...)...)
	var rows []Row
	for _, line := range strings.Split(strings.TrimRight(out, "\n"), "\n") {
		if line == "" {
			continue
		}
		cols := strings.Split(line, "\t")
		if len(cols) != len(fields) {
			t.Fatalf("tshark line has %d fields, want %d: %q", len(cols), len(fields), line)
		}
		r := Row{}
		for i, f := range fields {
			if cols[i] != "" {
				r[f] = strings.Split(cols[i], ",")
			}
		}
		rows = append(rows, r)
	}
	return rows
}
