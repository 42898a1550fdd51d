package proxyconfig

import (
	corev1 "k8s.io/api/core/v1"

	"github.com/meshctl/meshctl/pkg/proxyconfig/wire"
)

// Env is the proxy container's environment: each variable taken from the
// pod by the downward API. wire.ReadPodEnv is its reader in mesh-proxy.
func Env() []corev1.EnvVar {
	field := func(name, path string) corev1.EnvVar {
		return corev1.EnvVar{Name: name, ValueFrom: &corev1.EnvVarSource{
			FieldRef: &corev1.ObjectFieldSelector{FieldPath: path},
		}}
	}
	return []corev1.EnvVar{
		field(wire.EnvPodName, "metadata.name"),
		field(wire.EnvPodNamespace, "metadata.namespace"),
		field(wire.EnvPodIP, "status.podIP"),
		field(wire.EnvServiceAccount, "spec.serviceAccountName"),
	}
}
