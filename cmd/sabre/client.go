package main

import (
	"errors"
	"fmt"
	"io"
	"os"
	"strings"

	"github.com/sabre-ipsec/sabre/cli"
)

// socketPath picks the control socket for a client command: "-sock PATH"
// (or "-sock=PATH", "--sock ...") anywhere in args — before the command or
// after it, as in "sabre ipsec netstat -sock PATH" — else $SABRE_SOCKET,
// else the default. It returns the remaining args. (No command word starts
// with "-sock": options are one letter.)
func socketPath(args []string) (string, []string, error) {
	path, rest := "", make([]string, 0, len(args))
	set := func(p string) error {
		if path != "" {
			return errors.New("-sock given twice")
		}
		if p == "" {
			return errors.New("-sock needs a path")
		}
		path = p
		return nil
	}
	for i := 0; i < len(args); i++ {
		a := args[i]
		var err error
		switch {
		case a == "-sock" || a == "--sock":
			if i+1 >= len(args) {
				return "", nil, errors.New("-sock needs a path")
			}
			i++
			err = set(args[i])
		case strings.HasPrefix(a, "-sock="):
			err = set(a[len("-sock="):])
		case strings.HasPrefix(a, "--sock="):
			err = set(a[len("--sock="):])
		default:
			rest = append(rest, a)
		}
		if err != nil {
			return "", nil, err
		}
	}
	if path != "" {
		return path, rest, nil
	}
	if p := os.Getenv("SABRE_SOCKET"); p != "" {
		return p, rest, nil
	}
	return defaultSocket, rest, nil
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
	// The manual is static text: no daemon needed.
	if text, ok := cli.Help(append([]string{family}, args...)); ok {
		io.WriteString(stdout, text)
		return statusOK
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
