package ike

import (
	"errors"
	"fmt"
	"log/slog"
	"net/netip"
	"slices"
	"time"

	"github.com/sabre-ipsec/sabre/spd"
)

// Liveness and start actions per remote (issue 11, after strongSwan's
// dpd_delay, dpd_action and start_action):
//
//   - -D delay: an IKE SA that heard nothing from its peer for delay sends
//     an empty INFORMATIONAL (ikeDPD, RFC 7296 §2.4); "off" never does.
//   - -T timeout: that check fails after timeout, not after the whole
//     retransmission schedule.
//   - -A action, once the peer is dead (any request unanswered): trap (the
//     default) leaves the policies to ACQUIRE a new IKE SA on traffic;
//     restart negotiates again at once; clear ignores traffic for the
//     remote until the peer comes back by itself or the remote is loaded
//     again.
//   - -S action: trap (the default) negotiates on traffic; start
//     negotiates the remote's policies when they are loaded and keeps them
//     up (every startInterval a policy without a Child SA is negotiated
//     again); none never negotiates on traffic, only on `Initiate`.

// DPDAction is what follows a dead peer (-A).
type DPDAction uint8

// DPD actions.
const (
	DPDTrap DPDAction = iota
	DPDClear
	DPDRestart
)

func (a DPDAction) String() string {
	switch a {
	case DPDTrap:
		return "trap"
	case DPDClear:
		return "clear"
	case DPDRestart:
		return "restart"
	}
	return fmt.Sprintf("DPDAction(%d)", uint8(a))
}

// ParseDPDAction reads -A's value: clear, restart or trap.
func ParseDPDAction(s string) (DPDAction, error) {
	for _, a := range []DPDAction{DPDTrap, DPDClear, DPDRestart} {
		if s == a.String() {
			return a, nil
		}
	}
	return 0, errors.New("want clear, restart or trap")
}

// StartAction is what a remote's policies do when loaded (-S).
type StartAction uint8

// Start actions.
const (
	StartTrap StartAction = iota
	StartStart
	StartNone
)

func (a StartAction) String() string {
	switch a {
	case StartTrap:
		return "trap"
	case StartStart:
		return "start"
	case StartNone:
		return "none"
	}
	return fmt.Sprintf("StartAction(%d)", uint8(a))
}

// ParseStartAction reads -S's value: start, trap or none.
func ParseStartAction(s string) (StartAction, error) {
	for _, a := range []StartAction{StartTrap, StartStart, StartNone} {
		if s == a.String() {
			return a, nil
		}
	}
	return 0, errors.New("want start, trap or none")
}

// startInterval is how often remotes with -S start are checked for
// policies without a Child SA.
const startInterval = 5 * time.Second

// dpdDelay is how long sa hears nothing before it checks its peer; ok is
// false with -D off.
func (sa *SA) dpdDelay() (time.Duration, bool) {
	if sa.remote == nil {
		return LivenessInterval, true
	}
	if sa.remote.DPDOff {
		return 0, false
	}
	if sa.remote.DPDDelay > 0 {
		return sa.remote.DPDDelay, true
	}
	return LivenessInterval, true
}

// dpdExpired reports whether r, a liveness check, has run past the
// remote's -T.
func (sa *SA) dpdExpired(r *request, now time.Time) bool {
	_, dpd := r.task.(*ikeDPD)
	return dpd && sa.remote != nil && sa.remote.DPDTimeout > 0 && now.Sub(r.sent) >= sa.remote.DPDTimeout
}

