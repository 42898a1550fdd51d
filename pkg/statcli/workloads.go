package statcli

import (
	"cmp"
	"context"
	"fmt"
	"slices"
	"strings"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/client-go/kubernetes"

	"github.com/meshctl/meshctl/pkg/kube"
	"github.com/meshctl/meshctl/pkg/proxyconfig"
)

// defaultServiceAccount is the ServiceAccount of a pod that names none.
const defaultServiceAccount = "default"

// workload is what one row stands for: a deployment, statefulset,
// daemonset, namespace or pod, the pods that belong to it, and the peer
// label its pods' traffic carries at the other end: its identity, ns/sa,
// or ns/ for a namespace.
type workload struct {
	kind            Kind
	namespace, name string
	peer            string
	pods            []*corev1.Pod
}

// meshed are the workload's pods that run a proxy.
func (w *workload) meshed() []*corev1.Pod {
	var out []*corev1.Pod
	for _, p := range w.pods {
		if proxyconfig.ProxyContainerOf(&p.Spec) != nil {
			out = append(out, p)
		}
	}
	return out
}

// identityOf is the peer label of a pod spec's traffic: the namespace and
// ServiceAccount its proxy's certificate names.
func identityOf(namespace string, spec *corev1.PodSpec) string {
	return namespace + "/" + cmp.Or(spec.ServiceAccountName, defaultServiceAccount)
}

// live says a pod counts: one that has not ended.
func live(p *corev1.Pod) bool {
	return p.Status.Phase != corev1.PodSucceeded && p.Status.Phase != corev1.PodFailed
}

// listWorkloads reads the rows of kind in namespace ns ("" for all), or
// the one named name, with their pods: one List per resource kind (pods;
// the kind itself; ReplicaSets for deployments, whose pods they own),
// or a Get for a named namespace.
func listWorkloads(ctx context.Context, kc kubernetes.Interface, kind Kind, ns, name string) ([]*workload, error) {
	if kind == KindNamespace {
		return listNamespaces(ctx, kc, name)
	}
	pods, err := listPods(ctx, kc, ns, labels.Everything())
	if err != nil {
		return nil, err
	}
	rows, err := ofKind(ctx, kc, kind, ns, pods)
	if err != nil {
		return nil, err
	}
	if name != "" {
		rows = slices.DeleteFunc(rows, func(w *workload) bool { return w.name != name })
		if len(rows) == 0 {
			return nil, fmt.Errorf("%s %q not found in namespace %q", kind, name, ns)
		}
	}
	sortWorkloads(rows)
	return rows, nil
}

// ofKind lists the workloads of kind in ns and gives each its pods, out
// of pods (every live pod of ns): one List of the kind, and one of
// ReplicaSets for deployments.
func ofKind(ctx context.Context, kc kubernetes.Interface, kind Kind, ns string, pods []*corev1.Pod) ([]*workload, error) {
	var rows []*workload
	byOwner := map[string]*workload{} // namespace/name of the owner
	add := func(w *workload) {
		rows = append(rows, w)
		byOwner[w.namespace+"/"+w.name] = w
	}
	owner := func(p *corev1.Pod) (kind, name string) {
		if ref := metav1.GetControllerOf(p); ref != nil {
			return ref.Kind, ref.Name
		}
		return "", ""
	}
	switch kind {
	case KindPod:
		for _, p := range pods {
			add(&workload{kind: kind, namespace: p.Namespace, name: p.Name, peer: identityOf(p.Namespace, &p.Spec), pods: []*corev1.Pod{p}})
		}
	case KindDeployment:
		list, err := kc.AppsV1().Deployments(ns).List(ctx, metav1.ListOptions{})
		if err != nil {
			return nil, fmt.Errorf("listing deployments: %w", kube.ExplainForbidden(err, "list", "deployments", ns))
		}
		for i := range list.Items {
			d := &list.Items[i]
			add(&workload{kind: kind, namespace: d.Namespace, name: d.Name, peer: identityOf(d.Namespace, &d.Spec.Template.Spec)})
		}
		// A deployment's pods are its ReplicaSets'.
		rss, err := kc.AppsV1().ReplicaSets(ns).List(ctx, metav1.ListOptions{})
		if err != nil {
			return nil, fmt.Errorf("listing replicasets, which own deployments' pods: %w", kube.ExplainForbidden(err, "list", "replicasets", ns))
		}
		deployOf := map[string]string{}
		for i := range rss.Items {
			rs := &rss.Items[i]
			if ref := metav1.GetControllerOf(rs); ref != nil && ref.Kind == "Deployment" {
				deployOf[rs.Namespace+"/"+rs.Name] = ref.Name
			}
		}
		for _, p := range pods {
			if k, rs := owner(p); k == "ReplicaSet" {
				if w := byOwner[p.Namespace+"/"+deployOf[p.Namespace+"/"+rs]]; w != nil {
					w.pods = append(w.pods, p)
				}
			}
		}
	case KindStatefulSet:
		list, err := kc.AppsV1().StatefulSets(ns).List(ctx, metav1.ListOptions{})
		if err != nil {
			return nil, fmt.Errorf("listing statefulsets: %w", kube.ExplainForbidden(err, "list", "statefulsets", ns))
		}
		for i := range list.Items {
			s := &list.Items[i]
			add(&workload{kind: kind, namespace: s.Namespace, name: s.Name, peer: identityOf(s.Namespace, &s.Spec.Template.Spec)})
		}
		ownedBy(pods, "StatefulSet", byOwner)
	case KindDaemonSet:
		list, err := kc.AppsV1().DaemonSets(ns).List(ctx, metav1.ListOptions{})
		if err != nil {
			return nil, fmt.Errorf("listing daemonsets: %w", kube.ExplainForbidden(err, "list", "daemonsets", ns))
		}
		for i := range list.Items {
			d := &list.Items[i]
			add(&workload{kind: kind, namespace: d.Namespace, name: d.Name, peer: identityOf(d.Namespace, &d.Spec.Template.Spec)})
		}
		ownedBy(pods, "DaemonSet", byOwner)
	default:
		return nil, fmt.Errorf("stat does not show %s", kind)
	}
	return rows, nil
}

