package ike

import (
	"bytes"
	"encoding/binary"
	"net/netip"
	"testing"
	"time"

	"github.com/sabre-ipsec/sabre/ike/message"
)

var (
	wireB    = netip.MustParseAddrPort("192.0.2.2:500")    // daemon B
	attacker = netip.MustParseAddrPort("198.51.100.7:500") // an address with no IKE SA
)

// rawInit is an IKE_SA_INIT request as A would offer it to B, SPIi spii,
// with extra payloads before the nonce, which is last and nonceLen octets
// long (spliced in by hand where Marshal would refuse the length).
func rawInit(t testing.TB, w *wire, spii uint64, nonceLen int, extra ...message.Payload) []byte {
	t.Helper()
	r := w.a.d.remote("b")
	g, err := lookupGroup(r.Groups[0])
	if err != nil {
		t.Fatal(err)
	}
	k, err := g.GenerateKey()
	if err != nil {
		t.Fatal(err)
	}
	ps := []message.Payload{&message.SA{Proposals: IKEProposals(r)}, &message.KE{Group: message.GroupID(r.Groups[0]), Data: k.PublicValue()}}
	ps = append(ps, extra...)
	ps = append(ps, &message.Nonce{Data: make([]byte, 16)})
	b, err := (&message.Message{Header: message.Header{SPIi: spii, Exchange: message.IKESAInit, Flags: message.FlagInitiator}, Payloads: ps}).Marshal()
	if err != nil {
		t.Fatal(err)
	}
	// Replace the 16-octet nonce, the last payload, by one of nonceLen.
	b = append(b[:len(b)-16], bytes.Repeat([]byte{0x5a}, nonceLen)...)
	binary.BigEndian.PutUint16(b[len(b)-nonceLen-2:], uint16(4+nonceLen))
	binary.BigEndian.PutUint32(b[24:], uint32(len(b)))
	return b
}

// notifyReply is the exact unprotected response that answers a request
// with error notification typ: the request's SPIs, exchange and message
// ID, version 2.0, the R flag and the I flag of the other role, and one
// Notify payload (RFC 7296 §3.1, §3.10).
func notifyReply(spii, spir uint64, exch message.ExchangeType, flags message.Flags, msgID uint32, typ message.NotifyType, data []byte) []byte {
	b := binary.BigEndian.AppendUint64(nil, spii)
	b = binary.BigEndian.AppendUint64(b, spir)
	b = append(b, byte(message.PayloadNotify), 0x20, byte(exch), byte(flags))
	b = binary.BigEndian.AppendUint32(b, msgID)
	b = binary.BigEndian.AppendUint32(b, uint32(message.HeaderLen+8+len(data)))
	b = append(b, 0, 0) // last payload, not critical
	b = binary.BigEndian.AppendUint16(b, uint16(8+len(data)))
	b = append(b, 0, 0) // Protocol ID, SPI Size
	b = binary.BigEndian.AppendUint16(b, uint16(typ))
	return append(b, data...)
}

