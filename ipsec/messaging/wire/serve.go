package wire

import (
	"io"
	"sync"
	"sync/atomic"
	"time"

	"github.com/sabre-ipsec/sabre/ipsec/messaging"
	"github.com/sabre-ipsec/sabre/spd"
	"github.com/sabre-ipsec/sabre/xe"
)

// Serve serves the messaging interface m over one connection in the wire
// encoding of this package: it reads requests, calls the typed methods and writes
// each reply with the XE code in its status. After APP_REGISTER it also
// writes the events of the application it registered, from IPsec to the
// application's ID, between the replies. On EOF it unregisters the
// application and returns nil.
//
// A frame whose header could be read but that is not a valid request is
// answered with XE_BAD_PARAM (XE_DST_OUT_OF_SPACE for a reply that would
// not fit) and the connection goes on. A read or write that fails ends it
// with that error. Replies from the application, acknowledging events, are
// ignored.
func Serve(m *messaging.Messaging, rw io.ReadWriter) error {
	c := &conn{m: m, rw: rw}
	defer c.close()
	for {
		frame, err := readFrame(rw)
		if err != nil {
			if err == io.EOF {
				return nil
			}
			return err
		}
		if err := c.serve(frame); err != nil {
			return err
		}
	}
}

// conn is one connection served by Serve.
type conn struct {
	m  *messaging.Messaging
	rw io.ReadWriter

	// mu serializes writes: replies from the serving goroutine, events
	// from the application's handler.
	mu       sync.Mutex
	app      messaging.AppID // set once registered; read by the handler under mu
	eventSeq uint8
	closed   atomic.Bool // no more events: the connection is ending or broken
}

// serve answers one frame.
func (c *conn) serve(frame []byte) error {
	msg, err := ParseMessage(frame)
	if err != nil {
		// The header's type, src and sequence octets are there even when
		// the rest is wrong; echo them.
		return c.writeReply(messaging.MsgType(frame[0]), Party(frame[1]), frame[4], nil, err)
	}
	if msg.Reply {
		return nil
	}
	if msg.Dst != PartyIPsec {
		return c.writeReply(msg.Type, msg.Src, msg.Seq, nil,
			xe.Errorf(xe.BadParam, "wire: %v request: dst: %v, want %v", msg.Type, msg.Dst, PartyIPsec))
	}
	req, err := DecodeRequest(msg)
	if err != nil {
		return c.writeReply(msg.Type, msg.Src, msg.Seq, nil, err)
	}
	if r, ok := req.(AppRegisterRequest); ok {
		return c.register(msg, r.Name)
	}
	reply, err := c.dispatch(req)
	if r, ok := req.(AddSARequest); ok {
		// The keys are in the engine's transforms now; wipe the copies.
		clear(frame)
		clear(r.SA.EncrKeyIn)
		clear(r.SA.EncrKeyOut)
		clear(r.SA.IntegKeyIn)
		clear(r.SA.IntegKeyOut)
	}
	return c.writeReply(msg.Type, msg.Src, msg.Seq, reply, err)
}

