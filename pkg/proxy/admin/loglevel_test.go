package admin

import (
	"bytes"
	"context"
	"encoding/json"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/meshctl/meshctl/pkg/proxyconfig/wire"
)

// timers is an AfterFunc whose timers fire when the test says.
type timers struct {
	pending []*timer
}

type timer struct {
	d       time.Duration
	f       func()
	stopped bool
}

func (ts *timers) AfterFunc(d time.Duration, f func()) func() bool {
	t := &timer{d: d, f: f}
	ts.pending = append(ts.pending, t)
	return func() bool {
		was := !t.stopped
		t.stopped = true
		return was
	}
}

// fire runs every timer that was not stopped, as time would.
func (ts *timers) fire() {
	p := ts.pending
	ts.pending = nil
	for _, t := range p {
		if !t.stopped {
			t.f()
		}
	}
}

// fireStale runs every timer, stopped or not: a timer whose Stop came too
// late to keep it from running.
func (ts *timers) fireStale() {
	p := ts.pending
	ts.pending = nil
	for _, t := range p {
		t.f()
	}
}

type logLevelFixture struct {
	v      *slog.LevelVar
	timers *timers
	now    time.Time
	l      *LogLevel
	h      http.Handler
	log    bytes.Buffer
}

func newLogLevelFixture(configured wire.LogLevel) *logLevelFixture {
	f := &logLevelFixture{v: new(slog.LevelVar), timers: &timers{}, now: time.Date(2026, 12, 5, 12, 0, 0, 0, time.UTC)}
	f.v.Set(SlogLevel(configured))
	f.l = &LogLevel{Var: f.v, Configured: configured, Now: func() time.Time { return f.now }, AfterFunc: f.timers.AfterFunc,
		Log: slog.New(slog.NewJSONHandler(&f.log, &slog.HandlerOptions{Level: f.v}))}
	f.h = (&Server{LogLevel: f.l}).Handler()
	return f
}

// put sends PUT /log-level from remote with the given content type.
func (f *logLevelFixture) put(t *testing.T, remote, contentType, body string) (int, string) {
	t.Helper()
	r := httptest.NewRequest(http.MethodPut, LogLevelPath, strings.NewReader(body))
	r.RemoteAddr = remote
	if contentType != "" {
		r.Header.Set("Content-Type", contentType)
	}
	w := httptest.NewRecorder()
	f.h.ServeHTTP(w, r)
	return w.Code, w.Body.String()
}

func (f *logLevelFixture) state(t *testing.T) LogLevelState {
	t.Helper()
	code, body := get(t, f.h, LogLevelPath)
	if code != http.StatusOK {
		t.Fatalf("GET %s: %d %s", LogLevelPath, code, body)
	}
	var s LogLevelState
	if err := json.Unmarshal([]byte(body), &s); err != nil {
		t.Fatalf("GET %s: %v: %s", LogLevelPath, err, body)
	}
	return s
}

const loopback = "127.0.0.1:40000"

