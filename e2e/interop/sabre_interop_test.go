package interop

import (
	"testing"
	"time"
)

// TestSabreInitiator puts `sabre run` on the left (192.0.2.1, 10.1.0.1 on
// sabre0) and strongSwan on the right as responder, for each suite. A ping
// into sabre0 ACQUIREs the negotiation; then ping and TCP go through both
// ways, the SAs on both ends are the same (SPIs crossed, in UDP), a
// delete from strongSwan removes Sabre's SAs, a new ping negotiates
// again, `sabre ike flush -p 3` deletes the IKE SA at strongSwan, and so
// does Sabre's shutdown.
func TestSabreInitiator(t *testing.T) {
	needStrongSwan(t)
	for _, c := range ikeCases {
		t.Run(c.name, func(t *testing.T) {
			left, right := pair(t)
			psk := newPSK()
			s := startSabre(t, left, right, sabreRemote(c, left, right, right.outer, writePSK(t, left, psk), true))
			right.addSubnet(t)
			r := startCharon(t, right, defaultCharon)
			r.load(t, conn(c, right, left, psk))

			d := pingUntil(t, left.ns, left.inner, right.inner, 20*time.Second)
			t.Logf("first reply %v after the first ping (ACQUIRE, IKE_SA_INIT, IKE_AUTH)", d.Round(time.Millisecond))
			rs := r.listSAs(t)
			checkSwanSAs(t, "strongSwan", rs, c, "192.0.2.2[4500]", "192.0.2.1[4500]")
			if r.logCount("remote host is behind NAT") == 0 && r.logCount("faking NAT situation") == 0 {
				t.Logf("strongSwan's log does not show the NAT-T float")
			}
			exchangeTraffic(t, left, right, s, r)
			// strongSwan's encap = yes fakes its NAT_DETECTION_SOURCE_IP: Sabre
			// sees the peer behind a NAT.
			s.checkIKE(t, r.listSAs(t), true, "peer")

			// strongSwan deletes the IKE SA: Sabre must drop its SAs.
			r.terminate(t, connName)
			s.waitNoSAs(t, 10*time.Second)

			// The next packet negotiates again.
			d = pingUntil(t, left.ns, left.inner, right.inner, 20*time.Second)
			rs2 := r.listSAs(t)
			if rs2.spiIn == rs.spiIn {
				t.Errorf("the renegotiated child has the old SPI %s", rs.spiIn)
			}
			s.checkSAs(t, rs2)
			t.Logf("renegotiated in %v after the delete", d.Round(time.Millisecond))

			// Sabre deletes the IKE SA (ike flush -p 3): strongSwan drops it.
			if out, err := s.client("ike", "flush", "-p", "3"); err != nil {
				t.Fatalf("sabre ike flush -p 3: %v\n%s", err, out)
			}
			r.waitNoSAs(t, 5*time.Second)
			s.waitNoSAs(t, 5*time.Second)

			// And Sabre's shutdown deletes the one negotiated next.
			pingUntil(t, left.ns, left.inner, right.inner, 20*time.Second)
			s.stop(t)
			r.waitNoSAs(t, 5*time.Second)
		})
	}
}

// TestSabreResponder puts strongSwan on the left as initiator and `sabre
// run` on the right (192.0.2.2, 10.2.0.1 on sabre0) as responder, for each
// suite: swanctl --initiate, traffic both ways, the SAs on both ends, and
// a terminate from strongSwan removes Sabre's SAs.
func TestSabreResponder(t *testing.T) {
	needStrongSwan(t)
	for _, c := range ikeCases {
		t.Run(c.name, func(t *testing.T) {
			left, right := pair(t)
			psk := newPSK()
			s := startSabre(t, right, left, sabreRemote(c, right, left, left.outer, writePSK(t, right, psk), false))
			left.addSubnet(t)
			l := startCharon(t, left, defaultCharon)
			l.load(t, conn(c, left, right, psk))

			start := time.Now()
			l.initiate(t, childName)
			t.Logf("IKE_SA_INIT + IKE_AUTH with Sabre: %v", time.Since(start).Round(time.Millisecond))
			ls := l.listSAs(t)
			checkSwanSAs(t, "strongSwan", ls, c, "192.0.2.1[4500]", "192.0.2.2[4500]")
			exchangeTraffic(t, right, left, s, l)
			s.checkIKE(t, l.listSAs(t), false, "peer")

			l.terminate(t, connName)
			s.waitNoSAs(t, 10*time.Second)
		})
	}
}

// exchangeTraffic pings and transfers between the Sabre host sh (inner
// address on sabre0) and the strongSwan host wh (inner address on its
// LAN) both ways, and checks the counters on both ends.
func exchangeTraffic(t *testing.T, sh, wh *host, s *sabred, w *charon) {
	t.Helper()
	ping(t, sh.ns, sh.inner, wh.inner, 5)
	ping(t, wh.ns, wh.inner, sh.inner, 3)
	transfer(t, sh.ns, sh.inner, wh.ns, wh.inner, transferSize)
	transfer(t, wh.ns, wh.inner, sh.ns, sh.inner, transferSize)
	ws := w.listSAs(t)
	if ws.packetsIn < transferSize/1500 || ws.packetsOut < transferSize/1500 {
		t.Errorf("strongSwan's child counted %d packets in and %d out, want both transfers':\n%s", ws.packetsIn, ws.packetsOut, ws.text)
	}
	if in := s.checkSAs(t, ws); in < transferSize/1500 {
		t.Errorf("Sabre's inbound SA counted %d packets, want the transfer's", in)
	}
	t.Logf("strongSwan's SAs:\n%s", ws.text)
}
