//go:build linux

package tun

import (
	"testing"

	"github.com/sabre-ipsec/sabre/internal/testutil/netns"
)

// vethPair joins a and b with a veth pair named aName (in a) and bName (in b).
func vethPair(t *testing.T, a *netns.NS, aName, aAddr string, b *netns.NS, bName, bAddr string) {
	t.Helper()
	netns.Veth(t, a, aName, b, bName)
	a.IP(t, "addr", "add", aAddr, "dev", aName, "nodad")
	b.IP(t, "addr", "add", bAddr, "dev", bName, "nodad")
	a.IP(t, "link", "set", aName, "up")
	b.IP(t, "link", "set", bName, "up")
}
