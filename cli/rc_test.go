package cli

import (
	"errors"
	"fmt"
	"net/netip"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/sabre-ipsec/sabre/spd"
)

func TestParseRC(t *testing.T) {
	const text = `# ike_rc for host1
policy -n Policy1 -g mongo -l 4 -p udp -m transport -t ESP
       -a HMAC-MD5,HMAC-SHA-1 -e NULL_ENC,3DES-CBC,AES128-CBC -r 10.0.0.76
       -s 10.0.0.140 -d 10.0.0.76

ipsec policy -n Policy2 -g mongo -t ESP \
    -a HMAC-MD5 -e 3DES-CBC \   # a comment after the backslash
    -m transport -p tcp -r 10.0.0.76 -s 10.0.0.140 -d 10.0.0.76
remote -n mongo -z 2 -w -u -a HMAC-MD5 -e 3DES-CBC -d MODP2048,MODP1024
      -p HMAC-MD5 -m PSK -h secret -r 10.0.0.76
   # indented comment

ipsec netstat -p   # show what we did
ike remote -n "mongo V6" -z 2 -u -e AES128-GCM16 -p PRFSHA256 -d ECP256 -m PSK -h secret
`
	cmds, err := ParseRC(strings.NewReader(text), "ike_rc")
	if err != nil {
		t.Fatal(err)
	}
	want := []Command{
		{"ike_rc", 2, strings.Fields("ipsec policy -n Policy1 -g mongo -l 4 -p udp -m transport -t ESP -a HMAC-MD5,HMAC-SHA-1 -e NULL_ENC,3DES-CBC,AES128-CBC -r 10.0.0.76 -s 10.0.0.140 -d 10.0.0.76")},
		{"ike_rc", 6, strings.Fields("ipsec policy -n Policy2 -g mongo -t ESP -a HMAC-MD5 -e 3DES-CBC -m transport -p tcp -r 10.0.0.76 -s 10.0.0.140 -d 10.0.0.76")},
		{"ike_rc", 9, strings.Fields("ike remote -n mongo -z 2 -w -u -a HMAC-MD5 -e 3DES-CBC -d MODP2048,MODP1024 -p HMAC-MD5 -m PSK -h secret -r 10.0.0.76")},
		{"ike_rc", 13, strings.Fields("ipsec netstat -p")},
		{"ike_rc", 14, []string{"ike", "remote", "-n", "mongo V6", "-z", "2", "-u", "-e", "AES128-GCM16", "-p", "PRFSHA256", "-d", "ECP256", "-m", "PSK", "-h", "secret"}},
	}
	if len(cmds) != len(want) {
		t.Fatalf("got %d commands:\n%v", len(cmds), cmds)
	}
	for i := range want {
		if cmds[i].File != want[i].File || cmds[i].Line != want[i].Line || !slices.Equal(cmds[i].Args, want[i].Args) {
			t.Errorf("command %d:\n got %v\nwant %v", i, cmds[i], want[i])
		}
	}
	if s := cmds[4].String(); s != `ike_rc:14: ike remote -n "mongo V6" -z 2 -u -e AES128-GCM16 -p PRFSHA256 -d ECP256 -m PSK -h secret` {
		t.Errorf("String: %q", s)
	}

	// Edge cases of line joining.
	for _, tc := range []struct {
		text string
		want [][]string
	}{
		{"", nil},
		{"\n\n# x\n", nil},
		{"ipsec netstat", [][]string{{"ipsec", "netstat"}}},     // no final newline
		{"ipsec netstat\r\n", [][]string{{"ipsec", "netstat"}}}, // CRLF
		{"ipsec \\\n\\\nnetstat\n", [][]string{{"ipsec", "netstat"}}},
		{"ipsec netstat \\\n\nipsec help\n", [][]string{{"ipsec", "netstat"}, {"ipsec", "help"}}},
		{"\\\nipsec netstat\n", [][]string{{"ipsec", "netstat"}}},
		{"ipsec netstat\n# a comment \\\n-p\n", [][]string{{"ipsec", "netstat", "-p"}}},
		{"ipsec help \"a # b\"\n", nil}, // an error: checked below
	} {
		cmds, err := ParseRC(strings.NewReader(tc.text), "f")
		if tc.want == nil && strings.Contains(tc.text, "help") {
			if err == nil || !strings.Contains(err.Error(), `f:1: ipsec help: no manual page for "a # b"`) {
				t.Errorf("%q: error %v", tc.text, err)
			}
			continue
		}
		if err != nil {
			t.Errorf("%q: %v", tc.text, err)
			continue
		}
		var got [][]string
		for _, c := range cmds {
			got = append(got, c.Args)
		}
		if !slices.EqualFunc(got, tc.want, slices.Equal) {
			t.Errorf("%q: got %q, want %q", tc.text, got, tc.want)
		}
	}
}

