package ike

import (
	"errors"
	"fmt"
	"log/slog"
	"net/netip"
	"slices"
	"time"

	"github.com/sabre-ipsec/sabre/ike/message"
)

// An IKE SA's exchanges are tasks (strongSwan's sa/ikev2/tasks): one type
// per exchange concern — ikeInit, ikeAuth, childCreate, childRekey,
// childDelete, ikeDelete, ikeDPD — with build and process for the
// initiator role and a respond function for the responder role. The task
// manager below queues the tasks this host initiates, sends the next
// request when the window is free (window size 1, RFC 7296 §2.3), matches
// responses to it, retransmits it, and hands the response to the task.
// Collisions of our tasks with the peer's requests are resolved in one
// place, collision.go.

// task is an exchange this host initiates.
type task interface {
	// String names the task for the log: "CREATE_CHILD_SA policy 3".
	String() string
	exchange() message.ExchangeType
	// build returns the request's payloads. An error ends the task before
	// anything is sent (abort is called).
	build(d *Daemon, sa *SA) ([]message.Payload, error)
	// process handles the response. It may return an *ignoredResponse to
	// keep waiting for another (IKE_SA_INIT only, RFC 7296 §2.21.1) or
	// errRestart to send the request anew (IKE_SA_INIT after COOKIE or
	// INVALID_KE_PAYLOAD); any other error is logged, the task has ended.
	process(d *Daemon, sa *SA, in *inbound) error
	// abort is told that the task ends without a response it could
	// process: build failed, the peer did not answer, the IKE SA went.
	abort(d *Daemon, sa *SA, err error)
}

// ignoredResponse is why a response was ignored: the request stays
// outstanding, and err counts only if no valid response comes.
type ignoredResponse struct{ err error }

func (e *ignoredResponse) Error() string { return "response ignored: " + e.err.Error() }
func (e *ignoredResponse) Unwrap() error { return e.err }

// errRestart asks the task manager to build the active task's request
// again and send it as a new one with the same message ID.
var errRestart = errors.New("ike: exchange restarted")

// errSAGone aborts the tasks of an IKE SA that is removed.
var errSAGone = errors.New("ike: IKE SA removed")

// request is our outstanding request.
type request struct {
	task     task
	msgID    uint32
	exchange message.ExchangeType
	raw      []byte
	sent     time.Time
	tries    int
	timer    stopper
}

// taskManager holds an IKE SA's tasks: at most one active (its request
// outstanding), the others queued in order.
type taskManager struct {
	active *request
	queued []task
}

// idle reports whether no task is active or queued.
func (tm *taskManager) idle() bool { return tm.active == nil && len(tm.queued) == 0 }

// find returns the first active or queued task that match accepts.
func (tm *taskManager) find(match func(task) bool) (task, bool) {
	if tm.active != nil && match(tm.active.task) {
		return tm.active.task, true
	}
	for _, t := range tm.queued {
		if match(t) {
			return t, true
		}
	}
	return nil, false
}

// dequeue removes the queued (not active) tasks that match accepts and
// returns them.
func (tm *taskManager) dequeue(match func(task) bool) []task {
	var out []task
	tm.queued = slices.DeleteFunc(tm.queued, func(t task) bool {
		if match(t) {
			out = append(out, t)
			return true
		}
		return false
	})
	return out
}

// queueTask queues t and starts it if the window is free.
func (d *Daemon) queueTask(sa *SA, t task) {
	sa.tasks.queued = append(sa.tasks.queued, t)
	d.initiateTasks(sa)
}

// initiateTasks starts the next queued task when no request is
// outstanding. IKE_SA_INIT and IKE_AUTH come first in the queue of an SA
// we initiate; the others wait until it is established.
func (d *Daemon) initiateTasks(sa *SA) {
	for sa.tasks.active == nil && len(sa.tasks.queued) > 0 && (sa.established() || sa.state == StateInitSent) {
		t := sa.tasks.queued[0]
		sa.tasks.queued = sa.tasks.queued[1:]
		if err := d.sendTask(sa, t); err != nil {
			d.log.Warn("IKE exchange failed to start", "exchange", t.String(), "ike_sa", sa.String(), "err", err)
			t.abort(d, sa, err)
			if !sa.established() {
				// IKE_AUTH could not be sent: the IKE SA cannot go on.
				d.fail(sa, err)
				return
			}
		}
	}
}

// sendTask builds t's request, sends it and arms its retransmission.
func (d *Daemon) sendTask(sa *SA, t task) error {
	ps, err := t.build(d, sa)
	if err != nil {
		return err
	}
	exch := t.exchange()
	id := sa.nextRequest
	if exch == message.IKESAInit {
		id = 0
	}
	b, err := sa.seal(exch, id, false, ps)
	if err != nil {
		return err
	}
	if exch == message.IKESAInit {
		sa.initRequest = b // AUTH signs it (RFC 7296 §2.15)
	}
	sa.tasks.active = &request{task: t, msgID: id, exchange: exch, raw: b, sent: d.cfg.Now(), tries: 1}
	d.send(sa, b)
	d.armRetransmit(sa, sa.tasks.active)
	return nil
}

// abortTasks ends every task of sa, the active one first.
func (d *Daemon) abortTasks(sa *SA, err error) {
	if r := sa.tasks.active; r != nil {
		sa.tasks.active = nil
		if r.timer != nil {
			r.timer.Stop()
		}
		r.task.abort(d, sa, err)
	}
	for len(sa.tasks.queued) > 0 {
		t := sa.tasks.queued[0]
		sa.tasks.queued = sa.tasks.queued[1:]
		t.abort(d, sa, err)
	}
}

// retransmitRemote is the remote whose retransmission settings sa follows.
func (sa *SA) retransmitRemote() *Remote {
	if sa.remote != nil {
		return sa.remote
	}
	return &Remote{}
}

