package ike

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/netip"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/sabre-ipsec/sabre/ike/message"
	"github.com/sabre-ipsec/sabre/ipsec/messaging"
	"github.com/sabre-ipsec/sabre/spd"
)

// Ports IKE uses (RFC 7296 §2, §2.23).
const (
	IKEPort  = 500
	NATTPort = 4500
)

// Config connects a Daemon to the IPsec engine and the network.
type Config struct {
	// Messaging is the engine's messaging interface: ACQUIREs and SA
	// events come from it, and negotiated SAs go into it.
	Messaging *messaging.Messaging
	// Send sends an IKE message from local to remote. On the NAT-T port
	// the transport adds the non-ESP marker (RFC 3948 §2.2).
	Send func(msg []byte, local, remote netip.AddrPort) error
	// SendKeepalive, if set, sends a NAT-keepalive (RFC 3948 §2.3) from
	// local to remote.
	SendKeepalive func(local, remote netip.AddrPort) error
	// LocalAddr returns this host's address toward remote.
	LocalAddr func(remote netip.Addr) (netip.Addr, error)
	// Log receives the daemon's log; slog.Default() if nil.
	Log *slog.Logger
	// Trace, if set, receives `ike debug -t` message dumps as plain text
	// (one field a line, like the reference's decoder); without it they go
	// to Log as one record each.
	Trace io.Writer
	// Now is the clock; time.Now if nil.
	Now func() time.Time
	// AfterFunc schedules timers; time.AfterFunc if nil (tests inject).
	AfterFunc func(d time.Duration, f func()) stopper
	// KeepaliveInterval is how often a host behind a NAT sends keepalives
	// (RFC 3948 §4: 20 s by default).
	KeepaliveInterval time.Duration
	// RekeyGrace is how long the inbound SA of a rekeyed or deleted Child
	// SA stays after its Delete exchange, for packets still in flight;
	// DefaultRekeyGrace if 0.
	RekeyGrace time.Duration

	// Workers is the number of goroutines that handle the messages
	// Enqueue queues (processor.go); runtime.GOMAXPROCS(0) if 0.
	Workers int
	// QueueLen bounds the messages waiting for a worker; DefaultQueueLen
	// if 0.
	QueueLen int
	// Failure, if set, is told of each IKE SA or Child SA that could not
	// be set up or was lost, with an error errors.Is matches against the
	// Err* values. It is called with the IKE SA checked out: it must not
	// call back into the Daemon.
	Failure func(Failure)
}

type stopper interface{ Stop() bool }

// Stats are the daemon's counters for `ike netstat`.
type Stats struct {
	Received, Sent, Retransmits      atomic.Uint64
	Dropped                          atomic.Uint64 // unparsable, unknown SPIs, out of window
	AuthFailures                     atomic.Uint64
	Established, Failed              atomic.Uint64
	ChildSAs, ChildFailures, Deletes atomic.Uint64
	HalfOpenRefused, CookiesSent     atomic.Uint64
	// Panics counts messages whose processing panicked: each was
	// contained to its IKE SA, which was deleted (recover.go).
	Panics atomic.Uint64
	// RepliesLimited counts error notifications to unauthenticated
	// messages that the rate limit held back (malformed.go).
	RepliesLimited atomic.Uint64
	// ChildRekeys counts Child SA rekeys started here or accepted from
	// the peer; DPDFailures liveness checks the peer never answered (its
	// IKE SA is then deleted, RFC 7296 §2.4).
	ChildRekeys, DPDFailures atomic.Uint64
}

// Daemon is the IKEv2 key manager.
type Daemon struct {
	cfg   Config
	log   *slog.Logger
	mgr   *Manager[*SA]
	app   messaging.AppID
	stats Stats

	mu        sync.Mutex
	remotes   map[string]*Remote
	contacted map[string]bool // remotes we had an IKE SA with (INITIAL_CONTACT)
	cleared   map[string]bool // remotes a dead peer cleared (-A clear, dpd.go)
	// startTimer runs keepUp while remotes have -S start (dpd.go).
	startTimer stopper

	trace, debug atomic.Bool
	closed       atomic.Bool
	keyExportFn  atomic.Pointer[func(KeyExport)] // SetKeyExport
	traceMu      sync.Mutex                      // one dump at a time on Config.Trace
	cookieSecret [32]byte
	unprotected  replyLimiter   // malformed.go
	panicCleanup sync.WaitGroup // recover.go
	logLimit     logLimiter
	proc         processor // processor.go

	// Goroutines the daemon starts (goBackground): Close waits for them,
	// and none starts once Close has begun (bgMu orders the two).
	bgMu sync.Mutex
	bg   sync.WaitGroup

	// The established IKE SAs by remote and peer identity (identity.go).
	idMu       sync.Mutex
	byIdentity map[string]map[SAKey]struct{}
}

