package ike

import (
	"errors"
	"testing"
	"time"

	"github.com/sabre-ipsec/sabre/ike/message"
)

// The tasks alone, against a fake peer: A's requests are opened with B's
// keys and answered with scripted payloads sealed with them; B's own
// processing never runs unless a test delivers to it.

// script returns the response to A's request m that a peer holding B's
// keys answers with payloads ps.
func (w *wire) script(m delivery, ps ...message.Payload) delivery {
	w.t.Helper()
	h, err := message.ParseHeader(m.b)
	if err != nil {
		w.t.Fatal(err)
	}
	var raw []byte
	w.withSA(w.b, m.b, func(sa *SA) {
		if raw, err = sa.seal(h.Exchange, h.MessageID, true, ps); err != nil {
			w.t.Fatal(err)
		}
	})
	return delivery{raw, m.to, m.from}
}

// startTask queues t on A's IKE SA (the one of message m) and returns the
// request it sends, with its payloads opened with B's keys.
func (w *wire) startTask(m delivery, t task) (delivery, *message.Message) {
	w.t.Helper()
	w.withSA(w.a, m.b, func(sa *SA) { w.a.d.queueTask(sa, t) })
	req := w.pop()
	return req, w.open(w.b, req.b)
}

// aSA runs f with A's IKE SA of message m checked out.
func (w *wire) aSA(m delivery, f func(*SA)) { w.t.Helper(); w.withSA(w.a, m.b, f) }

func msgID(t testing.TB, m delivery) uint32 {
	h, err := message.ParseHeader(m.b)
	if err != nil {
		t.Fatal(err)
	}
	return h.MessageID
}

// TestTaskManagerWindow: one request outstanding at a time (RFC 7296
// §2.3); the next is built when the response comes; a response with
// another message ID matches nothing; a retransmission is the same bytes.
func TestTaskManagerWindow(t *testing.T) {
	w := newWire(t)
	m := w.established()
	req1, _ := w.startTask(m, &ikeDPD{})
	w.aSA(m, func(sa *SA) { w.a.d.queueTask(sa, &ikeDPD{}) })
	if w.queued() != 0 {
		t.Fatal("a second request was sent while the first is outstanding")
	}
	var key SAKey
	var r *request
	w.aSA(m, func(sa *SA) {
		if r = sa.tasks.active; r == nil || r.msgID != msgID(t, req1) || len(sa.tasks.queued) != 1 {
			t.Fatalf("tasks: active %+v, %d queued", r, len(sa.tasks.queued))
		}
		key = sa.key
	})
	w.a.d.retransmit(key, req1.to, r) // as its timer would
	if again := w.pop(); string(again.b) != string(req1.b) {
		t.Fatal("the retransmission differs from the request")
	}
	dropped := w.a.d.Stats().Dropped.Load()
	// A response whose message ID is not the outstanding one: sealed for
	// ID+5 by the fake peer.
	w.withSA(w.b, req1.b, func(sa *SA) {
		raw, err := sa.seal(message.Informational, msgID(t, req1)+5, true, nil)
		if err != nil {
			t.Fatal(err)
		}
		w.deliver(delivery{raw, req1.to, req1.from})
	})
	if w.a.d.Stats().Dropped.Load() != dropped+1 || w.queued() != 0 {
		t.Fatal("a response with another message ID was not dropped")
	}
	w.deliver(w.script(req1)) // the real response
	req2 := w.pop()
	if msgID(t, req2) != msgID(t, req1)+1 {
		t.Fatalf("second request has ID %d after %d", msgID(t, req2), msgID(t, req1))
	}
	w.deliver(w.script(req2))
	w.aSA(m, func(sa *SA) {
		if !sa.tasks.idle() || !sa.established() {
			t.Fatalf("after both: idle %v, state %v", sa.tasks.idle(), sa.state)
		}
	})
}

// TestIKEAuthTaskRefused: the peer's AUTHENTICATION_FAILED ends the IKE
// SA with a *PeerError, and its Child SA with it.
func TestIKEAuthTaskRefused(t *testing.T) {
	w := newWire(t)
	req := w.initDone()
	w.deliver(w.script(req, &message.Notify{Type: message.AuthenticationFailed}))
	f, ok := findFailure(w.a, false, ErrAuthenticationFailed)
	var pe *PeerError
	if !ok || !errors.As(f.Err, &pe) || pe.Exchange != message.IKEAuth {
		t.Fatalf("A's failures %+v", w.a.failed())
	}
	if len(w.a.d.Status()) != 0 || len(w.a.e.SAD().All()) != 0 {
		t.Fatalf("A kept state: %+v", w.a.d.Status())
	}
}

// chooseFirst returns the first proposal of request req's SA payload with
// the first transform of each type, as a responder picks it, and SPI
// 01020304.
func chooseFirst(req *message.Message) message.Proposal {
	sa, _ := message.Find[*message.SA](req.Payloads)
	p := sa.Proposals[0]
	p.SPI = []byte{1, 2, 3, 4}
	seen := map[message.TransformType]bool{}
	var ts []message.Transform
	for _, t := range p.Transforms {
		if !seen[t.Type] {
			seen[t.Type] = true
			ts = append(ts, t)
		}
	}
	p.Transforms = ts
	return p
}

