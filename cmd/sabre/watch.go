package main

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"os"
	"os/signal"
	"slices"
	"syscall"
	"time"

	"golang.org/x/term"
)

// `sabre ipsec netstat -w` and `sabre ike netstat -w` redraw the netstat
// every second until interrupted (Ctrl-C), like watch(1): the client asks
// the daemon again each time, so the daemon never sees -w. On a terminal
// the screen is cleared before each drawing; otherwise each one follows
// the last under a line with the time.

// watchArgs reports whether args ("netstat ... -w ...") ask for watching,
// and returns them without -w.
func watchArgs(args []string) ([]string, bool) {
	if len(args) == 0 || args[0] != "netstat" {
		return args, false
	}
	i := slices.Index(args, "-w")
	if i < 0 {
		return args, false
	}
	return slices.Delete(slices.Clone(args), i, i+1), true
}

// requester sends one command to the daemon.
type requester func(args []string) (status int, out []byte, err error)

// watch runs args every interval and draws the output on out until ctx
// ends, or the command fails; it returns the exit status.
func watch(ctx context.Context, do requester, args []string, out, errOut io.Writer, tty bool, interval time.Duration) int {
	t := time.NewTicker(interval)
	defer t.Stop()
	for {
		status, reply, err := do(args)
		if err != nil {
			fmt.Fprintf(errOut, "sabre: %v\n", err)
			return statusFailed
		}
		if status != statusOK {
			errOut.Write(reply)
			return status
		}
		var b bytes.Buffer
		if tty {
			b.WriteString("\x1b[H\x1b[2J") // cursor home, clear screen
		}
		fmt.Fprintf(&b, "Every %v: sabre %v    %s\n\n", interval, args, time.Now().Format(time.TimeOnly))
		b.Write(reply)
		if !tty {
			b.WriteString("\n")
		}
		out.Write(b.Bytes())
		select {
		case <-ctx.Done():
			return statusOK
		case <-t.C:
		}
	}
}

// runWatch is watch for the client: until SIGINT or SIGTERM.
func runWatch(cc *controlClient, args []string, stdout, stderr io.Writer) int {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	tty := false
	if f, ok := stdout.(*os.File); ok {
		tty = term.IsTerminal(int(f.Fd()))
	}
	return watch(ctx, cc.Do, args, stdout, stderr, tty, time.Second)
}
