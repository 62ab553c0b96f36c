package main

import (
	"os"
	"os/exec"
	"path/filepath"
	"runtime/debug"
	"strings"
	"testing"
)

func TestVersionString(t *testing.T) {
	tests := []struct {
		name string
		info *debug.BuildInfo
		ok   bool
		want string
	}{
		{"no info", nil, false, "sabre (no build information: built without module support)"},
		{"go install @version", &debug.BuildInfo{GoVersion: "go1.26.3", Main: debug.Module{Version: "v0.3.0"}},
			true, "sabre v0.3.0 built with go1.26.3"},
		{"clean checkout", &debug.BuildInfo{GoVersion: "go1.26.3", Main: debug.Module{Version: "(devel)"},
			Settings: []debug.BuildSetting{{Key: "vcs", Value: "git"}, {Key: "vcs.revision", Value: "d18caa5e"},
				{Key: "vcs.time", Value: "2026-12-08T00:10:00Z"}, {Key: "vcs.modified", Value: "false"}}},
			true, "sabre (devel) revision d18caa5e committed 2026-12-08T00:10:00Z built with go1.26.3"},
		{"dirty checkout", &debug.BuildInfo{GoVersion: "go1.26.3", Main: debug.Module{Version: "(devel)"},
			Settings: []debug.BuildSetting{{Key: "vcs.revision", Value: "d18caa5e"}, {Key: "vcs.modified", Value: "true"}}},
			true, "sabre (devel) revision d18caa5e (modified) built with go1.26.3"},
		{"empty version", &debug.BuildInfo{}, true, "sabre (unknown)"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := versionString(tt.info, tt.ok); got != tt.want {
				t.Errorf("versionString = %q, want %q", got, tt.want)
			}
		})
	}
}

// TestVersionCommand builds sabre with VCS stamping and checks that
// `sabre version` and `sabre --version` print what the toolchain recorded
// in the binary (as `go version -m` reads it back): the revision when the
// build found the repository (not from a git worktree, whose .git is a
// file the go command does not follow), and always the Go version.
func TestVersionCommand(t *testing.T) {
	if testing.Short() {
		t.Skip("builds the binary")
	}
	bin := filepath.Join(t.TempDir(), "sabre")
	build := exec.Command("go", "build", "-buildvcs=auto", "-o", bin, ".")
	build.Env = append(os.Environ(), "GOFLAGS=")
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	meta, err := exec.Command("go", "version", "-m", bin).Output()
	if err != nil {
		t.Fatalf("go version -m: %v", err)
	}
	var rev, goVersion, modVersion string
	for i, l := range strings.Split(string(meta), "\n") {
		f := strings.Fields(l)
		switch {
		case i == 0 && len(f) == 2:
			goVersion = f[1] // "<path>: go1.26.3"
		case len(f) >= 3 && f[0] == "mod":
			modVersion = f[2] // "(devel)", or a pseudo-version from the VCS
		case len(f) == 2 && f[0] == "build" && strings.HasPrefix(f[1], "vcs.revision="):
			rev = strings.TrimPrefix(f[1], "vcs.revision=")
		}
	}
	if goVersion == "" || modVersion == "" {
		t.Fatalf("go version -m printed no Go version:\n%s", meta)
	}
	for _, arg := range []string{"version", "--version"} {
		out, err := exec.Command(bin, arg).CombinedOutput()
		if err != nil {
			t.Fatalf("sabre %s: %v\n%s", arg, err, out)
		}
		got := strings.TrimSpace(string(out))
		if !strings.HasPrefix(got, "sabre "+modVersion) || !strings.HasSuffix(got, " built with "+goVersion) {
			t.Errorf("sabre %s = %q, want sabre %s ... built with %s", arg, got, modVersion, goVersion)
		}
		if rev != "" && !strings.Contains(got, " revision "+rev) {
			t.Errorf("sabre %s = %q, want revision %s (recorded by the build)", arg, got, rev)
		}
		if rev == "" && strings.Contains(got, "revision") {
			t.Errorf("sabre %s = %q names a revision the build did not record", arg, got)
		}
	}
}
