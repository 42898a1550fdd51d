package admin

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"mime"
	"net/http"
	"net/netip"
	"strings"
	"sync"
	"time"

	"github.com/meshctl/meshctl/pkg/proxyconfig/wire"
)

// LogLevelPath is where the proxy's log level is read (GET) and changed for
// a while (PUT), for `meshctl proxy log-level`.
const LogLevelPath = "/log-level"

// Bounds of a log-level change. A change always ends: the proxy itself goes
// back to its configured level, so a debugging session whose CLI is gone
// never leaves a proxy logging at debug for good.
const (
	// DefaultLogLevelFor is how long a change holds when the request does
	// not say.
	DefaultLogLevelFor = 10 * time.Minute
	// MaxLogLevelFor is the longest a change may hold.
	MaxLogLevelFor = time.Hour
	// MaxLogLevelBody bounds the body of PUT /log-level.
	MaxLogLevelBody = 1 << 10
)

// LogLevelChange is the body of PUT /log-level, as JSON.
type LogLevelChange struct {
	// Level is one of wire.LogLevels.
	Level wire.LogLevel `json:"level"`
	// For is how long the level holds, as a Go duration ("10m"), at most
	// MaxLogLevelFor; DefaultLogLevelFor when empty. It is ignored when
	// Level is the configured level, which holds for good.
	For string `json:"for,omitempty"`
}

// LogLevelState is what GET and PUT /log-level answer, as JSON.
type LogLevelState struct {
	// Level is the level the proxy logs at now.
	Level wire.LogLevel `json:"level"`
	// Configured is the level of its arguments, which it goes back to.
	Configured wire.LogLevel `json:"configured"`
	// RevertAt is when it goes back, on the proxy's clock; nil when Level
	// is Configured.
	RevertAt *time.Time `json:"revertAt,omitempty"`
	// RevertIn is how long until then, in whole seconds, so that a caller
	// whose clock differs from the pod's can say when.
	RevertIn string `json:"revertIn,omitempty"`
}

// LogLevel changes the proxy's log level at run time, for a while. It owns
// no logger: it sets the LevelVar that the proxy's handler reads.
type LogLevel struct {
	// Var is the level of the proxy's log handler.
	Var *slog.LevelVar
	// Configured is the level of the proxy's arguments; Var holds it
	// whenever no change is in force.
	Configured wire.LogLevel
	// Log, when not nil, records each change and revert.
	Log *slog.Logger
	// Now is the clock; time.Now when nil.
	Now func() time.Time
	// AfterFunc runs f after d and returns what stops it, as
	// time.AfterFunc(d, f).Stop; time.AfterFunc when nil. Tests fire
	// reverts themselves.
	AfterFunc func(d time.Duration, f func()) (stop func() bool)

	mu       sync.Mutex
	revertAt time.Time   // zero when no change is in force
	stop     func() bool // stops the pending revert
	gen      uint64      // the change in force; a stale revert does nothing
}

