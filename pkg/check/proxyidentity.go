package check

import (
	"context"
	"fmt"
	"sync"

	corev1 "k8s.io/api/core/v1"

	"github.com/meshctl/meshctl/pkg/proxy/admin"
	"github.com/meshctl/meshctl/pkg/proxyadmin"
	"github.com/meshctl/meshctl/pkg/proxyconfig"
)

// proxyStatusConcurrency bounds the port-forwards open at once.
const proxyStatusConcurrency = 8

// ProxyStatusReader reads what a proxy reports on its admin port's
// wire.StatusPath; Env.ProxyStatus defaults to a port-forward
// (pkg/proxyadmin).
type ProxyStatusReader func(ctx context.Context, namespace, pod string) (admin.Status, error)

// proxyStatus is env's reader: ProxyStatus, or a port-forward through
// env's clients.
func (env *Env) proxyStatus() ProxyStatusReader {
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
		if cs := proxyconfig.ProxyStatusOf(pod); proxyconfig.IdentityOf(&pod.Spec) != nil && cs != nil && cs.Ready {
			pods = append(pods, pod)
		}
	})
	read := env.proxyStatus()
	now := env.Clock.Now()
	problems := make([]string, len(pods))
	sem := make(chan struct{}, proxyStatusConcurrency)
	var wg sync.WaitGroup
	for i, pod := range pods {
		wg.Add(1)
		sem <- struct{}{}
		go func() {
			defer func() { <-sem; wg.Done() }()
			st, err := read(ctx, pod.Namespace, pod.Name)
			name := pod.Namespace + "/" + pod.Name
			switch {
			case err != nil:
				problems[i] = fmt.Sprintf("%s (status unreadable: %v)", name, err)
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
		}()
	}
	wg.Wait()
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
