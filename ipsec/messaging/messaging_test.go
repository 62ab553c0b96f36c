package messaging

import (
	"errors"
	"sync"
	"testing"
	"time"

	"net/netip"

	"github.com/sabre-ipsec/sabre/classify"
	"github.com/sabre-ipsec/sabre/ipsec"
	"github.com/sabre-ipsec/sabre/sad"
	"github.com/sabre-ipsec/sabre/spd"
	"github.com/sabre-ipsec/sabre/suite"
	"github.com/sabre-ipsec/sabre/xe"
)

// eventLog collects events delivered to a registered application.
type eventLog struct {
	mu  sync.Mutex
	evs []Event
}

func (l *eventLog) add(e Event) { l.mu.Lock(); l.evs = append(l.evs, e); l.mu.Unlock() }

// wait returns the events once n have arrived (or fails after a while).
func (l *eventLog) wait(t *testing.T, n int) []Event {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for {
		l.mu.Lock()
		evs := append([]Event(nil), l.evs...)
		l.mu.Unlock()
		if len(evs) >= n || time.Now().After(deadline) {
			if len(evs) < n {
				t.Fatalf("%d events, want %d: %+v", len(evs), n, evs)
			}
			return evs
		}
		time.Sleep(time.Millisecond)
	}
}

func ofType(evs []Event, t MsgType) []Event {
	var out []Event
	for _, e := range evs {
		if e.Type == t {
			out = append(out, e)
		}
	}
	return out
}

// TestMessagingLifetimes: a soft byte limit raises SA_EXPIRED once, a hard
// one deletes the SA and raises SA_DELETED, observed by a registered app.
func TestMessagingLifetimes(t *testing.T) {
	ha := newTunnel(t, sad.Lifetime{Bytes: 1000}, sad.Lifetime{Bytes: 3000})
	m := New(ha.e)
	var log eventLog
	if _, err := m.Register("ike", log.add); err != nil {
		t.Fatal(err)
	}
	for range 10 {
		ha.e.Encapsulate(udpPacket(500)) // 500-byte inner packets
	}
	evs := log.wait(t, 3)
	soft, del := ofType(evs, MsgSAExpired), ofType(evs, MsgSADeleted)
	if len(soft) != 1 || soft[0].SPI != 0x1000 || soft[0].PolicyID != ha.policyID || soft[0].Hard {
		t.Fatalf("SA_EXPIRED events %+v", soft)
	}
	if len(del) != 1 || !del[0].Hard || del[0].SPI != 0x1000 {
		t.Fatalf("SA_DELETED events %+v", del)
	}
	// The next packet raises an ACQUIRE for a new SA.
	if acq := ofType(evs, MsgAcquire); len(acq) != 1 || acq[0].PolicyID != ha.policyID {
		t.Fatalf("ACQUIRE events %+v", acq)
	}
}

// TestMessagingRequests drives a key manager's sequence: ACQUIRE, GET_SPI,
// ADD_SA; then DELETE_SPIs, INITIAL_CONTACT and the admin requests.
func TestMessagingRequests(t *testing.T) {
	e := ipsec.New(spd.NewDB(), sad.NewDB(), ipsec.Config{})
	m := New(e)
	var log eventLog
	m.Register("ike", log.add)
	id, err := m.AddPolicy(spd.Policy{Action: spd.Secure, Mode: spd.Tunnel, Src: classify.MustParseSelector("10.1.0.0/24"),
		Dst: classify.MustParseSelector("10.2.0.0/24"), TunnelLocal: mustAddr("192.0.2.1"), TunnelRemote: mustAddr("192.0.2.2")})
	if err != nil {
		t.Fatal(err)
	}
	if res, _ := e.Encapsulate(udpPacket(28)); res != ipsec.Pending {
		t.Fatalf("first packet: %v", res)
	}
	evs := log.wait(t, 2)
	if evs[0].Type != MsgPolicyAdded || evs[1].Type != MsgAcquire || evs[1].Key.Dst != mustAddr("10.2.0.9") {
		t.Fatalf("events %+v", evs)
	}
	spi, err := m.GetSPI(id, sad.ESP, netip.Addr{})
	if err != nil || spi < 256 {
		t.Fatalf("GET_SPI %#x %v", spi, err)
	}
	if err := m.AddSA(id, ipsec.ManualSA{Encr: suite.EncrAESGCM16, EncrKeyIn: key(20, 1), EncrKeyOut: key(20, 2), ESPSPIIn: spi, ESPSPIOut: 0x5555}); err != nil {
		t.Fatal(err)
	}
	sas, err := m.GetSA(id)
	if err != nil || len(sas) != 2 {
		t.Fatalf("GET_SA: %d SAs, %v", len(sas), err)
	}
	if p, err := m.GetPolicies(0); err != nil || p.ID != id {
		t.Fatalf("GET_POLICIES: %v %v", p, err)
	}
	if _, err := m.GetPolicies(id); !errors.Is(err, xe.PolicyNotFound) {
		t.Fatalf("GET_POLICIES past the end: %v", err)
	}
	if p, err := m.LookupPolicy(spd.Inbound, classify.Packet{Src: mustAddr("10.2.0.1"), Dst: mustAddr("10.1.0.1")}); err != nil || p.ID != id {
		t.Fatalf("LOOKUP_POLICY: %v %v", p, err)
	}
	clone, err := m.ClonePolicy(id, classify.MustParseSelector("10.1.0.5"), classify.MustParseSelector("10.2.0.9"))
	if err != nil || m.e.SPD().Get(clone).Priority != 3 {
		t.Fatalf("CLONE_POLICY: %v", err)
	}
	if _, err := m.ClonePolicy(id, classify.MustParseSelector("10.9.0.5"), classify.MustParseSelector("10.2.0.9")); !errors.Is(err, xe.BadAddrRange) {
		t.Fatalf("clone outside the original: %v", err)
	}
	if n := m.DeleteSPIs(mustAddr("192.0.2.1"), sad.ESP, spi); n != 1 {
		t.Fatalf("DELETE_SPIs deleted %d", n)
	}
	if n := m.InitialContact(mustAddr("192.0.2.2")); n != 1 {
		t.Fatalf("INITIAL_CONTACT deleted %d", n)
	}
	if err := m.DelPolicy(id); err != nil {
		t.Fatal(err)
	}
	if n := m.FlushSPD(); n != 1 {
		t.Fatalf("FLUSH_SPD removed %d", n)
	}
	evs = log.wait(t, 7)
	if len(ofType(evs, MsgSADeleted)) != 2 || len(ofType(evs, MsgPolicyDeleted)) != 2 {
		t.Fatalf("events %+v", evs)
	}
	if err := m.AcquireFail(id); !errors.Is(err, xe.PolicyNotFound) {
		t.Fatalf("ACQUIRE_FAIL without negotiation: %v", err)
	}
}

