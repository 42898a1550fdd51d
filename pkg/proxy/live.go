package proxy

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"reflect"
	"sync"
	"sync/atomic"

	"github.com/meshctl/meshctl/pkg/channel"
	"github.com/meshctl/meshctl/pkg/identity"
	"github.com/meshctl/meshctl/pkg/proxy/admin"
	"github.com/meshctl/meshctl/pkg/proxy/auth"
	"github.com/meshctl/meshctl/pkg/proxy/telemetry"
	"github.com/meshctl/meshctl/pkg/proxyconfig/wire"
)

// liveSettings puts in force the MeshConfig settings that every snapshot
// carries (channel.Settings): egress, the log level, tracing, and JWT
// validation where this workload requires it. Until a snapshot says
// otherwise, and for every field a controller leaves out, the proxy
// follows its arguments: an older controller never turns a protection
// off.
type liveSettings struct {
	ctx    context.Context // bounds JWKS fetches
	self   identity.ID     // zero without identity: JWT destinations name no one
	pinned bool            // the log level is the workload's own
	probes []wire.Probe    // the app's probes, which pass without a token
	client *http.Client
	level  *admin.LogLevel
	tracer *telemetry.Tracer
	jwt    *auth.Switch
	log    *slog.Logger

	egressOff atomic.Bool

	mu       sync.Mutex
	jwtCfg   *channel.JWT // the JWT settings in force (Destinations cleared), nil when off
	stopKeys func()       // stops refreshing jwtCfg's keys
	status   admin.SettingsStatus
}

// newLiveSettings starts from what the arguments say. v is the validator
// they built (nil without --jwt-issuer) and stopKeys what stops its keys'
// refresh.
func newLiveSettings(ctx context.Context, r wire.Run, self identity.ID, level *admin.LogLevel, tracer *telemetry.Tracer,
	v *auth.Validator, stopKeys func(), client *http.Client, log *slog.Logger) *liveSettings {
	l := &liveSettings{
		ctx: ctx, self: self, pinned: r.LogLevelPinned, client: client,
		level: level, tracer: tracer, jwt: auth.NewSwitch(v), stopKeys: stopKeys,
		log: log.With("component", "settings"),
	}
	switch {
	case r.Identity != nil:
		l.probes = r.Identity.AppProbes
	case r.JWT != nil:
		l.probes = r.JWT.ExemptProbes
	}
	if j := r.JWT; j != nil {
		l.jwtCfg = &channel.JWT{Enable: true, Issuer: j.Issuer, Audiences: j.Audiences, JWKSURL: j.JWKSURL, JWKS: j.JWKS}
	}
	l.status = l.inForce()
	return l
}

// Egress says whether the MeshConfig lets the app reach destinations
// outside the mesh.
func (l *liveSettings) Egress() bool { return !l.egressOff.Load() }

// Status is what /status shows of the settings.
func (l *liveSettings) Status() *admin.SettingsStatus {
	l.mu.Lock()
	defer l.mu.Unlock()
	s := l.status
	return &s
}

// refuse records settings that could not be read: the proxy keeps those
// in force.
func (l *liveSettings) refuse(err error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.status.Error = err.Error()
}

// apply puts s in force. A part that cannot be (keys that do not parse,
// say) keeps what was in force for that part, and the status says so.
func (l *liveSettings) apply(s channel.Settings) {
	l.mu.Lock()
	defer l.mu.Unlock()
	var errs []error
	if l.egressOff.Swap(!s.EnableEgress) != !s.EnableEgress {
		l.log.Info("egress to destinations outside the mesh", "allowed", s.EnableEgress)
	}
	if s.LogLevel != "" && !l.pinned {
		if err := l.level.SetConfigured(s.LogLevel); err != nil {
			errs = append(errs, fmt.Errorf("logLevel: %w", err))
		}
	}
	if t := s.Tracing; t != nil {
		var cfg *wire.Tracing
		if t.Enable {
			cfg = &wire.Tracing{Address: t.Address, Port: int32(t.Port), Endpoint: t.Endpoint}
		}
		was := l.tracer.Collector()
		if err := l.tracer.Configure(l.ctx, cfg); err != nil {
			errs = append(errs, fmt.Errorf("tracing: %w", err))
		} else if !reflect.DeepEqual(was, cfg) {
			l.log.Info("span export", "enabled", cfg != nil, "collector", collector(cfg))
		}
	}
	if s.JWT != nil {
		if err := l.applyJWT(s.JWT); err != nil {
			errs = append(errs, fmt.Errorf("jwt: %w", err))
		}
	}
	l.status = l.inForce()
	if err := errors.Join(errs...); err != nil {
		l.log.Error("settings not all put in force; keeping the previous ones for those", "error", err)
		l.status.Error = err.Error()
		return
	}
	l.status.Digest = s.Digest()
}

// applyJWT validates tokens as j says when this workload is one of its
// destinations, and stops validating when it is not.
func (l *liveSettings) applyJWT(j *channel.JWT) error {
	var want *channel.JWT
	if !l.self.IsZero() && j.RequiredBy(l.self) {
		c := *j
		c.Destinations = nil
		want = &c
	}
	if reflect.DeepEqual(want, l.jwtCfg) {
		return nil
	}
	if want == nil {
		l.jwt.Set(nil)
		l.replaceKeys(nil)
		l.jwtCfg = nil
		l.log.Info("JWT validation off for this workload")
		return nil
	}
	keys, stop, err := l.keysFor(want)
	if err != nil {
		return err
	}
	v, err := auth.New(auth.Options{Issuer: want.Issuer, Audiences: want.Audiences, Keys: keys, ExemptProbes: l.probes})
	if err != nil {
		stop()
		return err
	}
	l.jwt.Set(v)
	l.replaceKeys(stop)
	l.jwtCfg = want
	l.log.Info("JWT validation on for this workload", "issuer", want.Issuer)
	return nil
}

// keysFor are j's keys: parsed at once when inline, else fetched in the
// background (until they arrive, tokens are refused, as at start-up) and
// refreshed until stop.
func (l *liveSettings) keysFor(j *channel.JWT) (*auth.Keys, func(), error) {
	if j.JWKS != "" {
		set, err := auth.ParseJWKS([]byte(j.JWKS))
		if err != nil {
			return nil, nil, fmt.Errorf("jwks: %w", err)
		}
		return auth.StaticKeys(set), func() {}, nil
	}
	keys := &auth.Keys{URL: j.JWKSURL, Client: l.client, Log: l.log}
	ctx, cancel := context.WithCancel(l.ctx)
	go func() {
		if err := keys.Fetch(ctx); err != nil && ctx.Err() == nil {
			l.log.Warn("JWKS not fetched yet; tokens are rejected until it is", "error", err)
		}
		keys.Run(ctx)
	}()
	return keys, cancel, nil
}

func (l *liveSettings) replaceKeys(stop func()) {
	if l.stopKeys != nil {
		l.stopKeys()
	}
	l.stopKeys = stop
}

// inForce describes what is in force now, keeping Digest.
func (l *liveSettings) inForce() admin.SettingsStatus {
	return admin.SettingsStatus{
		Digest:   l.status.Digest,
		Egress:   l.Egress(),
		LogLevel: l.level.State().Configured,
		Pinned:   l.pinned,
		Tracing:  l.tracer.Enabled(),
		JWT:      l.jwt.Current() != nil,
	}
}

func collector(t *wire.Tracing) string {
	if t == nil {
		return ""
	}
	return fmt.Sprintf("%s:%d%s", t.Address, t.Port, t.Endpoint)
}
