package namespace

import (
	"context"
	"fmt"
	"slices"
	"strings"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"

	"github.com/meshctl/meshctl/pkg/kube"
	"github.com/meshctl/meshctl/pkg/meshconfig"
	"github.com/meshctl/meshctl/pkg/proxyconfig"
)

// MeshedByInject is the Entry.MeshedBy of a namespace whose pods run the
// sidecar `meshctl inject` put in their manifests, without the namespace
// being enrolled; MeshedByLabel is an enrolled namespace's.
const (
	MeshedByLabel  = "label"
	MeshedByInject = "inject"
)

// InjectedPods is a namespace's live pods that run a sidecar injected for
// one mesh.
type InjectedPods struct {
	Namespace string
	// Pods counts them.
	Pods int
}

// InjectedFor reports whether pod runs a sidecar injected (by `meshctl
// inject` or the webhook) for the mesh whose control plane is in
// meshNamespace: the injector's label, the proxy container, and a proxy
// told to hold that mesh's controller to its identity. Proxies injected
// without an identity (by a meshctl before identity) name no mesh and are
// nobody's here.
func InjectedFor(pod *corev1.Pod, meshNamespace string) bool {
	if _, ok := pod.Labels[meshconfig.LabelProxyVersion]; !ok || !HasSidecar(pod) {
		return false
	}
	id := proxyconfig.IdentityOf(&pod.Spec)
	return id != nil && id.ControllerID.Namespace() == meshNamespace && id.ControllerID.ServiceAccount() == meshconfig.ControllerName
}

// InjectedNamespaces returns the namespaces, sorted, whose live pods run
// sidecars injected for the mesh whose control plane is in meshNamespace,
// enrolled or not: one cluster-wide List, filtered by the injector's label
// on the server. Namespaces meshed with `meshctl inject` alone carry no
// enrolment label, and this is how check, list and uninstall find them.
func InjectedNamespaces(ctx context.Context, kc kubernetes.Interface, meshNamespace string) ([]InjectedPods, error) {
	list, err := kc.CoreV1().Pods(metav1.NamespaceAll).List(ctx, metav1.ListOptions{LabelSelector: meshconfig.LabelProxyVersion})
	if err != nil {
		return nil, fmt.Errorf("listing the pods injected with the sidecar in every namespace: %w", kube.ExplainForbidden(err, "list", "pods", ""))
	}
	counts := map[string]int{}
	for i := range list.Items {
		p := &list.Items[i]
		if live(p) && InjectedFor(p, meshNamespace) {
			counts[p.Namespace]++
		}
	}
	out := make([]InjectedPods, 0, len(counts))
	for ns, n := range counts {
		out = append(out, InjectedPods{Namespace: ns, Pods: n})
	}
	slices.SortFunc(out, func(a, b InjectedPods) int { return strings.Compare(a.Namespace, b.Namespace) })
	return out, nil
}

// NotEnrolled keeps the namespaces of injected whose name is not in
// enrolled: those meshed by `meshctl inject` alone.
func NotEnrolled(injected []InjectedPods, enrolled []string) []InjectedPods {
	var out []InjectedPods
	for _, in := range injected {
		if !slices.Contains(enrolled, in.Namespace) {
			out = append(out, in)
		}
	}
	return out
}
