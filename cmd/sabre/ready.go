package main

import (
	"errors"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"strings"

	"golang.org/x/sys/unix"
)

// Readiness. Under systemd (Type=notify) sabre sends READY=1 on
// $NOTIFY_SOCKET once the ike_rc is applied, the device is up with its
// addresses and routes and the control socket listens; RELOADING=1 and
// READY=1 around a SIGHUP reload; STOPPING=1 when it stops (sd_notify(3):
// one datagram of newline-separated assignments on the unix datagram
// socket the variable names, "@" standing for the abstract namespace).
// Other supervisors give -ready-file PATH: sabre writes its PID there when
// ready and removes the file when it stops.

// sdNotify sends state to the service manager, if there is one. It
// returns false without $NOTIFY_SOCKET.
func sdNotify(state string) (bool, error) {
	path := os.Getenv("NOTIFY_SOCKET")
	if path == "" {
		return false, nil
	}
	if path[0] != '/' && path[0] != '@' {
		return false, fmt.Errorf("NOTIFY_SOCKET %q: not a unix socket path", path)
	}
	name := path
	if name[0] == '@' {
		name = "\x00" + name[1:]
	}
	c, err := net.DialUnix("unixgram", nil, &net.UnixAddr{Name: name, Net: "unixgram"})
	if err != nil {
		return false, fmt.Errorf("NOTIFY_SOCKET %s: %w", path, err)
	}
	defer c.Close()
	if _, err := c.Write([]byte(state)); err != nil {
		return false, fmt.Errorf("NOTIFY_SOCKET %s: %w", path, err)
	}
	return true, nil
}

// writeReadyFile writes the PID to path atomically (a temporary file
// renamed), so that a supervisor polling for it never reads half of it.
func writeReadyFile(path string) error {
	tmp := filepath.Join(filepath.Dir(path), "."+filepath.Base(path)+".tmp")
	if err := os.WriteFile(tmp, []byte(fmt.Sprintf("%d\n", os.Getpid())), 0o644); err != nil {
		return fmt.Errorf("-ready-file: %w", err)
	}
	if err := os.Rename(tmp, path); err != nil {
		os.Remove(tmp)
		return fmt.Errorf("-ready-file: %w", err)
	}
	return nil
}

// removeReadyFile removes the ready file if it is still ours.
func removeReadyFile(path string) error {
	b, err := os.ReadFile(path)
	if errors.Is(err, os.ErrNotExist) {
		return nil
	}
	if err != nil || strings.TrimSpace(string(b)) != fmt.Sprint(os.Getpid()) {
		return err
	}
	return os.Remove(path)
}

func pid() int { return os.Getpid() }

// monotonicUsec is CLOCK_MONOTONIC in microseconds, which RELOADING=1
// carries (sd_notify(3)).
func monotonicUsec() int64 {
	var ts unix.Timespec
	if err := unix.ClockGettime(unix.CLOCK_MONOTONIC, &ts); err != nil {
		return 0
	}
	return ts.Sec*1e6 + ts.Nsec/1e3
}
