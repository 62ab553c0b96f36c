// Command sabre is Sabre's binary: the daemon (`sabre run`, a userspace
// IPsec VPN on a TUN device), its clients (`sabre ipsec`, `sabre ike`,
// `sabre console`, which talk to it over its control socket) and the
// in-process demo (`sabre demo`: two gVisor hosts, IKEv2 and ESP; package
// ports/gvisor/demo, left out by -tags sabre_nodemo).
package main

import (
	"fmt"
	"os"
)

const usage = `usage: sabre <command> [flags]

commands:
  run       the daemon: IPsec on a TUN device, configured by an ike_rc file
  ipsec     send an ipsec command to the daemon (sabre ipsec help)
  ike       send an ike command to the daemon
  console   an interactive prompt to the daemon
  demo      two in-process gVisor hosts negotiate IKEv2 and talk through ESP (no root needed)
  man       write the man pages sabre(8), sabre-ipsec(8), sabre-ike(8), ike_rc(5): man -dir DIR
  version   print the version, VCS revision and Go version of this build (also --version)

The clients find the daemon at $SABRE_SOCKET or /run/sabre/sabre.sock;
"-sock PATH", before or after the command, names another socket.
"sabre ipsec help" and "sabre ike help" need no daemon.
"sabre run -check -rc FILE" checks an ike_rc file without a daemon.
`

func main() {
	if len(os.Args) < 2 {
		fmt.Fprint(os.Stderr, usage)
		os.Exit(2)
	}
	var err error
	switch os.Args[1] {
	case "run":
		err = runDaemon(os.Args[2:], os.Stderr)
	case "ipsec", "ike":
		os.Exit(runClient(os.Args[1], os.Args[2:], os.Stdout, os.Stderr))
	case "console":
		os.Exit(runConsole(os.Args[2:], os.Stdin, os.Stdout, os.Stderr))
	case "demo":
		err = runDemo(os.Args[2:], os.Stdout)
	case "man":
		err = runMan(os.Args[2:])
	case "version", "-version", "--version":
		fmt.Println(version())
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