// TestSlowSubscriberKeepsSAEvents: an application that stops reading for
// a while loses no SA_EXPIRED or SA_DELETED (each is a rekey or a delete
// the key manager must do), however many arrive meanwhile, and gets them in
// order; only ACQUIREs beyond the queue bound are dropped, and counted.
func TestSlowSubscriberKeepsSAEvents(t *testing.T) {
	ha := newTunnel(t, sad.Lifetime{}, sad.Lifetime{})
	m := New(ha.e)
	gate := make(chan struct{})
	const n = 3 * eventQueueLen
	got := make(chan Event, 2*n+2*eventQueueLen)
	first := true
	id, err := m.Register("slow", func(ev Event) {
		if first {
			first = false
			<-gate // the subscriber is stuck until the flood is over
		}
		got <- ev
	})
	if err != nil {
		t.Fatal(err)
	}
	dst := netip.MustParseAddr("192.0.2.1")
	for i := range n {
		kind := sad.SoftExpired
		if i%2 == 1 {
			kind = sad.Deleted
		}
		m.onSAEvent(sad.Event{Kind: kind, SPI: uint32(0x10000 + i), Protocol: sad.ESP, Direction: sad.Inbound, Dst: dst})
		// A packet-driven flood of ACQUIREs besides.
		m.onAcquire(ipsec.Acquire{Policy: &spd.Policy{ID: 7}})
	}
	// The same SA expiring twice before delivery is one event.
	m.onSAEvent(sad.Event{Kind: sad.SoftExpired, SPI: 0x10002, Protocol: sad.ESP, Direction: sad.Inbound, Dst: dst})
	if d := m.DroppedEvents(); d == 0 || d > n {
		t.Errorf("%d events dropped; want some of the %d ACQUIREs", d, n)
	}
	if d := ha.e.Stats().Snapshot().EventsDropped; d != m.DroppedEvents() {
		t.Errorf("engine counter events_dropped %d, messaging %d", d, m.DroppedEvents())
	}
	close(gate)
	var sa []Event
	acquires := 0
	timeout := time.After(time.Minute) // a failure bound only: the events are already queued
	for len(sa) < n {
		var ev Event
		select {
		case ev = <-got:
		case <-timeout:
			t.Fatalf("%d of %d SA events delivered (%d dropped events)", len(sa), n, m.DroppedEvents())
		}
		switch ev.Type {
		case MsgAcquire:
			acquires++
		case MsgSAExpired, MsgSADeleted:
			sa = append(sa, ev)
		}
	}
	if err := m.Unregister(id); err != nil { // waits for the rest
		t.Fatal(err)
	}
	close(got)
	for ev := range got {
		if ev.Type != MsgAcquire {
			t.Errorf("extra event %v SPI %#x", ev.Type, ev.SPI)
		}
		acquires++
	}
	for i, ev := range sa {
		want := MsgSAExpired
		if i%2 == 1 {
			want = MsgSADeleted
		}
		if ev.SPI != uint32(0x10000+i) || ev.Type != want {
			t.Fatalf("SA event %d is %v SPI %#x, want %v SPI %#x", i, ev.Type, ev.SPI, want, 0x10000+i)
		}
	}
	if uint64(acquires)+m.DroppedEvents() != n {
		t.Errorf("%d ACQUIREs delivered + %d dropped != %d raised", acquires, m.DroppedEvents(), n)
	}
}
