package proxyadmin

import (
	"context"
	"sync"

	corev1 "k8s.io/api/core/v1"

	"github.com/meshctl/meshctl/pkg/proxy/admin"
	"github.com/meshctl/meshctl/pkg/proxyconfig"
)

// StatusReader reads what a pod's proxy reports on wire.StatusPath.
// Client.Status is the real one, through a port-forward; tests pass their
// own.
type StatusReader func(ctx context.Context, namespace, pod string) (admin.Status, error)

// FleetConcurrency bounds the port-forwards ReadAll opens at once: enough
// to read a thousand proxies in seconds, few enough not to weigh on the
// API server or the kubelets.
const FleetConcurrency = 8

// Report is one proxy's status, or why it could not be read.
type Report struct {
	Pod    *corev1.Pod
	Status admin.Status
	Err    error
}

// HoldsIdentity reports whether pod's proxy has identity and is ready: one
// that holds a certificate and a channel, and so reports them.
func HoldsIdentity(pod *corev1.Pod) bool {
	cs := proxyconfig.ProxyStatusOf(pod)
	return proxyconfig.IdentityOf(&pod.Spec) != nil && cs != nil && cs.Ready
}

// ReadAll reads the status of every pod's proxy, FleetConcurrency at a
// time; the reports are in the order of pods.
func ReadAll(ctx context.Context, pods []*corev1.Pod, read StatusReader) []Report {
	out := make([]Report, len(pods))
	sem := make(chan struct{}, FleetConcurrency)
	var wg sync.WaitGroup
	for i, pod := range pods {
		wg.Add(1)
		sem <- struct{}{}
		go func() {
			defer func() { <-sem; wg.Done() }()
			st, err := read(ctx, pod.Namespace, pod.Name)
			out[i] = Report{Pod: pod, Status: st, Err: err}
		}()
	}
	wg.Wait()
	return out
}
