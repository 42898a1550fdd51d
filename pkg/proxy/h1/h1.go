// Package h1 owns the proxy's lean HTTP/1.1 path: request and response
// heads parsed in place from the connection's read buffer, the changes the
// proxy makes to them, and bodies relayed by their framing. It serves the
// common exchange (a keep-alive request with no body or a small body of
// known length) without net/http's per-request goroutines, objects and
// header maps; whatever it does not handle is refused with ErrHandoff
// before anything is consumed, so that net/http can serve it instead.
package h1

import "errors"

// MaxBody is the largest request body the lean path takes, downstream
// (PeekRequest) and upstream (package forward's HTTP/1.1 pool). The body is
// written upstream before the response is read; a larger one could be
// answered while still being sent (full duplex), which net/http handles.
const MaxBody = 64 << 10

// ErrHandoff says the request needs the general path. Nothing of it has
// been consumed or answered.
var ErrHandoff = errors.New("h1: request needs the general HTTP path")
