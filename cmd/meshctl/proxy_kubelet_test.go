package main

import (
	"testing"

	"github.com/meshctl/meshctl/internal/pfkubelet"
)

// portForwardKubelet is the stand-in kubelet of internal/pfkubelet,
// registered with this package's API server: the proxy commands'
// port-forwards reach local processes through it.
type portForwardKubelet struct{ *pfkubelet.Kubelet }

// startPortForwardKubelet starts a kubelet that forwards every pod's
// port as ports maps it (the pod's port -> the local address).
func startPortForwardKubelet(t *testing.T, ports map[string]string) *portForwardKubelet {
	t.Helper()
	return &portForwardKubelet{pfkubelet.Start(t, pfkubelet.Ports(ports))}
}

// Node registers the kubelet as a node of its own, which pods are then
// bound to.
func (k *portForwardKubelet) Node(t *testing.T) string {
	t.Helper()
	return k.Kubelet.Node(t, env)
}