// TestChildCreateTaskScripted: refusals and bad answers to a
// CREATE_CHILD_SA fail the Child SA with the error each stands for and
// leave the IKE SA as it was.
func TestChildCreateTaskScripted(t *testing.T) {
	for _, tc := range []struct {
		name   string
		answer func(req *message.Message) []message.Payload
		want   error
		peer   bool // a *PeerError
	}{
		{"ts-unacceptable", func(*message.Message) []message.Payload {
			return []message.Payload{&message.Notify{Type: message.TSUnacceptable}}
		}, ErrTSUnacceptable, true},
		{"no-proposal", func(*message.Message) []message.Payload {
			return []message.Payload{&message.Notify{Type: message.NoProposalChosen}}
		}, ErrNoProposalChosen, true},
		{"proposal-not-offered", func(req *message.Message) []message.Payload {
			p := chooseFirst(req)
			p.Transforms[0].ID = 9999
			tsi, _ := message.FindTS(req.Payloads, false)
			tsr, _ := message.FindTS(req.Payloads, true)
			return []message.Payload{&message.SA{Proposals: []message.Proposal{p}}, tsi, tsr, &message.Nonce{Data: newNonce()}}
		}, ErrNoProposalChosen, false},
		{"missing-nonce", func(req *message.Message) []message.Payload {
			p := chooseFirst(req)
			tsi, _ := message.FindTS(req.Payloads, false)
			tsr, _ := message.FindTS(req.Payloads, true)
			return []message.Payload{&message.SA{Proposals: []message.Proposal{p}}, tsi, tsr}
		}, ErrInvalidSyntax, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			w := newWire(t)
			m := w.established()
			before := w.a.d.Stats().ChildSAs.Load()
			req, opened := w.startTask(m, &childCreate{policyID: w.a.policy})
			if _, ok := message.Find[*message.Nonce](opened.Payloads); !ok {
				t.Fatal("CREATE_CHILD_SA request without Ni")
			}
			w.deliver(w.script(req, tc.answer(opened)...))
			f, ok := findFailure(w.a, true, tc.want)
			var pe *PeerError
			if !ok || f.PolicyID != w.a.policy || errors.As(f.Err, &pe) != tc.peer {
				t.Fatalf("A's failures %+v", w.a.failed())
			}
			if w.a.d.Stats().ChildSAs.Load() != before {
				t.Fatal("a Child SA was installed")
			}
			w.aSA(m, func(sa *SA) {
				if !sa.established() || !sa.tasks.idle() {
					t.Fatalf("IKE SA %v, idle %v", sa.state, sa.tasks.idle())
				}
			})
		})
	}
}

// TestChildRekeyTaskScripted: a CHILD_SA_NOT_FOUND answer leaves the old
// Child SA in service; a rekey of a Child SA that went before its request
// was built ends without a request.
func TestChildRekeyTaskScripted(t *testing.T) {
	w := newWire(t)
	m := w.established()
	var old *child
	w.aSA(m, func(sa *SA) { old = sa.children[0] })
	req, opened := w.startTask(m, &childRekey{old: old})
	n, ok := message.FindNotify(opened.Payloads, message.RekeySA)
	if !ok || string(n.SPI) != string(spi4(old.inSPI)) {
		t.Fatalf("rekey request %v", opened)
	}
	w.deliver(w.script(req, &message.Notify{Type: message.ChildSANotFound, Protocol: message.ProtocolESP, SPI: n.SPI}))
	if _, ok := findFailure(w.a, true, ErrChildSANotFound); !ok {
		t.Fatalf("A's failures %+v", w.a.failed())
	}
	w.aSA(m, func(sa *SA) {
		if len(sa.children) != 1 || sa.children[0] != old || old.retiring {
			t.Fatal("the old Child SA did not stay")
		}
		old.retiring = true // as if deleted meanwhile
		w.a.d.queueTask(sa, &childRekey{old: old})
		old.retiring = false
		if !sa.tasks.idle() {
			t.Fatal("a rekey of a retiring Child SA is outstanding")
		}
	})
	if w.queued() != 0 {
		t.Fatal("a rekey of a retiring Child SA was sent")
	}
}