// ownedBy gives each pod to the workload of kind that controls it.
func ownedBy(pods []*corev1.Pod, kind string, byOwner map[string]*workload) {
	for _, p := range pods {
		if ref := metav1.GetControllerOf(p); ref != nil && ref.Kind == kind {
			if w := byOwner[p.Namespace+"/"+ref.Name]; w != nil {
				w.pods = append(w.pods, p)
			}
		}
	}
}

// listNamespaces reads the namespaces (or the one named) and all their pods.
func listNamespaces(ctx context.Context, kc kubernetes.Interface, name string) ([]*workload, error) {
	var names []string
	if name != "" {
		if _, err := kc.CoreV1().Namespaces().Get(ctx, name, metav1.GetOptions{}); err != nil {
			return nil, fmt.Errorf("namespace %q: %w", name, kube.ExplainForbidden(err, "get", "namespaces", ""))
		}
		names = []string{name}
	} else {
		list, err := kc.CoreV1().Namespaces().List(ctx, metav1.ListOptions{})
		if err != nil {
			return nil, fmt.Errorf("listing namespaces: %w", kube.ExplainForbidden(err, "list", "namespaces", ""))
		}
		for _, n := range list.Items {
			names = append(names, n.Name)
		}
	}
	pods, err := listPods(ctx, kc, name, labels.Everything())
	if err != nil {
		return nil, err
	}
	byName := map[string]*workload{}
	var rows []*workload
	for _, n := range names {
		w := &workload{kind: KindNamespace, name: n, peer: n + "/"}
		byName[n] = w
		rows = append(rows, w)
	}
	for _, p := range pods {
		if w := byName[p.Namespace]; w != nil {
			w.pods = append(w.pods, p)
		}
	}
	sortWorkloads(rows)
	return rows, nil
}

// listPods lists the live pods of ns ("" for all) that sel selects.
func listPods(ctx context.Context, kc kubernetes.Interface, ns string, sel labels.Selector) ([]*corev1.Pod, error) {
	list, err := kc.CoreV1().Pods(ns).List(ctx, metav1.ListOptions{LabelSelector: sel.String()})
	if err != nil {
		return nil, fmt.Errorf("listing pods: %w", kube.ExplainForbidden(err, "list", "pods", ns))
	}
	var pods []*corev1.Pod
	for i := range list.Items {
		if p := &list.Items[i]; live(p) {
			pods = append(pods, p)
		}
	}
	return pods, nil
}

func sortWorkloads(rows []*workload) {
	slices.SortFunc(rows, func(a, b *workload) int {
		return cmp.Or(strings.Compare(a.namespace, b.namespace), strings.Compare(a.name, b.name))
	})
}

// peerOf is the peer label of the traffic of e's pods, or, for a
// namespace, the prefix of every identity in it: what --from matches in
// the destination's inbound series. A workload's identity is its pod
// template's ServiceAccount, read with one Get.
func peerOf(ctx context.Context, kc kubernetes.Interface, e Edge) (string, error) {
	var spec *corev1.PodSpec
	switch e.Kind {
	case KindNamespace:
		return e.Name + "/", nil
	case KindServiceAccount:
		return e.Namespace + "/" + e.Name, nil
	case KindPod:
		p, err := kc.CoreV1().Pods(e.Namespace).Get(ctx, e.Name, metav1.GetOptions{})
		if err != nil {
			return "", fmt.Errorf("%s: %w", e, kube.ExplainForbidden(err, "get", "pods", e.Namespace))
		}
		spec = &p.Spec
	case KindDeployment, KindStatefulSet, KindDaemonSet:
		tmpl, _, err := workloadOf(ctx, kc, e)
		if err != nil {
			return "", err
		}
		spec = &tmpl.Spec
	default:
		return "", fmt.Errorf("%s: not a kind --from or --to take", e)
	}
	return identityOf(e.Namespace, spec), nil
}

