package proxy

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"

	"github.com/meshctl/meshctl/pkg/channel"
	"github.com/meshctl/meshctl/pkg/identity"
	"github.com/meshctl/meshctl/pkg/proxy/admin"
	"github.com/meshctl/meshctl/pkg/proxy/auth"
	"github.com/meshctl/meshctl/pkg/proxy/propagation"
	"github.com/meshctl/meshctl/pkg/proxy/telemetry"
	"github.com/meshctl/meshctl/pkg/proxyconfig/wire"
)

// liveFixture is a liveSettings for the workload books/stars, as
// startIdentity makes it, with a key to sign tokens.
type liveFixture struct {
	live  *liveSettings
	level *slog.LevelVar
	jwks  string
	good  string
}

func newLiveFixture(t *testing.T, r wire.Run) *liveFixture {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	pt, _ := key.PublicKey.Bytes()
	jwks, _ := json.Marshal(map[string]any{"keys": []map[string]string{{"kty": "EC", "crv": "P-256", "kid": "k", "x": b64(pt[1:33]), "y": b64(pt[33:])}}})
	tok := jwt.NewWithClaims(jwt.SigningMethodES256, jwt.MapClaims{"iss": "https://issuer", "aud": "books", "exp": time.Now().Add(time.Hour).Unix()})
	tok.Header["kid"] = "k"
	good, err := tok.SignedString(key)
	if err != nil {
		t.Fatal(err)
	}
	f := &liveFixture{level: new(slog.LevelVar), jwks: string(jwks), good: good}
	f.level.Set(admin.SlogLevel(r.LogLevel))
	ctx, cancel := context.WithCancel(context.Background())
	t.Cleanup(cancel)
	log := slog.New(slog.DiscardHandler)
	lvl := &admin.LogLevel{Var: f.level, Configured: r.LogLevel}
	t.Cleanup(lvl.Stop)
	tracer := telemetry.NewDisabledTracer("stars.books")
	t.Cleanup(func() { tracer.Shutdown(context.Background()) })
	var v *auth.Validator
	if j := r.JWT; j != nil {
		set, err := auth.ParseJWKS([]byte(j.JWKS))
		if err != nil {
			t.Fatal(err)
		}
		if v, err = auth.New(auth.Options{Issuer: j.Issuer, Audiences: j.Audiences, Keys: auth.StaticKeys(set)}); err != nil {
			t.Fatal(err)
		}
	}
	f.live = newLiveSettings(ctx, r, identity.ID{}, lvl, tracer, v, nil, nil, log)
	self, err := identity.NewID(identity.DefaultTrustDomain, "books", "stars")
	if err != nil {
		t.Fatal(err)
	}
	f.live.self = self
	return f
}

// check is what the inbound handler asks of the switch for a request
// carrying token (none when empty): nil when it passes.
func (f *liveFixture) check(token string) error {
	r := httptest.NewRequest("GET", "http://books/books", nil)
	if token != "" {
		r.Header.Set("Authorization", "Bearer "+token)
	}
	if f.live.jwt.Exempt("GET", 8080, "/books") {
		return nil
	}
	return f.live.jwt.Check(r)
}

func (f *liveFixture) jwt(dst ...channel.JWTDestination) *channel.JWT {
	return &channel.JWT{Enable: true, Issuer: "https://issuer", Audiences: []string{"books"}, JWKS: f.jwks, Destinations: dst}
}

// TestLiveJWTScopedByIdentity: a token is required exactly where the
// settings name this workload's identity, and the change needs no
// restart.
func TestLiveJWTScopedByIdentity(t *testing.T) {
	f := newLiveFixture(t, run())
	if err := f.check(""); err != nil {
		t.Fatalf("before any settings, with no JWT argument: %v", err)
	}
	for _, tc := range []struct {
		name     string
		dst      []channel.JWTDestination
		required bool
	}{
		{"every workload", nil, true},
		{"its ServiceAccount", []channel.JWTDestination{{Namespace: "books", ServiceAccount: "stars"}}, true},
		{"its namespace", []channel.JWTDestination{{Namespace: "books"}}, true},
		{"another ServiceAccount of its namespace", []channel.JWTDestination{{Namespace: "books", ServiceAccount: "books"}}, false},
		{"another namespace", []channel.JWTDestination{{Namespace: "stars"}}, false},
		{"names swapped", []channel.JWTDestination{{Namespace: "stars", ServiceAccount: "books"}}, false},
		{"one of several", []channel.JWTDestination{{Namespace: "bookstore"}, {Namespace: "books", ServiceAccount: "stars"}}, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s := channel.Settings{EnableEgress: true, JWT: f.jwt(tc.dst...)}
			f.live.apply(s)
			err := f.check("")
			if tc.required != (err != nil) {
				t.Errorf("no token: %v; want required %t", err, tc.required)
			}
			if err := f.check(f.good); err != nil {
				t.Errorf("a valid token: %v", err)
			}
			if tc.required && f.check(f.good[:len(f.good)-4]+"AAAA") == nil {
				t.Error("a token with a bad signature passed")
			}
			st := f.live.Status()
			if st.JWT != tc.required || st.Digest != s.Digest() || st.Error != "" {
				t.Errorf("status %+v; want jwt %t, digest %s", st, tc.required, s.Digest())
			}
		})
	}
}

