package main

import (
	"os"
	"regexp"
	"strings"
	"testing"

	"github.com/prometheus/client_golang/prometheus"
)

// TestREADMEListsMetrics: every metric the collector describes is named
// in the README's table.
func TestREADMEListsMetrics(t *testing.T) {
	readme, err := os.ReadFile("../../README.md")
	if err != nil {
		t.Fatal(err)
	}
	ch := make(chan *prometheus.Desc, 100)
	(&metricsCollector{}).Describe(ch)
	close(ch)
	re := regexp.MustCompile(`fqName: "([a-z_]+)"`)
	n := 0
	for d := range ch {
		m := re.FindStringSubmatch(d.String())
		if m == nil {
			t.Fatalf("no name in %s", d)
		}
		n++
		if !strings.Contains(string(readme), "`"+m[1]+"`") {
			t.Errorf("README does not list %s", m[1])
		}
	}
	if n < 20 {
		t.Errorf("only %d metrics described", n)
	}
}
