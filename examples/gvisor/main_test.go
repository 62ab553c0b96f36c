package main

import (
	"bytes"
	"regexp"
	"strconv"
	"strings"
	"testing"
)

// TestExample runs the example: the echo must come back whole through
// ESP, and each engine must have secured and opened packets.
func TestExample(t *testing.T) {
	var out strings.Builder
	if err := run(bytes.Repeat([]byte("example "), 20000), &out); err != nil {
		t.Fatal(err)
	}
	re := regexp.MustCompile(`(?m)^10\.0\.0\.[12]: (\d+) packets secured, (\d+) opened$`)
	m := re.FindAllStringSubmatch(out.String(), -1)
	if len(m) != 2 {
		t.Fatalf("output lacks both engines' counters:\n%s", out.String())
	}
	for _, l := range m {
		secured, _ := strconv.Atoi(l[1])
		opened, _ := strconv.Atoi(l[2])
		if secured == 0 || opened == 0 {
			t.Errorf("an engine secured or opened nothing: %q", l[0])
		}
	}
	if !strings.Contains(out.String(), "echoed 160000 bytes through ESP") {
		t.Errorf("output:\n%s", out.String())
	}
}
