package e2e

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/gopacket"
	"github.com/google/gopacket/layers"
	"github.com/google/gopacket/pcapgo"
	"golang.org/x/sys/unix"

	"github.com/sabre-ipsec/sabre/internal/testutil/netns"
)

// frame is one captured Ethernet frame.
type frame struct {
	ts       time.Time
	data     []byte
	outgoing bool
}

// capture records every frame on one interface with an AF_PACKET socket
// opened inside the namespace, as tcpdump would.
type capture struct {
	fd     int
	ifi    int
	mu     sync.Mutex
	frames []frame
	drops  uint32 // frames the kernel dropped for want of buffer space
	stop   chan struct{}
	done   chan struct{}
}

func htons(v uint16) uint16 { return v<<8 | v>>8 }

func startCapture(t *testing.T, ns *netns.NS, ifname string) *capture {
	t.Helper()
	c := &capture{stop: make(chan struct{}), done: make(chan struct{})}
	err := ns.Do(func() error {
		ifi, err := net.InterfaceByName(ifname)
		if err != nil {
			return err
		}
		c.ifi = ifi.Index
		fd, err := unix.Socket(unix.AF_PACKET, unix.SOCK_RAW|unix.SOCK_CLOEXEC, int(htons(unix.ETH_P_ALL)))
		if err != nil {
			return err
		}
		c.fd = fd
		if err := unix.Bind(fd, &unix.SockaddrLinklayer{Protocol: htons(unix.ETH_P_ALL), Ifindex: ifi.Index}); err != nil {
			unix.Close(fd)
			return err
		}
		unix.SetsockoptInt(fd, unix.SOL_SOCKET, unix.SO_RCVBUFFORCE, 256<<20)
		return unix.SetsockoptTimeval(fd, unix.SOL_SOCKET, unix.SO_RCVTIMEO, &unix.Timeval{Usec: 50000})
	})
	if err != nil {
		t.Fatalf("capture on %s: %v", ifname, err)
	}
	go c.run()
	t.Cleanup(func() { c.Stop() })
	return c
}

func (c *capture) run() {
	defer close(c.done)
	buf := make([]byte, 1<<16)
	flags := 0
	for {
		if flags == 0 {
			select {
			case <-c.stop:
				flags = unix.MSG_DONTWAIT // drain what is queued, then stop
			default:
			}
		}
		n, from, err := unix.Recvfrom(c.fd, buf, flags)
		if err != nil {
			if flags == 0 && (errors.Is(err, unix.EAGAIN) || errors.Is(err, unix.EINTR)) {
				continue
			}
			return
		}
		ll, ok := from.(*unix.SockaddrLinklayer)
		if !ok || ll.Ifindex != c.ifi {
			continue
		}
		c.mu.Lock()
		c.frames = append(c.frames, frame{ts: time.Now(), data: bytes.Clone(buf[:n]), outgoing: ll.Pkttype == unix.PACKET_OUTGOING})
		c.mu.Unlock()
	}
}

