package proxyadmin

import (
	"bytes"
	"errors"
	"net/http"
	"net/http/httptest"
	"os"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/meshctl/meshctl/internal/golden"
	"github.com/meshctl/meshctl/pkg/cli"
	"github.com/meshctl/meshctl/pkg/proxy/admin"
	"github.com/meshctl/meshctl/pkg/proxyconfig/wire"
)

func TestConfigGolden(t *testing.T) {
	// What a proxy's /config shows: admin.Redact's output, encoded as the
	// admin port encodes it.
	run := admin.Redact(wire.Run{
		LogLevel: wire.LogInfo, InboundPort: wire.InboundPort, OutboundPort: wire.OutboundPort, AdminPort: wire.AdminPort, Metrics: true,
		JWT: &wire.JWT{Issuer: "https://issuer.example", Audiences: []string{"books"}, JWKS: `{"keys":[{"d":"private!"}]}`},
	})
	w := httptest.NewRecorder()
	(&admin.Server{Config: run}).Handler().ServeHTTP(w, httptest.NewRequest(http.MethodGet, wire.ConfigPath, nil))
	pc, err := NewProxyConfig(w.Body.Bytes())
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range []struct {
		name  string
		write func(*bytes.Buffer) error
	}{
		{"config.json", func(b *bytes.Buffer) error { return pc.WriteJSON(b) }},
		{"config.yaml", func(b *bytes.Buffer) error { return pc.WriteYAML(b) }},
	} {
		var b bytes.Buffer
		if err := f.write(&b); err != nil {
			t.Fatal(err)
		}
		if strings.Contains(b.String(), "private!") {
			t.Errorf("%s shows the JWKS: %s", f.name, b.String())
		}
		golden.Assert(t, "testdata/"+f.name+".golden", b.Bytes())
	}
	for _, bad := range []string{``, `[]`, `"x"`, `{"a":1`, `{} {}`} {
		if _, err := NewProxyConfig([]byte(bad)); err == nil {
			t.Errorf("NewProxyConfig(%q) succeeded", bad)
		}
	}
}

func TestStatsGolden(t *testing.T) {
	text, err := os.ReadFile("testdata/metrics.txt")
	if err != nil {
		t.Fatal(err)
	}
	fams, err := ParseMetrics(text)
	if err != nil {
		t.Fatal(err)
	}
	all := &Stats{Families: fams}
	var b bytes.Buffer
	if err := all.WriteText(&b); err != nil {
		t.Fatal(err)
	}
	if b.String() != string(text) {
		t.Errorf("unfiltered text is not the proxy's:\n%s", golden.Diff(text, b.Bytes()))
	}
	for _, c := range []struct {
		name, filter string
		write        func(*Stats, *bytes.Buffer) error
	}{
		{"stats-requests.text", "requests", func(s *Stats, b *bytes.Buffer) error { return s.WriteText(b) }},
		{"stats-requests.json", "requests", func(s *Stats, b *bytes.Buffer) error { return s.WriteJSON(b) }},
		{"stats-anchored.text", "^mesh_proxy_requests_total$", func(s *Stats, b *bytes.Buffer) error { return s.WriteText(b) }},
		{"stats-all.yaml", "", func(s *Stats, b *bytes.Buffer) error { return s.WriteYAML(b) }},
	} {
		var re *regexp.Regexp
		if c.filter != "" {
			re = regexp.MustCompile(c.filter)
		}
		var b bytes.Buffer
		if err := c.write(&Stats{Families: FilterFamilies(fams, re)}, &b); err != nil {
			t.Fatal(err)
		}
		golden.Assert(t, "testdata/"+c.name+".golden", b.Bytes())
	}
}

func TestLogLevelGolden(t *testing.T) {
	at := time.Date(2026, 12, 5, 12, 10, 0, 0, time.UTC)
	changed := &LogLevel{Pod: "bookstore-7d9c", Namespace: "bookstore", changed: true,
		LogLevelState: admin.LogLevelState{Level: wire.LogDebug, Configured: wire.LogInfo, RevertAt: &at, RevertIn: "10m0s"}}
	shown := &LogLevel{Pod: "bookstore-7d9c", Namespace: "bookstore",
		LogLevelState: admin.LogLevelState{Level: wire.LogWarn, Configured: wire.LogWarn}}
	for _, c := range []struct {
		name  string
		write func(*bytes.Buffer) error
	}{
		{"loglevel-set.table", func(b *bytes.Buffer) error { return changed.WriteTable(b) }},
		{"loglevel-set.json", func(b *bytes.Buffer) error { return changed.WriteJSON(b) }},
		{"loglevel-configured.table", func(b *bytes.Buffer) error { return shown.WriteTable(b) }},
	} {
		var b bytes.Buffer
		if err := c.write(&b); err != nil {
			t.Fatal(err)
		}
		golden.Assert(t, "testdata/"+c.name+".golden", b.Bytes())
	}
}

func TestLogLevelValidate(t *testing.T) {
	for _, c := range []struct {
		level wire.LogLevel
		d     time.Duration
		ok    bool
	}{
		{"debug", 10 * time.Minute, true},
		{"", 10 * time.Minute, true},
		{"error", time.Hour, true},
		{"trace", 10 * time.Minute, false},
		{"Debug", 10 * time.Minute, false},
		{"debug", time.Hour + time.Second, false},
		{"debug", 0, false},
		{"debug", -time.Minute, false},
	} {
		o := &LogLevelOptions{Target: Target{Pod: "p"}, Level: c.level, For: c.d}
		err := o.Validate()
		if c.ok != (err == nil) {
			t.Errorf("level %q for %s: %v", c.level, c.d, err)
		}
		if err != nil && !isUsage(err) {
			t.Errorf("level %q for %s: %v is not a usage error", c.level, c.d, err)
		}
	}
	if err := (&LogLevelOptions{For: time.Minute}).Validate(); !isUsage(err) {
		t.Errorf("no pod: %v", err)
	}
	if err := (&StatsOptions{Target: Target{Pod: "p"}, Filter: "a("}).Validate(); !isUsage(err) {
		t.Errorf("a bad filter: %v", err)
	}
}

func isUsage(err error) bool {
	var u *cli.UsageError
	return errors.As(err, &u)
}

func TestShortDuration(t *testing.T) {
	for d, want := range map[time.Duration]string{
		10 * time.Minute: "10m", time.Hour: "1h", 90 * time.Minute: "1h30m", 299 * time.Second: "4m59s", 0: "0s", 30 * time.Second: "30s", time.Hour + time.Second: "1h0m1s",
	} {
		if got := ShortDuration(d); got != want {
			t.Errorf("ShortDuration(%s) = %q, want %q", d, got, want)
		}
	}
}
