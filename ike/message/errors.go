package message

import "fmt"

// NotifyError is a message, or part of one, that cannot be accepted,
// together with the Notify the IKE SA should answer with (RFC 7296 §2.21):
// INVALID_SYNTAX for anything malformed, UNSUPPORTED_CRITICAL_PAYLOAD with
// the payload type as data (§2.5), INVALID_MAJOR_VERSION (§2.5).
//
// Whether to send it is the IKE SA's decision: RFC 7296 §2.21 answers
// an unprotected message at most with an unprotected notification, and
// INVALID_SYNTAX only once the message's integrity is checked.
//
// errors.Is(err, InvalidSyntax) matches a NotifyError of that type.
type NotifyError struct {
	Type   NotifyType // the error notification to send
	Data   []byte     // its Notification Data
	Reason string     // what was wrong, for the log; never sent
}

// Error returns the notify type and the reason.
func (e *NotifyError) Error() string {
	return fmt.Sprintf("ike/message: %v: %s", e.Type, e.Reason)
}

// Unwrap returns the notify type, which is itself an error.
func (e *NotifyError) Unwrap() error { return e.Type }

// Notify returns the Notify payload that answers the error.
func (e *NotifyError) Notify() *Notify {
	return &Notify{Type: e.Type, Data: e.Data}
}

// syntaxError is an INVALID_SYNTAX NotifyError. RFC 7296 §3.10.1: it
// "MUST be sent in response to any error not covered by one of the other
// status types".
func syntaxError(format string, args ...any) *NotifyError {
	return &NotifyError{Type: InvalidSyntax, Reason: fmt.Sprintf(format, args...)}
}

// within prefixes the reason of a NotifyError with where it happened.
func within(err error, format string, args ...any) error {
	if e, ok := err.(*NotifyError); ok {
		return &NotifyError{Type: e.Type, Data: e.Data, Reason: fmt.Sprintf(format, args...) + ": " + e.Reason}
	}
	return err
}
