package interop

import (
	"crypto/rand"
	"crypto/sha256"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/netip"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"golang.org/x/net/icmp"
	"golang.org/x/net/ipv4"

	"github.com/sabre-ipsec/sabre/internal/testutil/netns"
)

// rekeysUnderTraffic is how many Child SA rekeys traffic runs through
// in each case; maxRekeyTraffic bounds how long that may take.
const (
	rekeysUnderTraffic = 5
	maxRekeyTraffic    = 2 * time.Minute
)

// TestChildRekeyUnderTraffic: echo requests every 20 ms and a TCP stream
// (about 12 Mbit/s) run both ways between Sabre and strongSwan while the
// Child SA is rekeyed every few seconds, until it has been rekeyed
// rekeysUnderTraffic times. Every echo must be
// answered (late is fine: the machine may be busy), both streams must
// arrive whole, and Sabre's engine may drop nothing for an unknown SPI or
// a missing SA (RFC 7296 §1.3.3, §2.8: the old inbound SA stays until the
// Delete exchange for it completes, and a rekey's responder sends on the
// new SA only after the peer's Delete).
//
//   - sabre-rekeys: Sabre (IKE initiator, policy -k 600 -K 3) starts every
//     rekey; strongSwan's rekey_time is an hour. The first copy of each
//     of Sabre's Deletes is dropped on the way, so strongSwan keeps
//     sending on the old SA for a retransmission interval.
//   - strongswan-rekeys: strongSwan (IKE initiator, rekey_time 4 s,
//     rand_time 1 s; it rekeys every 3-4 s) starts every rekey; Sabre's
//     -K is 500 s.
//
// The hard lifetimes are far beyond the test: an SA must go at its hard
// lifetime whether or not the Delete for it has got through (RFC 4301
// §4.4.2.1), and on a busy machine charon's full receive queue can hold
// that Delete up for several retransmissions, so a hard lifetime a few
// seconds after the rekey would be a race between the two, not a test of
// make-before-break.
func TestChildRekeyUnderTraffic(t *testing.T) {
	needStrongSwan(t)
	c := ikeCases[2] // no DH in the CREATE_CHILD_SA: quick rekeys
	t.Run("sabre-rekeys", func(t *testing.T) {
		left, right := pair(t)
		capture(t, left)
		capture(t, right)
		psk := newPSK()
		sc := c
		sc.sabreESP += " -k 600 -K 3"
		s := startSabre(t, left, right, sabreRemote(sc, left, right, right.outer, writePSK(t, left, psk), true))
		right.addSubnet(t)
		r := startCharon(t, right, defaultCharon)
		loadRekeying(t, r, conn(c, right, left, psk), "1h", "0", "2h")
		pingUntil(t, left.ns, left.inner, right.inner, 20*time.Second)

		// strongSwan keeps sending on the old SA until it has Sabre's
		// Delete for it; losing the first copy of each Delete makes that
		// last a retransmission interval (-i, 500 ms), not a round trip.
		nft := needNft(t)
		right.ns.Nft(t, nft, dropEveryOtherInformationalRequest)
		runRekeyTraffic(t, left, right, s)
		t.Logf("Sabre started %d rekeys", strings.Count(readFile(s.log), `msg="rekeying Child SA"`))
		out := right.ns.Exec(t, nft, "list", "table", "inet", "rekeyloss")
		if m := reCounter.FindStringSubmatch(out); m == nil || m[1] == "0" {
			t.Errorf("no INFORMATIONAL request from Sabre was dropped:\n%s", out)
		} else {
			t.Logf("%s of Sabre's INFORMATIONAL requests (its Deletes) dropped", m[1])
		}
	})
	t.Run("strongswan-rekeys", func(t *testing.T) {
		left, right := pair(t)
		capture(t, left)
		capture(t, right)
		psk := newPSK()
		sc := c
		sc.sabreESP += " -k 600 -K 500"
		s := startSabre(t, right, left, sabreRemote(sc, right, left, left.outer, writePSK(t, right, psk), false))
		left.addSubnet(t)
		l := startCharon(t, left, defaultCharon)
		loadRekeying(t, l, conn(c, left, right, psk), "4s", "1s", "1h")
		l.initiate(t, childName)

		runRekeyTraffic(t, right, left, s)
		log := readFile(s.log)
		if n := strings.Count(log, `msg="rekeying Child SA"`); n != 0 {
			t.Errorf("Sabre started %d rekeys; strongSwan should have started them all", n)
		}
		t.Logf("strongSwan started %d rekeys", strings.Count(log, `msg="Child SA established"`)-1)
	})
}