// deadPeer applies the remote's -A (and -S start) once sa, established,
// failed because its peer stopped answering. The caller holds sa.
func (d *Daemon) deadPeer(sa *SA) {
	r := sa.remote
	if r == nil {
		return
	}
	var policies []uint32
	for _, c := range sa.children {
		if !c.retiring && !slices.Contains(policies, c.policyID) {
			policies = append(policies, c.policyID)
		}
	}
	switch {
	case r.DPDAction == DPDClear:
		d.mu.Lock()
		if d.cleared == nil {
			d.cleared = map[string]bool{}
		}
		d.cleared[r.Name] = true
		d.mu.Unlock()
		d.log.Warn("dead peer: remote cleared, traffic ignored until the peer returns or the remote is loaded again", "remote", r.Name, "ike_sa", sa.String())
	case r.DPDAction == DPDRestart || r.StartAction == StartStart:
		d.log.Warn("dead peer: negotiating again", "remote", r.Name, "ike_sa", sa.String(), "policies", policies)
		// Not here: sa is held, and acquire checks IKE SAs out.
		d.cfg.AfterFunc(time.Millisecond, func() { d.renegotiate(policies) })
	}
}

// renegotiate negotiates the given policies again.
func (d *Daemon) renegotiate(policies []uint32) {
	if d.closed.Load() {
		return
	}
	for _, id := range policies {
		p, err := d.cfg.Messaging.GetPolicy(id)
		if err != nil {
			continue
		}
		if err := d.acquire(p); err != nil {
			d.log.Warn("negotiating again", "policy", id, "err", err)
		}
	}
}

// acquireOnTraffic is an ACQUIRE from the engine: acquire, unless the
// remote's start action is none or a dead peer cleared it.
func (d *Daemon) acquireOnTraffic(p *spd.Policy) error {
	if p != nil && p.RemoteName != "" {
		d.mu.Lock()
		r, cleared := d.remotes[p.RemoteName], d.cleared[p.RemoteName]
		d.mu.Unlock()
		switch {
		case cleared:
			return fmt.Errorf("IKE remote %q: cleared after its peer stopped answering (-A clear); load it again or wait for the peer", p.RemoteName)
		case r != nil && r.StartAction == StartNone:
			return fmt.Errorf("IKE remote %q: start action none: negotiated only by the operator", p.RemoteName)
		}
	}
	return d.acquire(p)
}

// uncleared forgets that remote r was cleared (its peer came back, or it
// was loaded again).
func (d *Daemon) uncleared(name string) {
	d.mu.Lock()
	delete(d.cleared, name)
	d.mu.Unlock()
}

// armStart starts the start-action timer if a remote needs it.
func (d *Daemon) armStart() {
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.startTimer != nil || d.closed.Load() {
		return
	}
	d.startTimer = d.cfg.AfterFunc(time.Millisecond, d.keepUp)
}

// keepUp negotiates every policy of a remote with -S start that has no
// Child SA and none under way, and re-arms itself while such remotes
// exist.
func (d *Daemon) keepUp() {
	if d.closed.Load() {
		return
	}
	d.mu.Lock()
	var names []string
	for _, r := range d.remotes {
		if r.StartAction == StartStart && r.Initiate && r.Address.IsValid() {
			names = append(names, r.Name)
		}
	}
	if len(names) == 0 {
		d.startTimer = nil
		d.mu.Unlock()
		return
	}
	d.mu.Unlock()
	// The policies that have a Child SA or one under way.
	up := map[uint32]bool{}
	for _, k := range d.mgr.All() {
		sa, err := d.mgr.Checkout(k, netip.AddrPort{})
		if err != nil {
			continue
		}
		for _, c := range sa.children {
			if !c.retiring {
				up[c.policyID] = true
			}
		}
		sa.tasks.find(func(t task) bool {
			switch t := t.(type) {
			case *ikeAuth:
				if t.child != nil {
					up[t.child.policyID] = true
				}
			case *childCreate:
				up[t.policyID] = true
			}
			return false
		})
		d.checkin(sa)
	}
	for _, p := range d.cfg.Messaging.Engine().SPD().List() {
		if p.Action == spd.Secure && slices.Contains(names, p.RemoteName) && !up[p.ID] {
			if err := d.acquire(p); err != nil {
				d.limitedLog(slog.LevelWarn, "start action: cannot negotiate", "policy", p.ID, "remote", p.RemoteName, "err", err)
			}
		}
	}
	d.mu.Lock()
	if !d.closed.Load() {
		d.startTimer = d.cfg.AfterFunc(startInterval, d.keepUp)
	}
	d.mu.Unlock()
}
