package check

import (
	"context"
	"fmt"

	corev1 "k8s.io/api/core/v1"

	"github.com/meshctl/meshctl/pkg/proxyadmin"
)

// proxyStatus is env's reader: ProxyStatus, or a port-forward through
// env's clients.
func (env *Env) proxyStatus() proxyadmin.StatusReader {
	if env.ProxyStatus != nil {
		return env.ProxyStatus
	}
	return (&proxyadmin.Client{Config: env.Clients.Config, Kube: env.Clients.Kube}).Status
}

// checkProxyIdentity asks every ready proxy with identity for its status:
// it must hold a certificate that is valid now and be connected to the
// controller's channel.
func checkProxyIdentity(ctx context.Context, env *Env) error {
	dp, err := env.dataPlane(ctx)
	if err != nil {
		return err
	}
	var pods []*corev1.Pod
	dp.each(func(_ *corev1.Namespace, pod *corev1.Pod) {
		if proxyadmin.HoldsIdentity(pod) {
			pods = append(pods, pod)
		}
	})
	now := env.Clock.Now()
	problems := make([]string, len(pods))
	for i, r := range proxyadmin.ReadAll(ctx, pods, env.proxyStatus()) {
		st, name := r.Status, r.Pod.Namespace+"/"+r.Pod.Name
		switch {
		case r.Err != nil:
			problems[i] = fmt.Sprintf("%s (status unreadable: %v)", name, r.Err)
		case st.Identity == nil || st.Identity.Certificate == nil:
			problems[i] = name + " (no certificate)"
		case !now.Before(st.Identity.Certificate.NotAfter):
			problems[i] = fmt.Sprintf("%s (certificate expired at %s)", name, st.Identity.Certificate.NotAfter.Format("2006-01-02T15:04:05Z07:00"))
		case st.Channel == nil || !st.Channel.Connected:
			why := "channel not connected"
			if st.Channel != nil && st.Channel.LastError != "" {
				why += ": " + st.Channel.LastError
			}
			problems[i] = name + " (" + why + ")"
		}
	}
	var bad []string
	for _, p := range problems {
		if p != "" {
			bad = append(bad, p)
		}
	}
	if len(bad) > 0 {
		return fmt.Errorf("%d of %d proxies lack a valid certificate or the channel: %s", len(bad), len(pods), nameList(bad))
	}
	return nil
}
