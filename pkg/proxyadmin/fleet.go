package proxyadmin

import (
	"context"
	"sync"

	corev1 "k8s.io/api/core/v1"

	"github.com/meshctl/meshctl/pkg/identity"
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

// OfMesh reports whether pod's proxy is one HoldsIdentity accepts and was
// injected to talk to the controller of identity controller: a proxy of
// that mesh, not of another mesh in the same cluster.
func OfMesh(pod *corev1.Pod, controller identity.ID) bool {
	if !HoldsIdentity(pod) {
		return false
	}
	return proxyconfig.IdentityOf(&pod.Spec).ControllerID == controller
}

// Each calls f for every pod, FleetConcurrency at a time, and returns once
// all have returned: the one fan-out of port-forwards to many proxies.
func Each(pods []*corev1.Pod, f func(i int, pod *corev1.Pod)) {
	sem := make(chan struct{}, FleetConcurrency)
	var wg sync.WaitGroup
	for i, pod := range pods {
		wg.Add(1)
		sem <- struct{}{}
		go func() {
			defer func() { <-sem; wg.Done() }()
			f(i, pod)
		}()
	}
	wg.Wait()
}

// ReadAll reads the status of every pod's proxy (Each); the reports are
// in the order of pods.
func ReadAll(ctx context.Context, pods []*corev1.Pod, read StatusReader) []Report {
	out := make([]Report, len(pods))
	Each(pods, func(i int, pod *corev1.Pod) {
		st, err := read(ctx, pod.Namespace, pod.Name)
		out[i] = Report{Pod: pod, Status: st, Err: err}
	})
	return out
}
