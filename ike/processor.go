package ike

import (
	"bytes"
	"log/slog"
	"net/netip"
	"runtime"
	"sync"
	"sync/atomic"

	"github.com/sabre-ipsec/sabre/ike/message"
)

// The job processor (strongSwan charon's processor; issue 11). A socket
// reader hands each IKE message to Enqueue, which reads only the header,
// queues a copy and returns: it never waits for a worker, a check-out or a
// key exchange, so the reader of the NAT-T port, which also carries
// UDP-encapsulated ESP, keeps the data plane moving whatever IKE costs. A
// bounded pool of workers takes the messages off the queue and runs
// HandleMessage on them, which checks the IKE SA out, does the crypto and
// the state work and checks it in again.
//
// Order. Messages of one IKE SA are handled one at a time, in the order
// they arrived (IKE_SA_INIT requests excepted, below): every message is
// keyed by its SPIi, which every message of an IKE SA carries in both
// directions (RFC 7296 §3.1), and a worker that takes a message whose key
// another worker holds leaves it in that worker's backlog instead of
// waiting. The manager's check-out alone would serialize per SA too, but
// two workers could take two messages of one SA and the later one win the
// check-out, reordering what the network delivered in order (a request
// overtaking the retransmission before it falls outside the window, RFC
// 7296 §2.3), and the losing worker would sit idle in Checkout while
// messages of other SAs wait; with GOMAXPROCS workers on a small machine a
// burst of copies of one message would stall the pool.
//
// Overload. The queue holds at most Config.QueueLen messages and
// QueueLen×8 KiB octets. Past half of either only messages of existing
// IKE SAs are accepted: IKE_SA_INIT requests are shed first, as
// strongSwan's init_limit_job_load does. They are the cheapest to lose
// (the initiator retransmits, RFC 7296 §2.4), the most expensive to
// answer (a key exchange) and the ones a spoofing flood sends. Workers
// also take messages of existing IKE SAs before IKE_SA_INIT requests, so
// exchanges under way finish during a flood. An IKE_SA_INIT request may
// therefore be handled after a later message with its SPIi; the only such
// messages are copies of it, which the responder finds by their hash
// (CheckoutInit) whenever they come.

// DefaultQueueLen is how many IKE messages wait for a worker at most when
// Config.QueueLen is 0.
const DefaultQueueLen = 1024

// queueBytesPerMessage bounds the octets queued: QueueLen times this, so
// that datagrams of up to 64 KiB cannot make the queue hold 64 MiB. IKE
// messages are mostly far smaller; larger ones (certificates) are
// usually fragmented (RFC 7383) anyway.
const queueBytesPerMessage = 8 << 10

// ProcessorStats are the job processor's counters, shown by `ike netstat`.
// A message Enqueue refuses also counts in Stats.Received and
// Stats.Dropped.
type ProcessorStats struct {
	Queued    atomic.Uint64 // accepted by Enqueue
	Processed atomic.Uint64 // handled by a worker
	// QueueFull counts messages of IKE SAs refused because the queue was
	// full (of messages or of octets).
	QueueFull atomic.Uint64
	// InitShed counts IKE_SA_INIT requests refused because the queue was
	// more than half full (of messages or of octets).
	InitShed atomic.Uint64
	// NoHeader counts datagrams too short for an IKE header.
	NoHeader atomic.Uint64
	// Stopped counts queued messages dropped because the daemon closed
	// before a worker took them.
	Stopped atomic.Uint64
	// Closed counts messages that arrived after the daemon closed.
	Closed atomic.Uint64
}

// ikeJob is one queued message.
type ikeJob struct {
	b             []byte
	local, remote netip.AddrPort
	spii          uint64
}

// fifo is a queue of jobs.
type fifo struct {
	jobs []ikeJob
	head int
}

func (q *fifo) len() int { return len(q.jobs) - q.head }

func (q *fifo) push(j ikeJob) {
	if q.head > 0 && q.head == len(q.jobs) {
		// Empty: reuse the array from its start.
		clear(q.jobs)
		q.jobs, q.head = q.jobs[:0], 0
	}
	q.jobs = append(q.jobs, j)
}

func (q *fifo) pop() ikeJob {
	j := q.jobs[q.head]
	q.jobs[q.head] = ikeJob{}
	q.head++
	if q.head > 32 && q.head*2 >= len(q.jobs) {
		// Keep the array from growing without bound under a steady
		// load that never empties it.
		n := copy(q.jobs, q.jobs[q.head:])
		clear(q.jobs[n:])
		q.jobs, q.head = q.jobs[:n], 0
	}
	return j
}

// processor is a Daemon's job queue and worker pool.
type processor struct {
	mu      sync.Mutex
	cond    sync.Cond
	started bool
	stopped bool
	workers int
	n       int  // messages queued or backlogged
	bytes   int  // their octets
	sas     fifo // messages of IKE SAs (responses, requests after IKE_SA_INIT)
	inits   fifo // IKE_SA_INIT requests
	// busy holds the SPIi of every message a worker is handling, with
	// the messages of that SPIi that came meanwhile, in order.
	busy  map[uint64][]ikeJob
	wg    sync.WaitGroup
	stats ProcessorStats
}

// ProcessorStats returns the job processor's counters.
func (d *Daemon) ProcessorStats() *ProcessorStats { return &d.proc.stats }

// Workers returns the number of workers the job processor runs (or will
// run, before the first Enqueue).
func (d *Daemon) Workers() int {
	if n := d.cfg.Workers; n > 0 {
		return n
	}
	return runtime.GOMAXPROCS(0)
}

