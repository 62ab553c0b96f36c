//go:build sabre_nodemo

package main

import (
	"errors"
	"io"
)

// errNoDemo is what `sabre demo` says in a binary built without it.
var errNoDemo = errors.New("demo: this sabre was built with -tags sabre_nodemo, without the demo and gVisor (go run ./cmd/sabre demo has it)")

// runDemo is `sabre demo` in a binary built with -tags sabre_nodemo: the
// daemon and its clients without gVisor's stack and gopacket.
func runDemo([]string, io.Writer) error { return errNoDemo }
