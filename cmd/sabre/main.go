// Command sabre is Sabre's binary. This version has the data-plane demo;
// `run`, `ipsec`, `ike` and `console` arrive with the control plane.
package main

import (
	"fmt"
	"os"
)

const usage = `usage: sabre <command> [flags]

commands:
  demo      two in-process IPsec hosts exchange traffic through ESP (no root needed)
  version   print the version
`

func main() {
	if len(os.Args) < 2 {
		fmt.Fprint(os.Stderr, usage)
		os.Exit(2)
	}
	var err error
	switch os.Args[1] {
	case "demo":
		err = runDemo(os.Args[2:], os.Stdout)
	case "version":
		fmt.Println("sabre (development)")
	case "-h", "--help", "help":
		fmt.Print(usage)
	default:
		fmt.Fprintf(os.Stderr, "sabre: unknown command %q\n%s", os.Args[1], usage)
		os.Exit(2)
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "sabre:", err)
		os.Exit(1)
	}
}
