package gvisor

import (
	"flag"
	"os"
	"testing"

	"gvisor.dev/gvisor/pkg/refs"
)

// TestMain runs the tests under gVisor's reference leak checker: a
// PacketBuffer that the Endpoint (or anything else) forgot to release, or
// released once too often, fails the run. Benchmarks run without it, since
// the checker tracks every buffer.
func TestMain(m *testing.M) {
	flag.Parse()
	check := flag.Lookup("test.bench").Value.String() == ""
	if check {
		refs.SetLeakMode(refs.LeaksPanic)
	}
	code := m.Run()
	if check {
		refs.DoLeakCheck()
	}
	os.Exit(code)
}
