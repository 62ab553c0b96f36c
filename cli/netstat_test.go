package cli

import (
	"encoding/json"
	"flag"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/sabre-ipsec/sabre/xe"
)

var update = flag.Bool("update", false, "rewrite the golden files in testdata")

// golden compares got with testdata/name, or rewrites it with -update.
func golden(t *testing.T, name, got string) {
	t.Helper()
	path := filepath.Join("testdata", name)
	if *update {
		if err := os.WriteFile(path, []byte(got), 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (run with -update to create it)", err)
	}
	if got != string(want) {
		t.Errorf("%s differs (run with -update to accept):\n--- got\n%s--- want\n%s", name, got, want)
	}
}

// The reference's keys and SPIs (§5.1, step 3).
const (
	refESPOut   = "0xd17c6fc7"
	refESPIn    = "0xb96e76e3"
	refAuthOut  = "2805572ebb343a19455d24854f69ff9fdc722fe56d737c85505ffdde66a431cf65a21442d160383d19f202e7e4b7bc6a"
	refAuthIn   = "7ccc4ee9cd241e671e28de3d74bfbd9a12286f2142ff0215855e78845e34d04686027c400b7be700600f2494197155f9"
	refEncrOut  = "c176e39efd2a1fdadcae2c3bfb5416e55b259e34c70186c7"
	refEncrIn   = "7aba94f4cbb051feb9750457ba07d5eaa720d34fa7a27c1c"
	refAddSA    = "ipsec addsa -n policy1 -e 3DES-CBC -a HMAC-SHA-2-384 -f " + refEncrIn + " -g " + refEncrOut + " -b " + refAuthIn + " -c " + refAuthOut + " -w " + refESPIn + " -x " + refESPOut + " -k 3600"
	refPolicyH2 = "ipsec policy -n policy1 -g remoteINFO -t ESP -e 3DES-CBC -a HMAC-SHA-2-384 -m transport -p tcp -r 10.0.0.77 -s 10.0.0.78 -d 10.0.0.77"
)

// netstatEnv is host2 of the reference's example 1 with the SAs of its
// step 3, a manual NAT-T tunnel, one packet sent and one dropped.
func netstatEnv(t *testing.T) *Env {
	env, clk := newEnv(t)
	env.ShowKeys = true
	env.LocalAddr = func(r netipAddr) (netipAddr, error) { return mustAddr("10.0.0.78"), nil }
	// What the daemon installs itself: the IKE bypass policy (§4.4).
	if _, err := env.Engine.SPD().AddBypassPolicy("10.0.0.78,500", "any", 17, 2); err != nil {
		t.Fatal(err)
	}
	mustRun(t, env, refPolicyH2)
	mustRun(t, env, `ipsec policy -n "any bypass" -b bypass -s any -d any -l 7`)
	mustRun(t, env, refAddSA)
	mustRun(t, env, "ipsec addsa -n nat -s 10.1.0.0/16 -d 10.2.0.0/16 -m tunnel -r 192.0.2.1 -e AES256-GCM16 -f "+hexKey(36, 1)+
		" -g "+hexKey(36, 2)+" -w 0x2001 -x 0x2002 -u 4500 -N -l 3")
	clk.Advance(161 * time.Second) // the reference's "HardExpiry in 3439 secs"

	pkt := ipPacket(t, "10.0.0.78", "10.0.0.77", []byte("x"))
	pkt.Bytes()[9] = 6 // tcp: the secure policy
	if _, err := env.Engine.Encapsulate(pkt); err != nil {
		t.Fatal(err)
	}
	clk.Advance(9 * time.Second)
	bad := ipPacket(t, "10.0.0.77", "10.0.0.78", make([]byte, 40))
	bad.Bytes()[9] = 50 // ESP with an SPI nobody has
	env.Engine.Decapsulate(bad)
	return env
}

func TestNetstat(t *testing.T) {
	env := netstatEnv(t)
	for _, tc := range []struct{ args, file string }{
		{"ipsec netstat", "netstat.golden"},
		{"ipsec netstat -p", "netstat-p.golden"},
		{"ipsec netstat -c", "netstat-c.golden"},
		{"ipsec netstat -a -k", "netstat-a-k.golden"},
		{"ipsec netstat -a --json -k", "netstat-a-k.json"},
	} {
		golden(t, tc.file, mustRun(t, env, tc.args))
	}
	// Keys only with -k, never in the tables otherwise.
	for _, args := range []string{"ipsec netstat", "ipsec netstat -a", "ipsec netstat -a -j", "ipsec policy -v"} {
		out := mustRun(t, env, args)
		for _, k := range []string{refAuthIn, refAuthOut, refEncrIn, refEncrOut} {
			if strings.Contains(out, k) {
				t.Errorf("%s shows a key", args)
			}
		}
	}
	env.ShowKeys = false
	_, err := run(t, env, "ipsec netstat -k")
	wantErr(t, "netstat -k without ShowKeys", err, xe.BadParam, "-k: key display is off")
	_, err = run(t, env, "ipsec netstat -x")
	wantErr(t, "netstat -x", err, xe.OK, `ipsec netstat: unknown option "-x"`)
	_, err = run(t, env, "ipsec netstat --yaml")
	wantErr(t, "netstat --yaml", err, xe.OK, `unknown option "--yaml"`)

	// Keys of SAs added while ShowKeys was off are not kept.
	mustRun(t, env, "ipsec addsa -n late -s 10.9.0.1 -d 10.9.0.2 -m transport -e aes128gcm16 -f "+hexKey(20, 1)+" -g "+hexKey(20, 2)+" -w 0x3001 -x 0x3002")
	env.ShowKeys = true
	if out := mustRun(t, env, "ipsec netstat -c -k"); !strings.Contains(out, "keys out ESP 00003002: not known") {
		t.Errorf("netstat -k shows keys of an SA added with key display off:\n%s", out)
	}

	empty, _ := newEnv(t)
	if out := mustRun(t, empty, "ipsec netstat"); out != "no IPsec sessions\n\nno policies\n" {
		t.Errorf("empty netstat: %q", out)
	}
}

// TestNetstatJSONShape pins the JSON field names scripts rely on.
func TestNetstatJSONShape(t *testing.T) {
	env := netstatEnv(t)
	var r map[string]json.RawMessage
	if err := json.Unmarshal([]byte(mustRun(t, env, "ipsec netstat -a -j -k")), &r); err != nil {
		t.Fatal(err)
	}
	keysOf := func(raw json.RawMessage) []string {
		var m map[string]json.RawMessage
		if err := json.Unmarshal(raw, &m); err != nil {
			t.Fatal(err)
		}
		var ks []string
		for k := range m {
			ks = append(ks, k)
		}
		slices.Sort(ks)
		return ks
	}
	first := func(raw json.RawMessage) json.RawMessage {
		var l []json.RawMessage
		if err := json.Unmarshal(raw, &l); err != nil || len(l) == 0 {
			t.Fatalf("not a non-empty list: %s", raw)
		}
		return l[0]
	}
	want := map[string][]string{
		"report":  {"drops", "engine", "policies", "sessions"},
		"policy":  {"action", "ah_algorithms", "dst", "esp_algorithms", "flags", "gateway", "ike_remote", "lifetime_seconds", "local", "mode", "name", "priority", "proto", "proto_number", "rekey_from_seconds", "rekey_seconds", "rekey_to_seconds", "replay_window", "sas", "spid", "src"},
		"session": {"name", "sas", "spid"},
		"sa": {"age_seconds", "algorithm", "bytes", "current", "direction", "dummy_rx", "dummy_tx", "encap", "esn", "hard_expires_in_seconds",
			"hard_lifetime", "icv_failures", "idle_seconds", "keys", "local", "mode", "packets", "protocol", "remote", "replay_drops",
			"replay_window", "sequence", "soft_expires_in_seconds", "soft_lifetime", "spi", "spi_hex", "state", "tfc_bytes", "tfc_padded"},
		"lifetime": {"bytes", "packets", "seconds"},
		"keys":     {"encryption", "encryption_key", "integrity", "integrity_key"},
	}
	all, _ := json.Marshal(r)
	var sessions []json.RawMessage
	json.Unmarshal(r["sessions"], &sessions)
	sa := first(mustField(t, sessions[1], "sas")) // policy1's: 3DES with HMAC
	got := map[string][]string{
		"report":   keysOf(all),
		"policy":   keysOf(first(r["policies"])),
		"session":  keysOf(first(r["sessions"])),
		"sa":       keysOf(sa),
		"lifetime": keysOf(mustField(t, sa, "hard_lifetime")),
		"keys":     keysOf(mustField(t, sa, "keys")),
	}
	for k, w := range want {
		if !slices.Equal(got[k], w) {
			t.Errorf("%s fields %q, want %q", k, got[k], w)
		}
	}
	var drops map[string]uint64
	json.Unmarshal(r["drops"], &drops)
	if len(drops) != int(xe.NumCodes)-1 || drops["XE_BAD_ESP_SPI"] != 1 {
		t.Errorf("drops: %v", drops)
	}
	var engine map[string]uint64
	json.Unmarshal(r["engine"], &engine)
	if engine["out_packets"] != 1 || engine["nat_keepalives"] != 0 {
		t.Errorf("engine: %v", engine)
	}

	// Only the parts asked for; empty lists are [] not null.
	empty, _ := newEnv(t)
	if out := mustRun(t, empty, "ipsec netstat -p -j"); out != "{\n  \"policies\": []\n}\n" {
		t.Errorf("netstat -p -j: %q", out)
	}
	if out := mustRun(t, empty, "ipsec netstat -j"); out != "{\n  \"policies\": [],\n  \"sessions\": []\n}\n" {
		t.Errorf("netstat -j: %q", out)
	}
}

func mustField(t *testing.T, raw json.RawMessage, name string) json.RawMessage {
	t.Helper()
	var m map[string]json.RawMessage
	if err := json.Unmarshal(raw, &m); err != nil {
		t.Fatal(err)
	}
	return m[name]
}

func TestSnakeCase(t *testing.T) {
	for in, want := range map[string]string{
		"OutPackets": "out_packets", "NATKeepalives": "nat_keepalives", "DummyTx": "dummy_tx",
		"TFCPadded": "tfc_padded", "AcquireRequested": "acquire_requested", "X": "x",
	} {
		if got := snakeCase(in); got != want {
			t.Errorf("snakeCase(%q) = %q, want %q", in, got, want)
		}
	}
}
