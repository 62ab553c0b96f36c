package ike

import (
	"bytes"
	"sync"
	"testing"
	"time"

	"github.com/sabre-ipsec/sabre/ipsec"
	"github.com/sabre-ipsec/sabre/pktbuf"
	"github.com/sabre-ipsec/sabre/suite"
)

// keySink collects a daemon's key exports.
type keySink struct {
	mu    sync.Mutex
	ike   []*IKESAKeyExport
	child []*ChildSAKeyExport
}

func (k *keySink) add(x KeyExport) {
	k.mu.Lock()
	defer k.mu.Unlock()
	if x.IKE != nil {
		k.ike = append(k.ike, x.IKE)
	}
	if x.Child != nil {
		k.child = append(k.child, x.Child)
	}
}

func (k *keySink) counts() (int, int) {
	k.mu.Lock()
	defer k.mu.Unlock()
	return len(k.ike), len(k.child)
}

// TestKeyExport: both ends of a negotiation export the same IKE SA keys
// (named by the exchange's roles) and mirrored Child SA keys, which stay
// intact after the daemon drops its own copies; without a hook nothing is
// exported.
func TestKeyExport(t *testing.T) {
	for _, tc := range []struct{ name, suite string }{
		{"aes128-sha256-modp2048", "-e AES128-CBC -a HMAC-SHA-2-256 -p HMAC-SHA-2-256 -d MODP2048"},
		{"aes256gcm16-prfsha384-ecp384", "-e AES256-GCM16 -p PRFSHA384 -d ECP384"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, a, b := pair(t, tc.suite, tc.suite, []string{"AES128-GCM16"})
			var ka, kb keySink
			a.d.SetKeyExport(ka.add)
			b.d.SetKeyExport(kb.add)
			if res, _ := a.e.Encapsulate(udpPacket("10.1.0.5", "10.2.0.9", "hello")); res != ipsec.Pending {
				t.Fatalf("first packet: %v", res)
			}
			select {
			case p := <-a.out:
				pktbuf.DefaultPool.Put(p)
			case <-time.After(10 * time.Second):
				t.Fatal("no SA after 10s")
			}
			waitFor(t, "both exports", func() bool {
				ni, nc := ka.counts()
				mi, mc := kb.counts()
				return ni == 1 && nc == 1 && mi == 1 && mc == 1
			})
			ia, ib := ka.ike[0], kb.ike[0]
			if !ia.Initiator || ib.Initiator || ia.SPIi != ib.SPIi || ia.SPIr != ib.SPIr || ia.SPIi == 0 || ia.SPIr == 0 {
				t.Errorf("IKE SA: A %+v B %+v", ia, ib)
			}
			encLen := 16
			if ia.Encr.ID == suite.EncrAESGCM16 {
				encLen = 32 + 4
			}
			for _, k := range [][2][]byte{{ia.SKei, ib.SKei}, {ia.SKer, ib.SKer}, {ia.SKai, ib.SKai}, {ia.SKar, ib.SKar}} {
				if !bytes.Equal(k[0], k[1]) {
					t.Errorf("IKE keys differ: %x %x", k[0], k[1])
				}
			}
			if len(ia.SKei) != encLen || bytes.Equal(ia.SKei, make([]byte, encLen)) || bytes.Equal(ia.SKei, ia.SKer) {
				t.Errorf("SK_ei %x (want %d non-zero bytes), SK_er %x", ia.SKei, encLen, ia.SKer)
			}
			if (ia.Integ == suite.IntegNone) != (len(ia.SKai) == 0) {
				t.Errorf("integrity %v with SK_ai %x", ia.Integ, ia.SKai)
			}
			ca, cb := ka.child[0], kb.child[0]
			if ca.SPIOut != cb.SPIIn || ca.SPIIn != cb.SPIOut || ca.IKESPIi != ia.SPIi || !ca.ESP || !ca.Tunnel ||
				ca.Local != cb.Remote || ca.Remote != cb.Local || ca.Encr.ID != suite.EncrAESGCM16 || ca.Integ != suite.IntegNone {
				t.Errorf("Child SA: A %+v B %+v", ca, cb)
			}
			if !bytes.Equal(ca.EncrKeyOut, cb.EncrKeyIn) || !bytes.Equal(ca.EncrKeyIn, cb.EncrKeyOut) ||
				!bytes.Equal(ca.IntegKeyOut, cb.IntegKeyIn) || !bytes.Equal(ca.IntegKeyIn, cb.IntegKeyOut) ||
				len(ca.EncrKeyOut) != 20 || len(ca.IntegKeyOut) != 0 || bytes.Equal(ca.EncrKeyOut, ca.EncrKeyIn) {
				t.Errorf("Child SA keys: A out %x/%x in %x/%x; B out %x/%x in %x/%x", ca.EncrKeyOut, ca.IntegKeyOut, ca.EncrKeyIn,
					ca.IntegKeyIn, cb.EncrKeyOut, cb.IntegKeyOut, cb.EncrKeyIn, cb.IntegKeyIn)
			}
			if s := (KeyExport{IKE: ia}).String(); bytes.Contains([]byte(s), []byte("0x")) {
				t.Errorf("String shows keys? %q", s)
			}
			a.d.SetKeyExport(nil)
			if a.d.keyExport() != nil || b.d.keyExport() == nil {
				t.Error("SetKeyExport(nil) did not turn A's export off, or turned B's off")
			}
			b.d.SetKeyExport(nil)
		})
	}
}