// TestLiveJWTNotTurnedOffByOmission: a controller that says nothing of
// JWT (an older one, during a rollout) leaves validation as the proxy's
// arguments or the last settings put it; only an explicit "off" turns it
// off.
func TestLiveJWTNotTurnedOffByOmission(t *testing.T) {
	keys := newLiveFixture(t, run())
	r := run()
	r.JWT = &wire.JWT{Issuer: "https://issuer", Audiences: []string{"books"}, JWKS: keys.jwks}
	f := newLiveFixture(t, r)
	// Arguments say on; settings without jwt keep it on.
	f.live.apply(channel.Settings{EnableEgress: true})
	if err := f.check(""); !errors.Is(err, auth.ErrNoToken) {
		t.Fatalf("settings without jwt over an argument's validation: %v, want ErrNoToken", err)
	}
	f.live.apply(channel.Settings{EnableEgress: true, JWT: &channel.JWT{}})
	if err := f.check(""); err != nil {
		t.Fatalf("jwt explicitly off: %v", err)
	}
	f.live.apply(channel.Settings{EnableEgress: true, JWT: f.jwt()})
	f.live.apply(channel.Settings{EnableEgress: true, LogLevel: "debug"})
	if err := f.check(""); !errors.Is(err, auth.ErrNoToken) {
		t.Fatalf("settings without jwt after settings with: %v, want ErrNoToken", err)
	}
}

// TestLiveJWTBadKeysKeepThePrevious: keys that do not parse leave the
// validator in force, and the status says so, so `meshctl check` names
// the proxy.
func TestLiveJWTBadKeysKeepThePrevious(t *testing.T) {
	f := newLiveFixture(t, run())
	good := channel.Settings{EnableEgress: true, JWT: f.jwt()}
	f.live.apply(good)
	bad := good
	bad.JWT = f.jwt()
	bad.JWT.JWKS = `{"keys":[{"kty":"EC","crv":"P-256","kid":"k","x":"!!","y":"!!"}]}`
	bad.EnableEgress = false
	f.live.apply(bad)
	if err := f.check(""); err == nil {
		t.Error("bad keys turned validation off")
	}
	if err := f.check(f.good); err != nil {
		t.Errorf("bad keys replaced the good ones: %v", err)
	}
	st := f.live.Status()
	if st.Digest != good.Digest() || !strings.Contains(st.Error, "jwks") {
		t.Errorf("status %+v; want the previous digest and an error about the jwks", st)
	}
	if f.live.Egress() {
		t.Error("the rest of the settings were not put in force")
	}
}

// TestLiveLogLevel: the MeshConfig's level replaces the configured one,
// waits for a temporary change to end, and leaves a workload's own.
func TestLiveLogLevel(t *testing.T) {
	f := newLiveFixture(t, run())
	f.live.apply(channel.Settings{EnableEgress: true, LogLevel: "debug"})
	if got := f.level.Level(); got != slog.LevelDebug {
		t.Errorf("level %v after settings said debug", got)
	}
	if _, err := f.live.level.Set(wire.LogError, time.Minute); err != nil {
		t.Fatal(err)
	}
	f.live.apply(channel.Settings{EnableEgress: true, LogLevel: "warn"})
	if got := f.level.Level(); got != slog.LevelError {
		t.Errorf("a new configured level cut short a temporary change: %v", got)
	}
	if st := f.live.level.State(); st.Configured != wire.LogWarn {
		t.Errorf("configured %s, want warn", st.Configured)
	}

	r := run()
	r.LogLevel, r.LogLevelPinned = wire.LogError, true
	pinned := newLiveFixture(t, r)
	pinned.live.apply(channel.Settings{EnableEgress: true, LogLevel: "debug"})
	if got := pinned.level.Level(); got != slog.LevelError {
		t.Errorf("a workload's own level was replaced by the MeshConfig's: %v", got)
	}
	if st := pinned.live.Status(); !st.Pinned || st.LogLevel != wire.LogError {
		t.Errorf("status %+v, want pinned at error", st)
	}
}

// TestLiveTracing: spans go to the collector the settings name from the
// next request on, and stop when they say off.
func TestLiveTracing(t *testing.T) {
	var got atomic.Int32
	collector := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		io.Copy(io.Discard, r.Body)
		got.Add(1)
	}))
	defer collector.Close()
	host, port, _ := net.SplitHostPort(strings.TrimPrefix(collector.URL, "http://"))
	p, _ := strconv.Atoi(port)
	f := newLiveFixture(t, run())
	on := channel.Settings{EnableEgress: true, Tracing: &channel.Tracing{Enable: true, Address: host, Port: uint16(p), Endpoint: "/v1/traces"}}
	f.live.apply(on)
	if !f.live.tracer.Enabled() || !f.live.Status().Tracing {
		t.Fatal("tracing not on")
	}
	f.live.tracer.Start(context.Background(), "inbound GET", true, propagation.TraceContext{}, false).End(200)
	// Off flushes the exporter being replaced.
	f.live.apply(channel.Settings{EnableEgress: true, Tracing: &channel.Tracing{}})
	if f.live.tracer.Enabled() {
		t.Fatal("tracing still on")
	}
	deadline := time.Now().Add(10 * time.Second)
	for got.Load() == 0 && time.Now().Before(deadline) {
		time.Sleep(20 * time.Millisecond)
	}
	if got.Load() == 0 {
		t.Fatal("the collector received no span")
	}
	if !netip.MustParseAddr(host).IsLoopback() {
		t.Fatalf("collector on %s", host)
	}
}
