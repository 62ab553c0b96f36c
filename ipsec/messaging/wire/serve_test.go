package wire

import (
	"errors"
	"io"
	"net"
	"reflect"
	"testing"
	"time"

	"github.com/sabre-ipsec/sabre/classify"
	"github.com/sabre-ipsec/sabre/ipsec"
	"github.com/sabre-ipsec/sabre/ipsec/messaging"
	"github.com/sabre-ipsec/sabre/sad"
	"github.com/sabre-ipsec/sabre/spd"
	"github.com/sabre-ipsec/sabre/suite"
	"github.com/sabre-ipsec/sabre/xe"
)

// wireClient talks to Serve as an application would: it sends requests
// and reads replies, keeping the events that arrive in between.
type wireClient struct {
	t      *testing.T
	conn   net.Conn
	in     chan *Message
	seq    uint8
	app    Party // once registered
	events []*Message
}

func newWireClient(t *testing.T, conn net.Conn) *wireClient {
	c := &wireClient{t: t, conn: conn, in: make(chan *Message, 64)}
	go func() {
		defer close(c.in)
		for {
			m, err := ReadMessage(conn)
			if err != nil {
				return
			}
			c.in <- m
		}
	}()
	return c
}

// next returns the next message from IPsec.
func (c *wireClient) next() *Message {
	c.t.Helper()
	select {
	case m, ok := <-c.in:
		if !ok {
			c.t.Fatal("connection closed")
		}
		return m
	case <-time.After(5 * time.Second):
		c.t.Fatal("no message from IPsec")
	}
	return nil
}

// send writes a raw frame and returns the reply to it.
func (c *wireClient) send(frame []byte) *Message {
	c.t.Helper()
	seq := frame[4]
	if _, err := c.conn.Write(frame); err != nil {
		c.t.Fatal(err)
	}
	for {
		m := c.next()
		if m.Reply && m.Seq == seq {
			return m
		}
		if m.Reply {
			c.t.Fatalf("reply %v to sequence %d, waiting for %d", m.Type, m.Seq, seq)
		}
		c.events = append(c.events, m)
	}
}

// call sends req and returns the decoded reply.
func (c *wireClient) call(req Request) (Reply, error) {
	c.t.Helper()
	c.seq++
	b, err := EncodeRequest(PartyIKE, c.seq, req)
	if err != nil {
		c.t.Fatal(err)
	}
	m := c.send(b)
	if m.Type != req.MsgType() || m.Src != PartyIPsec || m.Dst != PartyIKE {
		c.t.Fatalf("reply header %+v to %v", m, req.MsgType())
	}
	return DecodeReply(m)
}

// event returns the first event of type t, waiting for it if need be.
func (c *wireClient) event(t messaging.MsgType) messaging.Event {
	c.t.Helper()
	for i := 0; ; i++ {
		for i >= len(c.events) {
			m := c.next()
			if m.Reply {
				c.t.Fatalf("unexpected reply %+v", m)
			}
			c.events = append(c.events, m)
		}
		if m := c.events[i]; m.Type == t {
			c.events = append(c.events[:i], c.events[i+1:]...)
			if m.Src != PartyIPsec || m.Dst != c.app {
				c.t.Fatalf("event header %+v", m)
			}
			ev, err := DecodeEvent(m)
			if err != nil {
				c.t.Fatal(err)
			}
			return ev
		}
	}
}

