package e2e

import (
	"bytes"
	"encoding/binary"
	"net/netip"
	"os/exec"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/sabre-ipsec/sabre/internal/testutil/netns"
)

// transferSize is the TCP transfer of every case: several megabytes, so
// that TCP's GSO super-packets, many batches and windows go through.
const transferSize = 8 << 20

func TestTunnelAESGCM(t *testing.T)          { testTunnel(t, aesGCM, false) }
func TestTunnelAESCBCSHA256(t *testing.T)    { testTunnel(t, aesCBCSHA256, false) }
func TestTunnelUDPEncapsulated(t *testing.T) { testTunnel(t, aesGCM, true) }

// testTunnel runs a tunnel between 10.1.0.0/24 (A) and 10.2.0.0/24 (B)
// over 192.0.2.1 -- 192.0.2.2, keyed by ike_rc files, and checks ping, a
// TCP transfer, the wire (unless UDP-encapsulated: UDP GSO hands the
// capture super-packets) and the replay and tamper drops.
func testTunnel(t *testing.T, s suite, encap bool) {
	a, b := newPair(t)
	ab, ba := keys(s, a, b)
	a.start(t, ikeRC(s, rcOptions{mode: "tunnel", src: a.subnet.String(), dst: b.subnet.String(), encap: encap}, b.outer, ab, ba))
	b.start(t, ikeRC(s, rcOptions{mode: "tunnel", src: b.subnet.String(), dst: a.subnet.String(), encap: encap}, a.outer, ba, ab))
	a.routeTunnel(t, b)
	b.routeTunnel(t, a)

	var capt *capture
	if !encap {
		capt = startCapture(t, a.ns, a.veth)
	}
	rtts := ping(t, a.ns, a.inner, b.inner, 5)
	t.Logf("ping %v -> %v through the tunnel: 5/5 replies, avg rtt %v", a.inner, b.inner, avg(rtts).Round(time.Microsecond))
	netns.Transfer(t, a.ns, a.inner, b.ns, b.inner, transferSize, 2*time.Minute)
	netns.Transfer(t, b.ns, b.inner, a.ns, a.inner, transferSize/4, 2*time.Minute)

	nb := b.netstat(t)
	if pk, _, _, ok := nb.inboundSA(ab.spi); !ok || pk < transferSize/1500 {
		t.Errorf("B's inbound SA %#x: %d packets (found %v), want the transfer's", ab.spi, pk, ok)
	}
	if encap {
		if out, _ := a.ipsec("netstat", "-c"); !strings.Contains(out, "4500") {
			t.Errorf("A's SAs do not show UDP encapsulation on 4500:\n%s", out)
		}
		return
	}

	frames := capt.Stop()
	rows := tsharkDecode(t, frames, s, ab, ba)
	w := checkWire(t, rows, a, b, true)
	checkCounts(t, w, len(rows), capt.drops)

	replayAndTamper(t, a, b, ab, a.inner, b.inner)
}

// checkCounts checks that the capture holds the pings and the transfer,
// all of it unless the capture itself lost frames (a loaded machine).
func checkCounts(t *testing.T, w wireSummary, frames int, drops uint32) {
	t.Helper()
	t.Logf("wire: %d frames (capture lost %d): %d ESP (tshark: %d ICV good; inside: %d ICMP, %d TCP), %d ARP",
		frames, drops, w.esp, w.icvGood, w.icmp, w.tcp, w.arp)
	want := transferSize / 1500
	if drops > 0 {
		want = 1
	}
	if w.icmp+int(drops) < 10 || w.tcp < want {
		t.Errorf("tshark found %d ICMP and %d TCP packets inside ESP, want the 10 pings and the transfer", w.icmp, w.tcp)
	}
}

