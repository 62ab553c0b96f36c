package cli

import (
	"errors"
	"strings"
	"testing"

	"github.com/sabre-ipsec/sabre/xe"
)

func TestExecDispatch(t *testing.T) {
	env, _ := newEnv(t)
	tests := []struct {
		args []string
		code xe.Code
		want string
	}{
		{nil, xe.OK, "empty command"},
		{[]string{"ipsec"}, xe.OK, "ipsec: missing command (one of addsa, delsa, flush, help, netstat, policy"},
		{[]string{"ipsec", "polcy"}, xe.OK, `ipsec: unknown command "polcy"`},
		{[]string{"route", "add"}, xe.OK, `unknown command "route" (commands start with "ipsec" or "ike")`},
		{[]string{"ike"}, xe.OK, "ike: missing command"},
		{[]string{"ike", "remote", "-n", "mongo"}, xe.OK, `ike remote mongo: -e <encryption list> is required`},
		{[]string{"remote", "-n", "mongo"}, xe.OK, `ike remote mongo: -e <encryption list> is required`},
		{[]string{"ike", "debug", "-t"}, xe.OK, `ike: no IKE daemon in this process`},
		{[]string{"ike", "frobnicate"}, xe.OK, `ike: unknown command "frobnicate"`},
		{[]string{"ipsec", "help", "nope"}, xe.OK, `ipsec help: no manual page for "nope"`},
		{[]string{"ipsec", "help", "policy", "addsa"}, xe.OK, `ipsec help: unexpected argument "addsa"`},
	}
	for _, tc := range tests {
		var out strings.Builder
		err := env.Exec(tc.args, &out)
		wantErr(t, strings.Join(tc.args, " "), err, tc.code, tc.want)
		if out.Len() != 0 {
			t.Errorf("%q: output %q", tc.args, out.String())
		}
	}
	if err := env.Exec([]string{"ike", "netstat"}, &strings.Builder{}); !errors.Is(err, errNoIKE) {
		t.Errorf("ike error does not match errNoIKE: %v", err)
	}
	var noEngine Env
	err := noEngine.Exec([]string{"ipsec", "netstat"}, &strings.Builder{})
	wantErr(t, "no engine", err, xe.OK, "ipsec netstat: no engine")
	if err := noEngine.Exec([]string{"ipsec", "help"}, &strings.Builder{}); err != nil {
		t.Errorf("help without an engine: %v", err)
	}
	if err := noEngine.RunRC("/nonexistent/ike_rc", &strings.Builder{}); err == nil {
		t.Errorf("RunRC of a missing file without an engine: no error")
	}
}

func TestHelp(t *testing.T) {
	env, _ := newEnv(t)
	tests := []struct {
		line string
		want string
	}{
		{"ipsec help", manIntro},
		{"ipsec help policy", manPolicy},
		{"ipsec help addsa", manAddSA},
		{"ipsec help ike_rc", manRC},
		{"ipsec help rc", manRC},
		{"ipsec help ike", manIKE},
		{"ipsec help help", manIntro},
		{"ipsec policy --help", manPolicy},
		{"policy --help", manPolicy},
		{"ipsec addsa -h", manAddSA},
		{"ipsec delsa --help", manDelSA},
		{"ipsec flush -h", manFlush},
		{"ipsec netstat --help", manNetstat},
		{"ipsec netstat -a -h", manNetstat},
		{"ike remote --help", manIKE},
	}
	for _, tc := range tests {
		out := mustRun(t, env, tc.line)
		if !strings.HasPrefix(out, tc.want) {
			t.Errorf("%s: got %.60q..., want %.60q...", tc.line, out, tc.want)
		}
	}
	all := mustRun(t, env, "ipsec help")
	for _, page := range []string{manPolicy, manAddSA, manDelSA, manFlush, manNetstat, manRC, manIKE} {
		if !strings.Contains(all, page) {
			t.Errorf("ipsec help lacks %.40q", page)
		}
	}
	// -h of ipsec policy is the short ICV option, not help.
	_, err := run(t, env, "ipsec policy -h")
	wantErr(t, "policy -h", err, xe.BadParam, "-n name is required")
	// Every option letter the parsers take is in its manual page.
	for _, c := range []struct {
		spec optSpec
		man  string
	}{{policySpec, manPolicy}, {addsaSpec, manAddSA}, {delsaSpec, manDelSA}, {"acp", manFlush}, {"acpkj", manNetstat}} {
		for _, l := range strings.ReplaceAll(string(c.spec), ":", "") {
			if !strings.Contains(c.man, "-"+string(l)) {
				t.Errorf("option -%c is not in its manual page", l)
			}
		}
	}
	// Pages fit an 80-column terminal.
	for _, l := range strings.Split(all, "\n") {
		if len([]rune(l)) > 79 {
			t.Errorf("manual line longer than 79 columns: %q", l)
		}
	}
}

