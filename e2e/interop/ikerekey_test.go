package interop

import (
	"path/filepath"
	"strings"
	"testing"
)

// TestIKERekeyWithPFS (issue 11): the IKE SA is rekeyed (RFC 7296 §2.18)
// and the Child SA rekeyed with PFS (x25519 in CREATE_CHILD_SA) while pings
// and TCP run both ways, with either end starting every rekey:
//
//   - strongswan-rekeys: strongSwan rekeys the IKE SA every ~6 s and the
//     Child SA every ~4 s (esp_proposals with x25519); Sabre responds.
//   - sabre-rekeys: Sabre rekeys the IKE SA (-l 8: at 6.4-7.2 s) and the
//     Child SA (-K 3, PFS group CURVE25519 in -e); strongSwan responds.
//
// Every echo must be answered, both streams arrive whole, Sabre's engine
// drops nothing for want of an SA (runRekeyTraffic), and the IKE SA was
// rekeyed at least twice without a failure.
func TestIKERekeyWithPFS(t *testing.T) {
	needStrongSwan(t)
	c := ikeCases[2]
	c.esp = "chacha20poly1305-x25519"
	c.sabreESP = "-e CHACHA20-POLY1305,CURVE25519"
	check := func(t *testing.T, s *sabred, who string) {
		t.Helper()
		log := readFile(s.log)
		n := strings.Count(log, `msg="IKE SA rekeyed"`)
		if n < 2 {
			t.Errorf("the IKE SA was rekeyed %d times (by %s), want at least 2", n, who)
		} else {
			t.Logf("IKE SA rekeyed %d times by %s", n, who)
		}
		if k := strings.Count(log, `msg="Child SA established"`); k < 3 {
			t.Errorf("%d Child SAs established, want rekeys", k)
		}
		for _, bad := range []string{"IKE exchange failed", "Child SA refused", "peer does not answer"} {
			if strings.Contains(log, bad) {
				t.Errorf("Sabre's log has %q:\n%s", bad, log)
			}
		}
	}
	t.Run("strongswan-rekeys", func(t *testing.T) {
		left, right := pair(t)
		psk := newPSK()
		sc := c
		sc.sabreESP += " -k 60 -K 50"
		s := startSabre(t, right, left, sabreRemote(sc, right, left, left.outer, writePSK(t, right, psk), false))
		left.addSubnet(t)
		l := startCharon(t, left, defaultCharon)
		// The child life_time is far beyond the test: a rekey held back by
		// the IKE rekey (RFC 7296 §2.25) must not race the hard expiry.
		loadIKERekeying(t, l, conn(c, left, right, psk), "6s", "4s", "1s", "1h")
		l.initiate(t, childName)
		runRekeyTraffic(t, right, left, s)
		check(t, s, "strongSwan")
	})
	t.Run("sabre-rekeys", func(t *testing.T) {
		left, right := pair(t)
		psk := newPSK()
		sc := c
		sc.sabreESP += " -k 600 -K 3" // hard lifetime far beyond the test, as above
		s := startSabre(t, left, right, sabreRemote(sc, left, right, right.outer, writePSK(t, left, psk), true, "-l 8"))
		right.addSubnet(t)
		r := startCharon(t, right, defaultCharon)
		loadIKERekeying(t, r, conn(c, right, left, psk), "1h", "1h", "0", "2h")
		pingUntil(t, left.ns, left.inner, right.inner, 20e9)
		runRekeyTraffic(t, left, right, s)
		check(t, s, "Sabre")
	})
}

// loadIKERekeying loads conn into charon with the IKE SA's rekey_time and
// the child's rekey_time, rand_time and life_time.
func loadIKERekeying(t *testing.T, c *charon, conn swanConn, ikeRekey, rekey, randTime, life string) {
	t.Helper()
	path := filepath.Join(c.h.dir, "swanctl.conf")
	render(t, "swanctl-ikerekey.conf.tmpl", path, struct {
		Conn                                        swanConn
		IKERekeyTime, RekeyTime, RandTime, LifeTime string
	}{conn, ikeRekey, rekey, randTime, life})
	out := c.mustSwanctl(t, "--load-all", "--file", path)
	if !strings.Contains(out, "successfully loaded 1 connections") {
		t.Fatalf("swanctl --load-all in %s:\n%s", c.h.role, out)
	}
}