func TestParseRCErrors(t *testing.T) {
	const text = `ipsec policy -n ok1 -e aes128gcm16 -m transport -s 10.0.0.1 -d 10.0.0.2
ipsec policy -n bad1 -e 3DES-CBX -a sha1 -m transport -s 10.0.0.1 -d 10.0.0.3
ipsec policy -n bad2 -e aes128gcm16 -m transport \
   -s 10.0.0.1 -d 10.0.0.300
ipsec polcy -n x
frobnicate now
ike netstat
ipsec flush -a
ipsec delsa -n ok1
ipsec policy -x ok1
ipsec policy -n ok1 -e aes128gcm16 -m transport -s 10.0.0.1 -d 10.0.0.9
ipsec netstat --help
ipsec policy -n q -e "aes128gcm16 -m transport -s 10.0.0.1 -d 10.0.0.4
ipsec addsa -n ok1 -e aes128gcm16 -f 00 -g 00 -w 0x1000 -x 0x1001
ipsec policy -n ok2 -e aes128gcm16 -m transport -s 10.0.0.1 -d 10.0.0.5
ipsec netstat \
`
	cmds, err := ParseRC(strings.NewReader(text), "/etc/sabre/ike_rc")
	if cmds != nil {
		t.Errorf("commands returned with errors: %v", cmds)
	}
	if err == nil {
		t.Fatal("no error")
	}
	want := []string{
		`/etc/sabre/ike_rc:2: ipsec policy: -e "3DES-CBX": unknown encryption algorithm`,
		`/etc/sabre/ike_rc:3: ipsec policy: -d "10.0.0.300": "10.0.0.300" is not an IPv4 or IPv6 address`,
		`/etc/sabre/ike_rc:5: ipsec: unknown command "polcy"`,
		`/etc/sabre/ike_rc:6: unknown command "frobnicate"`,
		`/etc/sabre/ike_rc:7: ike netstat: not allowed in an ike_rc`,
		`/etc/sabre/ike_rc:8: ipsec flush: not allowed in an ike_rc`,
		`/etc/sabre/ike_rc:9: ipsec delsa: not allowed in an ike_rc`,
		`/etc/sabre/ike_rc:10: ipsec policy: not allowed in an ike_rc`,
		`/etc/sabre/ike_rc:11: ipsec policy: -n "ok1": a policy of that name is added at line 1`,
		`/etc/sabre/ike_rc:12: ipsec netstat: --help is for the console`,
		`/etc/sabre/ike_rc:13: unterminated quote`,
		`/etc/sabre/ike_rc:14: ipsec addsa: -f: a 1-octet key; aes128gcm16 takes 20`,
		`/etc/sabre/ike_rc:16: '\' continues the command past the end of the file`,
	}
	var errs []error
	if j, ok := err.(interface{ Unwrap() []error }); ok {
		errs = j.Unwrap()
	}
	if len(errs) != len(want) {
		t.Errorf("%d errors, want %d:\n%v", len(errs), len(want), err)
	}
	for i, w := range want {
		if i < len(errs) && !strings.HasPrefix(errs[i].Error(), w) {
			t.Errorf("error %d:\n got %q\nwant %q...", i, errs[i], w)
		}
	}

	_, err = ParseRC(strings.NewReader("  -p tcp\nipsec netstat\n"), "rc")
	if err == nil || err.Error() != `rc:1: "-p": an option line continues the command before it, and there is none` {
		t.Errorf("leading option line: %v", err)
	}
}