// replayAndTamper captures the ESP packet of one ping from src to dst,
// then injects on the veth, from A's side, a copy of it (a replay) and a
// copy with a later sequence number and a flipped ciphertext bit
// (tampered), and checks that B dropped both and counted them:
// XE_BAD_SEQUENCE_NUMBER and the SA's replay drops, XE_ESP_DIGEST_MISMATCH
// and its ICV failures.
func replayAndTamper(t *testing.T, a, b *site, ab sa, src, dst netip.Addr) {
	t.Helper()
	capt := startCapture(t, a.ns, a.veth)
	ping(t, a.ns, src, dst, 1)
	pkt := lastESP(capt.Stop(), a.outer.As4(), b.outer.As4())
	if pkt == nil {
		t.Fatal("no ESP packet from A to B in the capture")
	}
	ihl := int(pkt[0]&0x0f) * 4
	if spi := binary.BigEndian.Uint32(pkt[ihl:]); spi != ab.spi {
		t.Fatalf("captured ESP SPI %#x, want %#x", spi, ab.spi)
	}
	tampered := bytes.Clone(pkt)
	seq := binary.BigEndian.Uint32(tampered[ihl+4:])
	binary.BigEndian.PutUint32(tampered[ihl+4:], seq+10) // ahead of the window: not a replay
	tampered[len(tampered)-30] ^= 0x40                   // in the ciphertext

	before := b.netstat(t)
	_, replay0, icv0, _ := before.inboundSA(ab.spi)
	inject(t, a.ns, pkt, tampered)

	var after netstat
	deadline := time.Now().Add(5 * time.Second)
	for {
		after = b.netstat(t)
		_, replay1, icv1, _ := after.inboundSA(ab.spi)
		if replay1 > replay0 && icv1 > icv0 || time.Now().After(deadline) {
			break
		}
		time.Sleep(50 * time.Millisecond)
	}
	_, replay1, icv1, _ := after.inboundSA(ab.spi)
	if replay1 != replay0+1 {
		t.Errorf("B's SA %#x replay drops %d -> %d after one replayed packet", ab.spi, replay0, replay1)
	}
	if icv1 != icv0+1 {
		t.Errorf("B's SA %#x ICV failures %d -> %d after one tampered packet", ab.spi, icv0, icv1)
	}
	for _, reason := range []string{"XE_BAD_SEQUENCE_NUMBER", "XE_ESP_DIGEST_MISMATCH"} {
		if after.Drops[reason] != before.Drops[reason]+1 {
			t.Errorf("B's drops %s: %d -> %d, want one more", reason, before.Drops[reason], after.Drops[reason])
		}
	}
	out, err := b.ipsec("netstat", "-a")
	if err != nil || !strings.Contains(out, "XE_BAD_SEQUENCE_NUMBER") || !strings.Contains(out, "XE_ESP_DIGEST_MISMATCH") {
		t.Errorf("sabre ipsec netstat -a in B (err %v) does not show the drops:\n%s", err, out)
	} else {
		t.Logf("B's `sabre ipsec netstat -a` after the injection:\n%s", out)
	}
	// The tunnel still works.
	ping(t, a.ns, src, dst, 1)
}

// TestTransport runs transport-mode ESP between the hosts' own addresses
// 192.0.2.1 and 192.0.2.2. The daemons mark their sockets (-fwmark) and
// policy routing sends every other packet to the peer into sabre0, as the
// ports/tun documentation describes.
func TestTransport(t *testing.T) {
	s := aesGCM
	a, b := newPair(t)
	ab, ba := keys(s, a, b)
	const mark, table = "0x5ab", "51820"
	a.start(t, ikeRC(s, rcOptions{mode: "transport", src: a.outer.String(), dst: b.outer.String()}, b.outer, ab, ba), "-fwmark", mark)
	b.start(t, ikeRC(s, rcOptions{mode: "transport", src: b.outer.String(), dst: a.outer.String()}, a.outer, ba, ab), "-fwmark", mark)
	for _, p := range []struct{ me, peer *site }{{a, b}, {b, a}} {
		p.me.ns.IP(t, "route", "add", p.peer.outer.String()+"/32", "dev", "sabre0", "src", p.me.outer.String(), "table", table)
		p.me.ns.IP(t, "rule", "add", "to", p.peer.outer.String(), "not", "fwmark", mark, "lookup", table)
	}

	capt := startCapture(t, a.ns, a.veth)
	rtts := ping(t, a.ns, a.outer, b.outer, 5)
	t.Logf("ping %v -> %v in transport mode: 5/5 replies, avg rtt %v", a.outer, b.outer, avg(rtts).Round(time.Microsecond))
	netns.Transfer(t, a.ns, a.outer, b.ns, b.outer, transferSize, 2*time.Minute)

	frames := capt.Stop()
	rows := tsharkDecode(t, frames, s, ab, ba)
	w := checkWire(t, rows, a, b, false)
	checkCounts(t, w, len(rows), capt.drops)
	replayAndTamper(t, a, b, ab, a.outer, b.outer)
}

