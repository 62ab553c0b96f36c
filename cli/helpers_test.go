package cli

import (
	"net/netip"
	"strings"
	"testing"
	"time"

	"github.com/sabre-ipsec/sabre/ipsec"
	"github.com/sabre-ipsec/sabre/sad"
	"github.com/sabre-ipsec/sabre/spd"
	"github.com/sabre-ipsec/sabre/xe"
)

// testStart is the manual clock's start in every test.
var testStart = time.Date(2024, 1, 1, 0, 0, 0, 0, time.UTC)

// testLocal is the address LocalAddr returns toward remote in tests.
func testLocal(remote netip.Addr) (netip.Addr, error) {
	if remote.Is4() {
		return netip.MustParseAddr("10.0.0.77"), nil
	}
	return netip.MustParseAddr("fe80::862b:2bff:fe88:2662"), nil
}

// newEnv returns an Env over a fresh engine whose SAD runs on a manual
// clock, with LocalAddr set.
func newEnv(t testing.TB) (*Env, *sad.ManualClock) {
	t.Helper()
	clk := sad.NewManualClock(testStart)
	sas := sad.NewDB(sad.WithClock(clk))
	e := ipsec.New(spd.NewDB(), sas, ipsec.Config{Now: clk.Now})
	t.Cleanup(func() { e.Close(); sas.Close() })
	return &Env{Engine: e, LocalAddr: testLocal, now: clk.Now}, clk
}

// run executes one command line and returns its output.
func run(t testing.TB, env *Env, line string) (string, error) {
	t.Helper()
	args, err := SplitLine(line)
	if err != nil {
		t.Fatalf("SplitLine(%q): %v", line, err)
	}
	var out strings.Builder
	err = env.Exec(args, &out)
	return out.String(), err
}

// mustRun executes one command line that must succeed.
func mustRun(t testing.TB, env *Env, line string) string {
	t.Helper()
	out, err := run(t, env, line)
	if err != nil {
		t.Fatalf("%s: %v", line, err)
	}
	return out
}

// wantErr checks that err contains every one of wants and, if code is
// not OK, carries code.
func wantErr(t testing.TB, what string, err error, code xe.Code, wants ...string) {
	t.Helper()
	if err == nil {
		t.Fatalf("%s: no error, want one containing %q", what, wants)
	}
	for _, w := range wants {
		if !strings.Contains(err.Error(), w) {
			t.Errorf("%s: error %q does not contain %q", what, err, w)
		}
	}
	if code != xe.OK && xe.CodeOf(err) != code {
		t.Errorf("%s: error %q has code %v, want %v", what, err, xe.CodeOf(err).Name(), code.Name())
	}
}

type netipAddr = netip.Addr

func mustAddr(s string) netip.Addr { return netip.MustParseAddr(s) }
