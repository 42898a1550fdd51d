package proxyconfig

import (
	corev1 "k8s.io/api/core/v1"

	"github.com/meshctl/meshctl/pkg/proxyconfig/wire"
)

// ProxyContainerOf returns spec's proxy container, wherever the injector put
// it: among the containers, or among the init containers as a native sidecar
// (restartPolicy Always). It returns nil when the pod has no proxy. Every
// reader of running pods (check, namespace, uninstall) finds the proxy here,
// so that none of them misses a native sidecar.
func ProxyContainerOf(spec *corev1.PodSpec) *corev1.Container {
	for i := range spec.Containers {
		if spec.Containers[i].Name == ProxyContainerName {
			return &spec.Containers[i]
		}
	}
	for i := range spec.InitContainers {
		c := &spec.InitContainers[i]
		if c.Name == ProxyContainerName && c.RestartPolicy != nil && *c.RestartPolicy == corev1.ContainerRestartPolicyAlways {
			return c
		}
	}
	return nil
}

// ProxyStatusOf returns the status of pod's proxy container, from the
// container or the init container statuses as ProxyContainerOf finds it, or
// nil when the pod has no proxy or the kubelet has not reported it yet.
func ProxyStatusOf(pod *corev1.Pod) *corev1.ContainerStatus {
	c := ProxyContainerOf(&pod.Spec)
	if c == nil {
		return nil
	}
	statuses := pod.Status.ContainerStatuses
	if c.RestartPolicy != nil {
		statuses = pod.Status.InitContainerStatuses
	}
	for i := range statuses {
		if statuses[i].Name == ProxyContainerName {
			return &statuses[i]
		}
	}
	return nil
}

// IdentityOf returns the identity settings the proxy of spec was injected
// with (the controller it talks to and must find), or nil when the pod has
// no proxy, its proxy was injected without identity (by an older meshctl),
// or its arguments do not parse. The channel's snapshot, `meshctl check`
// and `meshctl proxy status` decide with it whether a proxy has an
// identity to show.
func IdentityOf(spec *corev1.PodSpec) *wire.Identity {
	p := ProxyContainerOf(spec)
	if p == nil {
		return nil
	}
	run, err := wire.ParseRunArgs(p.Args)
	if err != nil {
		return nil
	}
	return run.Identity
}
