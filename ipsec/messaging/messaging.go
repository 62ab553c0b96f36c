// Package messaging is the typed API through which key managers and
// administrators drive the IPsec engine: the requests and events of the
// reference's messaging interface (§3.14). It wraps an ipsec.Engine; the
// engine does not know it. Package wire carries the same requests and
// events over a socket.
package messaging

import (
	"fmt"
	"net/netip"
	"slices"
	"sync"
	"time"

	"github.com/sabre-ipsec/sabre/classify"
	"github.com/sabre-ipsec/sabre/ipsec"
	"github.com/sabre-ipsec/sabre/sad"
	"github.com/sabre-ipsec/sabre/spd"
	"github.com/sabre-ipsec/sabre/xe"
)

// MsgType is a message type of the messaging interface through which key
// managers and administrators drive IPsec (the reference's §3.14).
type MsgType uint8

// Requests, sent to IPsec.
const (
	MsgAppRegister    MsgType = iota + 1 // register for events
	MsgClonePolicy                       // clone a policy with narrower selectors
	MsgInitialContact                    // INITIAL_CONTACT from a peer: drop its old SAs
	MsgDeleteSPIs                        // Delete payload from a peer
	MsgGetSPI                            // allocate an inbound SPI
	MsgAcquireFail                       // negotiation for an ACQUIRE failed
	MsgAddSA                             // add an SA pair
	MsgGetPolicy                         // get a policy by ID
	MsgGetPolicies                       // iterate over policies
	MsgLookupPolicy                      // classify a packet
	MsgSAFlush                           // delete all SAs
	MsgAddPolicy                         // add a policy
	MsgDelPolicy                         // delete a policy
	MsgGetSA                             // get the SAs of a policy
	MsgDelSA                             // delete the SAs of a policy
	MsgFlushSPD                          // delete all policies
)

// Events, sent by IPsec to every registered application.
const (
	MsgAcquire       MsgType = iota + 17 // negotiate SAs for a policy
	MsgSAExpired                         // an SA reached its soft lifetime
	MsgSADeleted                         // an SA was deleted (hard lifetime, peer, operator)
	MsgPolicyAdded                       // a policy was added
	MsgPolicyDeleted                     // a policy was deleted
)

var msgNames = map[MsgType]string{
	MsgAppRegister: "APP_REGISTER", MsgClonePolicy: "CLONE_POLICY", MsgInitialContact: "INITIAL_CONTACT",
	MsgDeleteSPIs: "DELETE_SPIs", MsgGetSPI: "GET_SPI", MsgAcquireFail: "ACQUIRE_FAIL", MsgAddSA: "ADD_SA",
	MsgGetPolicy: "GET_POLICY", MsgGetPolicies: "GET_POLICIES", MsgLookupPolicy: "LOOKUP_POLICY",
	MsgSAFlush: "SAFLUSH", MsgAddPolicy: "ADD_POLICY", MsgDelPolicy: "DEL_POLICY", MsgGetSA: "GET_SA",
	MsgDelSA: "DEL_SA", MsgFlushSPD: "FLUSH_SPD", MsgAcquire: "ACQUIRE", MsgSAExpired: "SA_EXPIRED",
	MsgSADeleted: "SA_DELETED", MsgPolicyAdded: "POLICY_ADDED", MsgPolicyDeleted: "POLICY_DELETED",
}

// String returns the reference's name, such as "ACQUIRE".
func (t MsgType) String() string {
	if n, ok := msgNames[t]; ok {
		return n
	}
	return fmt.Sprintf("MsgType(%d)", uint8(t))
}

// IsEvent reports whether t is an event rather than a request.
func (t MsgType) IsEvent() bool { return t >= MsgAcquire && t <= MsgPolicyDeleted }

// Event is an asynchronous notification to registered applications.
type Event struct {
	Type     MsgType
	PolicyID uint32
	// Policy is set for ACQUIRE, POLICY_ADDED and POLICY_DELETED.
	Policy *spd.Policy
	// Key is the packet that raised an ACQUIRE.
	Key classify.Packet
	// SA events: the SA's SPI, protocol, direction and destination.
	SPI       uint32
	Protocol  sad.Protocol
	Direction sad.Direction
	Dst       netip.Addr
	// Hard is set on SA_DELETED caused by a hard lifetime.
	Hard   bool
	Reason string
}

// AppID identifies a registered application.
type AppID uint8

// eventQueueLen bounds each application's undelivered ACQUIREs: an
// application that falls further behind loses those (counted in the
// engine's EventsDropped) rather than let a packet flood grow its queue
// without bound; the next packet of the flow raises the ACQUIRE again. The
// other events are never dropped: SA_EXPIRED is a rekey and SA_DELETED a
// delete the key manager must do, and policy events are as few as the
// policies. They are bounded by the SAs and policies there are, and an SA
// event already waiting is not queued twice.
const eventQueueLen = 1024

