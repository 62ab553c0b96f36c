//go:build !sabre_nodemo

package main

import (
	"io"

	"github.com/sabre-ipsec/sabre/ports/gvisor/demo"
)

// runDemo is `sabre demo` (package ports/gvisor/demo). It links gVisor's
// stack and gopacket into this binary; `go build -tags sabre_nodemo`
// leaves them out (nodemo.go), for a gateway that runs only the daemon.
func runDemo(args []string, w io.Writer) error { return demo.Run(args, w) }