// writeRC writes text to a file in a test directory and returns its path.
func writeRC(t *testing.T, name, text string) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), name)
	if err := os.WriteFile(path, []byte(text), 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

// policyNames lists the names of env's policies ("#id" for nameless ones).
func policyNames(env *Env) []string {
	var names []string
	for _, p := range env.Engine.SPD().List() {
		n := p.Name
		if n == "" {
			n = "#" + p.Src.String()
		}
		names = append(names, n)
	}
	slices.Sort(names)
	return names
}

const rcGood = `# two hosts' worth of policies
policy -n p1 -g mongo -p udp -m transport -t ESP -a HMAC-SHA-1 -e AES128-CBC -r 10.0.0.76 -s 10.0.0.77 -d 10.0.0.76
policy -n p2 -g mongo -p tcp -m transport -t ESP -a HMAC-SHA-1 -e AES128-CBC -r 10.0.0.76 -s 10.0.0.77 -d 10.0.0.76
ike remote -n mongo -z 2 -w -u -a HMAC-MD5 -e 3DES-CBC -d MODP1024 -p HMAC-MD5 -m PresharedKey -h secret -r 10.0.0.76
ipsec addsa -n m1 -s 10.9.0.0/16 -d 10.8.0.0/16 -m tunnel -r 192.0.2.1 \
    -e aes128gcm16 -f 000102030405060708090a0b0c0d0e0f10111213 -g 000102030405060708090a0b0c0d0e0f10111214 \
    -w 0x1001 -x 0x1002
ipsec addsa -n p1 -e AES128-CBC -a HMAC-SHA-1 -f 000102030405060708090a0b0c0d0e0f -g 000102030405060708090a0b0c0d0e0e \
    -b 000102030405060708090a0b0c0d0e0f10111213 -c 000102030405060708090a0b0c0d0e0f10111214 -w 0x2001 -x 0x2002
policy -n p3 -b bypass -s any -d any -l 7
`

func TestRunRC(t *testing.T) {
	env, _ := newEnv(t)
	var out strings.Builder
	path := writeRC(t, "ike_rc", rcGood)
	if err := env.RunRC(path, &out); err != nil {
		t.Fatal(err)
	}
	for _, w := range []string{
		"policy p1 added (spid 1)\npolicy p2 added (spid 2)\n",
		path + ":4: ike remote -n mongo: not applied: ike: no IKE daemon in this process\n",
		"2 SAs added with new policy 3 (m1)\n",
		"2 SAs added to policy 1 (p1)\n",
		path + ": 6 commands applied\n",
	} {
		if !strings.Contains(out.String(), w) {
			t.Errorf("output lacks %q:\n%s", w, out.String())
		}
	}
	if got := policyNames(env); !slices.Equal(got, []string{"m1", "p1", "p2", "p3"}) {
		t.Errorf("policies %v", got)
	}
	if n := env.Engine.SAD().Len(); n != 4 {
		t.Errorf("%d SAs, want 4", n)
	}

	// An error anywhere: nothing applied, every error reported.
	env2, _ := newEnv(t)
	bad := writeRC(t, "bad_rc", rcGood+"policy -n p4 -e 3DES -m transport -s any -d any\nipsec bogus\n")
	err := env2.RunRC(bad, &out)
	wantErr(t, "bad file", err, 0, bad+":11: ipsec policy: -e \"3DES\" needs an authentication algorithm",
		bad+":12: ipsec: unknown command \"bogus\"", bad+": 2 errors: nothing applied")
	if env2.Engine.SPD().Len() != 0 || env2.Engine.SAD().Len() != 0 {
		t.Errorf("a bad file applied something")
	}
	if err := env2.RunRC(filepath.Join(t.TempDir(), "missing"), &out); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("missing file: %v", err)
	}
}

