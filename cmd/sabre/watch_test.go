package main

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"
)

func TestWatchArgs(t *testing.T) {
	tests := []struct {
		in   []string
		want []string
		ok   bool
	}{
		{[]string{"netstat", "-w"}, []string{"netstat"}, true},
		{[]string{"netstat", "-a", "-w", "-j"}, []string{"netstat", "-a", "-j"}, true},
		{[]string{"netstat", "-a"}, []string{"netstat", "-a"}, false},
		{[]string{"policy", "-w"}, []string{"policy", "-w"}, false},
		{nil, nil, false},
	}
	for _, tt := range tests {
		got, ok := watchArgs(tt.in)
		if ok != tt.ok || !slices.Equal(got, tt.want) {
			t.Errorf("watchArgs(%q) = %q, %v; want %q, %v", tt.in, got, ok, tt.want, tt.ok)
		}
	}
}

// TestWatch: each round asks the daemon again and draws its reply; on a
// terminal the screen is cleared first; a failing command ends the watch
// with its status.
func TestWatch(t *testing.T) {
	for _, tty := range []bool{false, true} {
		ctx, cancel := context.WithCancel(context.Background())
		n := 0
		do := func(args []string) (int, []byte, error) {
			if !slices.Equal(args, []string{"netstat", "-a"}) {
				t.Errorf("asked %q", args)
			}
			n++
			if n == 3 {
				cancel()
			}
			return statusOK, []byte(fmt.Sprintf("round %d\n", n)), nil
		}
		var out, errOut strings.Builder
		if st := watch(ctx, do, []string{"netstat", "-a"}, &out, &errOut, tty, time.Millisecond); st != statusOK {
			t.Fatalf("status %d: %s", st, errOut.String())
		}
		for i := 1; i <= 3; i++ {
			if !strings.Contains(out.String(), fmt.Sprintf("round %d\n", i)) {
				t.Errorf("tty=%v: round %d not drawn:\n%s", tty, i, out.String())
			}
		}
		if got := strings.Count(out.String(), "\x1b[H\x1b[2J"); tty && got != 3 || !tty && got != 0 {
			t.Errorf("tty=%v: %d screen clears", tty, got)
		}
	}
	fail := func([]string) (int, []byte, error) { return statusFailed, []byte("no daemon IKE\n"), nil }
	var out, errOut strings.Builder
	if st := watch(context.Background(), fail, []string{"netstat"}, &out, &errOut, false, time.Millisecond); st != statusFailed || errOut.String() != "no daemon IKE\n" {
		t.Errorf("failing command: status %d, stderr %q", st, errOut.String())
	}
}