// TestChildRekeyCollisions (RFC 7296 §2.8.1, §2.25): the peer's rekey of a
// Child SA whose rekey we queued drops ours; one that crosses ours
// outstanding gives our task the peer's nonces; a Delete from the peer
// drops our queued rekey of what it deletes.
func TestChildRekeyCollisions(t *testing.T) {
	peerRekeys := func(w *wire, m delivery) {
		w.t.Helper()
		w.withSA(w.b, m.b, func(sa *SA) { w.b.d.queueTask(sa, &childRekey{old: sa.children[0]}) })
		w.deliver(w.pop()) // B's rekey request, to A
	}
	t.Run("queued", func(t *testing.T) {
		w := newWire(t)
		m := w.established()
		w.startTask(m, &ikeDPD{}) // outstanding, unanswered
		w.aSA(m, func(sa *SA) { w.a.d.queueTask(sa, &childRekey{old: sa.children[0]}) })
		peerRekeys(w, m)
		w.aSA(m, func(sa *SA) {
			if _, ok := sa.tasks.find(func(t task) bool { _, ok := t.(*childRekey); return ok }); ok {
				t.Fatal("our queued rekey stayed after the peer's")
			}
		})
	})
	t.Run("crossing", func(t *testing.T) {
		w := newWire(t)
		m := w.established()
		var ours *childRekey
		w.aSA(m, func(sa *SA) { ours = &childRekey{old: sa.children[0]} })
		w.startTask(m, ours)
		peerRekeys(w, m)
		if len(ours.peerNonces) != 2 {
			t.Fatal("the crossing rekey's nonces did not reach our task")
		}
	})
	t.Run("delete", func(t *testing.T) {
		w := newWire(t)
		m := w.established()
		w.startTask(m, &ikeDPD{})
		w.aSA(m, func(sa *SA) { w.a.d.queueTask(sa, &childRekey{old: sa.children[0]}) })
		w.withSA(w.b, m.b, func(sa *SA) { w.b.d.deleteChild(sa, sa.children[0]) })
		w.deliver(w.pop()) // B's Delete, to A
		w.aSA(m, func(sa *SA) {
			if len(sa.tasks.queued) != 0 {
				t.Fatalf("%d tasks queued after the peer deleted the Child SA", len(sa.tasks.queued))
			}
		})
	})
}

// TestChildDeleteTask: the Delete names our inbound SPI; once answered the
// retired Child SA's inbound SA goes after the grace.
func TestChildDeleteTask(t *testing.T) {
	w := newWire(t)
	w.a.d.cfg.RekeyGrace = time.Millisecond
	m := w.established()
	var c *child
	w.aSA(m, func(sa *SA) { c = sa.children[0]; w.a.d.deleteChild(sa, c) })
	req := w.pop()
	del, ok := message.Find[*message.Delete](w.open(w.b, req.b).Payloads)
	if !ok || del.Protocol != message.ProtocolESP || len(del.SPIs) != 1 || del.SPIs[0] != c.inSPI {
		t.Fatalf("Delete %+v, want ESP %08x", del, c.inSPI)
	}
	if len(w.a.e.SAD().All()) != 2 {
		t.Fatal("the Child SA's SAs went before the Delete was answered")
	}
	w.deliver(w.script(req, &message.Delete{Protocol: message.ProtocolESP, SPIs: []uint32{c.outSPI}}))
	waitFor(t, "the retired SAs to go", func() bool { return len(w.a.e.SAD().All()) == 0 })
}

// TestIKEDeleteTask: the Delete moves the SA to DELETING, where no other
// task starts; the answer removes it.
func TestIKEDeleteTask(t *testing.T) {
	w := newWire(t)
	m := w.established()
	req, opened := w.startTask(m, &ikeDelete{why: "test"})
	if del, ok := message.Find[*message.Delete](opened.Payloads); !ok || del.Protocol != message.ProtocolIKE {
		t.Fatalf("request %v", opened)
	}
	w.aSA(m, func(sa *SA) {
		if sa.state != StateDeleting {
			t.Fatalf("state %v", sa.state)
		}
		w.a.d.queueTask(sa, &ikeDPD{})
	})
	w.deliver(w.script(req))
	if w.queued() != 0 || len(w.a.d.Status()) != 0 || len(w.a.e.SAD().All()) != 0 {
		t.Fatalf("after the answer: %d sent, %+v", w.queued(), w.a.d.Status())
	}
}

// TestIKEDPDTask: an answered liveness check changes nothing; an
// unanswered one fails the IKE SA with ErrPeerTimeout.
func TestIKEDPDTask(t *testing.T) {
	w := newWire(t)
	m := w.established()
	req, opened := w.startTask(m, &ikeDPD{})
	if len(opened.Payloads) != 0 {
		t.Fatalf("liveness request %v is not empty", opened)
	}
	w.deliver(w.script(req))
	if e, _ := establishedCount(w.a); e != 1 {
		t.Fatal("the IKE SA did not stay")
	}
	req, _ = w.startTask(m, &ikeDPD{})
	var key SAKey
	var r *request
	w.aSA(m, func(sa *SA) {
		key, r = sa.key, sa.tasks.active
		r.tries = sa.retransmitTries() + 1 // all retransmissions spent
	})
	w.a.d.retransmit(key, req.to, r) // as its timer would
	if _, ok := findFailure(w.a, false, ErrPeerTimeout); !ok || len(w.a.d.Status()) != 0 {
		t.Fatalf("A's failures %+v, status %+v", w.a.failed(), w.a.d.Status())
	}
}