// TestRunRCRollback: a command that fails when applied removes what the
// file added before it, and nothing else.
func TestRunRCRollback(t *testing.T) {
	for _, tc := range []struct {
		name, extra, want string
		line              int
	}{
		{"name in use", "policy -n console -e aes128gcm16 -m transport -s 10.5.0.1 -d 10.5.0.3\n",
			`a policy named "console" exists`, 11},
		{"same traffic", "policy -n dup -e aes128gcm16 -m transport -s 10.5.0.1 -d 10.5.0.2\n",
			"selects the same traffic", 11},
		{"SPI in use", "ipsec addsa -s 10.6.0.1 -d 10.6.0.2 -m transport -e aes128gcm16 -f 000102030405060708090a0b0c0d0e0f10111213 -g 000102030405060708090a0b0c0d0e0f10111214 -w 0x3001 -x 0x3002 -L 10.0.0.77\n",
			"an SA with that SPI, protocol and destination exists", 11},
		{"no local address", "policy -n t -e aes128gcm16 -m tunnel -r 192.0.2.7 -s any -d any -l 5\n",
			"this host's address toward 192.0.2.7 is not known here: give it with -L", 11},
	} {
		t.Run(tc.name, func(t *testing.T) {
			env, _ := newEnv(t)
			env.Engine.SPD().AddBypassPolicy("10.0.0.77,500", "any", 17, 2) // the daemon's
			mustRun(t, env, "ipsec policy -n console -e aes128gcm16 -m transport -s 10.5.0.1 -d 10.5.0.2")
			mustRun(t, env, "ipsec addsa -n console -e aes128gcm16 -f 000102030405060708090a0b0c0d0e0f10111213 -g 000102030405060708090a0b0c0d0e0f10111214 -w 0x3001 -x 0x3002 -L 10.0.0.77")
			before, sas := policyNames(env), env.Engine.SAD().All()
			// The first policy of the file gets its local address; then
			// LocalAddr goes away.
			local := env.LocalAddr
			env.LocalAddr = func(r netip.Addr) (netip.Addr, error) {
				if r == netip.MustParseAddr("192.0.2.1") {
					return local(r)
				}
				return netip.Addr{}, errors.New("unexpected")
			}
			if tc.name == "no local address" {
				env.LocalAddr = nil
			}
			text := strings.Replace(rcGood, "ipsec addsa -n p1", "ipsec addsa -n p1 -L 10.0.0.77", 1)
			if tc.name == "no local address" {
				text = strings.Replace(text, "-r 192.0.2.1", "-r 192.0.2.1 -L 10.0.0.77", 1)
			}
			path := writeRC(t, "ike_rc", text+tc.extra)
			var out strings.Builder
			err := env.RunRC(path, &out)
			rolled := "nothing applied (rolled back 4 policies, 2 SAs)"
			if tc.name == "no local address" {
				// p3 and t are one batch, which fails before p3 is added.
				rolled = "nothing applied (rolled back 3 policies, 2 SAs)"
			}
			wantErr(t, tc.name, err, 0, path+":"+strconv.Itoa(tc.line)+": ", tc.want, rolled)
			if got := policyNames(env); !slices.Equal(got, before) {
				t.Errorf("policies %v, want %v", got, before)
			}
			if got := env.Engine.SAD().All(); !slices.Equal(got, sas) {
				t.Errorf("SAs %v, want %v", got, sas)
			}
		})
	}
}

// TestRCBatchCulprit: a run of policies is added in one batch; when the
// batch fails, the error names the line at fault.
func TestRCBatchCulprit(t *testing.T) {
	env, _ := newEnv(t)
	var b strings.Builder
	for i := range 50 {
		fmt.Fprintf(&b, "policy -n p%d -e aes128gcm16 -m transport -s 10.0.0.1 -d 10.1.0.%d\n", i, i+1)
	}
	b.WriteString("policy -n last -e aes128gcm16 -m transport -s 10.0.0.1 -d 10.1.0.7\n")
	path := writeRC(t, "ike_rc", b.String())
	err := env.RunRC(path, &strings.Builder{})
	wantErr(t, "batch", err, 0, path+":51: ipsec policy -n last:", "selects the same traffic", "rolled back 50 policies")
	if env.Engine.SPD().Len() != 0 {
		t.Errorf("%d policies left", env.Engine.SPD().Len())
	}
	// Without the culprit all 50 go in.
	path = writeRC(t, "ike_rc", strings.TrimSuffix(b.String(), "policy -n last -e aes128gcm16 -m transport -s 10.0.0.1 -d 10.1.0.7\n"))
	if err := env.RunRC(path, &strings.Builder{}); err != nil || env.Engine.SPD().Len() != 50 {
		t.Errorf("50 policies: %v, %d added", err, env.Engine.SPD().Len())
	}
}

