package interop

import (
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"testing"

	"github.com/sabre-ipsec/sabre/internal/testutil/netns"
	"github.com/sabre-ipsec/sabre/internal/testutil/sabre"
)

// newNetns makes a namespace with lo up and IPv6 off (the wire carries
// only what the test sends); t.Cleanup deletes it, also when the test
// fails. Its name holds the test process's PID (internal/testutil/netns):
// a later run removes it if this run is killed.
func newNetns(t *testing.T, role string) *netns.NS {
	t.Helper()
	n := netns.New(t, "sabre-interop-", role)
	n.Sysctl(t, "net.ipv6.conf.all.disable_ipv6=1")
	n.Sysctl(t, "net.ipv6.conf.default.disable_ipv6=1")
	n.Sysctl(t, "net.ipv4.conf.all.rp_filter=0")
	n.Sysctl(t, "net.ipv4.conf.default.rp_filter=0")
	return n
}

// host is one machine of a topology: a namespace, its outer address on
// the veth "ext" and the subnet behind it (10.1.0.0/24 on the left,
// 10.2.0.0/24 on the right), whose first address is the host's inner
// address.
type host struct {
	role   string // left, right, mid
	ns     *netns.NS
	outer  netip.Addr
	inner  netip.Addr
	subnet netip.Prefix
	dir    string // configuration and logs
}

func newHost(t *testing.T, role string, outer, subnet string) *host {
	t.Helper()
	h := &host{role: role, ns: newNetns(t, role), dir: filepath.Join(t.TempDir(), role)}
	if outer != "" {
		h.outer = netip.MustParseAddr(outer)
	}
	if subnet != "" {
		h.subnet = netip.MustParsePrefix(subnet)
		h.inner = h.subnet.Addr().Next()
	}
	if err := os.MkdirAll(h.dir, 0o700); err != nil {
		t.Fatal(err)
	}
	return h
}

// link joins a's interface an and b's interface bn with a veth pair.
func link(t *testing.T, a *netns.NS, an string, b *netns.NS, bn string) {
	t.Helper()
	netns.Veth(t, a, an, b, bn)
	a.IP(t, "link", "set", an, "up")
	b.IP(t, "link", "set", bn, "up")
}

// pair makes the two-host topology: left 192.0.2.1 and right 192.0.2.2 on
// one veth, 10.1.0.0/24 behind the left and 10.2.0.0/24 behind the right.
func pair(t *testing.T) (left, right *host) {
	t.Helper()
	netns.NeedRoot(t, "interop")
	left = newHost(t, "left", "192.0.2.1", "10.1.0.0/24")
	right = newHost(t, "right", "192.0.2.2", "10.2.0.0/24")
	link(t, left.ns, "ext", right.ns, "ext")
	left.ns.IP(t, "addr", "add", "192.0.2.1/24", "dev", "ext")
	right.ns.IP(t, "addr", "add", "192.0.2.2/24", "dev", "ext")
	return left, right
}

// natTopology makes three hosts: left 192.0.2.1/24 behind a NAT (mid:
// 192.0.2.254 on its interface "in", 198.51.100.254 on "out",
// masquerading what leaves "out") and right 198.51.100.2/24. The left's
// default route is mid; the right has no route to 192.0.2.0/24 and sees
// the left as 198.51.100.254.
func natTopology(t *testing.T) (left, mid, right *host) {
	t.Helper()
	netns.NeedRoot(t, "interop")
	nft := needNft(t)
	left = newHost(t, "left", "192.0.2.1", "10.1.0.0/24")
	mid = newHost(t, "mid", "", "")
	right = newHost(t, "right", "198.51.100.2", "10.2.0.0/24")
	link(t, left.ns, "ext", mid.ns, "in")
	link(t, mid.ns, "out", right.ns, "ext")
	left.ns.IP(t, "addr", "add", "192.0.2.1/24", "dev", "ext")
	left.ns.IP(t, "route", "add", "default", "via", "192.0.2.254")
	mid.ns.IP(t, "addr", "add", "192.0.2.254/24", "dev", "in")
	mid.ns.IP(t, "addr", "add", "198.51.100.254/24", "dev", "out")
	mid.ns.Sysctl(t, "net.ipv4.ip_forward=1")
	right.ns.IP(t, "addr", "add", "198.51.100.2/24", "dev", "ext")
	mid.ns.Nft(t, nft, `table ip nat {
	chain postrouting {
		type nat hook postrouting priority srcnat; policy accept;
		oifname "out" masquerade
	}
}`)
	return left, mid, right
}

// needNft returns the path of nft, failing the test when it is missing:
// the NAT and loss cases need it, and CI installs it.
func needNft(t *testing.T) string {
	t.Helper()
	p, err := exec.LookPath("nft")
	if err != nil {
		t.Fatalf("interop: nft (Debian package nftables) is not installed; the NAT and loss tests need it: " +
			"add nftables to what .ci/run (make deps) installs, or apt-get install nftables")
	}
	return p
}

// addSubnet puts the host's inner address on a veth pair of its own (the
// kernel here has no dummy interfaces), standing for the LAN behind it.
func (h *host) addSubnet(t *testing.T) {
	t.Helper()
	h.ns.IP(t, "link", "add", "lan", "type", "veth", "peer", "name", "lan-peer")
	h.ns.IP(t, "link", "set", "lan", "up")
	h.ns.IP(t, "link", "set", "lan-peer", "up")
	h.ns.IP(t, "addr", "add", netip.PrefixFrom(h.inner, h.subnet.Bits()).String(), "dev", "lan")
}

// keep copies a file to $SABRE_INTEROP_KEEP if set.
func keep(t *testing.T, path string) { sabre.Keep(t, "SABRE_INTEROP_KEEP", path) }