// Enqueue queues one IKE message that arrived on local from remote (the
// non-ESP marker already removed) for a worker, and returns at once: it
// reads the header only and copies b, so the caller may reuse b. It is the
// socket readers' handler; HandleMessage is the synchronous equivalent.
// A message that finds the queue full is dropped and counted
// (ProcessorStats), IKE_SA_INIT requests first. The workers start with the
// first message and stop when the daemon closes.
func (d *Daemon) Enqueue(b []byte, local, remote netip.AddrPort) {
	p := &d.proc
	h, err := message.ParseHeader(b)
	if err != nil {
		d.stats.Received.Add(1)
		d.stats.Dropped.Add(1)
		p.stats.NoHeader.Add(1)
		d.limitedLog(slog.LevelDebug, "unparsable IKE message", "from", remote, "err", err)
		return
	}
	// The condition under which HandleMessage makes a new IKE SA.
	init := h.Exchange == message.IKESAInit && !h.IsResponse() && h.SPIr == 0
	limit := d.queueLimit()
	p.mu.Lock()
	if p.stopped || d.closed.Load() {
		p.mu.Unlock()
		p.refused(d, &p.stats.Closed)
		return
	}
	maxBytes := limit * queueBytesPerMessage
	switch {
	case init && (p.n >= limit/2 || p.bytes+len(b) > maxBytes/2):
		p.mu.Unlock()
		p.refused(d, &p.stats.InitShed)
		d.limitedLog(slog.LevelInfo, "IKE_SA_INIT request dropped: the IKE message queue is over half full", "from", remote, "queue", limit)
		return
	case p.n >= limit || p.bytes+len(b) > maxBytes:
		p.mu.Unlock()
		p.refused(d, &p.stats.QueueFull)
		d.limitedLog(slog.LevelWarn, "IKE message dropped: the IKE message queue is full", "hdr", h.String(), "from", remote, "queue", limit)
		return
	}
	if !p.started {
		d.startWorkers()
	}
	j := ikeJob{b: bytes.Clone(b), local: local, remote: remote, spii: h.SPIi}
	if init {
		p.inits.push(j)
	} else {
		p.sas.push(j)
	}
	p.n++
	p.bytes += len(j.b)
	p.stats.Queued.Add(1)
	p.cond.Signal()
	p.mu.Unlock()
}

// refused counts a message Enqueue did not queue.
func (p *processor) refused(d *Daemon, why *atomic.Uint64) {
	why.Add(1)
	d.stats.Received.Add(1)
	d.stats.Dropped.Add(1)
}

func (d *Daemon) queueLimit() int {
	if n := d.cfg.QueueLen; n > 0 {
		return max(n, 2)
	}
	return DefaultQueueLen
}

// startWorkers starts the pool; p.mu is held.
func (d *Daemon) startWorkers() {
	p := &d.proc
	p.started = true
	p.cond.L = &p.mu
	p.busy = map[uint64][]ikeJob{}
	p.workers = d.Workers()
	p.wg.Add(p.workers)
	for range p.workers {
		go d.work()
	}
}

// work is one worker: it takes the next message whose SPIi no other worker
// holds, handles it and then the messages of that SPIi that came
// meanwhile.
func (d *Daemon) work() {
	p := &d.proc
	defer p.wg.Done()
	p.mu.Lock()
	defer p.mu.Unlock()
	for {
		j, ok := p.take()
		if !ok {
			return
		}
		for {
			p.mu.Unlock()
			d.HandleMessage(j.b, j.local, j.remote)
			p.stats.Processed.Add(1)
			p.mu.Lock()
			p.dequeued(j)
			backlog := p.busy[j.spii]
			if len(backlog) == 0 || p.stopped {
				p.stats.Stopped.Add(uint64(len(backlog)))
				for _, j := range backlog {
					p.dequeued(j)
				}
				delete(p.busy, j.spii)
				break
			}
			j = backlog[0]
			backlog[0] = ikeJob{}
			p.busy[j.spii] = backlog[1:]
		}
	}
}

// dequeued takes j out of the queue's counts; p.mu is held.
func (p *processor) dequeued(j ikeJob) {
	p.n--
	p.bytes -= len(j.b)
}

// take waits for a message whose SPIi no worker holds and marks its SPIi
// held; messages for held SPIis go to their holder's backlog. It reports
// false when the processor stops. p.mu is held.
func (p *processor) take() (ikeJob, bool) {
	for {
		if p.stopped {
			return ikeJob{}, false
		}
		var q *fifo
		switch {
		case p.sas.len() > 0:
			q = &p.sas
		case p.inits.len() > 0:
			q = &p.inits
		default:
			p.cond.Wait()
			continue
		}
		j := q.pop()
		if backlog, held := p.busy[j.spii]; held {
			p.busy[j.spii] = append(backlog, j)
			continue
		}
		p.busy[j.spii] = nil
		return j, true
	}
}

// stopWorkers stops the pool: queued messages are dropped (counted in
// Stopped), messages being handled are finished first. Enqueue refuses
// messages from then on.
func (d *Daemon) stopWorkers() {
	p := &d.proc
	p.mu.Lock()
	if p.stopped {
		p.mu.Unlock()
		return
	}
	p.stopped = true
	for _, q := range []*fifo{&p.sas, &p.inits} {
		for q.len() > 0 {
			p.dequeued(q.pop())
			p.stats.Stopped.Add(1)
		}
	}
	if p.started {
		p.cond.Broadcast()
	}
	p.mu.Unlock()
	p.wg.Wait()
}
