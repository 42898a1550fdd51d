// Package tapcli is `meshctl tap` and `meshctl top`: the live requests of
// the meshed pods of a Deployment, a namespace or one pod, read from each
// proxy's tap (wire.TapPath, pkg/proxy/tap) through a port-forward, and
// printed as they happen (tap) or aggregated into a table of the busiest
// paths (top). It needs the get and list permissions on pods and the create
// permission on pods/portforward, and nothing else: a Deployment's pods are
// found by their ReplicaSet's name, not by reading the Deployment.
package tapcli

import (
	"context"
	"fmt"
	"slices"
	"strings"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"

	"github.com/meshctl/meshctl/pkg/cli"
	"github.com/meshctl/meshctl/pkg/kube"
	"github.com/meshctl/meshctl/pkg/proxyconfig"
)

// Kinds of target.
const (
	KindDeployment = "deploy"
	KindPod        = "pod"
	KindNamespace  = "ns"
)

// MaxPods bounds the pods one command listens to: each holds a
// port-forward through the API server for as long as it runs.
const MaxPods = 100

// Target is what a command listens to: deploy/NAME, pod/NAME or ns/NAME.
type Target struct {
	Kind, Name string
}

func (t Target) String() string { return t.Kind + "/" + t.Name }

// kinds are the spellings of each kind, as kubectl takes them.
var kinds = map[string]string{
	"deploy": KindDeployment, "deployment": KindDeployment, "deployments": KindDeployment, "deployment.apps": KindDeployment,
	"po": KindPod, "pod": KindPod, "pods": KindPod,
	"ns": KindNamespace, "namespace": KindNamespace, "namespaces": KindNamespace,
}

// ParseTarget reads KIND/NAME; a bad one is a usage error.
func ParseTarget(s string) (Target, error) {
	kind, name, ok := strings.Cut(s, "/")
	k, known := kinds[strings.ToLower(kind)]
	if !ok || !known || name == "" || strings.Contains(name, "/") {
		return Target{}, cli.UsageErrorf("%q is not a target: use deploy/NAME, pod/NAME or ns/NAME", s)
	}
	return Target{Kind: k, Name: name}, nil
}

// Pods are the meshed, running pods of t in namespace (t's own for a
// namespace target), and a note for each pod of t left out.
func (t Target) Pods(ctx context.Context, kc kubernetes.Interface, namespace string) ([]*corev1.Pod, []string, error) {
	if t.Kind == KindNamespace {
		namespace = t.Name
	}
	var candidates []*corev1.Pod
	if t.Kind == KindPod {
		pod, err := kc.CoreV1().Pods(namespace).Get(ctx, t.Name, metav1.GetOptions{})
		if apierrors.IsNotFound(err) {
			return nil, nil, fmt.Errorf("pod %q not found in namespace %q", t.Name, namespace)
		}
		if err != nil {
			return nil, nil, fmt.Errorf("pod %q in namespace %q: %w", t.Name, namespace, kube.ExplainForbidden(err, "get", "pods", namespace))
		}
		candidates = append(candidates, pod)
	} else {
		list, err := kc.CoreV1().Pods(namespace).List(ctx, metav1.ListOptions{})
		if err != nil {
			return nil, nil, fmt.Errorf("%s: %w", t, kube.ExplainForbidden(err, "list", "pods", namespace))
		}
		for i := range list.Items {
			if pod := &list.Items[i]; t.Kind == KindNamespace || ofDeployment(pod, t.Name) {
				candidates = append(candidates, pod)
			}
		}
	}
	var pods []*corev1.Pod
	var skipped []string
	for _, pod := range candidates {
		switch {
		case proxyconfig.ProxyContainerOf(&pod.Spec) == nil:
			skipped = append(skipped, fmt.Sprintf("pod/%s is not meshed", pod.Name))
		case pod.DeletionTimestamp != nil:
			skipped = append(skipped, fmt.Sprintf("pod/%s is terminating", pod.Name))
		case pod.Status.Phase != corev1.PodRunning:
			skipped = append(skipped, fmt.Sprintf("pod/%s is %s, not Running", pod.Name, pod.Status.Phase))
		default:
			pods = append(pods, pod)
		}
	}
	if len(pods) == 0 {
		why := "it has no pods"
		if len(skipped) > 0 {
			why = strings.Join(skipped, "; ")
		}
		return nil, skipped, fmt.Errorf("%s in namespace %q: no meshed, running pod to listen to: %s", t, namespace, why)
	}
	if len(pods) > MaxPods {
		return nil, skipped, cli.UsageErrorf("%s in namespace %q has %d meshed pods; listen to at most %d at once (a Deployment or one pod)", t, namespace, len(pods), MaxPods)
	}
	slices.SortFunc(pods, func(a, b *corev1.Pod) int { return strings.Compare(a.Name, b.Name) })
	return pods, skipped, nil
}

// ofDeployment says whether pod belongs to Deployment name: its controller
// is the ReplicaSet name-<pod-template-hash>, as the Deployment controller
// names them. Reading the ReplicaSet or the Deployment would take
// permissions beyond pods.
func ofDeployment(pod *corev1.Pod, name string) bool {
	ref := metav1.GetControllerOf(pod)
	hash := pod.Labels["pod-template-hash"]
	return ref != nil && ref.Kind == "ReplicaSet" && hash != "" && ref.Name == name+"-"+hash
}
