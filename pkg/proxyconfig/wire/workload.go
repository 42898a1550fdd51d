package wire

import (
	"fmt"
	"strings"
)

// Workload is the object that runs the proxy's pod, as the injector knows
// it: the proxy names itself with it in its metrics (the labels
// workload_kind and workload_name, next to workload_namespace, which is the
// pod's namespace from EnvPodNamespace), so that Prometheus and meshctl
// group by what operators think in rather than by pod.
type Workload struct {
	// Kind is the owner's kind, in lower case: one of the Kind* constants
	// for the kinds the injector knows, or another controller's kind (a
	// custom resource's) lower-cased. A DNS-1123 label.
	Kind string
	// Name is the owner's name, a DNS-1123 subdomain. Empty only with
	// KindPod: the proxy then names itself after its pod (EnvPodName), so
	// that the injection of a pod does not depend on a name the API server
	// may not have given it yet (generateName).
	Name string
}

// The kinds the injector names.
const (
	KindDeployment            = "deployment"
	KindStatefulSet           = "statefulset"
	KindDaemonSet             = "daemonset"
	KindReplicaSet            = "replicaset"
	KindReplicationController = "replicationcontroller"
	KindJob                   = "job"
	KindCronJob               = "cronjob"
	KindPod                   = "pod"
)

// Flags of the workload, on `mesh-proxy run`.
const (
	flagWorkloadKind = "workload-kind"
	flagWorkloadName = "workload-name"
)

// Maximum lengths of a DNS-1123 label and subdomain, as Kubernetes bounds
// kinds' and names' lengths.
const (
	maxLabel     = 63
	maxSubdomain = 253
)

// Check reports whether w is a workload the proxy accepts: the values end
// up in every metric series, so they are held to what Kubernetes allows
// (which also bounds them) rather than trusted.
func (w Workload) Check() error {
	if !isDNSLabel(w.Kind) {
		return fmt.Errorf("workload kind %q is not a lower-case DNS-1123 label", w.Kind)
	}
	if w.Name == "" {
		if w.Kind != KindPod {
			return fmt.Errorf("workload %s has no name; only a pod may leave it to the pod's own", w.Kind)
		}
		return nil
	}
	if !isDNSSubdomain(w.Name) {
		return fmt.Errorf("workload name %q is not a DNS-1123 subdomain", w.Name)
	}
	return nil
}

// Args are w's flags, which Run.Args writes last: the arguments of a
// proxy that names w are those of one that names none followed by
// these, so an injector renders the rest once for every workload.
func (w Workload) Args() []string {
	args := []string{arg(flagWorkloadKind, w.Kind)}
	if w.Name != "" {
		args = append(args, arg(flagWorkloadName, w.Name))
	}
	return args
}

// isDNSLabel: 1 to 63 lower-case letters, digits and '-', starting and
// ending with a letter or digit.
func isDNSLabel(s string) bool {
	if len(s) == 0 || len(s) > maxLabel {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case 'a' <= c && c <= 'z', '0' <= c && c <= '9':
		case c == '-' && i > 0 && i < len(s)-1:
		default:
			return false
		}
	}
	return true
}

// isDNSSubdomain: at most 253 characters, DNS-1123 labels joined by dots.
func isDNSSubdomain(s string) bool {
	if len(s) == 0 || len(s) > maxSubdomain {
		return false
	}
	for _, l := range strings.Split(s, ".") {
		if !isDNSLabel(l) {
			return false
		}
	}
	return true
}
