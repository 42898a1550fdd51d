package namespace

import (
	"cmp"
	"context"
	"fmt"
	"slices"
	"strings"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/kubernetes"

	"github.com/meshctl/meshctl/pkg/kube"
	"github.com/meshctl/meshctl/pkg/meshconfig"
	"github.com/meshctl/meshctl/pkg/proxyconfig"
)

// Workload is a controller of pods, or a pod without one.
type Workload struct {
	// Kind is Deployment, StatefulSet, DaemonSet, ReplicaSet, Job, Pod, ...
	Kind string `json:"kind"`
	// Name is the workload's name, in the namespace being looked at.
	Name string `json:"name"`
	// Pods counts the workload's pods that matched.
	Pods int `json:"pods"`
}

// String returns kind/name in lower case, as kubectl names objects.
func (w Workload) String() string { return strings.ToLower(w.Kind) + "/" + w.Name }

// Restartable reports whether RestartWorkloads can roll w.
func (w Workload) Restartable() bool {
	switch w.Kind {
	case "Deployment", "StatefulSet", "DaemonSet":
		return true
	}
	return false
}

// PodCount is how many live pods a namespace runs and how many of them carry
// the sidecar.
type PodCount struct {
	Injected int
	Total    int
}

// HasSidecar reports whether pod runs the mesh proxy container.
func HasSidecar(pod *corev1.Pod) bool {
	return proxyconfig.ProxyContainerOf(&pod.Spec) != nil
}

// live reports whether pod counts: it is not finished and not being deleted.
// Pending pods count too, as they were admitted (injected or not) already.
func live(pod *corev1.Pod) bool {
	return pod.DeletionTimestamp == nil && pod.Status.Phase != corev1.PodSucceeded && pod.Status.Phase != corev1.PodFailed
}

// listPods lists a namespace's pods in one request.
func listPods(ctx context.Context, kc kubernetes.Interface, ns string) ([]corev1.Pod, error) {
	list, err := kc.CoreV1().Pods(ns).List(ctx, metav1.ListOptions{})
	if err != nil {
		return nil, fmt.Errorf("namespace %q: listing pods: %w", ns, kube.ExplainForbidden(err, "list", "pods", ns))
	}
	return list.Items, nil
}

// CountPods counts the live pods of namespace ns and those with the sidecar.
func CountPods(ctx context.Context, kc kubernetes.Interface, ns string) (PodCount, error) {
	pods, err := listPods(ctx, kc, ns)
	if err != nil {
		return PodCount{}, err
	}
	var c PodCount
	for i := range pods {
		if live(&pods[i]) {
			c.Total++
			if HasSidecar(&pods[i]) {
				c.Injected++
			}
		}
	}
	return c, nil
}

// WorkloadsWithoutSidecar returns the workloads of namespace ns with live
// pods that lack the sidecar, skipping pods that opted out
// (meshconfig.PodOptsOut).
func WorkloadsWithoutSidecar(ctx context.Context, kc kubernetes.Interface, ns string) ([]Workload, error) {
	return WorkloadsMatching(ctx, kc, ns, func(p *corev1.Pod) bool {
		return !HasSidecar(p) && !meshconfig.PodOptsOut(p.Labels, p.Annotations)
	})
}

// WorkloadsWithSidecar returns the workloads of namespace ns with live pods
// that still run the sidecar.
func WorkloadsWithSidecar(ctx context.Context, kc kubernetes.Interface, ns string) ([]Workload, error) {
	return WorkloadsMatching(ctx, kc, ns, HasSidecar)
}

// WorkloadsMatching groups the live pods of ns that match by their
// controller, sorted by kind and name. A ReplicaSet is traced to its
// Deployment; ReplicaSets are listed only when a pod needs it, in one
// request.
func WorkloadsMatching(ctx context.Context, kc kubernetes.Interface, ns string, match func(*corev1.Pod) bool) ([]Workload, error) {
	pods, err := listPods(ctx, kc, ns)
	if err != nil {
		return nil, err
	}
	var rsOwner map[string]*metav1.OwnerReference
	counts := map[Workload]int{}
	for i := range pods {
		p := &pods[i]
		if !live(p) || !match(p) {
			continue
		}
		w := Workload{Kind: "Pod", Name: p.Name}
		if ref := metav1.GetControllerOf(p); ref != nil {
			w = Workload{Kind: ref.Kind, Name: ref.Name}
			if ref.Kind == "ReplicaSet" {
				if rsOwner == nil {
					if rsOwner, err = replicaSetOwners(ctx, kc, ns); err != nil {
						return nil, err
					}
				}
				if owner := rsOwner[ref.Name]; owner != nil {
					w = Workload{Kind: owner.Kind, Name: owner.Name}
				}
			}
		}
		counts[w]++
	}
	out := make([]Workload, 0, len(counts))
	for w, n := range counts {
		w.Pods = n
		out = append(out, w)
	}
	slices.SortFunc(out, func(a, b Workload) int {
		return cmp.Or(cmp.Compare(a.Kind, b.Kind), cmp.Compare(a.Name, b.Name))
	})
	return out, nil
}

func replicaSetOwners(ctx context.Context, kc kubernetes.Interface, ns string) (map[string]*metav1.OwnerReference, error) {
	list, err := kc.AppsV1().ReplicaSets(ns).List(ctx, metav1.ListOptions{})
	if err != nil {
		return nil, fmt.Errorf("namespace %q: listing replicasets: %w", ns, kube.ExplainForbidden(err, "list", "replicasets.apps", ns))
	}
	owners := make(map[string]*metav1.OwnerReference, len(list.Items))
	for i := range list.Items {
		owners[list.Items[i].Name] = metav1.GetControllerOf(&list.Items[i])
	}
	return owners, nil
}

// RestartWorkload rolls w in namespace ns the way `kubectl rollout restart`
// does: it stamps the pod template with meshconfig.AnnotationRestartedAt, so the
// controller replaces every pod (which the webhook then injects, or not).
func RestartWorkload(ctx context.Context, kc kubernetes.Interface, ns string, w Workload, now time.Time) error {
	patch := fmt.Appendf(nil, `{"spec":{"template":{"metadata":{"annotations":{%q:%q}}}}}`, meshconfig.AnnotationRestartedAt, now.UTC().Format(time.RFC3339))
	opts := metav1.PatchOptions{FieldManager: FieldManager}
	var err error
	var resource string
	switch w.Kind {
	case "Deployment":
		resource = "deployments.apps"
		_, err = kc.AppsV1().Deployments(ns).Patch(ctx, w.Name, types.StrategicMergePatchType, patch, opts)
	case "StatefulSet":
		resource = "statefulsets.apps"
		_, err = kc.AppsV1().StatefulSets(ns).Patch(ctx, w.Name, types.StrategicMergePatchType, patch, opts)
	case "DaemonSet":
		resource = "daemonsets.apps"
		_, err = kc.AppsV1().DaemonSets(ns).Patch(ctx, w.Name, types.StrategicMergePatchType, patch, opts)
	default:
		return fmt.Errorf("%s in namespace %q cannot be restarted: delete its pods to have them recreated", w, ns)
	}
	if err != nil {
		return fmt.Errorf("restarting %s in namespace %q: %w", w, ns, kube.ExplainForbidden(err, "patch", resource, ns))
	}
	return nil
}

// FieldManager names meshctl's changes in managedFields.
const FieldManager = "meshctl"

// workloadNames lists workloads for a one-line message.
func workloadNames(ws []Workload) string {
	names := make([]string, len(ws))
	for i, w := range ws {
		names[i] = w.String()
	}
	return strings.Join(names, ", ")
}