func TestReloadRC(t *testing.T) {
	env, _ := newEnv(t)
	env.ShowKeys = true
	env.Engine.SPD().AddBypassPolicy("10.0.0.77,500", "any", 17, 2) // the daemon's
	var out strings.Builder
	if err := env.RunRC(writeRC(t, "ike_rc", rcGood), &out); err != nil {
		t.Fatal(err)
	}
	mustRun(t, env, "ipsec policy -n console -e aes128gcm16 -m transport -s 10.5.0.1 -d 10.5.0.2")
	rcSAs := env.Engine.SAD().All()

	// A file with errors changes nothing.
	bad := writeRC(t, "bad", "policy -n new1 -e 3DES -m transport -s any -d any\n")
	err := env.ReloadRC(bad, &out)
	wantErr(t, "bad reload", err, 0, bad+":1: ", "nothing applied", "nothing changed")
	if got := policyNames(env); !slices.Equal(got, []string{"#10.0.0.77,500", "console", "m1", "p1", "p2", "p3"}) {
		t.Errorf("after a bad reload: %v", got)
	}

	// A good file replaces what the previous one installed, and only that.
	next := writeRC(t, "next", `policy -n p1 -p udp -m transport -t ESP -a HMAC-SHA-1 -e AES128-CBC -r 10.0.0.76 -s 10.0.0.77 -d 10.0.0.76
policy -n new1 -e aes256gcm16 -m transport -s 10.0.0.77 -d 10.0.0.99
`)
	out.Reset()
	if err := env.ReloadRC(next, &out); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(out.String(), next+": reloaded: 0 parts unchanged, 1 changed, 1 added, 4 removed") {
		t.Errorf("output: %q", out.String())
	}
	if got := policyNames(env); !slices.Equal(got, []string{"#10.0.0.77,500", "console", "new1", "p1"}) {
		t.Errorf("after reload: %v", got)
	}
	if n := env.Engine.SAD().Len(); n != 0 {
		t.Errorf("%d SAs left", n)
	}
	for _, sa := range rcSAs {
		if _, kept := env.state().keys[sa]; kept {
			t.Errorf("keys of a deleted SA kept")
		}
	}

	// A file that fails when applied: rolled back, the previous one back.
	p1 := env.Engine.SPD().ByName("p1")
	failing := writeRC(t, "failing", `policy -n other -e aes256gcm16 -m transport -s 10.0.0.77 -d 10.0.0.98
policy -n console -e aes256gcm16 -m transport -s 10.0.0.77 -d 10.0.0.97
`)
	err = env.ReloadRC(failing, &out)
	wantErr(t, "failing reload", err, 0, failing+":2: ipsec policy -n console:", failing+": nothing changed")
	if got := policyNames(env); !slices.Equal(got, []string{"#10.0.0.77,500", "console", "new1", "p1"}) {
		t.Errorf("after a failed reload: %v", got)
	}
	if env.Engine.SPD().ByName("p1") != p1 {
		t.Errorf("p1 was replaced by a reload that failed")
	}
	// ...and is tracked again: the next reload replaces it.
	if err := env.ReloadRC(writeRC(t, "empty", "# nothing\n"), &out); err != nil {
		t.Fatal(err)
	}
	if got := policyNames(env); !slices.Equal(got, []string{"#10.0.0.77,500", "console"}) {
		t.Errorf("after an empty reload: %v", got)
	}
}

// TestRCIgnoresDeletedPolicies: what an ike_rc installed may be deleted at
// the console before a reload.
func TestRCIgnoresDeletedPolicies(t *testing.T) {
	env, _ := newEnv(t)
	if err := env.RunRC(writeRC(t, "ike_rc", rcGood), &strings.Builder{}); err != nil {
		t.Fatal(err)
	}
	mustRun(t, env, "ipsec policy -x p1")
	mustRun(t, env, "ipsec flush -c")
	mustRun(t, env, "ipsec policy -n p1 -e aes128gcm16 -m transport -s 10.7.0.1 -d 10.7.0.2")
	if err := env.ReloadRC(writeRC(t, "next", "policy -n q -b drop -s any -d any\n"), &strings.Builder{}); err != nil {
		t.Fatal(err)
	}
	if got := policyNames(env); !slices.Equal(got, []string{"p1", "q"}) {
		t.Errorf("policies %v", got)
	}
	_ = spd.Bypass
}

// TestConcurrentCommands runs console commands, netstat and reloads at
// once (run with -race).
func TestConcurrentCommands(t *testing.T) {
	env, _ := newEnv(t)
	rc := writeRC(t, "ike_rc", rcGood)
	if err := env.RunRC(rc, &strings.Builder{}); err != nil {
		t.Fatal(err)
	}
	done := make(chan bool)
	for g := range 4 {
		go func() {
			defer func() { done <- true }()
			for i := range 20 {
				var out strings.Builder
				switch g {
				case 0:
					env.ReloadRC(rc, &out)
				case 1:
					env.Exec([]string{"ipsec", "netstat", "-a", "-j"}, &out)
				case 2:
					name := fmt.Sprintf("c%d", i)
					env.Exec([]string{"ipsec", "policy", "-n", name, "-b", "drop", "-s", "10.9.9.9", "-d", fmt.Sprintf("10.8.0.%d", i)}, &out)
					env.Exec([]string{"ipsec", "policy", "-x", name}, &out)
				case 3:
					env.Exec([]string{"ipsec", "policy", "-v"}, &out)
				}
			}
		}()
	}
	for range 4 {
		<-done
	}
	if got := policyNames(env); !slices.Equal(got, []string{"m1", "p1", "p2", "p3"}) {
		t.Errorf("policies after the storm: %v", got)
	}
}
