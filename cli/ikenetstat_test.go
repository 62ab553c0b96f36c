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

// TestIKENetstatProcessor: `ike netstat` shows the job processor's
// workers and why messages were dropped before a worker saw them, as text
// and as JSON (-j).
func TestIKENetstatProcessor(t *testing.T) {
	env, _ := newEnv(t)
	d, err := ike.New(ike.Config{Messaging: messaging.New(env.Engine), Log: slog.New(slog.NewTextHandler(io.Discard, nil)),
		Send: func([]byte, netip.AddrPort, netip.AddrPort) error { return nil }, Workers: 3})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(d.Close)
	env.IKE = d
	d.Enqueue([]byte("short"), netip.MustParseAddrPort("192.0.2.1:500"), netip.MustParseAddrPort("192.0.2.2:500"))
	d.ProcessorStats().InitShed.Add(4)
	out, err := run(t, env, "ike netstat")
	if err != nil {
		t.Fatal(err)
	}
	if want := "processor: 3 workers; 0 messages queued, 0 handled; dropped: 4 IKE_SA_INIT shed (queue over half full), 0 queue full, 1 without an IKE header, 0 at shutdown\n"; !strings.Contains(out, want) {
		t.Fatalf("ike netstat:\n%s\nlacks %q", out, want)
	}
	out, err = run(t, env, "ike netstat -j")
	if err != nil {
		t.Fatal(err)
	}
	var v struct{ Processor map[string]uint64 }
	if err := json.Unmarshal([]byte(out), &v); err != nil {
		t.Fatalf("%v:\n%s", err, out)
	}
	if v.Processor["workers"] != 3 || v.Processor["init_shed"] != 4 || v.Processor["no_header"] != 1 {
		t.Fatalf("processor %v", v.Processor)
	}
}
