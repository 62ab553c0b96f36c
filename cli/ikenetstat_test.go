package cli

import (
	"encoding/json"
	"io"
	"log/slog"
	"net/netip"
	"strings"
	"testing"

	"github.com/sabre-ipsec/sabre/ike"
	"github.com/sabre-ipsec/sabre/ipsec/messaging"
)

// TestIKENetstatErrorCounters: `ike netstat` shows the IKE daemon's
// contained panics and rate-limited error replies next to its other
// counters, as text and as JSON (-j).
func TestIKENetstatErrorCounters(t *testing.T) {
	env, _ := newEnv(t)
	d, err := ike.New(ike.Config{Messaging: messaging.New(env.Engine), Log: slog.New(slog.NewTextHandler(io.Discard, nil)),
		Send: func([]byte, netip.AddrPort, netip.AddrPort) error { return nil }})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(d.Close)
	env.IKE = d
	d.Stats().Panics.Add(2)
	d.Stats().RepliesLimited.Add(3)
	out, err := run(t, env, "ike netstat")
	if err != nil {
		t.Fatal(err)
	}
	if want := "errors: 2 panics contained (IKE SA deleted), 3 error replies to unauthenticated messages rate-limited\n"; !strings.Contains(out, want) {
		t.Fatalf("ike netstat:\n%s\nlacks %q", out, want)
	}
	out, err = run(t, env, "ike netstat -j")
	if err != nil {
		t.Fatal(err)
	}
	var v struct{ Counters map[string]uint64 }
	if err := json.Unmarshal([]byte(out), &v); err != nil {
		t.Fatalf("%v:\n%s", err, out)
	}
	if v.Counters["panics"] != 2 || v.Counters["replies_limited"] != 3 {
		t.Fatalf("counters %v", v.Counters)
	}
}
