package ike

import (
	"errors"
	"net/netip"
	"strings"
	"testing"

	"github.com/sabre-ipsec/sabre/ike/message"
	"github.com/sabre-ipsec/sabre/ipsec"
)

// pfsWire is newWire with policy algorithm lists espA at A and espB at B.
func pfsWire(t *testing.T, espA, espB []string) *wire {
	n := &network{hosts: map[netip.Addr]*testHost{}, queued: true}
	psk := writePSK(t, "correct horse battery staple")
	a := newHost(t, n, "a", "192.0.2.1", "10.1.0.0/24", "10.2.0.0/24", "192.0.2.2",
		"-n b -w -u "+slowSuite+" -m PSK -h "+psk+" -r 192.0.2.2 -f ipv4:192.0.2.2 -g ipv4:192.0.2.1", espA)
	b := newHost(t, n, "b", "192.0.2.2", "10.2.0.0/24", "10.1.0.0/24", "192.0.2.1",
		"-n a -u "+slowSuite+" -m PSK -h "+psk+" -f ipv4:192.0.2.1 -g ipv4:192.0.2.2", espB)
	return &wire{t: t, n: n, a: a, b: b}
}

// keGroup returns the group of m's KE payload, or 0 without one.
func keGroup(m *message.Message) GroupID {
	if ke, ok := message.Find[*message.KE](m.Payloads); ok {
		return GroupID(ke.Group)
	}
	return 0
}

// offersDH reports whether m's SA payload offers a DH transform.
func offersDH(m *message.Message) bool {
	sa, ok := message.Find[*message.SA](m.Payloads)
	if !ok {
		return false
	}
	for _, p := range sa.Proposals {
		for _, tr := range p.Transforms {
			if tr.Type == message.TransformDH {
				return true
			}
		}
	}
	return false
}

// sendsOnNewPair checks that a packet A protects after a rekey is
// accepted by B.
func sendsOnNewPair(t *testing.T, w *wire) {
	t.Helper()
	out := udpPacket("10.1.0.5", "10.2.0.9", "after the PFS rekey")
	if res, err := w.a.e.Encapsulate(out); res != ipsec.SecureTunnel {
		t.Fatalf("A: %v %v", res, err)
	}
	if res, err := w.b.e.Decapsulate(out); res != ipsec.SecureTunnel {
		t.Fatalf("B: %v %v", res, err)
	}
}

// TestPFSChildRekey: with a group in both policies' lists the first Child
// SA (IKE_AUTH) has no KE and no DH transform (RFC 7296 §1.2), and the
// rekey's CREATE_CHILD_SA carries a KE of that group both ways (§1.3.1);
// both ends derive the same keys from it.
func TestPFSChildRekey(t *testing.T) {
	esp := []string{"AES128-GCM16", "CURVE25519"}
	w := pfsWire(t, esp, esp)
	m := w.established()
	if auth := w.open(w.b, m.b); keGroup(auth) != 0 || offersDH(auth) {
		t.Fatalf("IKE_AUTH request with PFS: %v", auth)
	}
	var old *child
	w.aSA(m, func(sa *SA) { old = sa.children[0]; old.rekeyed = true })
	req, opened := w.startTask(m, &childRekey{old: old})
	if keGroup(opened) != message.Curve25519 || !offersDH(opened) {
		t.Fatalf("rekey request without KE of CURVE25519: %v", opened)
	}
	w.deliver(req)
	resp := w.pop()
	if got := w.open(w.a, resp.b); keGroup(got) != message.Curve25519 {
		t.Fatalf("rekey response without KE: %v", got)
	}
	w.deliver(resp)
	w.deliver(w.pop()) // A's Delete of the old pair
	w.deliver(w.pop())
	sendsOnNewPair(t, w)
}