// retransmitTries is how many retransmissions a request of sa gets.
func (sa *SA) retransmitTries() int {
	_, tries, _ := sa.retransmitRemote().retransmitSchedule()
	return tries
}

func (d *Daemon) armRetransmit(sa *SA, r *request) {
	delay := sa.retransmitRemote().RetransmitInterval(r.tries)
	if _, dpd := r.task.(*ikeDPD); dpd && sa.remote != nil && sa.remote.DPDTimeout > 0 {
		// -T: the check ends at its timeout, however far the schedule.
		delay = max(min(delay, r.sent.Add(sa.remote.DPDTimeout).Sub(d.cfg.Now())), time.Millisecond)
	}
	key := sa.key
	r.timer = d.cfg.AfterFunc(delay, func() { d.retransmit(key, sa.peer, r) })
}

// retransmit resends r if it is still outstanding, with exponential
// back-off, and gives up after the remote's tries (RFC 7296 §2.1, §2.4).
func (d *Daemon) retransmit(key SAKey, peer netip.AddrPort, r *request) {
	sa, err := d.mgr.Checkout(key, peer)
	if err != nil {
		// The key may have changed (the IKE_SA_INIT response set SPIr).
		return
	}
	defer d.checkin(sa)
	if sa.tasks.active != r {
		return
	}
	if r.tries > sa.retransmitTries() || sa.dpdExpired(r, d.cfg.Now()) {
		sa.tasks.active = nil
		err := fmt.Errorf("%w %s", ErrPeerTimeout, r.task)
		if sa.initIgnored != nil {
			// RFC 7296 §2.21.1: only now does an unprotected error count.
			err = fmt.Errorf("%w (last response ignored: %w)", err, sa.initIgnored)
		}
		d.log.Info("IKE peer does not answer", "exchange", r.task.String(), "tries", r.tries, "ike_sa", sa.String())
		if _, ok := r.task.(*ikeDPD); ok {
			d.stats.DPDFailures.Add(1)
		}
		r.task.abort(d, sa, err)
		d.fail(sa, err)
		return
	}
	r.tries++
	d.stats.Retransmits.Add(1)
	sa.stats.retransmits++
	d.send(sa, r.raw)
	d.armRetransmit(sa, r)
}

// handleResponse matches a response to our outstanding request and hands
// it to the request's task.
func (d *Daemon) handleResponse(sa *SA, m *message.Message, raw []byte, local, remote netip.AddrPort) {
	r := sa.tasks.active
	if r == nil || m.Header.MessageID != r.msgID || m.Header.Exchange != r.exchange {
		d.stats.Dropped.Add(1)
		return
	}
	if m.Header.Exchange == message.IKESAInit {
		if sa.state != StateInitSent {
			d.stats.Dropped.Add(1)
			return
		}
		d.handleInitResponse(sa, r, &inbound{hdr: m.Header, raw: raw, payloads: m.Payloads, local: local, remote: remote})
		return
	}
	payloads, err := sa.open(m, raw)
	if err != nil {
		d.stats.Dropped.Add(1)
		d.limitedLog(slog.LevelDebug, "undecryptable IKE response", "ike_sa", sa.String(), "err", err)
		return
	}
	if err := message.Check(m.Header.Exchange, true, payloads); err != nil {
		d.log.Info("invalid IKE response", "ike_sa", sa.String(), "err", err)
	}
	d.traceInner("received", m.Header.Exchange, payloads, remote)
	r.timer.Stop()
	sa.tasks.active = nil
	sa.nextRequest++
	sa.lastRecv = d.cfg.Now()
	d.updatePeer(sa, local, remote)
	in := &inbound{hdr: m.Header, raw: raw, payloads: payloads, local: local, remote: remote}
	if err := r.task.process(d, sa, in); err != nil {
		d.log.Warn("IKE exchange failed", "exchange", r.task.String(), "ike_sa", sa.String(), "err", err)
	}
	if sa.state != StateDead {
		d.initiateTasks(sa)
	}
}

// handleInitResponse hands the IKE_SA_INIT response to the active task r.
// Nothing in it is authenticated, so a response that does not complete the
// exchange never ends it: RFC 7296 §2.21.1, the initiator keeps waiting
// (and retransmitting) for a valid response until its retransmissions run
// out, and acts at once only where a corrective action is defined
// (COOKIE, INVALID_KE_PAYLOAD), a bounded number of times.
func (d *Daemon) handleInitResponse(sa *SA, r *request, in *inbound) {
	if r == nil || sa.tasks.active != r {
		d.stats.Dropped.Add(1)
		return
	}
	err := r.task.process(d, sa, in)
	var ignored *ignoredResponse
	switch {
	case errors.As(err, &ignored):
		d.stats.Dropped.Add(1)
		sa.initIgnored = ignored.err
		d.limitedLog(slog.LevelInfo, "IKE_SA_INIT response ignored", "ike_sa", sa.String(), "reason", ignored.err)
	case errors.Is(err, errRestart):
		r.timer.Stop()
		sa.tasks.active = nil
		sa.initIgnored = nil
		if err := d.sendTask(sa, r.task); err != nil {
			d.fail(sa, err)
		}
	case err != nil:
		d.fail(sa, err)
	default:
		r.timer.Stop()
		sa.tasks.active = nil
		sa.nextRequest++
		sa.lastRecv = d.cfg.Now()
		d.initiateTasks(sa)
	}
}

// queueTaskFirst queues t ahead of the others (a task that restarts) and
// starts it if the window is free.
func (d *Daemon) queueTaskFirst(sa *SA, t task) {
	sa.tasks.queued = append([]task{t}, sa.tasks.queued...)
	d.initiateTasks(sa)
}
