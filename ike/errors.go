package ike

import (
	"errors"
	"fmt"

	"github.com/sabre-ipsec/sabre/ike/message"
)

// Errors of IKE exchanges that a caller or a test tells apart with
// errors.Is. The failures of exchanges wrap them (fmt.Errorf("%w: ...")),
// and the error notification each is answered with is in notifyErrors.
// ErrHalfOpenLimit, ErrPeerHalfOpenLimit, ErrDuplicateInit and ErrNotFound
// are the manager's (manager.go).
var (
	// ErrAuthenticationFailed: the peer's AUTH or identity was refused,
	// or the peer refused ours.
	ErrAuthenticationFailed = errors.New("ike: authentication failed")
	// ErrNoProposalChosen: no proposal (or mode) both ends accept.
	ErrNoProposalChosen = errors.New("ike: no proposal chosen")
	// ErrTSUnacceptable: the traffic selectors fit no policy.
	ErrTSUnacceptable = errors.New("ike: traffic selectors unacceptable")
	// ErrInvalidKE: the KE payload is of a group the other end does not
	// want (RFC 7296 §1.2, §1.3).
	ErrInvalidKE = errors.New("ike: KE payload of an unwanted DH group")
	// ErrInvalidSyntax: a message lacks what its exchange needs.
	ErrInvalidSyntax = errors.New("ike: invalid syntax")
	// ErrTemporaryFailure: the exchange may succeed later (RFC 7296
	// §2.25): an SPI could not be allocated, a rekey collides.
	ErrTemporaryFailure = errors.New("ike: temporary failure")
	// ErrChildSANotFound: a REKEY_SA or Delete names no Child SA of ours.
	ErrChildSANotFound = errors.New("ike: Child SA not found")
	// ErrPeerTimeout: a request went unanswered through all its
	// retransmissions (RFC 7296 §2.4).
	ErrPeerTimeout = errors.New("ike: peer does not answer")
	// ErrNoRemote: a policy names no IKE remote that can initiate.
	ErrNoRemote = errors.New("ike: no IKE remote to negotiate with")
	// ErrInvalidState: an exchange or state change the IKE SA's state does
	// not allow.
	ErrInvalidState = errors.New("ike: not allowed in the IKE SA's state")
)

// notifyErrors maps the errors a peer is told about to the error
// notification that tells it (RFC 7296 §3.10.1), and back: a peer's error
// notification is a *PeerError that errors.Is matches with the error of
// its type here.
var notifyErrors = []struct {
	err    error
	notify message.NotifyType
}{
	{ErrAuthenticationFailed, message.AuthenticationFailed},
	{ErrNoProposalChosen, message.NoProposalChosen},
	{ErrTSUnacceptable, message.TSUnacceptable},
	{ErrInvalidKE, message.InvalidKEPayload},
	{ErrInvalidSyntax, message.InvalidSyntax},
	{ErrTemporaryFailure, message.TemporaryFailure},
	{ErrChildSANotFound, message.ChildSANotFound},
	{ErrHalfOpenLimit, message.TemporaryFailure},
}

// notifyFor returns the error notification that answers err: that of its
// entry in notifyErrors, or that of a payload-rules violation
// (*message.NotifyError); INVALID_SYNTAX for anything else.
func notifyFor(err error) *message.Notify {
	var ne *message.NotifyError
	if errors.As(err, &ne) {
		return &message.Notify{Type: ne.Type, Data: ne.Data}
	}
	for _, e := range notifyErrors {
		if errors.Is(err, e.err) {
			return &message.Notify{Type: e.notify}
		}
	}
	return &message.Notify{Type: message.InvalidSyntax}
}

// errorForNotify returns the error of notifyErrors that notify type t
// stands for, or nil.
func errorForNotify(t message.NotifyType) error {
	for _, e := range notifyErrors {
		if e.notify == t {
			return e.err
		}
	}
	return nil
}

// PeerError is an error notification the peer answered a request with.
// errors.Is(err, ErrNoProposalChosen) and the like match it by its type.
type PeerError struct {
	Exchange message.ExchangeType
	Notify   message.NotifyType
	// Data is the notification's data (INVALID_KE_PAYLOAD: the group the
	// peer wants).
	Data []byte
}

func (e *PeerError) Error() string {
	return fmt.Sprintf("peer refused %v: %v", e.Exchange, e.Notify)
}

// Is matches the error of e's notify type in notifyErrors.
func (e *PeerError) Is(target error) bool {
	want := errorForNotify(e.Notify)
	return want != nil && want == target
}

// peerRefusal returns the *PeerError of the first error notification in
// ps (types below 16384), or nil.
func peerRefusal(exch message.ExchangeType, ps []message.Payload) *PeerError {
	if n := firstError(ps); n != nil {
		return &PeerError{Exchange: exch, Notify: n.Type, Data: n.Data}
	}
	return nil
}

// StateError is a state change (*SA).set refuses.
type StateError struct {
	SA       string
	From, To State
}

func (e *StateError) Error() string {
	return fmt.Sprintf("IKE SA %s: no transition from %v to %v", e.SA, e.From, e.To)
}

// Is makes every StateError match ErrInvalidState.
func (e *StateError) Is(target error) bool { return target == ErrInvalidState }

// Failure describes an IKE SA or Child SA that could not be set up or
// was lost, for Config.Failure.
type Failure struct {
	Remote   string // the remote's name ("" if none was found)
	IKESA    string // the IKE SA's SPIs and peer
	Child    bool   // a Child SA failed, not the IKE SA
	PolicyID uint32 // the Child SA's policy, if known
	Err      error  // matches the Err* values and *PeerError
}