// TestPFSInvalidKERetry: the responder that wants another of the groups
// offered answers INVALID_KE_PAYLOAD with it; the initiator sends the
// request again with a KE of that group, once, and the Child SA is made.
func TestPFSInvalidKERetry(t *testing.T) {
	w := pfsWire(t, []string{"AES128-GCM16", "ECP256", "CURVE25519"}, []string{"AES128-GCM16", "CURVE25519"})
	m := w.established()
	before := w.a.d.Stats().ChildSAs.Load()
	req, opened := w.startTask(m, &childCreate{policyID: w.a.policy})
	if keGroup(opened) != message.ECP256 {
		t.Fatalf("first request's KE is of %v, want ECP256", keGroup(opened))
	}
	w.deliver(req)
	resp := w.pop()
	n, ok := message.FindNotify(w.open(w.a, resp.b).Payloads, message.InvalidKEPayload)
	if !ok || GroupID(uint16(n.Data[0])<<8|uint16(n.Data[1])) != message.Curve25519 {
		t.Fatal("B did not ask for CURVE25519")
	}
	w.deliver(resp)
	req2 := w.pop()
	if got := w.open(w.b, req2.b); keGroup(got) != message.Curve25519 || msgID(t, req2) != msgID(t, req)+1 {
		t.Fatalf("retry: KE %v, ID %d", keGroup(got), msgID(t, req2))
	}
	w.deliver(req2)
	w.deliver(w.pop())
	if got := w.a.d.Stats().ChildSAs.Load(); got != before+1 {
		t.Fatalf("%d Child SAs made, want 1", got-before)
	}
	// A second INVALID_KE_PAYLOAD for the same task is not followed.
	req3, _ := w.startTask(m, &childCreate{policyID: w.a.policy})
	w.deliver(w.script(req3, message.NewInvalidKEPayload(message.Curve25519)))
	req4 := w.pop()
	w.deliver(w.script(req4, message.NewInvalidKEPayload(message.ECP256)))
	if w.queued() != 0 {
		t.Fatal("a third request after two INVALID_KE_PAYLOADs")
	}
	if _, ok := findFailure(w.a, true, ErrInvalidKE); !ok {
		t.Fatalf("A's failures %+v", w.a.failed())
	}
}

// TestPFSMismatchRefused: a responder without PFS refuses a KE it did not
// configure, a responder with PFS one without; both log what was received
// and what is configured.
func TestPFSMismatchRefused(t *testing.T) {
	for _, tc := range []struct {
		name       string
		espA, espB []string
	}{
		{"initiator-only", []string{"AES128-GCM16", "CURVE25519"}, []string{"AES128-GCM16"}},
		{"responder-only", []string{"AES128-GCM16"}, []string{"AES128-GCM16", "CURVE25519"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			w := pfsWire(t, tc.espA, tc.espB)
			m := w.established()
			req, _ := w.startTask(m, &childCreate{policyID: w.a.policy})
			w.deliver(req)
			w.deliver(w.pop())
			fa, okA := findFailure(w.a, true, ErrNoProposalChosen)
			fb, okB := findFailure(w.b, true, ErrNoProposalChosen)
			var pe *PeerError
			if !okA || !errors.As(fa.Err, &pe) || !okB {
				t.Fatalf("failures A %+v B %+v", w.a.failed(), w.b.failed())
			}
			if s := fb.Err.Error(); !strings.Contains(s, "received ESP:") || !strings.Contains(s, "configured ESP:") || !strings.Contains(s, "CURVE_25519") || !strings.Contains(s, "ENCR_AES_GCM_16_128") {
				t.Fatalf("B's refusal does not show the proposals: %s", s)
			}
		})
	}
}

func TestPFSGroupsOfPolicy(t *testing.T) {
	w := pfsWire(t, []string{"AES128-GCM16", "CURVE25519", "MODP2048", "curve25519"}, []string{"AES128-GCM16"})
	p := w.a.e.SPD().Get(w.a.policy)
	g, err := PFSGroups(p)
	if err != nil || len(g) != 2 || g[0] != message.Curve25519 || g[1] != message.MODP2048 {
		t.Fatalf("PFSGroups = %v, %v", g, err)
	}
	q := *p
	q.ESPAlgorithms = []string{"AES128-GCM16", "MODP768"}
	if _, err := PFSGroups(&q); err == nil || !strings.Contains(err.Error(), "MODP") {
		t.Fatalf("MODP768 accepted: %v", err)
	}
}
