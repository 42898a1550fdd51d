package proxyconfig

import (
	"fmt"

	corev1 "k8s.io/api/core/v1"
)

// Environment of the proxy container, filled by the downward API. The proxy
// names itself in telemetry and identity with them.
const (
	EnvPodName        = "POD_NAME"
	EnvPodNamespace   = "POD_NAMESPACE"
	EnvPodIP          = "POD_IP"
	EnvServiceAccount = "SERVICE_ACCOUNT"
)

// Pod is the proxy's view of the pod it runs in, read from its environment.
type Pod struct {
	Name           string
	Namespace      string
	IP             string
	ServiceAccount string
}

// Env is the proxy container's environment: each variable taken from the
// pod by the downward API. ReadPodEnv is its reader.
func Env() []corev1.EnvVar {
	field := func(name, path string) corev1.EnvVar {
		return corev1.EnvVar{Name: name, ValueFrom: &corev1.EnvVarSource{
			FieldRef: &corev1.ObjectFieldSelector{FieldPath: path},
		}}
	}
	return []corev1.EnvVar{
		field(EnvPodName, "metadata.name"),
		field(EnvPodNamespace, "metadata.namespace"),
		field(EnvPodIP, "status.podIP"),
		field(EnvServiceAccount, "spec.serviceAccountName"),
	}
}

// ReadPodEnv reads the variables Env declares, through lookup (os.LookupEnv
// in mesh-proxy). All four are required: a proxy that does not know its pod
// cannot name itself.
func ReadPodEnv(lookup func(string) (string, bool)) (Pod, error) {
	var p Pod
	for _, v := range []struct {
		name string
		dst  *string
	}{{EnvPodName, &p.Name}, {EnvPodNamespace, &p.Namespace}, {EnvPodIP, &p.IP}, {EnvServiceAccount, &p.ServiceAccount}} {
		s, ok := lookup(v.name)
		if !ok || s == "" {
			return Pod{}, fmt.Errorf("environment variable %s is not set; the proxy container sets it from the downward API", v.name)
		}
		*v.dst = s
	}
	return p, nil
}