// dropEveryOtherInformationalRequest is an nftables table that drops
// every other IKE INFORMATIONAL request arriving on port 4500: a UDP
// payload starting with the non-ESP marker (RFC 3948 §2.2: four zero
// octets), exchange type 37 at octet 22 and the Response flag (0x20) of
// octet 23 clear (RFC 7296 §3.1).
const dropEveryOtherInformationalRequest = `table inet rekeyloss {
	chain input {
		type filter hook input priority filter; policy accept;
		udp dport 4500 @th,64,32 0 @th,240,8 37 @th,248,8 & 0x20 == 0 numgen inc mod 2 0 counter drop
	}
}`

// loadRekeying loads conn into charon with the child's rekey_time,
// rand_time and life_time.
func loadRekeying(t *testing.T, c *charon, conn swanConn, rekey, randTime, life string) {
	t.Helper()
	path := filepath.Join(c.h.dir, "swanctl.conf")
	render(t, "swanctl-rekey.conf.tmpl", path, struct {
		Conn                          swanConn
		RekeyTime, RandTime, LifeTime string
	}{conn, rekey, randTime, life})
	out := c.mustSwanctl(t, "--load-all", "--file", path)
	if !strings.Contains(out, "successfully loaded 1 connections") {
		t.Fatalf("swanctl --load-all in %s:\n%s", c.h.role, out)
	}
}

