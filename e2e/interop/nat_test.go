package interop

import (
	"net/netip"
	"strings"
	"testing"
	"time"
)

// natAddr is the address the NAT (mid) gives the left host toward the
// right.
var natAddr = netip.MustParseAddr("198.51.100.254")

// natConns are the swanctl connections of the NAT topology, without the
// fake NAT of encap = yes: the real NAT must be detected. The right
// accepts the left from any address (it comes from the NAT's).
func natConns(c ikeCase, left, right *host, psk string) (l, r swanConn) {
	l, r = conn(c, left, right, psk), conn(c, right, left, psk)
	l.Encap, r.Encap = false, false
	r.RemoteAddrs = "%any"
	return l, r
}

// TestNAT runs the handshake with the left host behind a masquerading NAT:
// both ends detect it (NAT-D), IKE_SA_INIT goes on 500 and the rest on
// 4500 (the float), NAT-keepalives leave the NAT toward the right, and
// traffic passes. strongSwan on both ends first, then Sabre behind the NAT
// as initiator, then Sabre as responder to strongSwan behind the NAT.
func TestNAT(t *testing.T) {
	needStrongSwan(t)
	c := ikeCases[0]

	t.Run("strongswan-strongswan", func(t *testing.T) {
		t.Parallel()
		left, mid, right := natTopology(t)
		left.addSubnet(t)
		right.addSubnet(t)
		l := startCharon(t, left, defaultCharon) // keepalives every 5 s
		r := startCharon(t, right, defaultCharon)
		psk := newPSK()
		lc, rc := natConns(c, left, right, psk)
		l.load(t, lc)
		r.load(t, rc)
		w := watchUDP(t, mid.ns, "out")

		l.initiate(t, childName)
		if l.logCount("local host is behind NAT") == 0 || r.logCount("remote host is behind NAT") == 0 {
			t.Errorf("NAT not detected: left log has %q %d times, right log %q %d times",
				"local host is behind NAT", l.logCount("local host is behind NAT"), "remote host is behind NAT", r.logCount("remote host is behind NAT"))
		}
		ls, rs := l.listSAs(t), r.listSAs(t)
		checkSwanSAs(t, "left", ls, c, "192.0.2.1[4500]", "198.51.100.2[4500]")
		checkSwanSAs(t, "right", rs, c, "198.51.100.2[4500]", "")
		if !strings.HasPrefix(rs.remote, natAddr.String()+"[") {
			t.Errorf("right sees the left at %s, want the NAT's address %v", rs.remote, natAddr)
		}
		checkFloat(t, w, natAddr, right.outer)
		ping(t, left.ns, left.inner, right.inner, 3)
		ping(t, right.ns, right.inner, left.inner, 3)
		transfer(t, left.ns, left.inner, right.ns, right.inner, transferSize)
		k := w.waitKeepalive(t, 25*time.Second)
		t.Logf("NAT-keepalive %v -> %v seen on the NAT's outside", k.src, k.dst)
		l.terminate(t, connName)
		r.waitNoSAs(t, 5*time.Second)
	})

	t.Run("sabre-initiator-behind-nat", func(t *testing.T) {
		t.Parallel()
		left, mid, right := natTopology(t)
		psk := newPSK()
		s := startSabre(t, left, right, sabreRemote(c, left, right, right.outer, writePSK(t, left, psk), true))
		right.addSubnet(t)
		r := startCharon(t, right, defaultCharon)
		_, rc := natConns(c, left, right, psk)
		r.load(t, rc)
		w := watchUDP(t, mid.ns, "out")

		d := pingUntil(t, left.ns, left.inner, right.inner, 20*time.Second)
		t.Logf("first reply %v after the first ping", d.Round(time.Millisecond))
		if r.logCount("remote host is behind NAT") == 0 {
			t.Errorf("strongSwan did not detect the NAT in front of Sabre (Sabre's NAT_DETECTION_SOURCE_IP)")
		}
		rs := r.listSAs(t)
		checkSwanSAs(t, "strongSwan", rs, c, "198.51.100.2[4500]", "")
		if !strings.HasPrefix(rs.remote, natAddr.String()+"[") {
			t.Errorf("strongSwan sees Sabre at %s, want the NAT's address %v", rs.remote, natAddr)
		}
		checkFloat(t, w, natAddr, right.outer)
		exchangeTraffic(t, left, right, s, r)
		// Sabre is behind the NAT. strongSwan 5.9's responder here sends a
		// NAT_DETECTION_SOURCE_IP that matches no address of its own
		// (strongSwan's initiator in the same place also logs "remote host
		// is behind NAT"), so "both" is what a correct Sabre shows.
		s.checkIKE(t, r.listSAs(t), true, "local", "both")
		// Sabre is behind the NAT: it keeps the mapping with keepalives
		// (every 20 s by default).
		k := w.waitKeepalive(t, 30*time.Second)
		t.Logf("Sabre's NAT-keepalive %v -> %v seen on the NAT's outside", k.src, k.dst)
		ping(t, right.ns, right.inner, left.inner, 2)
		r.terminate(t, connName)
		s.waitNoSAs(t, 10*time.Second)
	})

	t.Run("sabre-responder", func(t *testing.T) {
		t.Parallel()
		left, mid, right := natTopology(t)
		psk := newPSK()
		s := startSabre(t, right, left, sabreRemote(c, right, left, natAddr, writePSK(t, right, psk), false))
		left.addSubnet(t)
		l := startCharon(t, left, defaultCharon)
		lc, _ := natConns(c, left, right, psk)
		l.load(t, lc)
		w := watchUDP(t, mid.ns, "out")

		l.initiate(t, childName)
		if l.logCount("local host is behind NAT") == 0 {
			t.Errorf("strongSwan did not detect its NAT (Sabre's NAT_DETECTION_DESTINATION_IP)")
		}
		ls := l.listSAs(t)
		checkSwanSAs(t, "strongSwan", ls, c, "192.0.2.1[4500]", "198.51.100.2[4500]")
		checkFloat(t, w, natAddr, right.outer)
		exchangeTraffic(t, right, left, s, l)
		s.checkIKE(t, l.listSAs(t), false, "peer")
		k := w.waitKeepalive(t, 25*time.Second)
		t.Logf("strongSwan's NAT-keepalive %v -> %v seen on the NAT's outside", k.src, k.dst)
		ping(t, right.ns, right.inner, left.inner, 2) // the mapping still holds
		l.terminate(t, connName)
		s.waitNoSAs(t, 10*time.Second)
	})
}

// checkFloat checks, on the NAT's outside, that the exchange started on
// port 500 and floated to 4500: IKE_SA_INIT from the NAT to the
// responder's 500, then datagrams between the NAT's address and the
// responder's 4500, and nothing on 500 after the first one on 4500.
func checkFloat(t *testing.T, w *udpWatch, nat, responder netip.Addr) {
	t.Helper()
	w.mu.Lock()
	seen := append([]udpSeen(nil), w.seen...)
	w.mu.Unlock()
	var on500, on4500, late500 int
	for _, s := range seen {
		if s.src.Addr() != nat && s.dst.Addr() != nat {
			continue
		}
		port := s.dst.Port()
		if s.src.Addr() == responder {
			port = s.src.Port()
		}
		switch port {
		case 500:
			on500++
			if on4500 > 0 {
				late500++
			}
		case 4500:
			on4500++
		}
	}
	t.Logf("on the NAT's outside: %d datagrams on the responder's port 500, %d on 4500", on500, on4500)
	if on500 < 2 || on4500 < 2 || late500 > 0 {
		t.Errorf("no float to 4500: %d datagrams on port 500 (%d after the first on 4500), %d on 4500", on500, late500, on4500)
	}
}
