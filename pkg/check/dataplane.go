package check

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"sort"
	"strings"
	"sync"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/meshctl/meshctl/pkg/kube"
	"github.com/meshctl/meshctl/pkg/meshconfig"
	"github.com/meshctl/meshctl/pkg/namespace"
	"github.com/meshctl/meshctl/pkg/proxyconfig"
)

// maxListed is how many objects a data-plane failure names before it counts
// the rest: enough to act on, short enough to read.
const maxListed = 10

func dataPlaneChecks() []Check {
	needs := []string{CategoryKubernetes, CategoryCRDs, CategoryMeshConfig}
	return []Check{
		{
			Category:    CategoryDataPlane,
			Description: "injected pods have the sidecar",
			Hint:        "data-plane-sidecar",
			Severity:    Error,
			Needs:       needs,
			DataPlane:   true,
			Run:         checkSidecarPresent,
		},
		{
			Category:    CategoryDataPlane,
			Description: "proxies run the image the MeshConfig names",
			Hint:        "data-plane-proxy-image",
			Severity:    Error,
			Needs:       needs,
			DataPlane:   true,
			Run:         checkProxyImage,
		},
		{
			Category:    CategoryDataPlane,
			Description: "proxy containers are ready",
			Hint:        "data-plane-proxy-ready",
			Severity:    Error,
			Needs:       needs,
			DataPlane:   true,
			Run:         checkProxyReady,
		},
		{
			Category:    CategoryDataPlane,
			Description: "proxies hold a valid certificate and the controller's channel",
			Hint:        "data-plane-proxy-identity",
			Severity:    Error,
			Needs:       needs,
			DataPlane:   true,
			Run:         checkProxyIdentity,
		},
		{
			Category:    CategoryDataPlane,
			Description: "proxies hold the current issuer's certificate and trust the bundle's anchors",
			Hint:        "data-plane-proxy-chain",
			Severity:    Warning,
			Needs:       needs,
			DataPlane:   true,
			Run:         checkProxyChain,
		},
		{
			Category:    CategoryDataPlane,
			Description: "proxies follow the MeshConfig's live settings",
			Hint:        "data-plane-proxy-settings",
			Severity:    Warning,
			Needs:       needs,
			DataPlane:   true,
			Run:         checkProxySettings,
		},
		{
			Category:    CategoryDataPlane,
			Description: "running pods of enrolled namespaces have the sidecar",
			Hint:        "data-plane-not-injected",
			Severity:    Warning,
			Needs:       needs,
			DataPlane:   true,
			Run:         checkPodsInjected,
		},
	}
}

// dataPlane is the pods of the enrolled namespaces, read with one list per
// namespace: the number of requests grows with the namespaces, never with
// the pods.
type dataPlane struct {
	namespaces []corev1.Namespace
	pods       map[string][]corev1.Pod
	// injectOnly are the namespaces among namespaces that are not
	// enrolled, whose pods run sidecars `meshctl inject` added for this
	// mesh: their proxies are checked like any other, but their pods
	// without a sidecar are not missing one.
	injectOnly map[string]bool
}

// DataPlane reads the enrolled namespaces (or the one of --namespace) and
// their pods, once per attempt.
func (e *Env) dataPlane(ctx context.Context) (*dataPlane, error) {
	return e.cache.dataPlane.get(func() (*dataPlane, error) {
		nss, injectOnly, err := e.meshedNamespaces(ctx)
		if err != nil {
			return nil, err
		}
		dp := &dataPlane{namespaces: nss, pods: map[string][]corev1.Pod{}, injectOnly: injectOnly}
		lists := make([][]corev1.Pod, len(nss))
		errs := make([]error, len(nss))
		var wg sync.WaitGroup
		sem := make(chan struct{}, maxParallel)
		for i := range nss {
			wg.Go(func() {
				sem <- struct{}{}
				defer func() { <-sem }()
				l, err := e.Clients.Kube.CoreV1().Pods(nss[i].Name).List(ctx, metav1.ListOptions{})
				if err != nil {
					errs[i] = fmt.Errorf("listing pods in namespace %q: %w", nss[i].Name, kube.ExplainForbidden(err, "list", "pods", nss[i].Name))
					return
				}
				sort.Slice(l.Items, func(a, b int) bool { return l.Items[a].Name < l.Items[b].Name })
				lists[i] = l.Items
			})
		}
		wg.Wait()
		if err := errors.Join(errs...); err != nil {
			return nil, err
		}
		for i, ns := range nss {
			dp.pods[ns.Name] = lists[i]
		}
		return dp, nil
	})
}

