package ike

import (
	"errors"
	"fmt"
	"net/netip"
	"sync"
	"time"

	"github.com/sabre-ipsec/sabre/ike/message"
)

// Answers to malformed messages, as RFC 7296 asks and strongSwan does:
//
//   - A message of a higher major version is dropped and answered with an
//     unauthenticated INVALID_MAJOR_VERSION whose header carries the
//     version we speak, 2.0 (§2.5, §3.10.1).
//   - An IKE_SA_INIT request that does not parse or lacks a mandatory
//     payload is answered with an unprotected INVALID_SYNTAX, or
//     UNSUPPORTED_CRITICAL_PAYLOAD naming the type of an unknown critical
//     payload (§2.5, §2.21, §3.10.1). That covers a missing KE and a nonce
//     outside 16..256 octets (§2.10, §3.9). No IKE SA is created.
//   - A request inside an SK payload that passed its integrity check but
//     does not parse or breaks the payload rules is answered, protected,
//     with the same notifications (strongSwan's parse_message). An
//     IKE_AUTH request answered with INVALID_SYNTAX ends its half-open IKE
//     SA, as strongSwan's send_invalid_syntax does.
//
// A response is never answered (§2.21.1), nor a message that fails the
// integrity check (§2.21.2: only an unprotected notification may answer
// an unprotected message). The unprotected answers cost an attacker one
// forged datagram each, so they are rate-limited per notification type.

// Unprotected error notifications: at most unprotectedBurst at once, then
// unprotectedRate per second, per notification type.
const (
	unprotectedRate  = 10
	unprotectedBurst = 20
)

// tokenBucket allows rate events per second with bursts of burst.
type tokenBucket struct {
	tokens float64
	last   time.Time
}

func (b *tokenBucket) allow(now time.Time, rate, burst float64) bool {
	if b.last.IsZero() {
		b.tokens = burst
	} else if dt := now.Sub(b.last).Seconds(); dt > 0 {
		b.tokens = min(burst, b.tokens+dt*rate)
	}
	b.last = now
	if b.tokens < 1 {
		return false
	}
	b.tokens--
	return true
}

// replyLimiter rate-limits unprotected replies, one bucket per
// notification type.
type replyLimiter struct {
	mu      sync.Mutex
	buckets map[message.NotifyType]*tokenBucket
}

func (l *replyLimiter) allow(t message.NotifyType, now time.Time) bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.buckets == nil {
		l.buckets = map[message.NotifyType]*tokenBucket{}
	}
	b := l.buckets[t]
	if b == nil {
		b = &tokenBucket{}
		l.buckets[t] = b
	}
	return b.allow(now, unprotectedRate, unprotectedBurst)
}

// refuseUnparsable answers a datagram that message.Parse refused with
// err, when the RFC asks for an answer: another major version, or an
// IKE_SA_INIT request.
func (d *Daemon) refuseUnparsable(b []byte, err error, local, remote netip.AddrPort) {
	var ne *message.NotifyError
	if !errors.As(err, &ne) {
		return
	}
	h, herr := message.ParseHeader(b)
	if herr != nil {
		return
	}
	switch {
	case ne.Type == message.InvalidMajorVersion:
		// §2.5 answers a higher major version; IKEv1 (major 1) is not
		// spoken here and gets nothing.
		if h.Version>>4 <= message.Version>>4 {
			return
		}
	case h.Exchange != message.IKESAInit || h.SPIr != 0:
		// A malformed message of an IKE SA is answered only once its
		// integrity is checked (handleRequest), which its header alone
		// cannot give.
		return
	}
	d.refuseUnprotected(h, err, local, remote)
}

// refuseUnprotected sends the unprotected error notification that err
// (a *message.NotifyError, or INVALID_SYNTAX) names in answer to the
// request with header h, rate-limited. Responses are never answered.
func (d *Daemon) refuseUnprotected(h *message.Header, err error, local, remote netip.AddrPort) {
	if h.IsResponse() {
		return
	}
	n := notifyError(err)[0].(*message.Notify)
	d.log.Debug("malformed IKE request refused", "hdr", h.String(), "from", remote, "notify", n.Type.String(), "err", err)
	if !d.unprotected.allow(n.Type, d.cfg.Now()) {
		d.stats.RepliesLimited.Add(1)
		return
	}
	// §2.21, §3.1: a response to the request's SPIs and message ID, with
	// the I flag of the other role and our version (for
	// INVALID_MAJOR_VERSION, §3.10.1: the closest version we support).
	resp := message.Message{Header: message.Header{SPIi: h.SPIi, SPIr: h.SPIr, Exchange: h.Exchange,
		MessageID: h.MessageID, Flags: message.FlagResponse}, Payloads: []message.Payload{n}}
	if !h.IsInitiator() {
		resp.Flags |= message.FlagInitiator
	}
	b, merr := resp.Marshal()
	if merr != nil {
		d.log.Warn("building an error notification", "notify", n.Type.String(), "err", merr)
		return
	}
	d.stats.Sent.Add(1)
	if d.trace.Load() {
		d.traceMessage("sent", b, remote)
	}
	if serr := d.cfg.Send(b, local, remote); serr != nil {
		d.log.Warn("sending IKE message", "to", remote, "err", serr)
	}
}

// errMalformedInner marks an error of sa.open that came after the
// integrity check passed: the peer's own message is malformed, and may
// be answered.
type errMalformedInner struct{ err error }

func (e *errMalformedInner) Error() string { return "decrypted payloads: " + e.err.Error() }
func (e *errMalformedInner) Unwrap() error { return e.err }

// refuseRequest is the protected answer to an authenticated request that
// does not parse or breaks the payload rules (err, from sa.open or
// message.Check). An IKE_AUTH request refused with INVALID_SYNTAX also
// ends its IKE SA once the answer is sent, as strongSwan does: the
// initiator cannot authenticate on it: drop is why, and the SA goes once
// the answer is sent.
func (d *Daemon) refuseRequest(sa *SA, exch message.ExchangeType, err error) (resp []message.Payload, drop error) {
	resp = notifyError(err)
	t := resp[0].(*message.Notify).Type
	d.log.Info("malformed IKE request refused", "ike_sa", sa.String(), "exchange", exch.String(), "notify", t.String(), "err", err)
	if exch == message.IKEAuth && t == message.InvalidSyntax && !sa.established() {
		d.stats.AuthFailures.Add(1)
		drop = fmt.Errorf("malformed IKE_AUTH request: %w", err)
	}
	return resp, drop
}