// dispatch calls the typed method of req.
func (c *conn) dispatch(req Request) (Reply, error) {
	m := c.m
	switch r := req.(type) {
	case ClonePolicyRequest:
		id, err := m.ClonePolicy(r.PolicyID, r.Src, r.Dst)
		return PolicyIDReply{PolicyID: id}, err
	case InitialContactRequest:
		return countReply(m.InitialContact(r.Remote)), nil
	case DeleteSPIsRequest:
		return countReply(m.DeleteSPIs(r.Dst, r.Protocol, r.SPIs...)), nil
	case GetSPIRequest:
		spi, err := m.GetSPI(r.PolicyID, r.Protocol, r.Dst)
		return GetSPIReply{SPI: spi}, err
	case AcquireFailRequest:
		return nil, m.AcquireFail(r.PolicyID)
	case AddSARequest:
		return nil, m.AddSA(r.PolicyID, r.SA)
	case GetPolicyRequest:
		return policyReply(m.GetPolicy(r.PolicyID))
	case GetPoliciesRequest:
		return policyReply(m.GetPolicies(r.After))
	case LookupPolicyRequest:
		return policyReply(m.LookupPolicy(r.Direction, r.Key))
	case SAFlushRequest:
		return countReply(m.SAFlush()), nil
	case AddPolicyRequest:
		id, err := m.AddPolicy(r.Policy)
		return PolicyIDReply{PolicyID: id}, err
	case DelPolicyRequest:
		return nil, m.DelPolicy(r.PolicyID)
	case GetSARequest:
		sas, err := m.GetSA(r.PolicyID)
		if err != nil {
			return nil, err
		}
		reply := GetSAReply{SAs: make([]SAInfo, len(sas))}
		for i, sa := range sas {
			reply.SAs[i] = SAInfoOf(sa)
		}
		return reply, nil
	case DelSARequest:
		n, err := m.DelSA(r.PolicyID)
		return countReply(n), err
	case FlushSPDRequest:
		return countReply(m.FlushSPD()), nil
	}
	return nil, xe.Errorf(xe.BadParam, "wire: %v request: type: not served", req.MsgType())
}

func countReply(n int) Reply { return CountReply{Count: uint32(n)} }

func policyReply(p *spd.Policy, err error) (Reply, error) {
	if err != nil {
		return nil, err
	}
	return PolicyReply{Policy: *p}, nil
}

// register is APP_REGISTER. Writes wait on mu from registration until the
// reply is out, so that the application reads its ID before any event.
func (c *conn) register(msg *Message, name string) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.app != 0 {
		return c.writeReplyLocked(msg.Type, msg.Src, msg.Seq, nil,
			xe.Errorf(xe.Exist, "wire: APP_REGISTER: this connection is registered as application %d", c.app))
	}
	id, err := c.m.Register(name, c.writeEvent)
	if err == nil {
		c.app = id
	}
	return c.writeReplyLocked(msg.Type, msg.Src, msg.Seq, AppRegisterReply{ID: id}, err)
}

// writeEvent is the registered application's handler: it sends ev unless
// the connection is ending.
func (c *conn) writeEvent(ev messaging.Event) {
	if c.closed.Load() {
		return
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	c.eventSeq++
	b, err := EncodeEvent(Party(c.app), c.eventSeq, ev)
	if err != nil {
		// Too large for a message: lost, and counted as lost.
		c.m.Engine().Stats().EventsDropped.Add(1)
		return
	}
	if c.closed.Load() {
		return
	}
	if _, err := c.rw.Write(b); err != nil {
		// The connection is broken; the reads will end it.
		c.m.Engine().Stats().EventsDropped.Add(1)
		c.closed.Store(true)
	}
}

func (c *conn) writeReply(t messaging.MsgType, dst Party, seq uint8, reply Reply, err error) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.writeReplyLocked(t, dst, seq, reply, err)
}

func (c *conn) writeReplyLocked(t messaging.MsgType, dst Party, seq uint8, reply Reply, err error) error {
	msg, encErr := replyMessage(t, dst, seq, reply, err)
	if encErr != nil {
		// The reply does not fit (XE_DST_OUT_OF_SPACE): say so instead.
		if msg, encErr = replyMessage(t, dst, seq, nil, encErr); encErr != nil {
			return encErr
		}
	}
	b, err := msg.Marshal()
	if err != nil {
		return err
	}
	_, err = c.rw.Write(b)
	return err
}

// close stops the events and unregisters the application. An event write
// blocked on a peer that no longer reads is cut short where rw has write
// deadlines (a net.Conn): the deadline is set to now, as the connection is
// done.
func (c *conn) close() {
	c.closed.Store(true)
	if d, ok := c.rw.(interface{ SetWriteDeadline(time.Time) error }); ok {
		d.SetWriteDeadline(time.Now())
	}
	// c.app was last written by this goroutine (register).
	if c.app != 0 {
		c.m.Unregister(c.app)
	}
}
