package controller

import (
	"context"
	"log/slog"
	"net/http"
	"sync/atomic"
	"time"

	"github.com/meshctl/meshctl/pkg/controller/ca"
	ctrlchannel "github.com/meshctl/meshctl/pkg/controller/channel"
	"github.com/meshctl/meshctl/pkg/identity"
	"github.com/meshctl/meshctl/pkg/meshconfig"
)

// channelHandler serves the channel on the proxy API port once its server
// runs, and 503 until then, as the server itself does before its first
// snapshot: the proxy retries.
type channelHandler struct {
	srv atomic.Pointer[ctrlchannel.Server]
}

// invalidate has the server rebuild its snapshot, once it runs: the CA's
// state, whose issuer every snapshot names, changed.
func (h *channelHandler) invalidate() {
	if s := h.srv.Load(); s != nil {
		s.Invalidate()
	}
}

// issuerFingerprint is the fingerprint of the issuer auth signs with now;
// "" while there is none.
func issuerFingerprint(auth *ca.Authority) string {
	if is := auth.Issuer(); is != nil {
		return identity.FingerprintOf(is.Certificate())
	}
	return ""
}

func (h *channelHandler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if s := h.srv.Load(); s != nil {
		s.Handler().ServeHTTP(w, r)
		return
	}
	w.Header().Set("Retry-After", "1")
	http.Error(w, "the channel is starting", http.StatusServiceUnavailable)
}

// runChannel starts the channel server once the trust domain is known (the
// MeshConfig has been read; it cannot change afterwards), and runs it
// until ctx ends. Every replica runs its own: the snapshot is built from
// the same informers' state, so replicas publish the same version.
func runChannel(ctx context.Context, o *Options, mc *MeshConfigWatcher, auth *ca.Authority, h *channelHandler, log *slog.Logger) error {
	var td string
	for {
		if spec, err := mc.Identity(); err == nil {
			td = spec.TrustDomain
			if td == "" {
				td = meshconfig.DefaultTrustDomain
			}
			break
		}
		select {
		case <-ctx.Done():
			return nil
		case <-time.After(200 * time.Millisecond):
		}
	}
	ctrlID, err := meshconfig.ControllerID(td, o.MeshNamespace)
	if err != nil {
		return err
	}
	srv, err := ctrlchannel.New(ctrlchannel.Options{
		Kube: o.Kube, MeshName: o.MeshName, TrustDomain: td, ControllerID: ctrlID, Sources: auth.Sources(),
		Issuer:  func() string { return issuerFingerprint(auth) },
		Dynamic: o.Dynamic, Permissive: mc.Permissive, Settings: mc.Settings,
		Metrics: o.Metrics.Channel, Log: log,
	})
	if err != nil {
		return err
	}
	h.srv.Store(srv)
	if err := srv.Run(ctx); err != nil && ctx.Err() == nil {
		return err
	}
	return nil
}