// TestMalformedRequestsAnswered (issue 9, item 7) sends crafted datagrams
// to a daemon and checks the exact response: what RFC 7296 §2.5, §2.10 and
// §2.21 ask, as strongSwan answers; or nothing where nothing is due.
func TestMalformedRequestsAnswered(t *testing.T) {
	const spii = 0x0102030405060708
	critical := &message.Unknown{Type: 200, Critical: true, Data: []byte{9, 9}}
	withVersion := func(b []byte, v byte) []byte { b[17] = v; return b }
	withFlags := func(b []byte, f message.Flags) []byte { b[19] = byte(f); return b }
	informational := func(version byte, flags message.Flags) []byte {
		b, err := (&message.Message{Header: message.Header{SPIi: spii, SPIr: 0x1112131415161718, Exchange: message.Informational,
			Flags: flags, MessageID: 7}, Payloads: []message.Payload{&message.Notify{Type: message.InitialContact}}}).Marshal()
		if err != nil {
			t.Fatal(err)
		}
		return withVersion(b, version)
	}
	for _, tc := range []struct {
		name  string
		req   func(w *wire) []byte
		reply []byte // nil: no reply
		full  bool   // a normal IKE_SA_INIT response (SA, KE, Nr)
	}{
		{"unknown critical payload in IKE_SA_INIT", func(w *wire) []byte { return rawInit(t, w, spii, 32, critical) },
			notifyReply(spii, 0, message.IKESAInit, message.FlagResponse, 0, message.UnsupportedCriticalPayload, []byte{200}), false},
		{"unknown non-critical payload in IKE_SA_INIT", func(w *wire) []byte {
			return rawInit(t, w, spii, 32, &message.Unknown{Type: 200, Data: []byte{9}})
		}, nil, true},
		{"IKE_SA_INIT without KE", func(w *wire) []byte {
			b, err := (&message.Message{Header: message.Header{SPIi: spii, Exchange: message.IKESAInit, Flags: message.FlagInitiator},
				Payloads: []message.Payload{&message.SA{Proposals: IKEProposals(w.a.d.remote("b"))}, &message.Nonce{Data: make([]byte, 32)}}}).Marshal()
			if err != nil {
				t.Fatal(err)
			}
			return b
		}, notifyReply(spii, 0, message.IKESAInit, message.FlagResponse, 0, message.InvalidSyntax, nil), false},
		{"nonce of 15 octets", func(w *wire) []byte { return rawInit(t, w, spii, 15) },
			notifyReply(spii, 0, message.IKESAInit, message.FlagResponse, 0, message.InvalidSyntax, nil), false},
		{"nonce of 257 octets", func(w *wire) []byte { return rawInit(t, w, spii, 257) },
			notifyReply(spii, 0, message.IKESAInit, message.FlagResponse, 0, message.InvalidSyntax, nil), false},
		{"nonce of 16 octets", func(w *wire) []byte { return rawInit(t, w, spii, 16) }, nil, true},
		{"nonce of 256 octets", func(w *wire) []byte { return rawInit(t, w, spii, 256) }, nil, true},
		{"IKE_SA_INIT of version 3.0", func(w *wire) []byte { return withVersion(rawInit(t, w, spii, 32), 0x30) },
			notifyReply(spii, 0, message.IKESAInit, message.FlagResponse, 0, message.InvalidMajorVersion, nil), false},
		{"IKE_SA_INIT of version 2.1 (minor versions are ignored)", func(w *wire) []byte { return withVersion(rawInit(t, w, spii, 32), 0x21) }, nil, true},
		{"INFORMATIONAL request of version 15.3 from the responder", func(*wire) []byte { return informational(0xf3, 0) },
			notifyReply(spii, 0x1112131415161718, message.Informational, message.FlagResponse|message.FlagInitiator, 7, message.InvalidMajorVersion, nil), false},
		{"a response of version 3.0 is not answered", func(*wire) []byte { return informational(0x30, message.FlagResponse) }, nil, false},
		{"IKEv1 (version 1.0) is not answered", func(w *wire) []byte { return withVersion(rawInit(t, w, spii, 32), 0x10) }, nil, false},
		{"an IKE_SA_INIT response is not answered", func(w *wire) []byte {
			return withFlags(rawInit(t, w, spii, 32, critical), message.FlagResponse)
		}, nil, false},
		{"unauthenticated critical payload outside SK on an IKE SA is not answered", func(*wire) []byte {
			b, err := (&message.Message{Header: message.Header{SPIi: spii, SPIr: 0x1112131415161718, Exchange: message.IKEAuth,
				Flags: message.FlagInitiator, MessageID: 1}, Payloads: []message.Payload{critical}}).Marshal()
			if err != nil {
				t.Fatal(err)
			}
			return b
		}, nil, false},
		{"truncated IKE_SA_INIT (Length beyond the datagram)", func(w *wire) []byte {
			b := rawInit(t, w, spii, 32)
			return b[:len(b)-1]
		}, notifyReply(spii, 0, message.IKESAInit, message.FlagResponse, 0, message.InvalidSyntax, nil), false},
		{"a datagram shorter than the IKE header is not answered", func(w *wire) []byte {
			return rawInit(t, w, spii, 32)[:message.HeaderLen-1]
		}, nil, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			w := newWire(t)
			w.b.d.HandleMessage(tc.req(w), wireB, attacker)
			switch {
			case tc.full:
				if w.queued() != 1 {
					t.Fatalf("%d replies, want 1", w.queued())
				}
				m, err := message.Parse(w.pop().b)
				if err != nil {
					t.Fatal(err)
				}
				if m.Exchange != message.IKESAInit || m.SPIi != spii || m.SPIr == 0 || message.Summary(m.Payloads) != "SA KE No N(NAT_DETECTION_SOURCE_IP) N(NAT_DETECTION_DESTINATION_IP)" {
					t.Fatalf("reply %v, want the full IKE_SA_INIT response", m)
				}
			case tc.reply == nil:
				if w.queued() != 0 {
					t.Fatalf("replied %x", w.pop().b)
				}
			default:
				if w.queued() != 1 {
					t.Fatalf("%d replies, want 1", w.queued())
				}
				m := w.pop()
				if !bytes.Equal(m.b, tc.reply) || m.to != attacker || m.from != wireB {
					t.Fatalf("reply %v->%v\n%x\nwant\n%x", m.from, m.to, m.b, tc.reply)
				}
				if st := w.b.d.Status(); len(st) != 0 {
					t.Fatalf("B made IKE SAs: %+v", st)
				}
			}
		})
	}
}

// TestUnprotectedRepliesRateLimited: the unprotected error notifications
// that answer forged datagrams come at most unprotectedBurst at once, then
// unprotectedRate a second, with a bucket per notification type; the rest
// are counted in Stats.RepliesLimited.
func TestUnprotectedRepliesRateLimited(t *testing.T) {
	w := newWire(t)
	now := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	w.b.d.cfg.Now = func() time.Time { return now }
	critical := &message.Unknown{Type: 200, Critical: true}
	send := func(n int, nonceLen int, extra ...message.Payload) int {
		before := w.queued()
		for i := range n {
			w.b.d.HandleMessage(rawInit(t, w, uint64(1000+i), nonceLen, extra...), wireB, attacker)
		}
		return w.queued() - before
	}
	if got := send(unprotectedBurst+5, 32, critical); got != unprotectedBurst {
		t.Fatalf("%d replies to %d forged requests at once, want %d", got, unprotectedBurst+5, unprotectedBurst)
	}
	if got := w.b.d.Stats().RepliesLimited.Load(); got != 5 {
		t.Fatalf("RepliesLimited %d, want 5", got)
	}
	// Another notification type has its own bucket.
	if got := send(1, 15); got != 1 {
		t.Fatalf("INVALID_SYNTAX: %d replies, want 1", got)
	}
	// 100 ms refill one token of UNSUPPORTED_CRITICAL_PAYLOAD.
	now = now.Add(time.Second / unprotectedRate)
	if got := send(3, 32, critical); got != 1 {
		t.Fatalf("after %v: %d replies, want 1", time.Second/unprotectedRate, got)
	}
	now = now.Add(time.Hour)
	if got := send(unprotectedBurst+1, 32, critical); got != unprotectedBurst {
		t.Fatalf("after an hour: %d replies, want the burst of %d", got, unprotectedBurst)
	}
}