// meshedNamespaces returns the namespaces of this mesh's data plane,
// sorted: those enrolled in it, and those whose pods run sidecars `meshctl
// inject` added for it while the namespace is not enrolled (the second
// result names these). With --namespace, only that one, which must be
// either.
func (e *Env) meshedNamespaces(ctx context.Context) ([]corev1.Namespace, map[string]bool, error) {
	api := e.Clients.Kube.CoreV1().Namespaces()
	injected, err := namespace.InjectedNamespaces(ctx, e.Clients.Kube, e.Namespace)
	if err != nil {
		return nil, nil, err
	}
	if e.DataPlaneNamespace != "" {
		ns, err := api.Get(ctx, e.DataPlaneNamespace, metav1.GetOptions{})
		if err != nil {
			return nil, nil, fmt.Errorf("namespace %q: %w", e.DataPlaneNamespace, kube.ExplainForbidden(err, "get", "namespaces", ""))
		}
		if ns.Labels[meshconfig.LabelMonitoredBy] == e.MeshName {
			return []corev1.Namespace{*ns}, nil, nil
		}
		if ns.Labels[meshconfig.LabelMonitoredBy] == "" &&
			slices.ContainsFunc(injected, func(in namespace.InjectedPods) bool { return in.Namespace == ns.Name }) {
			return []corev1.Namespace{*ns}, map[string]bool{ns.Name: true}, nil
		}
		return nil, nil, fmt.Errorf("namespace %q is not enrolled in mesh %q: run `meshctl namespace add %s`", ns.Name, e.MeshName, ns.Name)
	}
	list, err := api.List(ctx, metav1.ListOptions{LabelSelector: meshconfig.LabelMonitoredBy + "=" + e.MeshName})
	if err != nil {
		return nil, nil, fmt.Errorf("listing the namespaces enrolled in mesh %q: %w", e.MeshName, kube.ExplainForbidden(err, "list", "namespaces", ""))
	}
	nss := list.Items
	enrolled := make([]string, len(nss))
	for i := range nss {
		enrolled[i] = nss[i].Name
	}
	injectOnly := map[string]bool{}
	for _, in := range namespace.NotEnrolled(injected, enrolled) {
		ns, err := api.Get(ctx, in.Namespace, metav1.GetOptions{})
		if err != nil {
			return nil, nil, fmt.Errorf("namespace %q: %w", in.Namespace, kube.ExplainForbidden(err, "get", "namespaces", ""))
		}
		// Another mesh's namespace is that mesh's to check.
		if ns.Labels[meshconfig.LabelMonitoredBy] != "" {
			continue
		}
		nss = append(nss, *ns)
		injectOnly[ns.Name] = true
	}
	sort.Slice(nss, func(i, j int) bool { return nss[i].Name < nss[j].Name })
	return nss, injectOnly, nil
}

// each calls f for every live pod of the data plane, namespace by namespace
// and pod by pod in name order. Checks share dp, so f must not change it.
func (dp *dataPlane) each(f func(ns *corev1.Namespace, pod *corev1.Pod)) {
	for i := range dp.namespaces {
		ns := &dp.namespaces[i]
		pods := dp.pods[ns.Name]
		for j := range pods {
			if live(&pods[j]) {
				f(ns, &pods[j])
			}
		}
	}
}

// live reports whether a pod runs or will: finished and terminating pods
// are not the data plane any more.
func live(pod *corev1.Pod) bool {
	return pod.DeletionTimestamp == nil && pod.Status.Phase != corev1.PodSucceeded && pod.Status.Phase != corev1.PodFailed
}

func containerNamed(cs []corev1.Container, name string) *corev1.Container {
	for i := range cs {
		if cs[i].Name == name {
			return &cs[i]
		}
	}
	return nil
}

// injected reports whether the injector marked pod as having received the
// sidecar.
func injected(pod *corev1.Pod) bool {
	_, marked := pod.Annotations[meshconfig.AnnotationInjected]
	_, labelled := pod.Labels[meshconfig.LabelProxyVersion]
	return marked || labelled
}

func hasProxy(pod *corev1.Pod) bool {
	return proxyconfig.ProxyContainerOf(&pod.Spec) != nil
}

// nameList joins names, cut after maxListed.
func nameList(names []string) string {
	if len(names) <= maxListed {
		return strings.Join(names, ", ")
	}
	return fmt.Sprintf("%s and %d more", strings.Join(names[:maxListed], ", "), len(names)-maxListed)
}

func checkSidecarPresent(ctx context.Context, env *Env) error {
	dp, err := env.dataPlane(ctx)
	if err != nil {
		return err
	}
	var bad []string
	dp.each(func(ns *corev1.Namespace, pod *corev1.Pod) {
		if !injected(pod) {
			return
		}
		var missing []string
		if !hasProxy(pod) {
			missing = append(missing, "container "+proxyconfig.ProxyContainerName)
		}
		if containerNamed(pod.Spec.InitContainers, proxyconfig.InitContainerName) == nil {
			missing = append(missing, "init container "+proxyconfig.InitContainerName)
		}
		if len(missing) > 0 {
			bad = append(bad, fmt.Sprintf("%s/%s (no %s)", pod.Namespace, pod.Name, strings.Join(missing, ", no ")))
		}
	})
	if len(bad) > 0 {
		return fmt.Errorf("%d pod(s) marked as injected lack the sidecar: %s", len(bad), nameList(bad))
	}
	return nil
}