// saEventKey identifies an SA event for coalescing.
type saEventKey struct {
	typ   MsgType
	spi   uint32
	proto sad.Protocol
	dir   sad.Direction
	dst   netip.Addr
}

// app is a registered application: its queue of undelivered events and
// the goroutine that hands them to its handler. Queueing never blocks, so
// neither the packet path nor the SAD waits for a slow application.
type app struct {
	id   AppID
	name string
	done chan struct{}
	wake chan struct{} // capacity 1: the queue has changed

	mu       sync.Mutex
	queue    []Event // queue[head:] are undelivered, oldest first
	head     int
	acquires int                     // ACQUIREs in queue[head:]
	pending  map[saEventKey]struct{} // SA events in queue[head:]
	closed   bool
}

func newApp(id AppID, name string) *app {
	return &app{id: id, name: name, done: make(chan struct{}), wake: make(chan struct{}, 1),
		pending: map[saEventKey]struct{}{}}
}

func saKey(ev *Event) (saEventKey, bool) {
	if ev.Type != MsgSAExpired && ev.Type != MsgSADeleted {
		return saEventKey{}, false
	}
	return saEventKey{ev.Type, ev.SPI, ev.Protocol, ev.Direction, ev.Dst}, true
}

// enqueue queues ev and reports false if it was dropped.
func (a *app) enqueue(ev Event) bool {
	a.mu.Lock()
	defer a.mu.Unlock()
	if a.closed {
		return true
	}
	if ev.Type == MsgAcquire {
		if a.acquires >= eventQueueLen {
			return false
		}
		a.acquires++
	}
	if k, ok := saKey(&ev); ok {
		if _, dup := a.pending[k]; dup {
			return true // the same event is still waiting: one is enough
		}
		a.pending[k] = struct{}{}
	}
	a.queue = append(a.queue, ev)
	select {
	case a.wake <- struct{}{}:
	default:
	}
	return true
}

// next waits for the oldest undelivered event; false once the application
// is closed and its queue delivered.
func (a *app) next() (Event, bool) {
	for {
		a.mu.Lock()
		if a.head < len(a.queue) {
			ev := a.queue[a.head]
			a.queue[a.head] = Event{}
			a.head++
			if a.head == len(a.queue) {
				a.queue, a.head = a.queue[:0], 0
			} else if a.head >= eventQueueLen && 2*a.head >= len(a.queue) {
				n := copy(a.queue, a.queue[a.head:])
				clear(a.queue[n:])
				a.queue, a.head = a.queue[:n], 0
			}
			if ev.Type == MsgAcquire {
				a.acquires--
			}
			if k, ok := saKey(&ev); ok {
				delete(a.pending, k)
			}
			a.mu.Unlock()
			return ev, true
		}
		closed := a.closed
		a.mu.Unlock()
		if closed {
			return Event{}, false
		}
		<-a.wake
	}
}

// close stops queueing; next delivers what is queued, then ends.
func (a *app) close() {
	a.mu.Lock()
	a.closed = true
	a.mu.Unlock()
	select {
	case a.wake <- struct{}{}:
	default:
	}
}

// Messaging is the typed, in-process face of the messaging interface: one
// method per request, and events delivered to registered applications.
// Package wire encodes the same requests and events for a socket.
type Messaging struct {
	e    *ipsec.Engine
	mu   sync.Mutex
	apps map[AppID]*app
	next AppID

	// SPIReservation is how long GET_SPI holds an SPI for the ADD_SA that
	// should follow (sad.DefaultReservation when zero).
	SPIReservation time.Duration
}

// New attaches the messaging interface to e: it takes over e's
// ACQUIRE handler, its SAD's event handler and its SPD's change hook.
func New(e *ipsec.Engine) *Messaging {
	m := &Messaging{e: e, apps: map[AppID]*app{}}
	e.SetAcquireHandler(m.onAcquire)
	e.SAD().SetEventHandler(m.onSAEvent)
	e.SPD().OnChange = m.onPolicyChange
	return m
}

// Engine returns the engine the interface drives.
func (m *Messaging) Engine() *ipsec.Engine { return m.e }