func TestLogLevelChangesAndReverts(t *testing.T) {
	f := newLogLevelFixture(wire.LogInfo)
	if s := f.state(t); s.Level != wire.LogInfo || s.Configured != wire.LogInfo || s.RevertAt != nil {
		t.Fatalf("before any change: %+v", s)
	}
	if f.v.Level() != slog.LevelInfo {
		t.Fatalf("LevelVar before any change: %v", f.v.Level())
	}

	code, body := f.put(t, loopback, "application/json", `{"level":"debug","for":"5m"}`)
	if code != http.StatusOK {
		t.Fatalf("PUT debug for 5m: %d %s", code, body)
	}
	if f.v.Level() != slog.LevelDebug {
		t.Fatalf("LevelVar after PUT debug: %v", f.v.Level())
	}
	f.now = f.now.Add(time.Minute)
	s := f.state(t)
	wantAt := time.Date(2026, 12, 5, 12, 5, 0, 0, time.UTC)
	if s.Level != wire.LogDebug || s.RevertAt == nil || !s.RevertAt.Equal(wantAt) || s.RevertIn != "4m0s" {
		t.Fatalf("after PUT debug for 5m, a minute on: %+v", s)
	}
	if len(f.timers.pending) != 1 || f.timers.pending[0].d != 5*time.Minute {
		t.Fatalf("revert timers: %+v", f.timers.pending)
	}
	if !strings.Contains(f.log.String(), `"msg":"proxy log level set","level":"debug","from":"info"`) {
		t.Errorf("the change is not logged: %s", f.log.String())
	}

	f.timers.fire()
	if f.v.Level() != slog.LevelInfo {
		t.Fatalf("LevelVar after the revert: %v", f.v.Level())
	}
	if s := f.state(t); s.Level != wire.LogInfo || s.RevertAt != nil || s.RevertIn != "" {
		t.Fatalf("after the revert: %+v", s)
	}
	// The revert is logged at the level being left, before it is left.
	if !strings.Contains(f.log.String(), `"msg":"proxy log level reverts","level":"info","from":"debug"`) {
		t.Errorf("the revert is not logged: %s", f.log.String())
	}
}

func TestLogLevelDefaultDuration(t *testing.T) {
	f := newLogLevelFixture(wire.LogWarn)
	if code, body := f.put(t, "[::1]:40000", "application/json; charset=utf-8", `{"level":"error"}`); code != http.StatusOK {
		t.Fatalf("PUT error: %d %s", code, body)
	}
	if len(f.timers.pending) != 1 || f.timers.pending[0].d != DefaultLogLevelFor {
		t.Fatalf("revert timers: %+v, want one of %s", f.timers.pending, DefaultLogLevelFor)
	}
	if s := f.state(t); s.Level != wire.LogError || s.Configured != wire.LogWarn || s.RevertIn != "10m0s" {
		t.Fatalf("after PUT error: %+v", s)
	}
}

// A second change replaces the first, and the first one's revert, should
// its timer run anyway, does not cut the second short.
func TestLogLevelLaterChangeWins(t *testing.T) {
	f := newLogLevelFixture(wire.LogInfo)
	if code, body := f.put(t, loopback, "application/json", `{"level":"debug","for":"1m"}`); code != http.StatusOK {
		t.Fatalf("first PUT: %d %s", code, body)
	}
	first := f.timers.pending[0]
	if code, body := f.put(t, loopback, "application/json", `{"level":"warn","for":"30m"}`); code != http.StatusOK {
		t.Fatalf("second PUT: %d %s", code, body)
	}
	if !first.stopped {
		t.Error("the first change's revert was not stopped")
	}
	first.f() // its Stop came too late
	if f.v.Level() != slog.LevelWarn {
		t.Fatalf("the first change's revert undid the second: %v", f.v.Level())
	}
	f.timers.fireStale()
	if f.v.Level() != slog.LevelInfo {
		t.Fatalf("the second change did not revert: %v", f.v.Level())
	}
}

// Setting the configured level ends a change at once, with no revert to come.
func TestLogLevelBackToConfigured(t *testing.T) {
	f := newLogLevelFixture(wire.LogInfo)
	f.put(t, loopback, "application/json", `{"level":"debug"}`)
	code, body := f.put(t, loopback, "application/json", `{"level":"info"}`)
	if code != http.StatusOK {
		t.Fatalf("PUT info: %d %s", code, body)
	}
	if s := f.state(t); s.Level != wire.LogInfo || s.RevertAt != nil {
		t.Fatalf("after PUT of the configured level: %+v", s)
	}
	for _, tm := range f.timers.pending {
		if !tm.stopped {
			t.Errorf("a revert is still pending: %+v", tm)
		}
	}
}

