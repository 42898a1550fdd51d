package proxy

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/netip"
	"sync/atomic"

	"github.com/meshctl/meshctl/pkg/channel"
	"github.com/meshctl/meshctl/pkg/identity"
	"github.com/meshctl/meshctl/pkg/policy"
	"github.com/meshctl/meshctl/pkg/proxy/admin"
	"github.com/meshctl/meshctl/pkg/proxy/authz"
	proxychannel "github.com/meshctl/meshctl/pkg/proxy/channel"
	"github.com/meshctl/meshctl/pkg/proxy/credentials"
	"github.com/meshctl/meshctl/pkg/proxy/meshtls"
	"github.com/meshctl/meshctl/pkg/proxyconfig/wire"
)

// startIdentity starts what a proxy injected with --controller-address
// needs to take part in the mesh: its credentials (key, certificate from
// the controller, trust bundle from the mounted file) and, once it holds a
// certificate, the channel. It returns the Identity that Run wires into the
// data path, whose Ready is closed once the proxy has a certificate, a
// bundle and the channel's first snapshot.
func startIdentity(ctx context.Context, w *wire.Identity, pod wire.Pod, files Files, live *liveSettings, log *slog.Logger) (*Identity, error) {
	if pod.Namespace == "" || pod.ServiceAccount == "" {
		return nil, errors.New("identity: the pod's namespace and service account are unknown (environment variables " +
			wire.EnvPodNamespace + " and " + wire.EnvServiceAccount + ")")
	}
	creds, err := credentials.New(credentials.Options{
		ControllerAddress: w.ControllerAddress, ControllerID: w.ControllerID,
		Namespace: pod.Namespace, ServiceAccount: pod.ServiceAccount,
		TokenPath: files.TokenPath, BundlePath: files.TrustBundlePath, ReadFile: files.ReadFile,
		Log: log.With("component", "identity"),
	})
	if err != nil {
		return nil, err
	}
	az := authz.Waiting(log.With("component", "authz"))
	az.Probes = wire.NewProbeSet(w.AppProbes)
	// JWT destinations name workloads by identity. Set before the
	// channel starts, which is the only caller of live.apply.
	live.self = creds.ID()
	// policySeen: a policy has arrived (applyPolicy).
	var policySeen atomic.Bool
	ch, err := proxychannel.New(proxychannel.Options{
		Address: w.ControllerAddress, ControllerID: w.ControllerID, Sources: creds.Sources(),
		Log: log.With("component", "channel"),
		OnSnapshot: func(s *channel.Snapshot) {
			// A new issuer on the channel is renewed to at once, so an
			// issuer rotation does not wait for every certificate's
			// usual renewal.
			creds.IssuerAnnounced(s.Content.Issuer)
			settings, err := channel.DecodeSettings(s.Content.SettingsV1)
			applyPolicy(az, s, settings.PolicyWithheld, creds.ID(), &policySeen, log)
			if err != nil {
				log.Error("the snapshot's settings do not decode; keeping those in force", "version", s.Version.String(), "error", err)
				live.refuse(err)
			} else {
				live.apply(settings)
			}
		},
	})
	if err != nil {
		return nil, fmt.Errorf("channel: %w", err)
	}
	go creds.Run(ctx)
	ready := make(chan struct{})
	go func() {
		// The channel authenticates the proxy by its certificate: before
		// there is one, every attempt would be refused.
		select {
		case <-ctx.Done():
			return
		case <-creds.Ready():
		}
		go ch.Run(ctx)
		select {
		case <-ctx.Done():
		case <-ch.Synced():
			close(ready)
		}
	}()
	return &Identity{
		Sources:  creds.Sources(),
		Resolver: indexResolver{ch},
		Ready:    ready,
		Authz:    az,
		Self:     creds.ID(),
		Egress: func(dst netip.AddrPort) bool {
			return live.Egress() || ch.Index().InMesh(dst)
		},
		Status: func() any {
			cs, chs := creds.Status(), ch.Status()
			return admin.Status{Identity: &cs, Channel: &chs, Settings: live.Status()}
		},
	}, nil
}

// applyPolicy puts in force the part of the snapshot's policy that is the
// proxy's own identity's. A snapshot without policy from a controller
// that never sent one (from before authorization) allows everything, as
// such a mesh always did; once a policy has arrived, a snapshot without
// one (a replica of an older version during a rollout) keeps the policy
// in force rather than open everything. One whose policy does not decode
// keeps the policy in force too, which is stale but was valid.
func applyPolicy(az *authz.Authorizer, s *channel.Snapshot, withheld bool, self identity.ID, seen *atomic.Bool, log *slog.Logger) {
	if len(s.Content.PolicyV1) == 0 {
		if withheld {
			log.Error("the controller withheld the mesh's policy (too large to send); keeping the policy in force", "version", s.Version.String())
			return
		}
		if seen.Load() {
			log.Warn("a snapshot without policy after one with; keeping the policy in force", "version", s.Version.String())
			return
		}
		az.Set(nil)
		return
	}
	seen.Store(true)
	// Only this proxy's part is compiled: another namespace's rules cost
	// it nothing but their bytes.
	p, err := policy.DecodeFor(s.Content.PolicyV1, self, policy.DefaultLimits())
	if err != nil {
		log.Error("the snapshot's policy does not decode; keeping the policy in force", "version", s.Version.String(), "error", err)
		return
	}
	az.Set(p)
}

// indexResolver resolves destinations with the channel's latest snapshot;
// before the first, every destination is unknown (plain text, as without
// the mesh), though the proxy is not ready then anyway.
type indexResolver struct{ ch *proxychannel.Client }

func (r indexResolver) Resolve(dst netip.AddrPort) (meshtls.Target, bool) {
	addr, id, ok := r.ch.Index().Resolve(dst)
	return meshtls.Target{Addr: addr, ID: id}, ok
}

// Files are where the proxy reads its token and trust bundle.
type Files struct {
	// TokenPath and TrustBundlePath are wire.TokenPath and
	// wire.TrustBundlePath when empty.
	TokenPath, TrustBundlePath string
	// ReadFile reads them; os.ReadFile when nil.
	ReadFile func(string) ([]byte, error)
}

func (f Files) withDefaults() Files {
	if f.TokenPath == "" {
		f.TokenPath = wire.TokenPath
	}
	if f.TrustBundlePath == "" {
		f.TrustBundlePath = wire.TrustBundlePath
	}
	return f
}

var _ meshtls.Resolver = indexResolver{}