// Stop ends the capture and returns the frames. c.drops then says how
// many the kernel dropped because the reader fell behind.
func (c *capture) Stop() []frame {
	select {
	case <-c.stop:
	default:
		close(c.stop)
		<-c.done
		if st, err := unix.GetsockoptTpacketStats(c.fd, unix.SOL_PACKET, unix.PACKET_STATISTICS); err == nil {
			c.drops = st.Drops
		}
		unix.Close(c.fd)
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.frames
}

// writePcap writes the frames to an Ethernet pcap file.
func writePcap(t *testing.T, path string, frames []frame) {
	t.Helper()
	f, err := os.Create(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	w := pcapgo.NewWriter(f)
	if err := w.WriteFileHeader(65536, layers.LinkTypeEthernet); err != nil {
		t.Fatal(err)
	}
	for _, fr := range frames {
		ci := gopacket.CaptureInfo{Timestamp: fr.ts, CaptureLength: len(fr.data), Length: len(fr.data)}
		if err := w.WritePacket(ci, fr.data); err != nil {
			t.Fatal(err)
		}
	}
	if err := f.Close(); err != nil {
		t.Fatal(err)
	}
}

// tsharkPath finds tshark; CI installs it (`make test`), elsewhere its
// absence skips the wire checks.
func tsharkPath(t *testing.T) string {
	t.Helper()
	p, err := exec.LookPath("tshark")
	if err != nil {
		if os.Getenv("CI") != "" {
			t.Fatalf("tshark is not installed (CI must install it, as `make test` does): %v", err)
		}
		t.Skipf("tshark is not installed: %v", err)
	}
	return p
}

// wireFields are what tshark prints of each frame.
var wireFields = []string{"frame.number", "eth.type", "ip.proto", "ip.src", "ip.dst", "esp.spi", "esp.sequence",
	"esp.icv_good", "esp.icv_bad", "icmp.type", "tcp.len", "udp.dstport"}

// wireRow is one frame as tshark decoded it: every occurrence of each field.
type wireRow map[string][]string

func (r wireRow) first(f string) string {
	if v := r[f]; len(v) > 0 {
		return v[0]
	}
	return ""
}

func (r wireRow) last(f string) string {
	if v := r[f]; len(v) > 0 {
		return v[len(v)-1]
	}
	return ""
}

// tsharkDecode runs tshark over the capture with the SAs in its esp_sa
// table, so that it decrypts and authenticates the ESP packets.
func tsharkDecode(t *testing.T, frames []frame, s suite, sas ...sa) []wireRow {
	t.Helper()
	tshark := tsharkPath(t)
	dir := t.TempDir()
	conf := filepath.Join(dir, "wireshark")
	if err := os.MkdirAll(conf, 0o700); err != nil {
		t.Fatal(err)
	}
	prefs := "esp.enable_encryption_decode: TRUE\nesp.enable_authentication_check: TRUE\nesp.do_esp_sequence_analysis: FALSE\n"
	var uat strings.Builder
	for _, a := range sas {
		fmt.Fprintf(&uat, "%q,%q,%q,\"0x%08x\",%q,%q,%q,%q\n", "IPv4", a.src.String(), a.dst.String(), a.spi,
			s.tsharkEncr, hexKey(a.encrKey), s.tsharkAuth, hexKey(a.intgKey))
	}
	for name, body := range map[string]string{"preferences": prefs, "esp_sa": uat.String()} {
		if err := os.WriteFile(filepath.Join(conf, name), []byte(body), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	pcap := filepath.Join(dir, "wire.pcap")
	writePcap(t, pcap, frames)
	keep(t, pcap)
	keep(t, filepath.Join(conf, "esp_sa"))
	args := []string{"-n", "-r", pcap, "-T", "fields", "-E", "occurrence=a", "-E", "aggregator=,", "-E", "separator=/t"}
	for _, f := range wireFields {
		args = append(args, "-e", f)
	}
	cmd := exec.Command(tshark, args...)
	cmd.Env = append(os.Environ(), "WIRESHARK_CONFIG_DIR="+conf)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("tshark: %v\n%s", err, stderr.String())
	}
	for _, line := range strings.Split(stderr.String(), "\n") {
		if l := strings.ToLower(line); strings.Contains(l, "esp") || strings.Contains(l, "table") || strings.Contains(l, "error") {
			t.Errorf("tshark: %s\nesp_sa:\n%s", line, uat.String())
		}
	}
	var rows []wireRow
	for _, line := range strings.Split(strings.TrimRight(string(out), "\n"), "\n") {
		if line == "" {
			continue
		}
		cols := strings.Split(line, "\t")
		if len(cols) != len(wireFields) {
			t.Fatalf("tshark line has %d fields, want %d: %q", len(cols), len(wireFields), line)
		}
		r := wireRow{}
		for i, f := range wireFields {
			if cols[i] != "" {
				r[f] = strings.Split(cols[i], ",")
			}
		}
		rows = append(rows, r)
	}
	if len(rows) != len(frames) {
		t.Fatalf("tshark decoded %d frames, the capture has %d", len(rows), len(frames))
	}
	return rows
}

// wireSummary counts what tshark found inside the ESP packets.
type wireSummary struct {
	esp, arp, icmp, tcp, icvGood int
}

// checkWire checks that the veth carried nothing but ARP and ESP between
// the two outer addresses, that tshark authenticated and decrypted every
// ESP packet, and, in tunnel mode, that the inner packets are between the
// inner subnets.
func checkWire(t *testing.T, rows []wireRow, a, b *site, tunnel bool) wireSummary {
	t.Helper()
	var s wireSummary
	for _, r := range rows {
		switch et := r.first("eth.type"); et {
		case "0x0806", "0x00000806":
			s.arp++
			continue
		case "0x0800", "0x00000800":
		default:
			t.Errorf("frame %s: ethertype %s on the wire, want only IPv4 ESP and ARP", r.first("frame.number"), et)
			continue
		}
		if p := r.first("ip.proto"); p != "50" {
			t.Errorf("frame %s: cleartext IP protocol %s on the wire %s -> %s (%v)", r.first("frame.number"), p, r.first("ip.src"), r.first("ip.dst"), r)
			continue
		}
		s.esp++
		outer := r.first("ip.src") + ">" + r.first("ip.dst")
		if outer != a.outer.String()+">"+b.outer.String() && outer != b.outer.String()+">"+a.outer.String() {
			t.Errorf("frame %s: ESP between %s, not the SA endpoints", r.first("frame.number"), outer)
		}
		if r.last("esp.icv_good") == "1" && r.last("esp.icv_bad") != "1" {
			s.icvGood++
		} else {
			t.Errorf("frame %s: tshark found ICV good=%q bad=%q", r.first("frame.number"), r.last("esp.icv_good"), r.last("esp.icv_bad"))
		}
		if tunnel {
			if len(r["ip.src"]) < 2 {
				t.Errorf("frame %s: tshark did not decrypt an inner IP packet: %v", r.first("frame.number"), r)
				continue
			}
			inner := r.last("ip.src") + ">" + r.last("ip.dst")
			in := func(addr string) bool {
				return strings.HasPrefix(addr, "10.1.0.") || strings.HasPrefix(addr, "10.2.0.")
			}
			if !in(r.last("ip.src")) || !in(r.last("ip.dst")) {
				t.Errorf("frame %s: inner packet %s is not between the tunnel's subnets", r.first("frame.number"), inner)
			}
		}
		if r.last("icmp.type") != "" {
			s.icmp++
		}
		if r.last("tcp.len") != "" {
			s.tcp++
		}
	}
	return s
}

// lastESP returns the last ESP packet (its IP datagram) sent from src
// to dst in the capture.
func lastESP(frames []frame, src, dst [4]byte) []byte {
	for i := len(frames) - 1; i >= 0; i-- {
		d := frames[i].data
		if len(d) < 14+20+8 || binary.BigEndian.Uint16(d[12:]) != 0x0800 {
			continue
		}
		ip := d[14:]
		if ip[9] == 50 && [4]byte(ip[12:16]) == src && [4]byte(ip[16:20]) == dst {
			return bytes.Clone(ip[:binary.BigEndian.Uint16(ip[2:])])
		}
	}
	return nil
}

// inject sends whole IP packets on the wire from inside the namespace
// through a raw socket (IP_HDRINCL), as an attacker on the link would.
func inject(t *testing.T, ns *netns.NS, pkts ...[]byte) {
	t.Helper()
	err := ns.Do(func() error {
		fd, err := unix.Socket(unix.AF_INET, unix.SOCK_RAW|unix.SOCK_CLOEXEC, unix.IPPROTO_RAW)
		if err != nil {
			return err
		}
		defer unix.Close(fd)
		for _, p := range pkts {
			to := &unix.SockaddrInet4{Addr: [4]byte(p[16:20])}
			if err := unix.Sendto(fd, p, 0, to); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		t.Fatalf("inject: %v", err)
	}
}
