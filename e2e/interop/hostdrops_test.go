package interop

import (
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"syscall"
	"testing"
)

// hostDrops are the counters of one namespace that say where a packet
// was lost: what the kernel dropped because a UDP socket's receive queue
// was full (/proc/net/snmp Udp RcvbufErrors), what it dropped because
// nobody read a TUN device fast enough (its tx dropped), the datagrams
// the IPsec daemon read from its UDP sockets (Udp InDatagrams, counted
// as they are read), and two nftables counters: the datagrams to the
// IKE ports that are not ESP (IKE, NAT keepalives) and the packets that
// came out of the TUN device, decapsulated. The daemon's ESP datagrams
// are counted as read, not by nftables, because a peer's UDP GSO batch
// crosses the veth as one packet and is split only at the socket.
type hostDrops struct {
	rcvbuf, tunDropped, udpRead, notESP, delivered uint64
}

// espRead is how many ESP-in-UDP datagrams the daemon read.
func (d hostDrops) espRead() uint64 { return d.udpRead - d.notESP }

// accountingTable counts, in a namespace whose IPsec daemon delivers
// decapsulated packets through TUN device tun, the datagrams to UDP
// ports 500 and 4500 that are not ESP (RFC 3948 §2.2: on 4500, IKE has a
// zero marker where ESP has its SPI; a keepalive is one octet) after
// every other filter (a test's dropping rules come first), and the
// packets coming out of tun (every inner address of the tests is local).
func accountingTable(tun string) string {
	return fmt.Sprintf(`table inet rekeyacct {
	counter not_esp {}
	counter delivered {}
	chain input {
		type filter hook input priority filter + 10; policy accept;
		udp dport 500 counter name not_esp
		udp dport 4500 udp length <= 16 counter name not_esp
		udp dport 4500 udp length > 16 @th,64,32 0 counter name not_esp
		iifname %q counter name delivered
	}
}`, tun)
}

var reNftCounter = regexp.MustCompile(`counter (\w+) \{\s*packets (\d+) bytes \d+`)

// readHostDrops reads the counters of h's namespace, whose TUN device is
// tun and which has accountingTable(tun) loaded.
func readHostDrops(t *testing.T, nft string, h *host, tun string) hostDrops {
	t.Helper()
	var d hostDrops
	udp := udpCounters(t, h)
	d.rcvbuf, d.udpRead = udp["RcvbufErrors"], udp["InDatagrams"]
	var links []struct {
		Stats struct {
			TX struct {
				Dropped uint64 `json:"dropped"`
			} `json:"tx"`
		} `json:"stats64"`
	}
	if err := json.Unmarshal([]byte(h.ns.IP(t, "-s", "-j", "link", "show", "dev", tun)), &links); err != nil || len(links) != 1 {
		t.Fatalf("ip -s -j link show dev %s in %s: %v", tun, h.role, err)
	}
	d.tunDropped = links[0].Stats.TX.Dropped
	out := h.ns.Exec(t, nft, "list", "counters", "table", "inet", "rekeyacct")
	for _, m := range reNftCounter.FindAllStringSubmatch(out, -1) {
		n, _ := strconv.ParseUint(m[2], 10, 64)
		switch m[1] {
		case "not_esp":
			d.notESP = n
		case "delivered":
			d.delivered = n
		}
	}
	return d
}

func (d hostDrops) sub(b hostDrops) hostDrops {
	return hostDrops{d.rcvbuf - b.rcvbuf, d.tunDropped - b.tunDropped, d.udpRead - b.udpRead, d.notESP - b.notESP, d.delivered - b.delivered}
}

// udpCounters returns the Udp line of /proc/net/snmp in h's namespace by
// name (InDatagrams, RcvbufErrors, ...).
func udpCounters(t *testing.T, h *host) map[string]uint64 {
	t.Helper()
	var names []string
	m := map[string]uint64{}
	for _, l := range strings.Split(h.ns.Exec(t, "cat", "/proc/net/snmp"), "\n") {
		f := strings.Fields(l)
		if len(f) == 0 || f[0] != "Udp:" {
			continue
		}
		if names == nil {
			names = f[1:]
			continue
		}
		for i, v := range f[1:] {
			if i < len(names) {
				m[names[i]], _ = strconv.ParseUint(v, 10, 64)
			}
		}
	}
	if _, ok := m["RcvbufErrors"]; !ok {
		t.Fatalf("/proc/net/snmp in %s has no Udp RcvbufErrors", h.role)
	}
	return m
}

// capture records the first 160 octets of every packet on every
// interface of h's namespace into $SABRE_INTEROP_PCAP (if set), for a
// run to be taken apart afterwards; t.Cleanup stops dumpcap.
func capture(t *testing.T, h *host) {
	t.Helper()
	dir := os.Getenv("SABRE_INTEROP_PCAP")
	if dir == "" {
		return
	}
	path := filepath.Join(dir, strings.NewReplacer("/", "_").Replace(t.Name())+"-"+h.role+".pcapng")
	cmd := exec.Command("ip", "netns", "exec", h.ns.Name, "dumpcap", "-q", "-i", "any", "-s", "160", "-w", path)
	if err := cmd.Start(); err != nil {
		t.Fatalf("dumpcap in %s: %v", h.role, err)
	}
	t.Cleanup(func() {
		cmd.Process.Signal(syscall.SIGINT)
		cmd.Wait()
	})
}