// The attacks: a pod elsewhere in the cluster, which reaches the admin port
// on the pod's IP, and a browser page posting a form to a port-forwarded
// admin port. Neither may change the level.
func TestLogLevelRefusals(t *testing.T) {
	for _, c := range []struct {
		name, remote, contentType, body string
		code                            int
	}{
		{"another pod", "198.18.0.7:41000", "application/json", `{"level":"debug"}`, http.StatusForbidden},
		{"the pod's own IP", "198.18.0.5:41000", "application/json", `{"level":"debug"}`, http.StatusForbidden},
		{"IPv6 peer", "[fd00::7]:41000", "application/json", `{"level":"debug"}`, http.StatusForbidden},
		{"unparsable peer", "somewhere", "application/json", `{"level":"debug"}`, http.StatusForbidden},
		{"form post", loopback, "application/x-www-form-urlencoded", `{"level":"debug"}`, http.StatusUnsupportedMediaType},
		{"text/plain, as a simple CORS request may send", loopback, "text/plain", `{"level":"debug"}`, http.StatusUnsupportedMediaType},
		{"no content type", loopback, "", `{"level":"debug"}`, http.StatusUnsupportedMediaType},
		{"unknown level", loopback, "application/json", `{"level":"trace"}`, http.StatusBadRequest},
		{"upper case level", loopback, "application/json", `{"level":"DEBUG"}`, http.StatusBadRequest},
		{"no level", loopback, "application/json", `{"for":"1m"}`, http.StatusBadRequest},
		{"over the maximum", loopback, "application/json", `{"level":"debug","for":"61m"}`, http.StatusBadRequest},
		{"zero", loopback, "application/json", `{"level":"debug","for":"0s"}`, http.StatusBadRequest},
		{"negative", loopback, "application/json", `{"level":"debug","for":"-1m"}`, http.StatusBadRequest},
		{"not a duration", loopback, "application/json", `{"level":"debug","for":"ten minutes"}`, http.StatusBadRequest},
		{"a number of nanoseconds", loopback, "application/json", `{"level":"debug","for":600000000000}`, http.StatusBadRequest},
		{"unknown field", loopback, "application/json", `{"level":"debug","forever":true}`, http.StatusBadRequest},
		{"two objects", loopback, "application/json", `{"level":"debug"}{"level":"debug"}`, http.StatusBadRequest},
		{"too large", loopback, "application/json", `{"level":"debug","for":"1m"` + strings.Repeat(" ", MaxLogLevelBody) + `}`, http.StatusRequestEntityTooLarge},
	} {
		t.Run(c.name, func(t *testing.T) {
			f := newLogLevelFixture(wire.LogInfo)
			code, body := f.put(t, c.remote, c.contentType, c.body)
			if code != c.code {
				t.Errorf("PUT %s from %s (%s): %d %s, want %d", c.body, c.remote, c.contentType, code, body, c.code)
			}
			if f.v.Level() != slog.LevelInfo || len(f.timers.pending) != 0 {
				t.Errorf("the level changed: %v, timers %d", f.v.Level(), len(f.timers.pending))
			}
		})
	}
}

func TestLogLevelOffWithoutVar(t *testing.T) {
	if code, _ := get(t, (&Server{}).Handler(), LogLevelPath); code != http.StatusNotFound {
		t.Errorf("GET %s without a LogLevel: %d, want 404", LogLevelPath, code)
	}
}

func TestLogLevelSetBounds(t *testing.T) {
	f := newLogLevelFixture(wire.LogInfo)
	if _, err := f.l.Set("verbose", time.Minute); err == nil {
		t.Error("Set of an unknown level succeeded")
	}
	if _, err := f.l.Set(wire.LogDebug, MaxLogLevelFor+time.Second); err == nil {
		t.Error("Set beyond the maximum succeeded")
	}
	if _, err := f.l.Set(wire.LogDebug, MaxLogLevelFor); err != nil {
		t.Errorf("Set of the maximum: %v", err)
	}
}

