package main

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"os"
	"strings"

	"golang.org/x/term"

	"github.com/sabre-ipsec/sabre/cli"
)

const consoleHelp = `Type ipsec and ike commands as in an ike_rc file ("ipsec help" lists
them); "tun" shows the TUN device's counters; "exit" or Ctrl-D leaves.
`

// runConsole is `sabre console`: a prompt that sends each line to the
// daemon. On a terminal it edits lines and keeps a history (up and down
// arrows); otherwise it reads commands from standard input, one a line.
func runConsole(args []string, stdin io.Reader, stdout, stderr io.Writer) int {
	path, args, err := socketPath(args)
	if err != nil || len(args) > 0 {
		fmt.Fprintln(stderr, "usage: sabre console [-sock path]")
		return statusUsage
	}
	cc, err := dialControl(path)
	if err != nil {
		fmt.Fprintf(stderr, "sabre: %v\n", err)
		return statusFailed
	}
	defer func() {
		if cc != nil {
			cc.Close()
		}
	}()

	var readLine func() (string, error)
	out, errOut := stdout, stderr
	if f, ok := stdin.(*os.File); ok && term.IsTerminal(int(f.Fd())) {
		state, err := term.MakeRaw(int(f.Fd()))
		if err != nil {
			fmt.Fprintf(stderr, "sabre console: %v\n", err)
			return statusFailed
		}
		defer term.Restore(int(f.Fd()), state)
		t := term.NewTerminal(struct {
			io.Reader
			io.Writer
		}{f, stdout}, "sabre> ")
		readLine = t.ReadLine
		out, errOut = t, t // the terminal turns \n into \r\n in raw mode
		fmt.Fprintf(t, "sabre console on %s\n%s", path, consoleHelp)
	} else {
		sc := bufio.NewScanner(stdin)
		sc.Buffer(make([]byte, 64<<10), 1<<20)
		readLine = func() (string, error) {
			if sc.Scan() {
				return sc.Text(), nil
			}
			if sc.Err() != nil {
				return "", sc.Err()
			}
			return "", io.EOF
		}
	}

	status := statusOK
	for {
		line, err := readLine()
		if err != nil {
			if errors.Is(err, io.EOF) {
				return status
			}
			fmt.Fprintf(errOut, "sabre console: %v\n", err)
			return statusFailed
		}
		words, err := cli.SplitLine(line)
		if err != nil {
			fmt.Fprintf(errOut, "%v\n", err)
			status = statusFailed
			continue
		}
		if len(words) == 0 {
			continue
		}
		switch strings.ToLower(words[0]) {
		case "exit", "quit":
			return status
		case "help", "?":
			fmt.Fprint(out, consoleHelp)
			continue
		case "policy":
			words = append([]string{"ipsec"}, words...) // as in an ike_rc
		}
		s, reply, err := cc.Do(words)
		if err != nil {
			// The daemon restarted or went away: try once more.
			cc.Close()
			if cc, err = dialControl(path); err == nil {
				s, reply, err = cc.Do(words)
			}
			if err != nil {
				fmt.Fprintf(errOut, "sabre: %v\n", err)
				return statusFailed
			}
		}
		if s != statusOK {
			status = s
			errOut.Write(reply)
		} else {
			out.Write(reply)
		}
	}
}
