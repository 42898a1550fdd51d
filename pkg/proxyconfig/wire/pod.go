package wire

import "fmt"

// Environment of the proxy container, filled by the downward API. The proxy
// names itself in telemetry and identity with them.
const (
	EnvPodName        = "POD_NAME"
	EnvPodNamespace   = "POD_NAMESPACE"
	EnvPodIP          = "POD_IP"
	EnvServiceAccount = "SERVICE_ACCOUNT"
)

// EnvNames lists the variables ReadPodEnv requires, in the order the proxy
// container declares them.
func EnvNames() []string {
	return []string{EnvPodName, EnvPodNamespace, EnvPodIP, EnvServiceAccount}
}

// Pod is the proxy's view of the pod it runs in, read from its environment.
type Pod struct {
	Name           string
	Namespace      string
	IP             string
	ServiceAccount string
}

// ReadPodEnv reads the variables the proxy container declares (see
// EnvNames), through lookup (os.LookupEnv in mesh-proxy). All four are
// required: a proxy that does not know its pod cannot name itself.
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
