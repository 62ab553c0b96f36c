package main

import (
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
)

// TestNoDemoBuildLeavesOutGVisor: built with -tags sabre_nodemo, sabre
// (the daemon and its clients) links neither gVisor nor gopacket; only the
// demo (ports/gvisor/demo) brings them in.
func TestNoDemoBuildLeavesOutGVisor(t *testing.T) {
	goTool, err := exec.LookPath("go")
	if err != nil {
		goTool = filepath.Join(runtime.GOROOT(), "bin", "go")
	}
	deps := func(tags ...string) []string {
		t.Helper()
		args := append([]string{"list", "-deps"}, tags...)
		out, err := exec.Command(goTool, append(args, ".")...).Output()
		if err != nil {
			t.Fatalf("go %s: %v", strings.Join(args, " "), err)
		}
		return strings.Fields(string(out))
	}
	linked := func(pkgs []string, what string) []string {
		var hit []string
		for _, p := range pkgs {
			if strings.HasPrefix(p, what) {
				hit = append(hit, p)
			}
		}
		return hit
	}
	const gv, gp, demo = "gvisor.dev/", "github.com/google/gopacket", "github.com/sabre-ipsec/sabre/ports/gvisor"
	nodemo := deps("-tags", "sabre_nodemo")
	for _, what := range []string{gv, gp, demo} {
		if hit := linked(nodemo, what); len(hit) > 0 {
			t.Errorf("built with -tags sabre_nodemo, sabre links %v", hit)
		}
	}
	// The default build has the demo, so that `go run ./cmd/sabre demo`
	// works; this checks the tag is what keeps them out.
	full := deps()
	for _, what := range []string{gv, gp, demo + "/demo"} {
		if len(linked(full, what)) == 0 {
			t.Errorf("the default build does not link %s: is the demo still in it?", what)
		}
	}
}

// TestTestutilOnlyInTests: internal/testutil (which imports testing) is
// imported by tests only, never by the code of another package.
func TestTestutilOnlyInTests(t *testing.T) {
	goTool, err := exec.LookPath("go")
	if err != nil {
		goTool = filepath.Join(runtime.GOROOT(), "bin", "go")
	}
	cmd := exec.Command(goTool, "list", "-f", "{{.ImportPath}} {{join .Imports \" \"}}", "./...")
	cmd.Dir = filepath.Join("..", "..")
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("go list ./...: %v", err)
	}
	const testutil = "github.com/sabre-ipsec/sabre/internal/testutil/"
	n := 0
	for _, line := range strings.Split(strings.TrimSpace(string(out)), "\n") {
		pkg, imports, _ := strings.Cut(line, " ")
		n++
		if strings.HasPrefix(pkg, testutil) {
			continue
		}
		for _, imp := range strings.Fields(imports) {
			if strings.HasPrefix(imp, testutil) {
				t.Errorf("%s imports %s outside its tests", pkg, imp)
			}
		}
	}
	if n < 10 {
		t.Fatalf("go list ./... listed %d packages:\n%s", n, out)
	}
}