// TestReloadConsoleAndShutdown rekeys both daemons by editing their
// ike_rc files and sending SIGHUP, drives one through `sabre console`, and
// checks the clients' message once the daemon is gone.
func TestReloadConsoleAndShutdown(t *testing.T) {
	s := aesGCM
	a, b := newPair(t)
	ab, ba := keys(s, a, b)
	a.start(t, ikeRC(s, rcOptions{mode: "tunnel", src: a.subnet.String(), dst: b.subnet.String()}, b.outer, ab, ba))
	b.start(t, ikeRC(s, rcOptions{mode: "tunnel", src: b.subnet.String(), dst: a.subnet.String()}, a.outer, ba, ab))
	a.routeTunnel(t, b)
	b.routeTunnel(t, a)
	ping(t, a.ns, a.inner, b.inner, 2)

	// New keys and SPIs in both files, then SIGHUP.
	ab2, ba2 := keys(s, a, b)
	ab2.spi, ba2.spi = ab.spi+0x10000, ba.spi+0x10000
	a.rewriteRC(t, ikeRC(s, rcOptions{mode: "tunnel", src: a.subnet.String(), dst: b.subnet.String()}, b.outer, ab2, ba2))
	b.rewriteRC(t, ikeRC(s, rcOptions{mode: "tunnel", src: b.subnet.String(), dst: a.subnet.String()}, a.outer, ba2, ab2))
	for _, x := range []*site{a, b} {
		x.d.Cmd.Process.Signal(syscall.SIGHUP)
	}
	deadline := time.Now().Add(5 * time.Second)
	for {
		_, _, _, okA := a.netstat(t).inboundSA(ba2.spi)
		_, _, _, okB := b.netstat(t).inboundSA(ab2.spi)
		if okA && okB {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("SIGHUP did not install the new SAs\nA:\n%s\nB:\n%s", a.d.LogText(), b.d.LogText())
		}
		time.Sleep(50 * time.Millisecond)
	}
	if _, _, _, ok := b.netstat(t).inboundSA(ab.spi); ok {
		t.Error("B still has the old inbound SA after the reload")
	}
	ping(t, a.ns, a.inner, b.inner, 2)
	if pk, _, _, _ := b.netstat(t).inboundSA(ab2.spi); pk < 2 {
		t.Errorf("the pings after the reload did not use the new SA: %d packets", pk)
	}

	// The console, with commands on standard input.
	cmd := exec.Command(a.d.Bin, "console", "-sock", a.sock)
	cmd.Stdin = strings.NewReader("ipsec policy -v -n p1\ntun\nipsec bogus\n")
	out, err := cmd.CombinedOutput()
	if err == nil || !strings.Contains(string(out), "ipsec policy -n p1") || !strings.Contains(string(out), "tun rx") {
		t.Errorf("sabre console (want exit status 1 for the bogus command): %v\n%s", err, out)
	}

	a.stop(t)
	msg, err := a.ipsec("netstat")
	if err == nil || !strings.Contains(msg, "daemon not running (no socket at "+a.sock+"): start it with `sabre run`") {
		t.Errorf("sabre ipsec netstat after the daemon stopped: %v\n%s", err, msg)
	}
	if out, err := exec.Command("ip", "-n", a.ns.Name, "link", "show", "sabre0").CombinedOutput(); err == nil {
		t.Errorf("sabre0 still exists after the daemon stopped:\n%s", out)
	}
}
