// Package refusal is the shape of the errors that security decisions
// return: a reason from a closed set, which callers match with errors.Is,
// plus the particulars of one case and its cause, for the log. pkg/identity
// and pkg/controller/signer refuse with it. It imports the standard library
// only, because mesh-proxy links pkg/identity.
package refusal

import "fmt"

// Error is one refusal. It unwraps to Reason and, if any, to Cause.
type Error struct {
	// Reason is the closed-set value callers match.
	Reason error
	// Detail names the field, certificate or name at fault.
	Detail string
	// Cause is the underlying error, or nil.
	Cause error
}

// Error is the reason's text, the particulars, and the cause if any.
func (e *Error) Error() string {
	if e.Cause != nil {
		return e.Reason.Error() + ": " + e.Detail + ": " + e.Cause.Error()
	}
	return e.Reason.Error() + ": " + e.Detail
}

// Unwrap gives errors.Is and errors.As the reason and the cause.
func (e *Error) Unwrap() []error {
	if e.Cause != nil {
		return []error{e.Reason, e.Cause}
	}
	return []error{e.Reason}
}

// New is a refusal for reason; detail is formatted like fmt.Sprintf.
func New(reason error, format string, args ...any) error {
	return &Error{Reason: reason, Detail: fmt.Sprintf(format, args...)}
}

// Wrap is a refusal for reason caused by err, which it wraps.
func Wrap(reason, err error, format string, args ...any) error {
	return &Error{Reason: reason, Detail: fmt.Sprintf(format, args...), Cause: err}
}
