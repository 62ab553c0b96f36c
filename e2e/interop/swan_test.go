package interop

import (
	"strings"
	"testing"
	"time"
)

// TestStrongSwanPair proves the harness with strongSwan on both ends: for
// each suite, the left initiates, ping and TCP go through both ways,
// both ends show the IKE SA ESTABLISHED and the child INSTALLED with the
// same SPIs (crossed) and the expected algorithms, and a terminate on the
// left removes the SAs on both.
func TestStrongSwanPair(t *testing.T) {
	needStrongSwan(t)
	for _, c := range ikeCases {
		t.Run(c.name, func(t *testing.T) {
			left, right := pair(t)
			left.addSubnet(t)
			right.addSubnet(t)
			l := startCharon(t, left, defaultCharon)
			r := startCharon(t, right, defaultCharon)
			psk := newPSK()
			l.load(t, conn(c, left, right, psk))
			r.load(t, conn(c, right, left, psk))

			start := time.Now()
			l.initiate(t, childName)
			t.Logf("IKE_SA_INIT + IKE_AUTH: %v", time.Since(start).Round(time.Millisecond))
			ls, rs := l.listSAs(t), r.listSAs(t)
			checkSwanSAs(t, "left", ls, c, "192.0.2.1[4500]", "192.0.2.2[4500]")
			checkSwanSAs(t, "right", rs, c, "192.0.2.2[4500]", "192.0.2.1[4500]")
			if ls.spiIn != rs.spiOut || ls.spiOut != rs.spiIn {
				t.Errorf("SPIs do not cross: left in %s out %s, right in %s out %s", ls.spiIn, ls.spiOut, rs.spiIn, rs.spiOut)
			}

			ping(t, left.ns, left.inner, right.inner, 5)
			ping(t, right.ns, right.inner, left.inner, 2)
			transfer(t, left.ns, left.inner, right.ns, right.inner, transferSize)
			transfer(t, right.ns, right.inner, left.ns, left.inner, transferSize/4)
			rs = r.listSAs(t)
			if rs.packetsIn < transferSize/1500 {
				t.Errorf("right's inbound SA counted %d packets, want the transfer's", rs.packetsIn)
			}
			t.Logf("right after the traffic:\n%s", rs.text)

			l.terminate(t, connName)
			r.waitNoSAs(t, 5*time.Second)
			l.waitNoSAs(t, time.Second)
			if out := right.ns.IP(t, "route", "show", "table", "220"); strings.Contains(out, "10.1.0.0/24") {
				t.Errorf("right still routes 10.1.0.0/24 into libipsec after the delete:\n%s", out)
			}
		})
	}
}

// checkSwanSAs checks one end's --list-sas after the negotiation.
func checkSwanSAs(t *testing.T, who string, s swanSAs, c ikeCase, local, remote string) {
	t.Helper()
	switch {
	case s.ikeEstablished != 1, s.childInstalled != 1:
		t.Errorf("%s: %d ESTABLISHED IKE SAs and %d INSTALLED children, want 1 and 1:\n%s", who, s.ikeEstablished, s.childInstalled, s.text)
	case s.ikeAlgs != c.wantIKE || s.espAlgs != c.wantESP:
		t.Errorf("%s: IKE %q ESP %q, want %q and %q:\n%s", who, s.ikeAlgs, s.espAlgs, c.wantIKE, c.wantESP, s.text)
	case s.childMode != "TUNNEL-in-UDP":
		t.Errorf("%s: child mode %q, want TUNNEL-in-UDP:\n%s", who, s.childMode, s.text)
	case local != "" && s.local != local, remote != "" && s.remote != remote:
		t.Errorf("%s: endpoints %s - %s, want %s - %s:\n%s", who, s.local, s.remote, local, remote, s.text)
	case s.spiIn == "" || s.spiOut == "":
		t.Errorf("%s: no SPIs in\n%s", who, s.text)
	}
}