// workloadOf gets a deployment, statefulset or daemonset: its pod
// template and the selector of its pods.
func workloadOf(ctx context.Context, kc kubernetes.Interface, e Edge) (*corev1.PodTemplateSpec, labels.Selector, error) {
	var tmpl *corev1.PodTemplateSpec
	var sel *metav1.LabelSelector
	var err error
	switch e.Kind {
	case KindDeployment:
		var d *appsv1.Deployment
		if d, err = kc.AppsV1().Deployments(e.Namespace).Get(ctx, e.Name, metav1.GetOptions{}); err == nil {
			tmpl, sel = &d.Spec.Template, d.Spec.Selector
		}
	case KindStatefulSet:
		var s *appsv1.StatefulSet
		if s, err = kc.AppsV1().StatefulSets(e.Namespace).Get(ctx, e.Name, metav1.GetOptions{}); err == nil {
			tmpl, sel = &s.Spec.Template, s.Spec.Selector
		}
	case KindDaemonSet:
		var d *appsv1.DaemonSet
		if d, err = kc.AppsV1().DaemonSets(e.Namespace).Get(ctx, e.Name, metav1.GetOptions{}); err == nil {
			tmpl, sel = &d.Spec.Template, d.Spec.Selector
		}
	}
	if err != nil {
		return nil, nil, fmt.Errorf("%s: %w", e, kube.ExplainForbidden(err, "get", string(e.Kind)+"s", e.Namespace))
	}
	s, err := metav1.LabelSelectorAsSelector(sel)
	if err != nil {
		return nil, nil, fmt.Errorf("%s: selector: %w", e, err)
	}
	return tmpl, s, nil
}

// podsOf are the live pods of e, the destination of --to: a workload's
// (by its selector), a pod, the pods running as a ServiceAccount, or all
// of a namespace's. One Get and one List at most.
func podsOf(ctx context.Context, kc kubernetes.Interface, e Edge) ([]*corev1.Pod, error) {
	switch e.Kind {
	case KindNamespace:
		return listPods(ctx, kc, e.Name, labels.Everything())
	case KindServiceAccount:
		pods, err := listPods(ctx, kc, e.Namespace, labels.Everything())
		if err != nil {
			return nil, err
		}
		return slices.DeleteFunc(pods, func(p *corev1.Pod) bool {
			return cmp.Or(p.Spec.ServiceAccountName, defaultServiceAccount) != e.Name
		}), nil
	case KindPod:
		p, err := kc.CoreV1().Pods(e.Namespace).Get(ctx, e.Name, metav1.GetOptions{})
		if err != nil {
			return nil, fmt.Errorf("%s: %w", e, kube.ExplainForbidden(err, "get", "pods", e.Namespace))
		}
		return []*corev1.Pod{p}, nil
	}
	_, sel, err := workloadOf(ctx, kc, e)
	if err != nil {
		return nil, err
	}
	return listPods(ctx, kc, e.Namespace, sel)
}

// Workload is a deployment, statefulset or daemonset with its live pods,
// or a live pod that none of them controls, grouped as stat groups them:
// what `meshctl dashboard` draws as a node.
type Workload struct {
	Kind            Kind
	Namespace, Name string
	// Identity is the peer label of its pods' traffic at the other end:
	// namespace/ServiceAccount of its pod template.
	Identity string
	Pods     []*corev1.Pod
}

// ListWorkloads lists the deployments, statefulsets and daemonsets of ns
// ("" for all) with their live pods, and each live pod that none of them
// controls as a workload of its own (KindPod), by namespace, kind and
// name: one List each of pods, deployments, ReplicaSets, statefulsets and
// daemonsets, whatever the number of workloads.
func ListWorkloads(ctx context.Context, kc kubernetes.Interface, ns string) ([]Workload, error) {
	pods, err := listPods(ctx, kc, ns, labels.Everything())
	if err != nil {
		return nil, err
	}
	var all []*workload
	for _, k := range []Kind{KindDeployment, KindStatefulSet, KindDaemonSet} {
		rows, err := ofKind(ctx, kc, k, ns, pods)
		if err != nil {
			return nil, err
		}
		all = append(all, rows...)
	}
	owned := map[*corev1.Pod]bool{}
	for _, w := range all {
		for _, p := range w.pods {
			owned[p] = true
		}
	}
	for _, p := range pods {
		if !owned[p] {
			all = append(all, &workload{kind: KindPod, namespace: p.Namespace, name: p.Name, peer: identityOf(p.Namespace, &p.Spec), pods: []*corev1.Pod{p}})
		}
	}
	slices.SortFunc(all, func(a, b *workload) int {
		return cmp.Or(strings.Compare(a.namespace, b.namespace), strings.Compare(string(a.kind), string(b.kind)), strings.Compare(a.name, b.name))
	})
	out := make([]Workload, len(all))
	for i, w := range all {
		out[i] = Workload{Kind: w.kind, Namespace: w.namespace, Name: w.name, Identity: w.peer, Pods: w.pods}
	}
	return out, nil
}
