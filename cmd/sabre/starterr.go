package main

import (
	"errors"
	"fmt"
	"os"
	"strings"

	"golang.org/x/sys/unix"
)

// startError turns an error of opening the device and its sockets into
// one that says what to do about it.
func startError(err error, cfg *daemonConfig) error {
	switch {
	case errors.Is(err, unix.EPERM) || errors.Is(err, unix.EACCES):
		who := "this user"
		if os.Geteuid() == 0 {
			who = "root without the capabilities"
		}
		return fmt.Errorf("sabre run needs root or CAP_NET_ADMIN (and CAP_NET_RAW for raw ESP, CAP_NET_BIND_SERVICE for UDP 500); it runs as %s: %w", who, err)
	case errors.Is(err, unix.EADDRINUSE):
		return fmt.Errorf("UDP port 500 or 4500 is in use: another IKE daemon (charon? pluto?) holds UDP 500; stop it (e.g. systemctl stop strongswan) before starting sabre: %w", err)
	case errors.Is(err, unix.EBUSY) && strings.Contains(err.Error(), "tun: create"):
		return fmt.Errorf("TUN device %q is busy (another sabre run or VPN has it open): name another with -tun: %w", cfg.tunName, err)
	case strings.Contains(err.Error(), "tun: create") && (errors.Is(err, unix.EINVAL) || errors.Is(err, unix.EEXIST)):
		return fmt.Errorf("%q exists and is not a free TUN device: name another with -tun: %w", cfg.tunName, err)
	}
	return err
}