func TestFlush(t *testing.T) {
	k := hexKey(20, 1)
	setup := func(t *testing.T) *Env {
		env, _ := newEnv(t)
		env.ShowKeys = true
		env.Engine.SPD().AddBypassPolicy("10.0.0.77,500", "any", 17, 2)
		mustRun(t, env, "ipsec policy -n a -e aes128gcm16 -m transport -s 10.0.0.77 -d 10.0.0.78")
		mustRun(t, env, "ipsec addsa -n a -e aes128gcm16 -f "+k+" -g "+k+" -w 0x1001 -x 0x1002")
		mustRun(t, env, "ipsec addsa -s 10.0.0.77 -d 10.0.0.79 -m transport -e aes128gcm16 -f "+k+" -g "+k+" -w 0x2001 -x 0x2002")
		return env
	}
	tests := []struct {
		line          string
		out           string
		policies, sas int
	}{
		{"ipsec flush -c", "flushed 0 policies, 4 SAs\n", 3, 0},
		{"ipsec flush -p", "flushed 3 policies, 4 SAs\n", 0, 0},
		{"ipsec flush -a", "flushed 3 policies, 4 SAs\n", 0, 0},
		{"ipsec flush -c -p", "flushed 3 policies, 4 SAs\n", 0, 0},
	}
	for _, tc := range tests {
		env := setup(t)
		if out := mustRun(t, env, tc.line); out != tc.out {
			t.Errorf("%s: %q, want %q", tc.line, out, tc.out)
		}
		if p, s := env.Engine.SPD().Len(), env.Engine.SAD().Len(); p != tc.policies || s != tc.sas {
			t.Errorf("%s: %d policies, %d SAs left; want %d, %d", tc.line, p, s, tc.policies, tc.sas)
		}
		if n := len(env.state().keys); n != 0 {
			t.Errorf("%s: %d SAs' keys still kept", tc.line, n)
		}
	}
	env := setup(t)
	_, err := run(t, env, "ipsec flush")
	wantErr(t, "bare flush", err, xe.BadParam, "give -a (SAs and policies), -c (SAs) or -p (policies)")
	_, err = run(t, env, "ipsec flush -x")
	wantErr(t, "flush -x", err, xe.OK, `ipsec flush: unknown option "-x"`)
	_, err = run(t, env, "ipsec flush all")
	wantErr(t, "flush all", err, xe.OK, `ipsec flush: unexpected argument "all"`)
	if env.Engine.SPD().Len() != 3 {
		t.Errorf("a refused flush flushed")
	}
	// After flush -p the policy addsa created is forgotten: a later delsa
	// on new SAs of the same selectors keeps its policy.
	mustRun(t, env, "ipsec flush -p")
	mustRun(t, env, "ipsec policy -n b -e aes128gcm16 -m transport -s 10.0.0.77 -d 10.0.0.79")
	mustRun(t, env, "ipsec addsa -n b -e aes128gcm16 -f "+k+" -g "+k+" -w 0x2001 -x 0x2002")
	mustRun(t, env, "ipsec delsa -s 10.0.0.77 -d 10.0.0.79")
	if env.Engine.SPD().ByName("b") == nil {
		t.Errorf("delsa deleted a policy addsa did not create")
	}
}

func TestGetopt(t *testing.T) {
	tests := []struct {
		args []string
		want map[byte]string
		err  string
	}{
		{[]string{"-a", "x", "-c", "-b", "y"}, map[byte]string{'a': "x", 'b': "y", 'c': ""}, ""},
		{[]string{"--json"}, map[byte]string{'j': ""}, ""},
		{[]string{"-a", "-5"}, map[byte]string{'a': "-5"}, ""},
		{[]string{"-a", "-"}, map[byte]string{'a': "-"}, ""},
		{[]string{"-a", ""}, map[byte]string{'a': ""}, ""},
		{[]string{"-"}, nil, `unexpected argument "-"`},
		{[]string{"-:"}, nil, `unknown option "-:"`},
		{[]string{"--xml"}, nil, `unknown option "--xml"`},
		{[]string{"-abc"}, nil, `unknown option "-abc" (options are one letter each`},
		{[]string{"-c", "-c"}, nil, `option "-c" given twice`},
		{[]string{"-a"}, nil, `option "-a" needs a value`},
		{[]string{"-a", "--json"}, nil, `option "-a" needs a value, not the option "--json"`},
		{[]string{"-h"}, nil, "help requested"},
		{[]string{"-a", "x", "--help"}, nil, "help requested"},
	}
	for _, tc := range tests {
		o, err := parseOpts("cmd", tc.args, "a:b:cj", map[string]byte{"json": 'j'})
		if tc.err != "" {
			if err == nil || !strings.Contains(err.Error(), tc.err) {
				t.Errorf("%q: error %v, want %q", tc.args, err, tc.err)
			}
			continue
		}
		if err != nil || len(o.vals) != len(tc.want) {
			t.Errorf("%q: %v, %v", tc.args, o, err)
			continue
		}
		for k, v := range tc.want {
			if got, ok := o.get(k); !ok || got != v {
				t.Errorf("%q: -%c = %q, want %q", tc.args, k, got, v)
			}
		}
	}
}
