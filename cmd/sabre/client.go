package main

import (
	"errors"
	"fmt"
	"io"
	"os"
)

// socketPath picks the control socket for a client command: a leading
// "-sock PATH" (or "-sock=PATH") in args, else $SABRE_SOCKET, else the
// default. It returns the remaining args.
func socketPath(args []string) (string, []string, error) {
	if len(args) > 0 {
		switch a := args[0]; {
		case a == "-sock" || a == "--sock":
			if len(args) < 2 {
				return "", nil, errors.New("-sock needs a path")
			}
			return args[1], args[2:], nil
		case len(a) > 6 && a[:6] == "-sock=":
			return a[6:], args[1:], nil
		case len(a) > 7 && a[:7] == "--sock=":
			return a[7:], args[1:], nil
		}
	}
	if p := os.Getenv("SABRE_SOCKET"); p != "" {
		return p, args, nil
	}
	return defaultSocket, args, nil
}

// runClient is `sabre ipsec ...` and `sabre ike ...`: it sends the command
// to the daemon and prints the reply, returning the daemon's exit status.
// A failed command's output goes to stderr.
func runClient(family string, args []string, stdout, stderr io.Writer) int {
	path, args, err := socketPath(args)
	if err != nil {
		fmt.Fprintf(stderr, "sabre %s: %v\n", family, err)
		return statusUsage
	}
	cc, err := dialControl(path)
	if err != nil {
		fmt.Fprintf(stderr, "sabre: %v\n", err)
		return statusFailed
	}
	defer cc.Close()
	status, out, err := cc.Do(append([]string{family}, args...))
	if err != nil {
		fmt.Fprintf(stderr, "sabre: %v\n", err)
		return statusFailed
	}
	w := stdout
	if status != statusOK {
		w = stderr
	}
	w.Write(out)
	return status
}
