package main

import (
	"io"
	"strings"
	"testing"
)

// FuzzOperatorFlags feeds -address and -log-level values to sabre run's
// flag parser and logger: never a panic, and a refused value is named in
// the error.
func FuzzOperatorFlags(f *testing.F) {
	for _, s := range [][2]string{{"10.201.1.1/32", "info"}, {"fd00::1,10.0.0.1/8", "info,ike=debug"},
		{"10.201.1.300/32", "loud"}, {"", "ike="}, {",", "=debug"}, {"::/0", "warn,tun=error,ike=debug"}} {
		f.Add(s[0], s[1])
	}
	f.Fuzz(func(t *testing.T, addr, levels string) {
		_, err := parseRunFlags([]string{"-address", addr}, io.Discard)
		if err != nil && !strings.Contains(err.Error(), "-address") {
			t.Errorf("-address %q: error does not name the flag: %v", addr, err)
		}
		if _, err := newLogger("text", levels, false, io.Discard); err != nil && !strings.Contains(err.Error(), "-log-level") {
			t.Errorf("-log-level %q: error does not name the flag: %v", levels, err)
		}
	})
}
