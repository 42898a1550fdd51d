package check

import (
	"context"
	"fmt"
	"slices"

	corev1 "k8s.io/api/core/v1"

	"github.com/meshctl/meshctl/pkg/identity"
	"github.com/meshctl/meshctl/pkg/proxyadmin"
	"github.com/meshctl/meshctl/pkg/proxyconfig"
)

// proxyStatus is env's reader: ProxyStatus, or a port-forward through
// env's clients.
func (env *Env) proxyStatus() proxyadmin.StatusReader {
	if env.ProxyStatus != nil {
		return env.ProxyStatus
	}
	return (&proxyadmin.Client{Config: env.Clients.Config, Kube: env.Clients.Kube}).Status
}

// proxyReports are the statuses of every ready proxy with identity, read
// once per attempt for the checks that need them.
func (env *Env) proxyReports(ctx context.Context) ([]proxyadmin.Report, error) {
	return env.cache.proxies.get(func() ([]proxyadmin.Report, error) {
		dp, err := env.dataPlane(ctx)
		if err != nil {
			return nil, err
		}
		var pods []*corev1.Pod
		dp.each(func(_ *corev1.Namespace, pod *corev1.Pod) {
			if proxyadmin.HoldsIdentity(pod) {
				pods = append(pods, pod)
			}
		})
		return proxyadmin.ReadAll(ctx, pods, env.proxyStatus()), nil
	})
}

// checkProxyIdentity asks every ready proxy with identity for its status:
// it must hold a certificate that is valid now and be connected to the
// controller's channel.
func checkProxyIdentity(ctx context.Context, env *Env) error {
	reports, err := env.proxyReports(ctx)
	if err != nil {
		return err
	}
	now := env.Clock.Now()
	var bad []string
	for _, r := range reports {
		st, name := r.Status, r.Pod.Namespace+"/"+r.Pod.Name
		switch {
		case r.Err != nil:
			bad = append(bad, fmt.Sprintf("%s (status unreadable: %v)", name, r.Err))
		case st.Identity == nil || st.Identity.Certificate == nil:
			bad = append(bad, name+" (no certificate)")
		case !now.Before(st.Identity.Certificate.NotAfter):
			bad = append(bad, fmt.Sprintf("%s (certificate expired at %s)", name, st.Identity.Certificate.NotAfter.Format("2006-01-02T15:04:05Z07:00")))
		case st.Channel == nil || !st.Channel.Connected:
			why := "channel not connected"
			if st.Channel != nil && st.Channel.LastError != "" {
				why += ": " + st.Channel.LastError
			}
			bad = append(bad, name+" ("+why+")")
		}
	}
	if len(bad) > 0 {
		return fmt.Errorf("%d of %d proxies lack a valid certificate or the channel: %s", len(bad), len(reports), nameList(bad))
	}
	return nil
}

// checkProxyChain: every proxy's certificate comes from the issuer of the
// issuer Secret, and it trusts exactly the anchors of the trust bundle. A
// proxy that lags keeps working while its old chain is still trusted, but
// a rotation is not over until none does. Proxies whose status cannot be
// read are checkProxyIdentity's to report.
func checkProxyChain(ctx context.Context, env *Env) error {
	is, _, err := env.issuer(ctx)
	if err != nil {
		return err
	}
	b, err := env.bundle(ctx)
	if err != nil {
		return err
	}
	issuer := identity.FingerprintOf(is.Certificate())
	var anchors []string
	for _, a := range b.Anchors() {
		anchors = append(anchors, identity.FingerprintOf(a))
	}
	slices.Sort(anchors)
	reports, err := env.proxyReports(ctx)
	if err != nil {
		return err
	}
	var bad []string
	for _, r := range reports {
		st, name := r.Status, r.Pod.Namespace+"/"+r.Pod.Name
		if r.Err != nil || st.Identity == nil || st.Identity.Certificate == nil {
			continue
		}
		var held []string
		for _, a := range st.Identity.Anchors {
			held = append(held, a.Fingerprint)
		}
		slices.Sort(held)
		switch {
		case st.Identity.Certificate.Issuer != issuer:
			bad = append(bad, fmt.Sprintf("%s (certificate from issuer %.12s, not the current %.12s)", name, st.Identity.Certificate.Issuer, issuer))
		case !slices.Equal(held, anchors):
			bad = append(bad, fmt.Sprintf("%s (trusts %d anchors, not the bundle's %d)", name, len(held), len(anchors)))
		}
	}
	if len(bad) > 0 {
		return fmt.Errorf("%d of %d proxies do not hold the current chain yet: %s", len(bad), len(reports), nameList(bad))
	}
	return nil
}

// checkProxySettings: every proxy follows the settings of the MeshConfig
// that reach running proxies (egress, the log level, tracing, JWT), as
// proxyconfig.LiveSettings derives them; a proxy that lags is not
// connected to the channel, runs an older image, or refused them and
// says why. Proxies whose status cannot be read are checkProxyIdentity's
// to report.
func checkProxySettings(ctx context.Context, env *Env) error {
	mc, err := env.MeshConfig(ctx)
	if err != nil {
		return err
	}
	want, err := proxyconfig.LiveSettings(mc.Spec)
	if err != nil {
		return fmt.Errorf("MeshConfig %s/%s: %w", mc.Namespace, mc.Name, err)
	}
	digest := want.Digest()
	reports, err := env.proxyReports(ctx)
	if err != nil {
		return err
	}
	var bad []string
	for _, r := range reports {
		st, name := r.Status, r.Pod.Namespace+"/"+r.Pod.Name
		switch {
		case r.Err != nil:
		case st.Settings == nil:
			bad = append(bad, name+" (reports no live settings: an older proxy; restart it)")
		case st.Settings.Error != "":
			bad = append(bad, fmt.Sprintf("%s (refused them: %s)", name, st.Settings.Error))
		case st.Settings.Digest != digest:
			bad = append(bad, name+" (follows older settings)")
		}
	}
	if len(bad) > 0 {
		return fmt.Errorf("%d of %d proxies do not follow the MeshConfig's live settings yet: %s", len(bad), len(reports), nameList(bad))
	}
	return nil
}