func TestWireLevel(t *testing.T) {
	for _, l := range wire.LogLevels() {
		if got := WireLevel(SlogLevel(l)); got != l {
			t.Errorf("WireLevel(SlogLevel(%s)) = %s", l, got)
		}
	}
	if got := WireLevel(slog.LevelDebug - 4); got != wire.LogDebug {
		t.Errorf("below debug: %s", got)
	}
	if got := WireLevel(slog.LevelInfo + 2); got != wire.LogInfo {
		t.Errorf("between info and warn: %s", got)
	}
}

func TestParseLogLevelChange(t *testing.T) {
	for _, c := range []struct {
		body  string
		level wire.LogLevel
		d     time.Duration
		err   string
	}{
		{`{"level":"debug"}`, wire.LogDebug, DefaultLogLevelFor, ""},
		{`{"level":"warn","for":"1h"}`, wire.LogWarn, time.Hour, ""},
		{` {"for":"90s","level":"error"} ` + "\n", wire.LogError, 90 * time.Second, ""},
		{`{"level":"info","for":"1ns"}`, wire.LogInfo, time.Nanosecond, ""},
		{``, "", 0, "not a log-level change"},
		{`null`, "", 0, "unknown log level"},
		{`[]`, "", 0, "not a log-level change"},
		{`{"level":"debug"`, "", 0, "not a log-level change"},
		{`{"level":"debug"} x`, "", 0, "more than one"},
		{`{"level":"debug","for":"1h0m1s"}`, "", 0, "at most 1h0m0s"},
		{`{"level":"debug","for":"-5m"}`, "", 0, "more than 0s"},
		{`{"level":"debug","for":""}`, wire.LogDebug, DefaultLogLevelFor, ""},
		{`{"level":"debug","Level":"info"}`, wire.LogInfo, DefaultLogLevelFor, ""},
		{`{"level":1}`, "", 0, "not a log-level change"},
	} {
		level, d, err := ParseLogLevelChange([]byte(c.body))
		if c.err != "" {
			if err == nil || !strings.Contains(err.Error(), c.err) {
				t.Errorf("%q: %v, want an error with %q", c.body, err, c.err)
			}
			continue
		}
		if err != nil || level != c.level || d != c.d {
			t.Errorf("%q: %s %s %v, want %s %s", c.body, level, d, err, c.level, c.d)
		}
	}
}

func FuzzParseLogLevelChange(f *testing.F) {
	for _, s := range []string{`{"level":"debug"}`, `{"level":"warn","for":"1h"}`, `{"for":"-1ns","level":"info"}`, `{}`, ``} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		level, d, err := ParseLogLevelChange(b)
		if err != nil {
			return
		}
		if _, err := wire.ParseLogLevel(string(level)); err != nil {
			t.Fatalf("accepted level %q: %v", level, err)
		}
		if d <= 0 || d > MaxLogLevelFor {
			t.Fatalf("accepted duration %s", d)
		}
	})
}

// The real clock: a change reverts by itself, without any caller.
func TestLogLevelRevertsOnTheRealTimer(t *testing.T) {
	v := new(slog.LevelVar)
	l := &LogLevel{Var: v, Configured: wire.LogInfo}
	if _, err := l.Set(wire.LogDebug, time.Millisecond); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	for v.Level() != slog.LevelInfo {
		select {
		case <-ctx.Done():
			t.Fatalf("no revert: %v", v.Level())
		case <-time.After(time.Millisecond):
		}
	}
}

// Stop leaves no revert pending once the proxy stops.
func TestLogLevelStop(t *testing.T) {
	f := newLogLevelFixture(wire.LogInfo)
	if _, err := f.l.Set(wire.LogDebug, time.Minute); err != nil {
		t.Fatal(err)
	}
	f.l.Stop()
	if len(f.timers.pending) != 1 || !f.timers.pending[0].stopped {
		t.Fatalf("the revert is still pending: %+v", f.timers.pending)
	}
	f.timers.fireStale()
	if f.v.Level() != slog.LevelDebug {
		t.Errorf("a revert ran after Stop: %v", f.v.Level())
	}
}
