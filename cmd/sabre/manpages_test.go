package main

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// TestManPages writes the man pages, has groff render each one with all
// warnings on (none may be printed), and checks that every line of the
// text the commands print is in the rendered page: the pages are that
// text, not a copy of it.
func TestManPages(t *testing.T) {
	dir := t.TempDir()
	if err := runMan([]string{"-dir", dir}); err != nil {
		t.Fatal(err)
	}
	groff, err := exec.LookPath("groff")
	if err != nil {
		t.Skip("no groff to render the pages with")
	}
	helpOf := func(page ...string) string {
		s, err := ipsecHelp(page...)
		if err != nil {
			t.Fatal(err)
		}
		return s
	}
	var runHelp strings.Builder
	parseRunFlags([]string{"-h"}, &runHelp)
	want := map[string][]string{
		"sabre.8":       {usage, runHelp.String()},
		"sabre-ipsec.8": {helpOf("policy"), helpOf("addsa"), helpOf("delsa"), helpOf("flush"), helpOf("netstat"), helpOf("help")},
		"sabre-ike.8":   {helpOf("ike")},
		"ike_rc.5":      {helpOf("ike_rc")},
	}
	entries, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	if len(entries) != len(want) {
		t.Errorf("sabre man wrote %d files, want %d", len(entries), len(want))
	}
	for name, texts := range want {
		path := filepath.Join(dir, name)
		cmd := exec.Command(groff, "-man", "-Tutf8", "-ww", "-P-cbou", path)
		var stderr strings.Builder
		cmd.Stderr = &stderr
		out, err := cmd.Output()
		if err != nil || stderr.Len() > 0 {
			t.Fatalf("groff %s: %v\n%s", name, err, stderr.String())
		}
		rendered := normalizeSpace(string(out))
		for _, text := range texts {
			for _, line := range strings.Split(text, "\n") {
				if l := normalizeSpace(line); l != "" && !strings.Contains(rendered, l) {
					t.Errorf("%s lacks the line %q", name, l)
				}
			}
		}
		if t.Failed() {
			t.Logf("%s rendered:\n%s", name, out)
		}
	}
}

func normalizeSpace(s string) string { return strings.Join(strings.Fields(s), " ") }
