package e2e

import (
	"bytes"
	"encoding/binary"
	"errors"
	"net"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/sabre-ipsec/sabre/internal/testutil/netns"
	"github.com/sabre-ipsec/sabre/internal/testutil/sabre"
	"github.com/sabre-ipsec/sabre/internal/testutil/tshark"
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

// wireFields are what tshark prints of each frame.
var wireFields = []string{"frame.number", "eth.type", "ip.proto", "ip.src", "ip.dst", "esp.spi", "esp.sequence",
	"esp.icv_good", "esp.icv_bad", "icmp.type", "tcp.len", "udp.dstport"}

// tsharkDecode runs tshark over the capture with the SAs in its esp_sa
// table, so that it decrypts and authenticates the ESP packets.
func tsharkDecode(t *testing.T, frames []frame, s suite, sas ...sa) []tshark.Row {
	t.Helper()
	bin := tshark.Path(t)
	rows := make([]tshark.ESPSA, len(sas))
	for i, a := range sas {
		rows[i] = tshark.ESPSA{Src: a.src.String(), Dst: a.dst.String(), SPI: a.spi,
			Encr: s.tsharkEncr, EncrKey: a.encrKey, Auth: s.tsharkAuth, AuthKey: a.intgKey}
	}
	conf := tshark.Config(t, map[string]string{"preferences": tshark.ESPPreferences, "esp_sa": tshark.ESPSATable(rows)})
	pcap := filepath.Join(t.TempDir(), "wire.pcap")
	pkts := make([]tshark.Packet, len(frames))
	for i, fr := range frames {
		pkts[i] = tshark.Packet{Time: fr.ts, Data: fr.data}
	}
	tshark.WritePcap(t, pcap, tshark.LinkEthernet, pkts)
	sabre.Keep(t, "SABRE_E2E_KEEP", pcap)
	sabre.Keep(t, "SABRE_E2E_KEEP", filepath.Join(conf, "esp_sa"))
	got := tshark.Fields(t, bin, conf, pcap, wireFields)
	if len(got) != len(frames) {
		t.Fatalf("tshark decoded %d frames, the capture has %d", len(got), len(frames))
	}
	return got
}

// wireSummary counts what tshark found inside the ESP packets.
type wireSummary struct {
	esp, arp, icmp, tcp, icvGood int
}

// checkWire checks that the veth carried nothing but ARP and ESP between
// the two outer addresses, that tshark authenticated and decrypted every
// ESP packet, and, in tunnel mode, that the inner packets are between the
// inner subnets.
func checkWire(t *testing.T, rows []tshark.Row, a, b *site, tunnel bool) wireSummary {
	t.Helper()
	var s wireSummary
	for _, r := range rows {
		switch et := r.First("eth.type"); et {
		case "0x0806", "0x00000806":
			s.arp++
			continue
		case "0x0800", "0x00000800":
		default:
			t.Errorf("frame %s: ethertype %s on the wire, want only IPv4 ESP and ARP", r.First("frame.number"), et)
			continue
		}
		if p := r.First("ip.proto"); p != "50" {
			t.Errorf("frame %s: cleartext IP protocol %s on the wire %s -> %s (%v)", r.First("frame.number"), p, r.First("ip.src"), r.First("ip.dst"), r)
			continue
		}
		s.esp++
		outer := r.First("ip.src") + ">" + r.First("ip.dst")
		if outer != a.outer.String()+">"+b.outer.String() && outer != b.outer.String()+">"+a.outer.String() {
			t.Errorf("frame %s: ESP between %s, not the SA endpoints", r.First("frame.number"), outer)
		}
		if r.Last("esp.icv_good") == "1" && r.Last("esp.icv_bad") != "1" {
			s.icvGood++
		} else {
			t.Errorf("frame %s: tshark found ICV good=%q bad=%q", r.First("frame.number"), r.Last("esp.icv_good"), r.Last("esp.icv_bad"))
		}
		if tunnel {
			if len(r["ip.src"]) < 2 {
				t.Errorf("frame %s: tshark did not decrypt an inner IP packet: %v", r.First("frame.number"), r)
				continue
			}
			inner := r.Last("ip.src") + ">" + r.Last("ip.dst")
			in := func(addr string) bool {
				return strings.HasPrefix(addr, "10.1.0.") || strings.HasPrefix(addr, "10.2.0.")
			}
			if !in(r.Last("ip.src")) || !in(r.Last("ip.dst")) {
				t.Errorf("frame %s: inner packet %s is not between the tunnel's subnets", r.First("frame.number"), inner)
			}
		}
		if r.Last("icmp.type") != "" {
			s.icmp++
		}
		if r.Last("tcp.len") != "" {
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