// runRekeyTraffic runs pings and a TCP stream both ways between the Sabre
// host sh and the strongSwan host wh until Sabre has had
// rekeysUnderTraffic Child SAs replaced (whichever end rekeyed them) and
// the last replacement has been in use for a while, then checks that no
// ping was lost, both streams arrived whole and Sabre's engine dropped
// no packet for want of an SA.
func runRekeyTraffic(t *testing.T, sh, wh *host, s *sabred) {
	t.Helper()
	before := sabreDrops(t, s)
	nft := needNft(t)
	sh.ns.Nft(t, nft, accountingTable("sabre0"))
	wh.ns.Nft(t, nft, accountingTable("ipsec0"))
	hostsBefore := []hostDrops{readHostDrops(t, nft, sh, "sabre0"), readHostDrops(t, nft, wh, "ipsec0")}
	var wg sync.WaitGroup
	pings := make([]*pingStream, 2)
	streams := make([]error, 2)
	sent := make([]int64, 2)
	stop := make(chan struct{})
	for i, d := range []struct {
		from, to *host
	}{{sh, wh}, {wh, sh}} {
		pings[i] = startPings(t, d.from.ns, d.from.inner, d.to.inner, stop)
		wg.Add(1)
		go func() {
			defer wg.Done()
			sent[i], streams[i] = streamTCP(d.from.ns, d.from.inner, d.to.ns, d.to.inner, stop)
		}()
	}
	// Every rekey, whichever end starts it, gives Sabre one more "Child SA
	// established". Traffic runs until rekeysUnderTraffic+1 of them, so
	// that the first rekeysUnderTraffic old pairs have been replaced and
	// retired with traffic on them.
	established := func() int { return strings.Count(s.d.LogText(), `msg="Child SA established"`) }
	first := established()
	bound := time.Now().Add(maxRekeyTraffic)
	for established() < first+rekeysUnderTraffic+1 && time.Now().Before(bound) {
		time.Sleep(100 * time.Millisecond)
	}
	close(stop)
	wg.Wait()
	if n := established() - first; n < rekeysUnderTraffic+1 {
		t.Errorf("only %d Child SAs replaced in %v, want %d", n, maxRekeyTraffic, rekeysUnderTraffic+1)
	}
	lost := make([][]string, 2)
	for i, p := range pings {
		dir := fmt.Sprintf("%v -> %v", p.src, p.dst)
		var n int
		n, lost[i] = p.wait(5 * time.Second)
		switch {
		case n < 300:
			t.Errorf("ping %s: only %d echoes sent", dir, n)
		case len(lost[i]) > 0:
			t.Logf("ping %s: %d of %d echoes unanswered across the rekeys, sent at %s", dir, len(lost[i]), n, strings.Join(lost[i][:min(len(lost[i]), 8)], ", "))
		default:
			t.Logf("ping %s: %d echoes, every one answered", dir, n)
		}
		if streams[i] != nil {
			t.Errorf("TCP %s: %v", dir, streams[i])
		} else {
			t.Logf("TCP %s: %d MiB, whole", dir, sent[i]>>20)
		}
	}
	after := sabreDrops(t, s)
	for _, reason := range []string{"XE_BAD_ESP_SPI", "XE_SA_NOT_FOUND", "XE_SA_EXPIRED", "XE_KEYNEG_INPROGRESS", "XE_BAD_SEQUENCE_NUMBER", "XE_ESP_DIGEST_MISMATCH"} {
		if n := after[reason] - before[reason]; n != 0 {
			t.Errorf("Sabre dropped %d packets as %s during the rekeys", n, reason)
		}
	}
	t.Logf("Sabre's drop counters after the traffic: %v", nonZero(after))
	checkHostDrops(t, nft, sh, wh, hostsBefore, len(lost[0])+len(lost[1]))
	if out, err := s.client("ipsec", "netstat", "-a"); err == nil {
		t.Logf("sabre ipsec netstat -a:\n%s", out)
	}
	if out, err := s.client("ipsec", "netstat", "-c"); err == nil {
		t.Logf("sabre ipsec netstat -c:\n%s", out)
	}
}

// pingStream sends an echo request every 20 ms and records the replies
// apart, so that a reply delayed by a busy machine is not taken for a lost
// one.
type pingStream struct {
	p        *pinger
	src, dst netip.Addr
	mu       sync.Mutex
	sentAt   []time.Time // by sequence number - 1
	answered map[int]bool
	sending  sync.WaitGroup
	reading  chan struct{}
}

func startPings(t *testing.T, ns *netns.NS, src, dst netip.Addr, stop <-chan struct{}) *pingStream {
	t.Helper()
	s := &pingStream{p: newPinger(t, ns, src), src: src, dst: dst, answered: map[int]bool{}, reading: make(chan struct{})}
	s.sending.Add(1)
	go func() {
		defer s.sending.Done()
		payload := make([]byte, 56)
		for seq := 1; !closed(stop); seq++ {
			m := icmp.Message{Type: ipv4.ICMPTypeEcho, Body: &icmp.Echo{ID: s.p.id, Seq: seq & 0xffff, Data: payload}}
			wb, _ := m.Marshal(nil)
			s.mu.Lock()
			s.sentAt = append(s.sentAt, time.Now())
			s.mu.Unlock()
			s.p.c.WriteTo(wb, &net.IPAddr{IP: dst.AsSlice()})
			time.Sleep(20 * time.Millisecond)
		}
	}()
	go func() {
		defer close(s.reading)
		buf := make([]byte, 1500)
		for {
			n, _, err := s.p.c.ReadFrom(buf)
			if err != nil {
				return // wait set a read deadline
			}
			r, err := icmp.ParseMessage(1, buf[:n])
			if err != nil || r.Type != ipv4.ICMPTypeEchoReply {
				continue
			}
			if e, ok := r.Body.(*icmp.Echo); ok && e.ID == s.p.id {
				s.mu.Lock()
				s.answered[e.Seq] = true
				s.mu.Unlock()
			}
		}
	}()
	return s
}