// goBackground runs f on a goroutine that the daemon owns, and reports
// whether it did: once Close has begun none starts, and Close returns only
// when those started have ended. f should end soon after d.closed is set.
func (d *Daemon) goBackground(f func()) bool {
	d.bgMu.Lock()
	defer d.bgMu.Unlock()
	if d.closed.Load() {
		return false
	}
	d.bg.Add(1)
	go func() {
		defer d.bg.Done()
		f()
	}()
	return true
}

// New starts a daemon and registers it with the messaging interface.
func New(cfg Config) (*Daemon, error) {
	if cfg.Messaging == nil || cfg.Send == nil {
		return nil, errors.New("ike: Config needs Messaging and Send")
	}
	if cfg.Log == nil {
		cfg.Log = slog.Default()
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if cfg.AfterFunc == nil {
		cfg.AfterFunc = func(d time.Duration, f func()) stopper { return time.AfterFunc(d, f) }
	}
	if cfg.KeepaliveInterval == 0 {
		cfg.KeepaliveInterval = 20 * time.Second
	}
	d := &Daemon{cfg: cfg, log: cfg.Log.With("component", "ike"), mgr: NewManager[*SA](), remotes: map[string]*Remote{}}
	randRead(d.cookieSecret[:])
	id, err := cfg.Messaging.Register("ike", d.onEvent)
	if err != nil {
		return nil, err
	}
	d.app = id
	return d, nil
}

// Close deletes every IKE SA (telling the peers) and unregisters. The
// daemon's goroutines have ended when it returns.
func (d *Daemon) Close() {
	d.bgMu.Lock()
	already := d.closed.Swap(true)
	d.bgMu.Unlock()
	if already {
		return
	}
	d.stopWorkers() // processor.go: queued messages are dropped, the workers finish theirs
	// Before the SAs go: a background goroutine may hold one checked out.
	d.bg.Wait()
	d.mu.Lock()
	if d.startTimer != nil {
		d.startTimer.Stop()
	}
	d.mu.Unlock()
	for _, k := range d.mgr.All() {
		if sa, err := d.mgr.Checkout(k, netip.AddrPort{}); err == nil {
			if sa.established() {
				d.sendDeleteIKE(sa)
			}
			d.remove(sa, "daemon stopped")
		}
	}
	d.FlushRemotes()
	d.cfg.Messaging.Unregister(d.app)
}

// Stats returns the daemon's counters.
func (d *Daemon) Stats() *Stats { return &d.stats }

// SetDebug switches debug logging (`ike debug -d`) and message tracing
// (`ike debug -t`) at run time.
func (d *Daemon) SetDebug(debug, trace bool) { d.debug.Store(debug); d.trace.Store(trace) }

func (d *Daemon) debugf(sa *SA, format string, args ...any) {
	if d.debug.Load() {
		d.log.Debug(fmt.Sprintf(format, args...), "ike_sa", sa.String())
	}
}

// Prepare checks what the daemon would refuse in r at AddRemote — no IKE
// SA proposal Sabre implements, an unusable PSK file — and loads its key.
// `sabre run -check` calls it to validate an ike_rc without a daemon.
func (r *Remote) Prepare() error {
	if !usableProposals(IKEProposals(r)) {
		return fmt.Errorf("ike remote %s: no IKE SA proposal left from -e/-a/-p/-d that Sabre implements (3DES-CBC, HMAC-MD5 and MODP768/6144/8192 are not offered for the IKE SA; use AES-CBC or AES-GCM, HMAC-SHA-2, MODP2048+ or ECP/Curve25519)", r.Name)
	}
	return r.LoadPSK()
}

// AddRemote adds or replaces a remote peer configuration. Its PSK file is
// read now; the key of a remote it replaces is zeroed.
func (d *Daemon) AddRemote(r Remote) error {
	if err := r.Prepare(); err != nil {
		return err
	}
	d.mu.Lock()
	old := d.remotes[r.Name]
	d.remotes[r.Name] = &r
	delete(d.cleared, r.Name)
	d.mu.Unlock()
	if old != nil {
		old.ZeroPSK()
	}
	if r.StartAction == StartStart {
		d.armStart() // dpd.go
	}
	return nil
}

// DeleteRemote removes a remote configuration ("ALLREMOTES": all) and
// zeroes its key. SAs in use stay, as the reference says.
func (d *Daemon) DeleteRemote(name string) error {
	_, err := d.deleteRemotes(name)
	return err
}

// deleteRemotes is DeleteRemote, returning how many remotes it deleted.
func (d *Daemon) deleteRemotes(name string) (int, error) {
	d.mu.Lock()
	var gone []*Remote
	if name == "ALLREMOTES" {
		for _, r := range d.remotes {
			gone = append(gone, r)
		}
		clear(d.remotes)
	} else if r := d.remotes[name]; r != nil {
		gone = append(gone, r)
		delete(d.remotes, name)
	}
	d.mu.Unlock()
	if name != "ALLREMOTES" && len(gone) == 0 {
		return 0, fmt.Errorf("ike remote: no remote named %q", name)
	}
	for _, r := range gone {
		r.ZeroPSK()
	}
	return len(gone), nil
}

// FlushRemotes deletes every remote (zeroing their keys) and returns how
// many there were.
func (d *Daemon) FlushRemotes() int {
	n, _ := d.deleteRemotes("ALLREMOTES")
	return n
}

// ReplaceRemotes changes the remote configuration in one step: the
// remotes named in del are deleted, and those of add are added, replacing
// any of the same name. The IKE SAs negotiated with a deleted or replaced
// remote are deleted (telling their peers), since they were made with a
// configuration that is gone, and the old keys are zeroed. Remotes in add
// whose key is not loaded are prepared first; if one is refused, or del
// names a remote that does not exist, nothing changes. It returns the
// number of IKE SAs it deleted.
func (d *Daemon) ReplaceRemotes(add []Remote, del []string) (int, error) {
	var loaded []*Remote
	for i := range add {
		r := &add[i]
		if r.psk != nil {
			continue // prepared by the caller
		}
		if err := r.Prepare(); err != nil {
			for _, l := range loaded {
				l.ZeroPSK()
			}
			return 0, err
		}
		loaded = append(loaded, r)
	}
	d.mu.Lock()
	for _, name := range del {
		if d.remotes[name] == nil {
			d.mu.Unlock()
			for _, l := range loaded {
				l.ZeroPSK()
			}
			return 0, fmt.Errorf("ike remote: no remote named %q", name)
		}
	}
	old := map[*Remote]bool{}
	for _, name := range del {
		old[d.remotes[name]] = true
		delete(d.remotes, name)
	}
	start := false
	for i := range add {
		r := add[i]
		if o := d.remotes[r.Name]; o != nil {
			old[o] = true
		}
		d.remotes[r.Name] = &r
		delete(d.cleared, r.Name)
		start = start || r.StartAction == StartStart
	}
	d.mu.Unlock()
	if start {
		defer d.armStart() // dpd.go
	}
	n := 0
	if len(old) > 0 {
		n = d.deleteSAsOf(old)
	}
	for r := range old {
		r.ZeroPSK()
	}
	return n, nil
}

// deleteSAsOf deletes the IKE SAs of the given remotes and returns how
// many.
func (d *Daemon) deleteSAsOf(remotes map[*Remote]bool) int {
	n := 0
	for _, k := range d.mgr.All() {
		sa, err := d.mgr.Checkout(k, netip.AddrPort{})
		if err != nil {
			continue
		}
		if remotes[sa.remote] {
			if sa.established() {
				d.sendDeleteIKE(sa)
			}
			d.remove(sa, "its remote configuration was replaced or deleted")
			n++
		}
		d.checkin(sa)
	}
	return n
}

// Remotes returns the configured remotes.
func (d *Daemon) Remotes() []Remote {
	d.mu.Lock()
	defer d.mu.Unlock()
	out := make([]Remote, 0, len(d.remotes))
	for _, r := range d.remotes {
		out = append(out, *r)
	}
	return out
}

func (d *Daemon) remote(name string) *Remote {
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.remotes[name]
}

// remoteFor finds the configuration for a peer that initiated to us: by
// its address, then any accepting remote without an address.
func (d *Daemon) remoteFor(peer netip.Addr) *Remote {
	d.mu.Lock()
	defer d.mu.Unlock()
	var wildcard *Remote
	for _, r := range d.remotes {
		if !r.Accept {
			continue
		}
		if r.Address == peer {
			return r
		}
		if !r.Address.IsValid() && wildcard == nil {
			wildcard = r
		}
	}
	return wildcard
}

// HandleMessage processes one IKE message that arrived on local from
// remote (the non-ESP marker already removed). It is safe to call from
// several goroutines; each IKE SA is worked by one at a time.
func (d *Daemon) HandleMessage(b []byte, local, remote netip.AddrPort) {
	defer d.containPanic(b, remote) // recover.go
	d.stats.Received.Add(1)
	m, err := message.Parse(b)
	if err != nil {
		d.stats.Dropped.Add(1)
		d.limitedLog(slog.LevelDebug, "unparsable IKE message", "from", remote, "err", err)
		d.refuseUnparsable(b, err, local, remote) // malformed.go
		return
	}
	if d.trace.Load() {
		d.traceMessage("received", b, remote)
	}
	h := &m.Header
	if h.Exchange == message.IKESAInit && !h.IsResponse() && h.SPIr == 0 {
		d.handleInitRequest(m, b, local, remote)
		return
	}
	sa, err := d.mgr.Checkout(SAKey{h.SPIi, h.SPIr}, remote)
	if err != nil {
		d.stats.Dropped.Add(1)
		d.limitedLog(slog.LevelDebug, "IKE message for an unknown IKE SA", "hdr", h.String(), "from", remote)
		return
	}
	defer d.checkin(sa)
	defer d.containSAPanic(sa, b, remote) // recover.go; runs before checkin
	// The original initiator sets the I flag; a message claiming the wrong
	// role is not for this SA.
	if h.IsInitiator() == sa.initiator {
		d.stats.Dropped.Add(1)
		return
	}
	if h.IsResponse() {
		d.handleResponse(sa, m, b, local, remote)
	} else {
		d.handleRequest(sa, m, b, local, remote)
	}
}

func (d *Daemon) checkin(sa *SA) {
	if sa.state == StateDead {
		return
	}
	d.mgr.Checkin(sa.key)
}

// inbound is a received message with its payloads decrypted.
type inbound struct {
	hdr      message.Header
	raw      []byte
	payloads []message.Payload
	local    netip.AddrPort
	remote   netip.AddrPort
}

// open decrypts the SK payload of an IKE message on SA sa.
func (sa *SA) open(m *message.Message, raw []byte) ([]message.Payload, error) {
	if m.Header.Exchange == message.IKESAInit {
		return m.Payloads, nil
	}
	if sa.skIn == nil {
		return nil, errors.New("no keys yet")
	}
	sk, ok := message.Find[*message.SK](m.Payloads)
	if !ok {
		return nil, errors.New("no SK payload")
	}
	aad, body, err := message.SplitEncrypted(raw)
	if err != nil {
		return nil, err
	}
	plain, err := sa.skIn.Open(nil, aad, body)
	if err != nil {
		return nil, err
	}
	inner, err := message.ParsePayloads(sk.FirstPayload, plain)
	if err != nil {
		return nil, &errMalformedInner{err}
	}
	return inner, nil
}

// seal builds an IKE message: IKE_SA_INIT in the clear, the others inside
// an SK payload.
func (sa *SA) seal(exch message.ExchangeType, msgID uint32, response bool, payloads []message.Payload) ([]byte, error) {
	h := message.Header{SPIi: sa.key.SPIi, SPIr: sa.key.SPIr, Exchange: exch, MessageID: msgID}
	if sa.initiator {
		h.Flags |= message.FlagInitiator
	}
	if response {
		h.Flags |= message.FlagResponse
	}
	if exch == message.IKESAInit {
		return (&message.Message{Header: h, Payloads: payloads}).Marshal()
	}
	sa.d.traceInner("sending", exch, payloads, sa.peer)
	first, inner, err := message.MarshalPayloads(payloads)
	if err != nil {
		return nil, err
	}
	n := sa.skOut.SealedLen(len(inner))
	b, err := (&message.Message{Header: h, Payloads: []message.Payload{&message.SK{FirstPayload: first, Data: make([]byte, n)}}}).Marshal()
	if err != nil {
		return nil, err
	}
	aad := b[:len(b)-n]
	return sa.skOut.Seal(aad, aad, inner), nil
}

// send transmits a message of sa to its peer.
func (d *Daemon) send(sa *SA, b []byte) {
	d.stats.Sent.Add(1)
	sa.stats.sent++
	if d.trace.Load() {
		d.traceMessage("sent", b, sa.peer)
	}
	if err := d.cfg.Send(b, sa.local, sa.peer); err != nil {
		d.log.Warn("sending IKE message", "to", sa.peer, "err", err)
	}
}

// handleRequest answers a request from the peer: a new one is processed
// and its response cached; a retransmission of the last one gets the cached
// response again; anything else is outside the window (RFC 7296 §2.3).
func (d *Daemon) handleRequest(sa *SA, m *message.Message, raw []byte, local, remote netip.AddrPort) {
	id := m.Header.MessageID
	switch {
	case id+1 == sa.nextExpected && sa.lastResponse != nil:
		// RFC 7296 §2.1: a retransmission is bitwise identical; anything
		// else with this message ID (a forgery, a copy with a broken ICV)
		// gets nothing.
		if HashMessage(raw) != sa.lastRequestHash {
			d.stats.Dropped.Add(1)
			return
		}
		d.stats.Retransmits.Add(1)
		d.send(sa, sa.lastResponse)
		return
	case id != sa.nextExpected:
		d.stats.Dropped.Add(1)
		return
	}
	payloads, err := sa.open(m, raw)
	var malformed *errMalformedInner
	if err != nil && !errors.As(err, &malformed) {
		d.stats.Dropped.Add(1)
		d.limitedLog(slog.LevelDebug, "undecryptable IKE request", "ike_sa", sa.String(), "err", err)
		return
	}
	d.traceInner("received", m.Header.Exchange, payloads, remote)
	sa.lastRecv = d.cfg.Now()
	d.updatePeer(sa, local, remote)
	in := &inbound{hdr: m.Header, raw: raw, payloads: payloads, local: local, remote: remote}
	// The responder's side of each task; drop, if set, removes the SA once
	// the response is sent (a refused IKE_AUTH).
	var resp []message.Payload
	var drop error
	if malformed != nil {
		resp, drop = d.refuseRequest(sa, m.Header.Exchange, malformed.err) // malformed.go
	} else if err := message.Check(m.Header.Exchange, false, payloads); err != nil {
		resp, drop = d.refuseRequest(sa, m.Header.Exchange, err)
	} else {
		switch m.Header.Exchange {
		case message.IKEAuth:
			resp, drop = d.processAuthRequest(sa, in)
		case message.CreateChildSA:
			resp = d.processCreateChildRequest(sa, in)
		case message.Informational:
			resp = d.processInformationalRequest(sa, in)
		default:
			resp = []message.Payload{&message.Notify{Type: message.InvalidSyntax}}
		}
	}
	b, err := sa.seal(m.Header.Exchange, id, true, resp)
	if err != nil {
		d.log.Warn("building IKE response", "ike_sa", sa.String(), "err", err)
		return
	}
	sa.nextExpected++
	sa.lastResponse = b
	sa.lastRequestHash = HashMessage(raw)
	d.send(sa, b)
	if sa.state == StateDeleting && m.Header.Exchange == message.Informational {
		d.remove(sa, "deleted by the peer")
	}
	if drop != nil {
		d.remove(sa, drop.Error())
	} else if m.Header.Exchange == message.IKEAuth && sa.established() {
		// Only now: the peer has the new IKE SA before an older one goes.
		d.checkUnique(sa) // unique.go
	}
	if sa.state != StateDead {
		d.initiateTasks(sa)
	}
}

// notifyError turns an error (a payload-rules violation, or one of
// notifyErrors) into the response payloads.
func notifyError(err error) []message.Payload {
	return []message.Payload{notifyFor(err)}
}

// updatePeer follows the peer to a new address or port: a NAT mapping
// change, or the switch to the NAT-T port (RFC 7296 §2.23).
func (d *Daemon) updatePeer(sa *SA, local, remote netip.AddrPort) {
	if remote == sa.peer && local.Port() == sa.local.Port() {
		return
	}
	if !sa.natPeer && !sa.natLocal && remote.Port() == sa.peer.Port() {
		return
	}
	d.log.Info("IKE peer moved", "ike_sa", sa.String(), "from", sa.peer, "to", remote)
	sa.peer = remote
	if local.IsValid() {
		sa.local = netip.AddrPortFrom(sa.local.Addr(), local.Port())
	}
	d.updateChildEncap(sa)
}

// fail ends an IKE SA that could not be set up or stopped answering.
func (d *Daemon) fail(sa *SA, err error) {
	d.stats.Failed.Add(1)
	if sa.established() && errors.Is(err, ErrPeerTimeout) {
		d.deadPeer(sa) // dpd.go: -A and -S
	}
	if sa.initiator && sa.remote != nil {
		// The peer may hold an IKE SA we gave up on (its IKE_AUTH
		// response was lost); the next IKE_AUTH carries INITIAL_CONTACT so
		// that it drops it.
		d.mu.Lock()
		delete(d.contacted, sa.remote.Name)
		d.mu.Unlock()
	}
	d.report(sa, err)
	d.removeAt(sa, err.Error(), slog.LevelWarn)
}

// report tells Config.Failure that sa failed with err.
func (d *Daemon) report(sa *SA, err error) { d.reportFailure(sa, false, 0, err) }

// reportChild tells Config.Failure that a Child SA of sa (for policyID, 0
// if unknown) failed with err.
func (d *Daemon) reportChild(sa *SA, policyID uint32, err error) {
	d.reportFailure(sa, true, policyID, err)
}

func (d *Daemon) reportFailure(sa *SA, child bool, policyID uint32, err error) {
	if d.cfg.Failure == nil {
		return
	}
	f := Failure{IKESA: sa.String(), Child: child, PolicyID: policyID, Err: err}
	if sa.remote != nil {
		f.Remote = sa.remote.Name
	}
	d.cfg.Failure(f)
}

// remove deletes an IKE SA and its Child SAs from the data plane.
func (d *Daemon) remove(sa *SA, why string) { d.removeAt(sa, why, slog.LevelInfo) }

// removeAt is remove, logged at level: a failure is a warning.
func (d *Daemon) removeAt(sa *SA, why string, level slog.Level) {
	if sa.state == StateDead {
		return
	}
	d.log.Log(context.Background(), level, "IKE SA removed", "ike_sa", sa.String(), "reason", why)
	d.discard(sa)
}

// removeHalfOpen removes a responder's IKE SA that never authenticated:
// spoofed IKE_SA_INIT requests make those, so the log is rate-limited.
func (d *Daemon) removeHalfOpen(sa *SA, why string) {
	if sa.state == StateDead {
		return
	}
	d.limitedLog(slog.LevelInfo, "half-open IKE SA removed", "ike_sa", sa.String(), "reason", why)
	d.discard(sa)
}

// discard deletes sa and its Child SAs; its tasks are aborted.
func (d *Daemon) discard(sa *SA) {
	d.abortTasks(sa, errSAGone)
	d.unindexIdentity(sa)
	for _, c := range slices.Clone(sa.children) {
		d.deleteChildLocally(sa, c)
	}
	sa.children = nil
	if err := sa.set(StateDead); err != nil {
		// Every state may end (TestEveryStateMayEnd); this is a bug.
		d.log.Error("removing an IKE SA", "ike_sa", sa.String(), "err", err)
	}
	sa.close()
	d.mgr.Remove(sa.key)
}

// onEvent handles the messaging interface's events.
func (d *Daemon) onEvent(ev messaging.Event) {
	if d.closed.Load() {
		return
	}
	switch ev.Type {
	case messaging.MsgAcquire:
		if ev.Policy != nil && ev.Policy.RemoteName == "" && len(d.cfg.Messaging.Apps()) > 1 {
			// No IKE remote (-g): the policy's SAs come from another key
			// manager (sabre run -msgsock), whose packets an ACQUIRE_FAIL
			// would drop.
			d.log.Debug("ACQUIRE left to another key manager", "policy", ev.PolicyID)
			return
		}
		if err := d.acquireOnTraffic(ev.Policy); err != nil { // dpd.go
			d.log.Warn("cannot negotiate SAs", "policy", ev.PolicyID, "err", err)
			d.cfg.Messaging.AcquireFail(ev.PolicyID)
		}
	case messaging.MsgSAExpired:
		d.childExpiring(ev)
	case messaging.MsgSADeleted:
		d.childDeleted(ev)
	}
}

// Initiate starts negotiating SAs for policy p now, as an ACQUIRE would.
func (d *Daemon) Initiate(p *spd.Policy) error { return d.acquire(p) }
