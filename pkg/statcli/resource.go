package statcli

import (
	"fmt"
	"strings"

	"k8s.io/apimachinery/pkg/util/validation"

	"github.com/meshctl/meshctl/pkg/identity"
)

// Kind is what a row of `meshctl stat` is, or what --from and --to name.
type Kind string

// The kinds. Rows are deployments, statefulsets, daemonsets, namespaces or
// pods; --from and --to also take a ServiceAccount, which is what the
// proxies' peer label names.
const (
	KindDeployment     Kind = "deployment"
	KindStatefulSet    Kind = "statefulset"
	KindDaemonSet      Kind = "daemonset"
	KindNamespace      Kind = "namespace"
	KindPod            Kind = "pod"
	KindServiceAccount Kind = "serviceaccount"
)

// kindWords are the spellings of each kind, kubectl's short names included.
var kindWords = map[string]Kind{
	"deploy": KindDeployment, "deployment": KindDeployment, "deployments": KindDeployment,
	"sts": KindStatefulSet, "statefulset": KindStatefulSet, "statefulsets": KindStatefulSet,
	"ds": KindDaemonSet, "daemonset": KindDaemonSet, "daemonsets": KindDaemonSet,
	"ns": KindNamespace, "namespace": KindNamespace, "namespaces": KindNamespace,
	"po": KindPod, "pod": KindPod, "pods": KindPod,
	"sa": KindServiceAccount, "serviceaccount": KindServiceAccount, "serviceaccounts": KindServiceAccount,
}

// RowKinds is how the kinds of rows are written, for help and errors.
const RowKinds = "deploy, sts, ds, ns or pod"

// EdgeSyntax is the forms ParseEdge accepts, for help and usage errors.
const EdgeSyntax = "NS/SA, KIND/NAME or NS/KIND/NAME (KIND: deploy, sts, ds, pod, sa, ns), or spiffe://TD/ns/NS/sa/SA"

// ParseKind reads the kind of rows: a deployment, statefulset, daemonset,
// namespace or pod, in any of kubectl's spellings.
func ParseKind(s string) (Kind, error) {
	k, ok := kindWords[strings.ToLower(s)]
	if !ok || k == KindServiceAccount {
		return "", fmt.Errorf("%q is not a kind stat shows: want %s", s, RowKinds)
	}
	return k, nil
}

// Edge is the other end that --from or --to name: a workload, a pod or a
// ServiceAccount in Namespace, or a whole namespace (Kind namespace, Name
// the namespace).
type Edge struct {
	Kind      Kind
	Namespace string
	Name      string
}

// String writes the edge as it is shown: KIND/NAME in NS.
func (e Edge) String() string {
	if e.Kind == KindNamespace {
		return "namespace/" + e.Name
	}
	return fmt.Sprintf("%s/%s in namespace %q", e.Kind, e.Name, e.Namespace)
}

// ParseEdge reads the argument of --from or --to: NS/SA (the identity of
// ServiceAccount SA of namespace NS), KIND/NAME in namespace ns, NS/KIND/NAME,
// or a SPIFFE ID. A kind word wins over a namespace of that name: write
// NS/sa/NAME for a ServiceAccount of a namespace called "pod". The
// argument is the user's, so every name is checked.
func ParseEdge(s, ns string) (Edge, error) {
	if strings.HasPrefix(s, "spiffe://") {
		id, err := identity.ParseID(s)
		if err != nil {
			return Edge{}, fmt.Errorf("%q: %w", s, err)
		}
		return Edge{Kind: KindServiceAccount, Namespace: id.Namespace(), Name: id.ServiceAccount()}, nil
	}
	parts := strings.Split(s, "/")
	var e Edge
	switch len(parts) {
	case 2:
		if k, ok := kindWords[strings.ToLower(parts[0])]; ok {
			e = Edge{Kind: k, Namespace: ns, Name: parts[1]}
			if k == KindNamespace {
				e.Namespace = parts[1]
			}
		} else {
			e = Edge{Kind: KindServiceAccount, Namespace: parts[0], Name: parts[1]}
		}
	case 3:
		k, ok := kindWords[strings.ToLower(parts[1])]
		if !ok || k == KindNamespace {
			return Edge{}, fmt.Errorf("%q: kind %q: want deploy, sts, ds, pod or sa", s, parts[1])
		}
		e = Edge{Kind: k, Namespace: parts[0], Name: parts[2]}
	default:
		return Edge{}, fmt.Errorf("%q: want %s", s, EdgeSyntax)
	}
	if e.Namespace == "" {
		return Edge{}, fmt.Errorf("%q: no namespace: pass -n or write NS/%s", s, s)
	}
	if errs := validation.IsDNS1123Label(e.Namespace); len(errs) > 0 {
		return Edge{}, fmt.Errorf("%q: namespace %q: %s", s, e.Namespace, errs[0])
	}
	if errs := validation.IsDNS1123Subdomain(e.Name); len(errs) > 0 {
		return Edge{}, fmt.Errorf("%q: name %q: %s", s, e.Name, errs[0])
	}
	return e, nil
}