// wait waits until the sending ends and every echo is answered or grace
// has passed; it returns how many echoes were sent and when those without
// a reply were.
func (s *pingStream) wait(grace time.Duration) (int, []string) {
	s.sending.Wait()
	deadline := time.Now().Add(grace)
	for {
		s.mu.Lock()
		done := len(s.answered) >= len(s.sentAt)
		s.mu.Unlock()
		if done || time.Now().After(deadline) {
			break
		}
		time.Sleep(10 * time.Millisecond)
	}
	s.p.c.SetReadDeadline(time.Now())
	<-s.reading
	s.mu.Lock()
	defer s.mu.Unlock()
	var lost []string
	for i, at := range s.sentAt {
		if !s.answered[(i+1)&0xffff] {
			lost = append(lost, at.Format("15:04:05.000"))
		}
	}
	return len(s.sentAt), lost
}

// sabreDrops returns Sabre's drop counters (`ipsec netstat -a -j`).
func sabreDrops(t *testing.T, s *sabred) map[string]uint64 {
	t.Helper()
	out, err := s.client("ipsec", "netstat", "-a", "-j")
	if err != nil {
		t.Fatalf("sabre ipsec netstat -a -j: %v\n%s", err, out)
	}
	var v struct {
		Drops map[string]uint64 `json:"drops"`
	}
	if err := json.Unmarshal([]byte(out), &v); err != nil {
		t.Fatalf("sabre ipsec netstat -a -j: %v\n%s", err, out)
	}
	return v.Drops
}

func nonZero(m map[string]uint64) map[string]uint64 {
	nz := map[string]uint64{}
	for k, v := range m {
		if v != 0 {
			nz[k] = v
		}
	}
	return nz
}

// closed reports whether c is closed.
func closed(c <-chan struct{}) bool {
	select {
	case <-c:
		return true
	default:
		return false
	}
}

// streamTCP sends random bytes over one TCP connection from src (in
// namespace from) to dst (in namespace to) until stop is closed and
// checks that exactly those bytes arrived; it returns how many it sent.
func streamTCP(from *netns.NS, src netip.Addr, to *netns.NS, dst netip.Addr, stop <-chan struct{}) (int64, error) {
	// A connection that makes no progress for this long has failed.
	const stall = time.Minute
	var ln net.Listener
	if err := to.Do(func() (err error) { ln, err = net.Listen("tcp4", netip.AddrPortFrom(dst, 0).String()); return }); err != nil {
		return 0, err
	}
	defer ln.Close()
	type result struct {
		n   int64
		sum []byte
		err error
	}
	got := make(chan result, 1)
	go func() {
		c, err := ln.Accept()
		if err != nil {
			got <- result{err: err}
			return
		}
		defer c.Close()
		h := sha256.New()
		n, err := io.Copy(h, deadlineReader{c, stall})
		got <- result{n, h.Sum(nil), err}
	}()
	var c net.Conn
	d := net.Dialer{LocalAddr: &net.TCPAddr{IP: src.AsSlice()}, Timeout: 10 * time.Second}
	if err := from.Do(func() (err error) { c, err = d.Dial("tcp4", ln.Addr().String()); return }); err != nil {
		return 0, fmt.Errorf("connect: %w", err)
	}
	chunk := make([]byte, 16<<10)
	h := sha256.New()
	var n int64
	for !closed(stop) {
		rand.Read(chunk)
		c.SetWriteDeadline(time.Now().Add(stall))
		h.Write(chunk)
		if _, err := c.Write(chunk); err != nil {
			c.Close()
			return n, fmt.Errorf("send after %d bytes: %w", n, err)
		}
		n += int64(len(chunk))
		// About 12 Mbit/s: a steady stream that does not fill the queues,
		// which would delay the pings past their timeout.
		time.Sleep(10 * time.Millisecond)
	}
	c.Close()
	r := <-got
	switch {
	case r.err != nil:
		return n, fmt.Errorf("receive after %d bytes: %w", r.n, r.err)
	case r.n != n || string(r.sum) != string(h.Sum(nil)):
		return n, fmt.Errorf("received %d bytes of %d, checksum match %v", r.n, n, string(r.sum) == string(h.Sum(nil)))
	}
	return n, nil
}

