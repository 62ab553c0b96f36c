package interop

import (
	"fmt"
	"os"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"
)

// TestSabreReloadKeepsTunnel puts `sabre run` (initiator, its ike_rc an
// `ike remote` line and a policy) against strongSwan, pings through the
// negotiated tunnel without pause, and sends the daemon SIGHUP five times
// with the file unchanged: no echo is lost, the IKE SA and the Child SA
// are the same (SPIs on both ends) and the log says the reload succeeded.
// Then a file whose policy changed is reloaded: that policy is replaced
// and the tunnel is negotiated again. (A reload of an unchanged file used
// to fail with "a remote of that name exists" and leave no policy.)
// Last, `sabre ike reload` flushes the IKE SA and the remote and re-reads
// the file.
func TestSabreReloadKeepsTunnel(t *testing.T) {
	needStrongSwan(t)
	c := ikeCases[0]
	left, right := pair(t)
	psk := newPSK()
	rc := sabreRemote(c, left, right, right.outer, writePSK(t, left, psk), true)
	s := startSabre(t, left, right, rc)
	right.addSubnet(t)
	r := startCharon(t, right, defaultCharon)
	r.load(t, conn(c, right, left, psk))
	pingUntil(t, left.ns, left.inner, right.inner, 20*time.Second)
	swBefore := r.listSAs(t)
	spis := func() []uint32 {
		var out []uint32
		for _, sa := range s.sas(t) {
			out = append(out, sa.SPI)
		}
		slices.Sort(out)
		return out
	}
	sabreBefore := spis()

	p := newPinger(t, left.ns, left.inner)
	stop := make(chan struct{})
	result := make(chan string)
	go func() {
		sent, lost, first := 0, 0, ""
		for {
			select {
			case <-stop:
				result <- fmt.Sprintf("%d/%d lost%s", lost, sent, first)
				return
			default:
			}
			sent++
			if _, err := p.echo(right.inner, 2*time.Second); err != nil {
				lost++
				if first == "" {
					first = fmt.Sprintf(" (echo %d: %v)", sent, err)
				}
			}
		}
	}()
	for i := 1; i <= 5; i++ {
		if err := s.d.Cmd.Process.Signal(syscall.SIGHUP); err != nil {
			t.Fatal(err)
		}
		waitLogCount(t, s, "ike_rc reloaded", i)
	}
	close(stop)
	res := <-result
	if !strings.HasPrefix(res, "0/") {
		t.Errorf("echoes lost across the reloads: %s", res)
	}
	t.Logf("pings across 5 reloads: %s", res)
	log := readFile(s.log)
	if strings.Contains(log, "reload failed") || strings.Count(log, "reloaded: 2 parts unchanged, 0 changed, 0 added, 0 removed") != 5 {
		t.Errorf("log:\n%s", tail(log, 40))
	}
	swAfter := r.listSAs(t)
	if swAfter.id != swBefore.id || swAfter.spiIn != swBefore.spiIn || swAfter.spiOut != swBefore.spiOut {
		t.Errorf("strongSwan's SAs changed: before #%d %s/%s, after #%d %s/%s", swBefore.id, swBefore.spiIn, swBefore.spiOut, swAfter.id, swAfter.spiIn, swAfter.spiOut)
	}
	if after := spis(); !slices.Equal(after, sabreBefore) {
		t.Errorf("Sabre's SAs changed: before %x, after %x", sabreBefore, after)
	}

	// A changed policy is replaced (its Child SA goes) and negotiated again.
	changed := strings.Replace(rc, "ipsec policy -n p1 -g sw -t ESP", "ipsec policy -n p1 -g sw -l 3 -t ESP", 1)
	if err := os.WriteFile(s.rc, []byte(changed), 0o600); err != nil {
		t.Fatal(err)
	}
	s.d.Cmd.Process.Signal(syscall.SIGHUP)
	waitLogCount(t, s, "ike_rc reloaded", 6)
	if log := readFile(s.log); !strings.Contains(log, "reloaded: 1 part unchanged, 1 changed, 0 added, 0 removed") {
		t.Errorf("log:\n%s", tail(log, 20))
	}
	pingUntil(t, left.ns, left.inner, right.inner, 20*time.Second)

	// `ike reload` deletes the IKE SA (strongSwan sees the Delete) and the
	// remote, re-reads the file, and the next packet negotiates again.
	out, err := s.client("ike", "reload")
	if err != nil || !strings.Contains(out, "ike reload: 1 IKE SA and 1 remote deleted, "+s.rc+" re-read") {
		t.Fatalf("sabre ike reload: %v\n%s", err, out)
	}
	r.waitNoSAs(t, 5*time.Second)
	pingUntil(t, left.ns, left.inner, right.inner, 20*time.Second)
}

// waitLogCount waits until the daemon's log holds n lines with s.
func waitLogCount(t *testing.T, d *sabred, s string, n int) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for strings.Count(readFile(d.log), s) < n {
		if time.Now().After(deadline) {
			t.Fatalf("the log did not say %q %d times\n%s", s, n, tail(readFile(d.log), 40))
		}
		time.Sleep(20 * time.Millisecond)
	}
}
