package ipsec

import (
	"sync"
	"sync/atomic"
	"time"

	"github.com/sabre-ipsec/sabre/classify"
	"github.com/sabre-ipsec/sabre/pktbuf"
	"github.com/sabre-ipsec/sabre/spd"
	"github.com/sabre-ipsec/sabre/xe"
)

// Limits of the packets held while a key manager negotiates SAs.
const (
	// AcquireQueueLen is how many packets one policy holds while its SAs
	// are negotiated; more are dropped with XE_KEYNEG_INPROGRESS.
	AcquireQueueLen = 8
	// AcquireTimeout ends a negotiation that neither added an SA nor
	// failed: its packets are dropped and the next packet acquires anew.
	AcquireTimeout = 30 * time.Second
)

// Acquire is the ACQUIRE event: an outbound packet matched SECURE policy
// Policy, which has no SA yet. Key describes the packet that triggered it.
type Acquire struct {
	Policy *spd.Policy
	Key    classify.Packet
}

// acquireState is one policy's pending negotiation.
type acquireState struct {
	started time.Time
	queue   []*pktbuf.Buffer
}

// acquires tracks pending negotiations: one ACQUIRE per policy until it
// ends, however many packets arrive meanwhile (no ACQUIRE storm).
type acquires struct {
	mu      sync.Mutex
	pending map[uint32]*acquireState
	handler atomic.Pointer[func(Acquire)]
}

// SetAcquireHandler sets the function that receives ACQUIRE events (nil:
// none). It is called without locks held and must not block: the
// messaging layer queues the event for its applications.
func (e *Engine) SetAcquireHandler(f func(Acquire)) {
	if f == nil {
		e.acq.handler.Store(nil)
		return
	}
	e.acq.handler.Store(&f)
}

// acquireSA handles an outbound packet for policy p whose SAs do not exist
// yet: it raises ACQUIRE for the first one and queues a copy of the packet
// (Pending) while there is room.
func (e *Engine) acquireSA(b *pktbuf.Buffer, p *spd.Policy, key *classify.Packet) (Result, error) {
	now := e.cfg.Now()
	a := &e.acq
	a.mu.Lock()
	if a.pending == nil {
		a.pending = map[uint32]*acquireState{}
	}
	st := a.pending[p.ID]
	var expired []*pktbuf.Buffer
	if st != nil && now.Sub(st.started) > AcquireTimeout {
		expired = st.queue
		st = nil
	}
	raise := st == nil
	if raise {
		st = &acquireState{started: now}
		a.pending[p.ID] = st
	}
	queued := false
	if len(st.queue) < AcquireQueueLen {
		c := pktbuf.DefaultPool.Get()
		copy(c.Append(b.Len()), b.Bytes())
		st.queue = append(st.queue, c)
		queued = true
	}
	a.mu.Unlock()

	e.dropQueued(expired, "negotiation timed out")
	if raise {
		e.stats.AcquireRequested.Add(1)
		if f := a.handler.Load(); f != nil {
			(*f)(Acquire{Policy: p, Key: *key})
		}
		if e.cfg.Acquire != nil {
			k := *key
			e.cfg.Acquire(p, &k)
		}
	}
	if !queued {
		return Drop, e.stats.drop(xe.Errorf(xe.KeynegInProgress, "policy %d: negotiation in progress and %d packets already queued", p.ID, AcquireQueueLen))
	}
	e.stats.AcquireQueued.Add(1)
	return Pending, nil
}

// AcquireFailed ends policy id's negotiation without SAs (ACQUIRE_FAIL):
// its queued packets are dropped and counted as XE_KEYNEG_INPROGRESS, and
// the next packet raises a new ACQUIRE.
func (e *Engine) AcquireFailed(id uint32) error {
	e.acq.mu.Lock()
	st := e.acq.pending[id]
	delete(e.acq.pending, id)
	e.acq.mu.Unlock()
	if st == nil {
		return xe.Errorf(xe.PolicyNotFound, "no negotiation pending for policy %d", id)
	}
	e.dropQueued(st.queue, "negotiation failed")
	return nil
}

func (e *Engine) dropQueued(q []*pktbuf.Buffer, why string) {
	for _, b := range q {
		e.stats.drop(xe.Errorf(xe.KeynegInProgress, "queued packet dropped: %s", why))
		pktbuf.DefaultPool.Put(b)
	}
}

// flushAcquired ends policy p's negotiation because its SAs arrived: the
// queued packets are encapsulated and sent through Config.Output (or
// dropped when there is none).
func (e *Engine) flushAcquired(p *spd.Policy) {
	esp, ah := outboundSAs(e.sad.Session(p.ID))
	if p.Flags&spd.FlagProtoESP != 0 && esp == nil || p.Flags&spd.FlagProtoAH != 0 && ah == nil {
		return // not all outbound SAs are in yet
	}
	e.acq.mu.Lock()
	st := e.acq.pending[p.ID]
	delete(e.acq.pending, p.ID)
	e.acq.mu.Unlock()
	if st == nil {
		return
	}
	if e.cfg.Output == nil {
		e.dropQueued(st.queue, "no output to send it")
		return
	}
	for _, b := range st.queue {
		res, err := e.Encapsulate(b)
		if err != nil || res == Pending {
			if res != Pending {
				pktbuf.DefaultPool.Put(b)
			}
			continue
		}
		if res == Drop {
			pktbuf.DefaultPool.Put(b)
			continue
		}
		e.cfg.Output(b)
	}
}