func TestServeWire(t *testing.T) {
	e := ipsec.New(spd.NewDB(), sad.NewDB(), ipsec.Config{})
	m := messaging.New(e)
	server, client := net.Pipe()
	done := make(chan error, 1)
	go func() { done <- Serve(m, server) }()
	c := newWireClient(t, client)

	reply, err := c.call(AppRegisterRequest{Name: "ike"})
	if err != nil {
		t.Fatal(err)
	}
	app := reply.(AppRegisterReply).ID
	c.app = Party(app)
	if m.Apps()[app] != "ike" {
		t.Fatalf("registered %v: %v", app, m.Apps())
	}
	if _, err := c.call(AppRegisterRequest{Name: "again"}); !errors.Is(err, xe.Exist) {
		t.Fatalf("second APP_REGISTER: %v", err)
	}

	// ADD_POLICY, and the POLICY_ADDED event it raises.
	policy := spd.Policy{Action: spd.Secure, Mode: spd.Tunnel, Src: classify.MustParseSelector("10.1.0.0/24"),
		Dst: classify.MustParseSelector("10.2.0.0/24"), TunnelLocal: mustAddr("192.0.2.1"), TunnelRemote: mustAddr("192.0.2.2"),
		ESPAlgorithms: []string{"aes128gcm16"}}
	reply, err = c.call(AddPolicyRequest{Policy: policy})
	if err != nil {
		t.Fatal(err)
	}
	id := reply.(PolicyIDReply).PolicyID
	ev := c.event(messaging.MsgPolicyAdded)
	if ev.PolicyID != id || ev.Policy == nil || ev.Policy.ID != id || ev.Policy.Src != policy.Src || ev.Policy.TunnelRemote != policy.TunnelRemote {
		t.Fatalf("POLICY_ADDED %+v", ev)
	}
	reply, err = c.call(GetPolicyRequest{PolicyID: id})
	if want, _ := m.GetPolicy(id); err != nil || !reflect.DeepEqual(reply, PolicyReply{Policy: *want}) {
		t.Fatalf("GET_POLICY: %+v %v", reply, err)
	}

	// GET_SPI, ADD_SA, GET_SA.
	reply, err = c.call(GetSPIRequest{PolicyID: id, Protocol: sad.ESP})
	if err != nil {
		t.Fatal(err)
	}
	spi := reply.(GetSPIReply).SPI
	sa := ipsec.ManualSA{Encr: suite.EncrAESGCM16, EncrKeyIn: key(20, 1), EncrKeyOut: key(20, 2), ESPSPIIn: spi, ESPSPIOut: 0x5555}
	if reply, err := c.call(AddSARequest{PolicyID: id, SA: sa}); err != nil || reply != nil {
		t.Fatalf("ADD_SA: %v %v", reply, err)
	}
	reply, err = c.call(GetSARequest{PolicyID: id})
	if err != nil {
		t.Fatal(err)
	}
	sas := reply.(GetSAReply).SAs
	if len(sas) != 2 {
		t.Fatalf("GET_SA: %+v", sas)
	}
	for _, s := range sas {
		want := uint32(0x5555)
		if s.Direction == sad.Inbound {
			want = spi
		}
		if s.SPI != want || s.Protocol != sad.ESP || s.Algorithm == "" || s.Local != mustAddr("192.0.2.1") {
			t.Fatalf("GET_SA: %+v", s)
		}
	}

	// Errors come back with their XE code.
	if _, err := c.call(DelPolicyRequest{PolicyID: id + 100}); !errors.Is(err, xe.PolicyNotFound) {
		t.Fatalf("DEL_POLICY of a missing policy: %v", err)
	}
	var se *StatusError
	if _, err := c.call(DelSARequest{PolicyID: id + 100}); !errors.As(err, &se) || se.Code != xe.SANotFound || se.Detail == "" {
		t.Fatalf("DEL_SA of a missing policy: %v", err)
	}

	// Bad frames are answered with XE_BAD_PARAM, echoing the type and
	// sequence, and the connection goes on.
	b, _ := EncodeRequest(PartyIKE, 200, GetPolicyRequest{PolicyID: id})
	b[3] = 1
	if r := c.send(b); r.Type != messaging.MsgGetPolicy || r.Seq != 200 || r.Status != xe.BadParam || r.Dst != PartyIKE {
		t.Fatalf("reply to a non-zero reserved octet: %+v", r)
	}
	for _, bad := range [][]byte{
		{99, byte(PartyIKE), byte(PartyIPsec), 0, 201, 0, 0, 0},                                     // unknown type
		{byte(messaging.MsgAcquire), byte(PartyIKE), byte(PartyIPsec), 0, 202, 0, 0, 0},             // an event sent to IPsec
		{byte(messaging.MsgGetPolicy), byte(PartyIKE), byte(PartyIKE), 0, 203, 1, 0, 0, 0, 0, 0, 1}, // not to IPsec
		{byte(messaging.MsgGetPolicy), byte(PartyIKE), byte(PartyIPsec), 0, 204, 0, 0, 0},           // data missing
	} {
		r := c.send(bad)
		_, err := DecodeReply(r)
		if r.Type != messaging.MsgType(bad[0]) || r.Status != xe.BadParam || !errors.As(err, &se) || se.Detail == "" {
			t.Fatalf("reply to % x: %+v %v", bad, r, err)
		}
	}
	// An application's acknowledgement of an event gets no reply.
	ack, _ := EncodeReply(&Message{Type: messaging.MsgPolicyAdded, Src: PartyIPsec}, nil, nil)
	if _, err := client.Write(ack); err != nil {
		t.Fatal(err)
	}
	if reply, err := c.call(GetPoliciesRequest{}); err != nil || reply.(PolicyReply).Policy.ID != id {
		t.Fatalf("GET_POLICIES after bad frames: %v %v", reply, err)
	}

	// Deleting the policy deletes its SAs: events for all three.
	if _, err := c.call(DelPolicyRequest{PolicyID: id}); err != nil {
		t.Fatal(err)
	}
	if ev := c.event(messaging.MsgPolicyDeleted); ev.PolicyID != id {
		t.Fatalf("POLICY_DELETED %+v", ev)
	}
	for range 2 {
		if ev := c.event(messaging.MsgSADeleted); ev.PolicyID != id || ev.Protocol != sad.ESP || ev.Hard {
			t.Fatalf("SA_DELETED %+v", ev)
		}
	}
	for _, e := range c.events {
		t.Errorf("unexpected event %v", e.Type)
	}

	// EOF ends the service and unregisters the application.
	client.Close()
	select {
	case err := <-done:
		if err != nil {
			t.Fatalf("Serve: %v", err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("Serve did not return at EOF")
	}
	if len(m.Apps()) != 0 {
		t.Fatalf("still registered: %v", m.Apps())
	}
}

// TestServeWireEventDst: events go to the application's ID.
func TestServeWireEventDst(t *testing.T) {
	e := ipsec.New(spd.NewDB(), sad.NewDB(), ipsec.Config{})
	m := messaging.New(e)
	server, client := net.Pipe()
	defer client.Close()
	go Serve(m, server)
	c := newWireClient(t, client)
	reply, err := c.call(AppRegisterRequest{Name: "admin"})
	if err != nil {
		t.Fatal(err)
	}
	app := reply.(AppRegisterReply).ID
	if _, err := m.AddPolicy(spd.Policy{Action: spd.Bypass, Src: classify.AnyIPv4(), Dst: classify.AnyIPv4()}); err != nil {
		t.Fatal(err)
	}
	msg := c.next()
	if msg.Type != messaging.MsgPolicyAdded || msg.Reply || msg.Src != PartyIPsec || msg.Dst != Party(app) {
		t.Fatalf("event header %+v", msg)
	}
}

// TestServeWireTruncatedFrame: a frame cut short ends the connection.
func TestServeWireTruncatedFrame(t *testing.T) {
	m := messaging.New(ipsec.New(spd.NewDB(), sad.NewDB(), ipsec.Config{}))
	for _, frame := range [][]byte{{byte(messaging.MsgGetPolicy), 2, 1}, {byte(messaging.MsgGetPolicy), 2, 1, 0, 1, 1, 0, 0, 0, 0}} {
		server, client := net.Pipe()
		done := make(chan error, 1)
		go func() { done <- Serve(m, server) }()
		client.Write(frame)
		client.Close()
		if err := <-done; !errors.Is(err, io.ErrUnexpectedEOF) {
			t.Fatalf("% x: %v", frame, err)
		}
	}
}