// Register is APP_REGISTER: handler receives every event, in order, on a
// goroutine of its own, until Unregister.
func (m *Messaging) Register(name string, handler func(Event)) (AppID, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	// IDs 1..3 name IPsec, IKE and ADMIN on the wire (package wire's Party).
	for range 252 {
		m.next++
		if m.next < 4 {
			m.next = 4
		}
		if m.apps[m.next] == nil {
			a := newApp(m.next, name)
			m.apps[a.id] = a
			go func() {
				defer close(a.done)
				for {
					ev, ok := a.next()
					if !ok {
						return
					}
					handler(ev)
				}
			}()
			return a.id, nil
		}
	}
	return 0, xe.Errorf(xe.OutOfReqs, "messaging: 252 applications registered")
}

// Unregister stops delivering events to id and waits for its handler to
// finish the events already queued.
func (m *Messaging) Unregister(id AppID) error {
	m.mu.Lock()
	a := m.apps[id]
	delete(m.apps, id)
	m.mu.Unlock()
	if a == nil {
		return xe.Errorf(xe.BadParam, "messaging: application %d is not registered", id)
	}
	a.close()
	<-a.done
	return nil
}

// Apps returns the registered applications' names by ID.
func (m *Messaging) Apps() map[AppID]string {
	m.mu.Lock()
	defer m.mu.Unlock()
	out := make(map[AppID]string, len(m.apps))
	for id, a := range m.apps {
		out[id] = a.name
	}
	return out
}

// DroppedEvents returns how many events were lost: ACQUIREs beyond an
// application's queue bound, and events a messaging socket could not
// write. It is the engine's EventsDropped counter.
func (m *Messaging) DroppedEvents() uint64 { return m.e.Stats().EventsDropped.Load() }

func (m *Messaging) broadcast(ev Event) {
	m.mu.Lock()
	defer m.mu.Unlock()
	for _, a := range m.apps {
		if !a.enqueue(ev) {
			m.e.Stats().EventsDropped.Add(1)
		}
	}
}

func (m *Messaging) onAcquire(a ipsec.Acquire) {
	m.broadcast(Event{Type: MsgAcquire, PolicyID: a.Policy.ID, Policy: a.Policy, Key: a.Key})
}

func (m *Messaging) onSAEvent(ev sad.Event) {
	out := Event{PolicyID: ev.PolicyID, SPI: ev.SPI, Protocol: ev.Protocol, Direction: ev.Direction, Dst: ev.Dst, Reason: ev.Reason}
	switch ev.Kind {
	case sad.SoftExpired:
		out.Type = MsgSAExpired
	case sad.HardExpired:
		out.Type, out.Hard = MsgSADeleted, true
	case sad.Deleted:
		out.Type = MsgSADeleted
	default:
		return
	}
	m.broadcast(out)
}

func (m *Messaging) onPolicyChange(added, deleted []*spd.Policy) {
	for _, p := range added {
		m.broadcast(Event{Type: MsgPolicyAdded, PolicyID: p.ID, Policy: p})
	}
	for _, p := range deleted {
		m.e.PolicyDeleted(p.ID)
		m.broadcast(Event{Type: MsgPolicyDeleted, PolicyID: p.ID, Policy: p})
	}
}

// ClonePolicy is CLONE_POLICY: it adds a copy of policy id narrowed to the
// selectors src and dst (which must lie within the original's), one
// priority level higher so that it wins for its traffic, as an IKE
// responder does for the traffic selectors its peer proposed.
func (m *Messaging) ClonePolicy(id uint32, src, dst classify.Selector) (uint32, error) {
	p := m.e.SPD().Get(id)
	if p == nil {
		return 0, xe.Errorf(xe.PolicyNotFound, "clone policy %d", id)
	}
	if !within(src, p.Src) || !within(dst, p.Dst) {
		return 0, xe.Errorf(xe.BadAddrRange, "clone of policy %d: %v -> %v is not within %v -> %v", id, src, dst, p.Src, p.Dst)
	}
	if p.Priority <= spd.PriorityHighest {
		return 0, xe.Errorf(xe.BadParam, "clone of policy %d: no priority above %d", id, p.Priority)
	}
	c := *p
	c.ID, c.Name = 0, ""
	c.Src, c.Dst = src, dst
	c.Priority--
	return m.e.SPD().Add(c)
}

func within(inner, outer classify.Selector) bool {
	ilo, ihi := inner.Ports()
	olo, ohi := outer.Ports()
	return inner.Is4() == outer.Is4() && outer.ContainsAddr(inner.From()) && outer.ContainsAddr(inner.To()) && ilo >= olo && ihi <= ohi
}

// InitialContact is INITIAL_CONTACT: the peer at remote has restarted, so
// every SA shared with it is stale and deleted (RFC 7296 §2.4). It returns
// how many were deleted.
func (m *Messaging) InitialContact(remote netip.Addr) int {
	n := 0
	for _, sa := range m.e.SAD().All() {
		if sa.Remote() == remote && m.e.SAD().DeleteSA(sa) == nil {
			n++
		}
	}
	return n
}

