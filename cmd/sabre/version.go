package main

import (
	"fmt"
	"runtime/debug"
	"strings"
)

// versionString says which build of sabre this is, from what the Go
// toolchain recorded in the binary: the module version ("v1.2.3" for
// `go install ...@v1.2.3`, "(devel)" for a build from a checkout), the VCS
// revision and whether the tree had uncommitted changes (builds from a
// checkout with -buildvcs, the default outside GOFLAGS=-buildvcs=false),
// and the Go version.
func versionString(info *debug.BuildInfo, ok bool) string {
	if !ok || info == nil {
		return "sabre (no build information: built without module support)"
	}
	version := info.Main.Version
	if version == "" {
		version = "(unknown)"
	}
	var rev, when, modified string
	for _, s := range info.Settings {
		switch s.Key {
		case "vcs.revision":
			rev = s.Value
		case "vcs.time":
			when = s.Value
		case "vcs.modified":
			modified = s.Value
		}
	}
	var b strings.Builder
	fmt.Fprintf(&b, "sabre %s", version)
	if rev != "" {
		fmt.Fprintf(&b, " revision %s", rev)
		if modified == "true" {
			b.WriteString(" (modified)")
		}
		if when != "" {
			fmt.Fprintf(&b, " committed %s", when)
		}
	}
	if info.GoVersion != "" {
		fmt.Fprintf(&b, " built with %s", info.GoVersion)
	}
	return b.String()
}

// version is `sabre version` and `sabre --version`.
func version() string {
	return versionString(debug.ReadBuildInfo())
}