// Set sets level for d (DefaultLogLevelFor when zero), after which the
// proxy goes back to the configured level by itself. Setting the configured
// level ends a change at once. A later Set replaces an earlier one.
func (l *LogLevel) Set(level wire.LogLevel, d time.Duration) (LogLevelState, error) {
	if _, err := wire.ParseLogLevel(string(level)); err != nil {
		return LogLevelState{}, err
	}
	if d == 0 {
		d = DefaultLogLevelFor
	}
	if err := checkLogLevelFor(d); err != nil {
		return LogLevelState{}, err
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	l.gen++
	if l.stop != nil {
		l.stop()
		l.stop = nil
	}
	from := l.level()
	l.Var.Set(SlogLevel(level))
	if level == l.configured() {
		l.revertAt = time.Time{}
		l.logf("proxy log level set", "level", level, "from", from)
		return l.state(), nil
	}
	l.revertAt = l.now().Add(d)
	gen := l.gen
	after := l.AfterFunc
	if after == nil {
		after = func(d time.Duration, f func()) func() bool { return time.AfterFunc(d, f).Stop }
	}
	l.stop = after(d, func() { l.revert(gen) })
	l.logf("proxy log level set", "level", level, "from", from, "until", l.revertAt.UTC().Format(time.RFC3339), "for", d.String())
	return l.state(), nil
}

// SetConfigured makes level the one the proxy goes back to (the
// MeshConfig's, changed while the proxy runs). It is in force at once
// unless a temporary change is, which still ends at its time and then
// goes back to level.
func (l *LogLevel) SetConfigured(level wire.LogLevel) error {
	if _, err := wire.ParseLogLevel(string(level)); err != nil {
		return err
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	if level == l.configured() {
		return nil
	}
	from := l.configured()
	l.Configured = level
	if l.revertAt.IsZero() {
		l.Var.Set(SlogLevel(level))
	}
	l.logf("proxy configured log level changed", "level", level, "from", from)
	return nil
}

// Stop cancels a pending revert, when the proxy stops, so that no timer
// outlives it.
func (l *LogLevel) Stop() {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.gen++
	if l.stop != nil {
		l.stop()
		l.stop = nil
	}
}

// State is the level in force and when it ends.
func (l *LogLevel) State() LogLevelState {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.state()
}

// revert goes back to the configured level, unless change gen has been
// replaced since.
func (l *LogLevel) revert(gen uint64) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if gen != l.gen || l.revertAt.IsZero() {
		return
	}
	// Said before the switch, so that it is still logged when the level
	// being left was the more verbose one.
	l.logf("proxy log level reverts", "level", l.configured(), "from", l.level())
	l.Var.Set(SlogLevel(l.configured()))
	l.revertAt, l.stop = time.Time{}, nil
}

func (l *LogLevel) state() LogLevelState {
	s := LogLevelState{Level: l.level(), Configured: l.configured()}
	if !l.revertAt.IsZero() {
		at := l.revertAt.UTC()
		s.RevertAt = &at
		s.RevertIn = max(at.Sub(l.now()), 0).Round(time.Second).String()
	}
	return s
}

func (l *LogLevel) level() wire.LogLevel { return WireLevel(l.Var.Level()) }

func (l *LogLevel) configured() wire.LogLevel {
	if l.Configured == "" {
		return wire.DefaultLogLevel
	}
	return l.Configured
}

func (l *LogLevel) now() time.Time {
	if l.Now == nil {
		return time.Now()
	}
	return l.Now()
}

func (l *LogLevel) logf(msg string, args ...any) {
	if l.Log != nil {
		l.Log.Info(msg, args...)
	}
}

// serveGet answers GET /log-level.
func (l *LogLevel) serveGet(w http.ResponseWriter, _ *http.Request) {
	writeJSON(w, http.StatusOK, l.State())
}

// servePut answers PUT /log-level. Only a caller on the pod's loopback may
// change the level: that is where the API server's port-forward arrives
// (meshctl proxy log-level), while any pod of the cluster may reach the
// admin port's other addresses, and a change costs the proxy CPU and disk.
// A JSON content type is required so that a browser cannot send the change
// cross-origin without a preflight, should someone port-forward the admin
// port to a workstation.
func (l *LogLevel) servePut(w http.ResponseWriter, r *http.Request) {
	if !fromLoopback(r) {
		http.Error(w, "the log level may be changed only from the pod's loopback (meshctl proxy log-level reaches it through the API server's port-forward)", http.StatusForbidden)
		return
	}
	if mt, _, err := mime.ParseMediaType(r.Header.Get("Content-Type")); err != nil || mt != "application/json" {
		http.Error(w, "the body must be application/json", http.StatusUnsupportedMediaType)
		return
	}
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, MaxLogLevelBody))
	if err != nil {
		http.Error(w, fmt.Sprintf("reading the body: %v", err), http.StatusRequestEntityTooLarge)
		return
	}
	level, d, err := ParseLogLevelChange(body)
	if err != nil {
		http.Error(w, err.Error(), http.StatusBadRequest)
		return
	}
	st, err := l.Set(level, d)
	if err != nil {
		http.Error(w, err.Error(), http.StatusBadRequest)
		return
	}
	writeJSON(w, http.StatusOK, st)
}

// ParseLogLevelChange reads the body of PUT /log-level: exactly one JSON
// object with a known level and, optionally, a duration in (0,
// MaxLogLevelFor]. A missing duration is returned as DefaultLogLevelFor.
func ParseLogLevelChange(body []byte) (wire.LogLevel, time.Duration, error) {
	if len(body) > MaxLogLevelBody {
		return "", 0, fmt.Errorf("the body is over %d bytes", MaxLogLevelBody)
	}
	dec := json.NewDecoder(strings.NewReader(string(body)))
	dec.DisallowUnknownFields()
	var c LogLevelChange
	if err := dec.Decode(&c); err != nil {
		return "", 0, fmt.Errorf("the body is not a log-level change: %w", err)
	}
	if _, err := dec.Token(); !errors.Is(err, io.EOF) {
		return "", 0, errors.New("the body holds more than one JSON value")
	}
	level, err := wire.ParseLogLevel(string(c.Level))
	if err != nil {
		return "", 0, err
	}
	d := DefaultLogLevelFor
	if c.For != "" {
		if d, err = time.ParseDuration(c.For); err != nil {
			return "", 0, fmt.Errorf("for: %w", err)
		}
		if err := checkLogLevelFor(d); err != nil {
			return "", 0, err
		}
	}
	return level, d, nil
}

// CheckLogLevelFor accepts how long a log-level change may hold.
func checkLogLevelFor(d time.Duration) error {
	if d <= 0 || d > MaxLogLevelFor {
		return fmt.Errorf("for %s: a log-level change holds for more than 0s and at most %s", d, MaxLogLevelFor)
	}
	return nil
}

// SlogLevel is the slog level of a wire level; info for any other.
func SlogLevel(l wire.LogLevel) slog.Level {
	switch l {
	case wire.LogDebug:
		return slog.LevelDebug
	case wire.LogWarn:
		return slog.LevelWarn
	case wire.LogError:
		return slog.LevelError
	}
	return slog.LevelInfo
}

// WireLevel is the wire level of an slog level: the most verbose wire
// level that logs everything v does.
func WireLevel(v slog.Level) wire.LogLevel {
	levels := wire.LogLevels()
	for i := len(levels) - 1; i >= 0; i-- {
		if SlogLevel(levels[i]) <= v {
			return levels[i]
		}
	}
	return levels[0]
}

// fromLoopback says whether r came from the pod's own network namespace's
// loopback.
func fromLoopback(r *http.Request) bool {
	ap, err := netip.ParseAddrPort(r.RemoteAddr)
	return err == nil && ap.Addr().Unmap().IsLoopback()
}

func writeJSON(w http.ResponseWriter, code int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(code)
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	enc.Encode(v)
}