// checkHostDrops accounts for every echo lost between the Sabre host sh
// and the strongSwan host wh (lost in all) with the counters of
// hostDrops, read before the traffic: nothing may be lost on Sabre's
// host, every ESP datagram charon read must have come out of its TUN
// device (kernel-libipsec drops one it has no inbound SA for, or cannot
// authenticate, without counting it), and echoes may be lost only as
// many as strongSwan's host dropped datagrams because charon did not
// read them.
func checkHostDrops(t *testing.T, nft string, sh, wh *host, before []hostDrops, lost int) {
	t.Helper()
	sd := readHostDrops(t, nft, sh, "sabre0").sub(before[0])
	// The last datagrams may still be on their way through charon: wait
	// up to 5 s until every one it read has come out.
	var wd hostDrops
	for deadline := time.Now().Add(5 * time.Second); ; time.Sleep(20 * time.Millisecond) {
		wd = readHostDrops(t, nft, wh, "ipsec0").sub(before[1])
		if wd.espRead() <= wd.delivered || time.Now().After(deadline) {
			break
		}
	}
	t.Logf("Sabre's host: Sabre read %d ESP datagrams, %d packets came out of sabre0 (GRO merges TCP segments); the kernel dropped %d datagrams for a full UDP receive queue, %d packets for a full sabre0 queue",
		sd.espRead(), sd.delivered, sd.rcvbuf, sd.tunDropped)
	t.Logf("strongSwan's host: charon read %d ESP datagrams, %d packets came out of ipsec0; the kernel dropped %d datagrams for a full UDP receive queue, %d packets for a full ipsec0 queue",
		wd.espRead(), wd.delivered, wd.rcvbuf, wd.tunDropped)
	if sd.rcvbuf != 0 {
		t.Errorf("the kernel dropped %d datagrams on Sabre's host because a UDP receive queue was full", sd.rcvbuf)
	}
	if sd.tunDropped != 0 {
		t.Errorf("the kernel dropped %d packets on Sabre's host because Sabre did not read sabre0 fast enough", sd.tunDropped)
	}
	if wd.espRead() > wd.delivered {
		t.Errorf("charon read %d ESP datagrams and delivered %d: kernel-libipsec refused %d of Sabre's (sent on an SA strongSwan did not have?)",
			wd.espRead(), wd.delivered, wd.espRead()-wd.delivered)
	}
	switch excused := wd.rcvbuf + wd.tunDropped; {
	case uint64(lost) > excused:
		t.Errorf("%d echoes unanswered across the rekeys; strongSwan's host dropped only %d packets because charon did not read them, so the rest were lost elsewhere", lost, excused)
	case lost > 0:
		t.Logf("%d echoes unanswered, all on strongSwan's host: its kernel dropped %d datagrams for charon's full UDP receive queue and %d packets for its full ipsec0 queue (charon starved of CPU; not Sabre's to prevent)",
			lost, wd.rcvbuf, wd.tunDropped)
	}
}

// deadlineReader reads from c with a deadline of stall from each read.
type deadlineReader struct {
	c     net.Conn
	stall time.Duration
}

func (r deadlineReader) Read(b []byte) (int, error) {
	r.c.SetReadDeadline(time.Now().Add(r.stall))
	return r.c.Read(b)
}
