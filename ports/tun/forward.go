//go:build linux

package tun

import (
	"net"
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"

	"github.com/sabre-ipsec/sabre/header"
)

// Forwarding watches the kernel's IP forwarding switches
// (net.ipv4.ip_forward, net.ipv6.conf.all.forwarding) and counts the
// tunnel-mode packets the device opens for another host while the switch
// of their family is off: the kernel drops those after the TUN hands them
// over, silently. Refresh rereads the switches (and, while one is off,
// this host's addresses); a Device given one in Config checks each
// opened tunnel-mode packet against it, at the cost of one atomic load
// while forwarding is on.
type Forwarding struct {
	// ProcSys is where the sysctls are read; "/proc/sys" when empty.
	ProcSys string
	// NotForwarded counts packets opened for another host while
	// forwarding of their family was off.
	NotForwarded atomic.Uint64

	on    [2]atomic.Bool // by family: fam4, fam6
	local atomic.Pointer[map[netip.Addr]bool]
}

// Refresh rereads the forwarding switches; while one is off it also
// rereads this host's addresses (packets to them need no forwarding). A
// switch that cannot be read counts as on (nothing to warn about).
func (f *Forwarding) Refresh() (v4, v6 bool, err error) {
	root := f.ProcSys
	if root == "" {
		root = "/proc/sys"
	}
	read := func(path string) bool {
		b, rerr := os.ReadFile(filepath.Join(root, path))
		if rerr != nil {
			return true
		}
		return strings.TrimSpace(string(b)) != "0"
	}
	v4 = read("net/ipv4/ip_forward")
	v6 = read("net/ipv6/conf/all/forwarding")
	if !v4 || !v6 {
		addrs, aerr := net.InterfaceAddrs()
		if aerr != nil {
			err = aerr
		}
		local := map[netip.Addr]bool{}
		for _, a := range addrs {
			if p, perr := netip.ParsePrefix(a.String()); perr == nil {
				local[p.Addr().Unmap()] = true
			}
		}
		f.local.Store(&local)
	}
	f.on[fam4].Store(v4)
	f.on[fam6].Store(v6)
	return v4, v6, err
}

// State returns the switches as last read.
func (f *Forwarding) State() (v4, v6 bool) { return f.on[fam4].Load(), f.on[fam6].Load() }

// check counts pkt, an opened tunnel-mode inner packet, if the kernel
// will not forward it.
func (f *Forwarding) check(pkt []byte) {
	if len(pkt) == 0 {
		return
	}
	var dst netip.Addr
	switch pkt[0] >> 4 {
	case 4:
		if f.on[fam4].Load() || len(pkt) < header.IPv4MinLen {
			return
		}
		dst = header.IPv4(pkt).Dst()
	case 6:
		if f.on[fam6].Load() || len(pkt) < header.IPv6Len {
			return
		}
		dst = header.IPv6(pkt).Dst()
	default:
		return
	}
	if local := f.local.Load(); local != nil && (*local)[dst] || dst.IsMulticast() {
		return
	}
	f.NotForwarded.Add(1)
}