func checkProxyImage(ctx context.Context, env *Env) error {
	want, err := env.ExpectedProxyImage(ctx)
	if err != nil {
		return err
	}
	dp, err := env.dataPlane(ctx)
	if err != nil {
		return err
	}
	var bad []string
	var errs []error
	dp.each(func(ns *corev1.Namespace, pod *corev1.Pod) {
		stale, err := proxyconfig.OutdatedContainers(&pod.Spec, want)
		if err != nil {
			errs = append(errs, fmt.Errorf("pod %s/%s: %w", pod.Namespace, pod.Name, err))
			return
		}
		for _, c := range stale {
			bad = append(bad, fmt.Sprintf("%s/%s (%s: %s)", pod.Namespace, pod.Name, c.Name, c.Image))
		}
	})
	if len(bad) > 0 {
		errs = append(errs, fmt.Errorf("%d proxy container(s) do not run %s, the MeshConfig's image: %s; restart their workloads to inject the current sidecar: meshctl namespace restart NAMESPACE", len(bad), want, nameList(bad)))
	}
	return errors.Join(errs...)
}

func checkProxyReady(ctx context.Context, env *Env) error {
	dp, err := env.dataPlane(ctx)
	if err != nil {
		return err
	}
	var bad []string
	dp.each(func(ns *corev1.Namespace, pod *corev1.Pod) {
		if !hasProxy(pod) {
			return
		}
		cs := proxyconfig.ProxyStatusOf(pod)
		if cs == nil {
			bad = append(bad, fmt.Sprintf("%s/%s (not started; phase %s)", pod.Namespace, pod.Name, orNone(string(pod.Status.Phase))))
			return
		}
		if cs.Ready {
			return
		}
		why := "not ready"
		if p := kube.ContainerProblem(*cs); p != "" {
			why = p
		}
		bad = append(bad, fmt.Sprintf("%s/%s (%s)", pod.Namespace, pod.Name, why))
	})
	if len(bad) > 0 {
		return fmt.Errorf("%d proxy container(s) are not ready: %s", len(bad), nameList(bad))
	}
	return nil
}

func checkPodsInjected(ctx context.Context, env *Env) error {
	dp, err := env.dataPlane(ctx)
	if err != nil {
		return err
	}
	byNS := map[string][]string{}
	var order []string
	dp.each(func(ns *corev1.Namespace, pod *corev1.Pod) {
		if dp.injectOnly[ns.Name] || meshconfig.InjectionOf(ns.Labels, ns.Annotations).Setting == meshconfig.InjectionDisabled ||
			meshconfig.PodOptsOut(pod.Labels, pod.Annotations) || hasProxy(pod) {
			return
		}
		w := workloadOf(pod)
		if _, ok := byNS[ns.Name]; !ok {
			order = append(order, ns.Name)
		}
		if !slices.Contains(byNS[ns.Name], w) {
			byNS[ns.Name] = append(byNS[ns.Name], w)
		}
	})
	if len(order) == 0 {
		return nil
	}
	lines := []string{"these workloads run pods without the sidecar, started before their namespace was enrolled; restart them:"}
	for _, ns := range order {
		ws := byNS[ns]
		lines = append(lines, fmt.Sprintf("  namespace %s: %s", ns, nameList(ws)))
		cmd := fmt.Sprintf("    meshctl namespace add %s --restart", ns)
		if r := restartable(ws); len(r) > 0 {
			cmd += fmt.Sprintf("   # or: kubectl rollout restart -n %s %s", ns, strings.Join(r, " "))
		}
		lines = append(lines, cmd)
	}
	return errors.New(strings.Join(lines, "\n"))
}

// workloadOf names the workload that owns pod, as kubectl does: a
// ReplicaSet's pods are its Deployment's, found by the pod-template-hash
// suffix the Deployment controller appends to its ReplicaSets' names.
func workloadOf(pod *corev1.Pod) string {
	owner := metav1.GetControllerOf(pod)
	if owner == nil {
		return "pod/" + pod.Name
	}
	if owner.Kind == "ReplicaSet" {
		if hash := pod.Labels["pod-template-hash"]; hash != "" && strings.HasSuffix(owner.Name, "-"+hash) {
			return "deployment/" + strings.TrimSuffix(owner.Name, "-"+hash)
		}
	}
	return strings.ToLower(owner.Kind) + "/" + owner.Name
}

// restartable keeps the workloads `kubectl rollout restart` can roll.
func restartable(ws []string) []string {
	var out []string
	for _, w := range ws {
		kind, _, _ := strings.Cut(w, "/")
		if kind == "deployment" || kind == "statefulset" || kind == "daemonset" {
			out = append(out, w)
		}
	}
	return out
}
