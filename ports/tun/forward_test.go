//go:build linux

package tun

import (
	"net/netip"
	"os"
	"path/filepath"
	"testing"

	"github.com/sabre-ipsec/sabre/header"
)

func writeSysctl(t *testing.T, root, path, v string) {
	t.Helper()
	p := filepath.Join(root, path)
	if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(p, []byte(v+"\n"), 0o644); err != nil {
		t.Fatal(err)
	}
}

func innerPacket(dst netip.Addr) []byte {
	if dst.Is4() {
		p := make([]byte, header.IPv4MinLen)
		header.IPv4(p).Encode(&header.IPv4Fields{TotalLength: len(p), TTL: 64, Protocol: header.ProtoUDP,
			Src: netip.MustParseAddr("10.201.2.7"), Dst: dst})
		return p
	}
	p := make([]byte, header.IPv6Len)
	header.IPv6(p).Encode(&header.IPv6Fields{NextHeader: header.ProtoUDP, HopLimit: 64,
		Src: netip.MustParseAddr("fd00:2::7"), Dst: dst})
	return p
}

// TestForwardingCounts: packets for other hosts are counted only while
// their family's forwarding switch is off; packets for this host's own
// addresses never are.
func TestForwardingCounts(t *testing.T) {
	root := t.TempDir()
	f := &Forwarding{ProcSys: root}
	other4, other6 := netip.MustParseAddr("10.201.1.5"), netip.MustParseAddr("fd00:1::5")
	tests := []struct {
		v4, v6 string
		dst    netip.Addr
		count  bool
	}{
		{"1", "1", other4, false},
		{"0", "1", other4, true},
		{"0", "1", other6, false},
		{"1", "0", other6, true},
		{"0", "0", netip.MustParseAddr("127.0.0.1"), false}, // a local address
		{"0", "0", netip.MustParseAddr("::1"), false},
		{"0", "0", netip.MustParseAddr("224.0.0.5"), false},
	}
	for _, tt := range tests {
		writeSysctl(t, root, "net/ipv4/ip_forward", tt.v4)
		writeSysctl(t, root, "net/ipv6/conf/all/forwarding", tt.v6)
		v4, v6, err := f.Refresh()
		if err != nil {
			t.Fatal(err)
		}
		if v4 != (tt.v4 == "1") || v6 != (tt.v6 == "1") {
			t.Fatalf("Refresh = %v, %v; want %s, %s", v4, v6, tt.v4, tt.v6)
		}
		before := f.NotForwarded.Load()
		f.check(innerPacket(tt.dst))
		if got := f.NotForwarded.Load() - before; got != map[bool]uint64{true: 1}[tt.count] {
			t.Errorf("forwarding v4=%s v6=%s, packet to %v: counted %d", tt.v4, tt.v6, tt.dst, got)
		}
	}
	// Unreadable switches count as on; garbage never panics.
	f = &Forwarding{ProcSys: filepath.Join(root, "missing")}
	if v4, v6, _ := f.Refresh(); !v4 || !v6 {
		t.Errorf("missing sysctls read as off: %v %v", v4, v6)
	}
	for _, p := range [][]byte{nil, {0x45}, {0x60, 0}, {0xff}} {
		f.check(p)
	}
}
