package cli

import (
	"encoding/json"
	"regexp"
	"slices"
	"strings"
	"testing"
)

func FuzzSplitLine(f *testing.F) {
	for _, s := range []string{
		"ipsec netstat -a", `ipsec policy -n "my policy" -g x # comment`, `a"b c"d`, `""`, `"unterminated`,
		"\t\r\n\v\f", "#", `"#"`, "x#y\"z",
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, line string) {
		words, err := SplitLine(line)
		if err != nil {
			if !strings.Contains(line, `"`) {
				t.Fatalf("error without a quote in the line: %v", err)
			}
			return
		}
		// Words never hold a quote; quoted back, they split the same.
		q := make([]string, len(words))
		for i, w := range words {
			if strings.Contains(w, `"`) {
				t.Fatalf("word %q holds a quote", w)
			}
			q[i] = quoteWord(w)
		}
		again, err := SplitLine(strings.Join(q, " "))
		if err != nil || !slices.Equal(again, words) {
			t.Fatalf("round trip of %q: %q, %v", words, again, err)
		}
	})
}

// fuzzExecSeeds are command sequences, one command per line, for FuzzExec.
func fuzzExecSeeds() []string {
	k20, k24 := hexKey(20, 1), hexKey(24, 2)
	return []string{
		ref1 + "\nipsec netstat -a -k -j",
		"ipsec policy -n T -e aes128gcm16 -m tunnel -r 10.0.0.9 -s any -d any -c -y -E -F set -R 0\n" +
			"ipsec addsa -n T -e aes128gcm16 -f " + k20 + " -g " + k20 + " -w 0x1001 -x 0x1002 -u 4500\n" +
			"ipsec netstat -a -k\nipsec delsa -n T\nipsec flush -a",
		"ipsec addsa -s 10.0.0.1 -d 10.0.0.2 -m transport -e 3DES-CBC -a sha1 -f " + k24 + " -g " + k24 + " -b " + k20 + " -c " + k20 + " -w 300 -x 301 -N -k 5\n" +
			"ipsec policy -v\nipsec policy -x ALLPOLICIES\nipsec netstat",
		"ipsec addsa -s 10.0.0.1 -d 10.0.0.2 -m transport -a sha1 -b " + k20 + " -c " + k20 + " -y 300 -z 301 -R 0\nipsec delsa -s 10.0.0.1 -d 10.0.0.2",
		"ipsec help\nipsec policy -v -n x\nike remote -n x\nipsec flush -p",
		"ipsec\x00policy\x00-n\x00a b\x00-b\x00drop\x00-s\x00any6\x00-d\x00any6\nipsec netstat -p",
	}
}

// FuzzExec runs random command sequences against a fresh engine: no
// panic, and netstat still works afterwards. Each line is a command, split
// by SplitLine, or at NUL bytes if it has any (to reach words SplitLine
// cannot make).
func FuzzExec(f *testing.F) {
	for _, s := range fuzzExecSeeds() {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, data string) {
		env, _ := newEnv(t)
		env.ShowKeys = true
		var out strings.Builder
		for _, line := range strings.Split(data, "\n") {
			args := strings.Split(line, "\x00")
			if len(args) == 1 {
				var err error
				if args, err = SplitLine(line); err != nil {
					continue
				}
			}
			env.Exec(args, &out)
		}
		out.Reset()
		if err := env.Exec([]string{"ipsec", "netstat", "-a", "-k", "-j"}, &out); err != nil {
			t.Fatal(err)
		}
		if !json.Valid([]byte(out.String())) {
			t.Fatalf("netstat -j is not JSON:\n%s", out.String())
		}
		if err := env.Exec([]string{"ipsec", "netstat", "-a", "-k"}, &out); err != nil {
			t.Fatal(err)
		}
	})
}

var rcErrorLine = regexp.MustCompile(`^ike_rc:\d+: `)

// FuzzParseRC parses random ike_rc text: no panic; every error carries
// file:line; the commands parse again as Exec takes them; and applying
// them either succeeds or leaves nothing behind.
func FuzzParseRC(f *testing.F) {
	f.Add(rcGood)
	f.Add(example51Host2)
	f.Add("policy -n a -e aes128gcm16 -m transport -s 10.0.0.1 -d 10.0.0.2\n  -p tcp\nipsec policy -n b -b drop -s any -d any\n")
	f.Add("policy -n a -e aes128gcm16 -m tunnel -r 1.2.3.4 -s any -d any\npolicy -n b -e aes128gcm16 -m tunnel -r 1.2.3.4 -s any -d any\n")
	f.Add("ipsec flush -a\n\\\n-x\n\"")
	f.Fuzz(func(t *testing.T, text string) {
		cmds, err := ParseRC(strings.NewReader(text), "ike_rc")
		if err != nil {
			if cmds != nil {
				t.Fatal("commands with an error")
			}
			var errs []error
			if j, ok := err.(interface{ Unwrap() []error }); ok {
				errs = j.Unwrap()
			}
			for _, e := range errs {
				if !rcErrorLine.MatchString(e.Error()) {
					t.Fatalf("error without file:line: %q", e)
				}
			}
			return
		}
		lines := strings.Count(text, "\n") + 1
		for _, c := range cmds {
			if c.Line < 1 || c.Line > lines || len(c.Args) < 2 || (c.Args[0] != "ipsec" && c.Args[0] != "ike") {
				t.Fatalf("bad command %v", c)
			}
			if _, err := parseCommand(c.Args, true); err != nil {
				t.Fatalf("%v: parses in the file but not again: %v", c, err)
			}
		}
		env, _ := newEnv(t)
		env.mu.Lock()
		_, err = env.applyRC(cmds, &strings.Builder{})
		env.mu.Unlock()
		if err != nil && (env.Engine.SPD().Len() != 0 || env.Engine.SAD().Len() != 0) {
			t.Fatalf("failed (%v) but left %d policies, %d SAs", err, env.Engine.SPD().Len(), env.Engine.SAD().Len())
		}
	})
}