// DeleteSPIs is DELETE_SPIs: it deletes the SAs with the given SPIs and
// destination (sad.ProtocolAny: ESP and AH alike) and returns how many.
func (m *Messaging) DeleteSPIs(dst netip.Addr, proto sad.Protocol, spis ...uint32) int {
	return m.e.SAD().DeleteSPIs(dst, proto, spis...)
}

// GetSPI is GET_SPI: it reserves a unique, unpredictable inbound SPI for
// policy id at local address dst (the policy's local tunnel endpoint when
// dst is not given) until ADD_SA uses it or the reservation times out.
func (m *Messaging) GetSPI(id uint32, proto sad.Protocol, dst netip.Addr) (uint32, error) {
	p := m.e.SPD().Get(id)
	if p == nil {
		return 0, xe.Errorf(xe.PolicyNotFound, "GET_SPI for policy %d", id)
	}
	if !dst.IsValid() {
		dst = p.TunnelLocal
	}
	if !dst.IsValid() {
		return 0, xe.Errorf(xe.BadParam, "GET_SPI for policy %d: no local address", id)
	}
	return m.e.SAD().ReserveSPI(proto, dst, m.SPIReservation)
}

// AcquireFail is ACQUIRE_FAIL: negotiation for policy id failed.
func (m *Messaging) AcquireFail(id uint32) error { return m.e.AcquireFailed(id) }

// AddSA is ADD_SA: it installs an inbound and outbound SA pair for policy
// id. Packets queued by the policy's ACQUIRE leave once the pair is in.
func (m *Messaging) AddSA(id uint32, sa ipsec.ManualSA) error { return m.e.AddManualSA(id, sa) }

// GetPolicy is GET_POLICY.
func (m *Messaging) GetPolicy(id uint32) (*spd.Policy, error) {
	if p := m.e.SPD().Get(id); p != nil {
		return p, nil
	}
	return nil, xe.Errorf(xe.PolicyNotFound, "policy %d", id)
}

// GetPolicies is GET_POLICIES: it returns the policy with the smallest ID
// above after, so that 0, then each returned ID, walks the SPD. The end is
// xe.PolicyNotFound.
func (m *Messaging) GetPolicies(after uint32) (*spd.Policy, error) {
	var best *spd.Policy
	for _, p := range m.e.SPD().List() {
		if p.ID > after && (best == nil || p.ID < best.ID) {
			best = p
		}
	}
	if best == nil {
		return nil, xe.Errorf(xe.PolicyNotFound, "no policy after %d", after)
	}
	return best, nil
}

// LookupPolicy is LOOKUP_POLICY: the policy that packets like key meet.
func (m *Messaging) LookupPolicy(dir spd.Direction, key classify.Packet) (*spd.Policy, error) {
	if p := m.e.SPD().Lookup(dir, &key); p != nil {
		return p, nil
	}
	return nil, xe.Errorf(xe.PolicyNotFound, "no %v policy for %v", dir, key)
}

// SAFlush is SAFLUSH: it deletes every SA and returns how many.
func (m *Messaging) SAFlush() int { return m.e.SAD().Flush() }

// AddPolicy is ADD_POLICY.
func (m *Messaging) AddPolicy(p spd.Policy) (uint32, error) { return m.e.SPD().Add(p) }

// DelPolicy is DEL_POLICY; the policy's SAs go with it.
func (m *Messaging) DelPolicy(id uint32) error { return m.e.SPD().Delete(id) }

// GetSA is GET_SA: the SAs of policy id, current and previous.
func (m *Messaging) GetSA(id uint32) ([]*sad.SA, error) {
	if m.e.SPD().Get(id) == nil {
		return nil, xe.Errorf(xe.PolicyNotFound, "policy %d", id)
	}
	sas := m.e.SAD().Session(id).SAs()
	if len(sas) == 0 {
		return nil, xe.Errorf(xe.SANotFound, "policy %d has no SAs", id)
	}
	return slices.Clone(sas), nil
}

// DelSA is DEL_SA: it deletes the SAs of policy id and returns how many.
func (m *Messaging) DelSA(id uint32) (int, error) {
	n := m.e.SAD().DeletePolicy(id)
	if n == 0 {
		return 0, xe.Errorf(xe.SANotFound, "policy %d has no SAs", id)
	}
	return n, nil
}

// FlushSPD is FLUSH_SPD: it deletes every policy, and so every SA.
func (m *Messaging) FlushSPD() int { return m.e.SPD().Flush() }
