package check

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/fields"

	"github.com/meshctl/meshctl/pkg/kube"
	"github.com/meshctl/meshctl/pkg/meshconfig"
)

// maxEvents is how many of a pod's latest events a failure shows.
const maxEvents = 3

func controller(ctx context.Context, env *Env) (*appsv1.Deployment, error) {
	dep, err := env.Clients.Kube.AppsV1().Deployments(env.Namespace).Get(ctx, meshconfig.ControllerName, metav1.GetOptions{})
	if apierrors.IsNotFound(err) {
		return nil, fmt.Errorf("deployment %s/%s is missing: run `meshctl install` (or pass the right --mesh-namespace)", env.Namespace, meshconfig.ControllerName)
	}
	if err != nil {
		return nil, fmt.Errorf("deployment %s/%s: %w", env.Namespace, meshconfig.ControllerName, kube.ExplainForbidden(err, "get", "deployments.apps", env.Namespace))
	}
	return dep, nil
}

func checkControllerExists(ctx context.Context, env *Env) error {
	_, err := controller(ctx, env)
	return err
}

func checkControllerAvailable(ctx context.Context, env *Env) error {
	dep, err := controller(ctx, env)
	if err != nil {
		return err
	}
	if ok, status := deploymentAvailable(dep); !ok {
		lines := []string{fmt.Sprintf("deployment %s/%s is not available: %s", dep.Namespace, dep.Name, status)}
		return fmt.Errorf("%s", strings.Join(append(lines, diagnosePods(ctx, env, dep)...), "\n"))
	}
	return nil
}

// deploymentAvailable reports whether dep's current generation is rolled out
// and available, and otherwise its replica counts.
func deploymentAvailable(dep *appsv1.Deployment) (bool, string) {
	want := int32(1)
	if dep.Spec.Replicas != nil {
		want = *dep.Spec.Replicas
	}
	st := dep.Status
	status := fmt.Sprintf("%d of %d replicas available, %d updated", st.AvailableReplicas, want, st.UpdatedReplicas)
	if st.ObservedGeneration < dep.Generation {
		return false, "the new generation has not been observed yet; " + status
	}
	available := false
	for _, c := range st.Conditions {
		if c.Type == appsv1.DeploymentAvailable && c.Status == corev1.ConditionTrue {
			available = true
		}
	}
	return available && st.AvailableReplicas >= want && st.UpdatedReplicas >= want, status
}

// diagnosePods names the controller's pods that are not ready, their
// containers' waiting reasons and the pods' latest events.
func diagnosePods(ctx context.Context, env *Env, dep *appsv1.Deployment) []string {
	sel, err := metav1.LabelSelectorAsSelector(dep.Spec.Selector)
	if err != nil {
		return []string{"its selector is invalid: " + err.Error()}
	}
	pods, err := env.Clients.Kube.CoreV1().Pods(dep.Namespace).List(ctx, metav1.ListOptions{LabelSelector: sel.String()})
	if err != nil {
		return []string{"cannot list its pods: " + kube.ExplainForbidden(err, "list", "pods", dep.Namespace).Error()}
	}
	if len(pods.Items) == 0 {
		return []string{"it has no pods: see `kubectl describe deployment -n " + dep.Namespace + " " + dep.Name + "`"}
	}
	slices.SortFunc(pods.Items, func(a, b corev1.Pod) int { return strings.Compare(a.Name, b.Name) })
	var out []string
	for _, pod := range pods.Items {
		problems := podProblems(&pod)
		if len(problems) == 0 {
			continue
		}
		for _, p := range problems {
			out = append(out, fmt.Sprintf("pod %s: %s", pod.Name, p))
		}
		out = append(out, podEvents(ctx, env, &pod)...)
	}
	return out
}

// podProblems describes what keeps a pod from being ready: each container
// that is waiting (with its reason), terminated or unready.
func podProblems(pod *corev1.Pod) []string {
	var out []string
	for _, c := range pod.Status.Conditions {
		if c.Type == corev1.PodScheduled && c.Status == corev1.ConditionFalse {
			out = append(out, fmt.Sprintf("not scheduled: %s: %s", c.Reason, c.Message))
		}
	}
	statuses := append(slices.Clone(pod.Status.InitContainerStatuses), pod.Status.ContainerStatuses...)
	for _, cs := range statuses {
		out = append(out, containerProblem(cs)...)
	}
	if len(out) == 0 && len(statuses) == 0 {
		out = append(out, fmt.Sprintf("phase %s, no container has started", orNone(string(pod.Status.Phase))))
	}
	return out
}

// containerProblem describes a container that is not ready, or nothing.
func containerProblem(cs corev1.ContainerStatus) []string {
	switch {
	case cs.State.Waiting != nil:
		msg := fmt.Sprintf("container %s is waiting: %s", cs.Name, cs.State.Waiting.Reason)
		if cs.State.Waiting.Message != "" {
			msg += ": " + cs.State.Waiting.Message
		}
		return []string{msg}
	case cs.State.Terminated != nil && cs.State.Terminated.ExitCode != 0:
		t := cs.State.Terminated
		return []string{fmt.Sprintf("container %s terminated with exit code %d: %s", cs.Name, t.ExitCode, t.Reason)}
	case cs.State.Running != nil && !cs.Ready:
		return []string{fmt.Sprintf("container %s is running but not ready", cs.Name)}
	}
	return nil
}

// podEvents returns the latest events of a pod, oldest first.
func podEvents(ctx context.Context, env *Env, pod *corev1.Pod) []string {
	sel := fields.Set{"involvedObject.kind": "Pod", "involvedObject.name": pod.Name}.AsSelector().String()
	evs, err := env.Clients.Kube.CoreV1().Events(pod.Namespace).List(ctx, metav1.ListOptions{FieldSelector: sel})
	if err != nil || len(evs.Items) == 0 {
		return nil
	}
	items := evs.Items
	slices.SortStableFunc(items, func(a, b corev1.Event) int { return eventTime(a).Compare(eventTime(b)) })
	if len(items) > maxEvents {
		items = items[len(items)-maxEvents:]
	}
	out := []string{"latest events of pod " + pod.Name + ":"}
	for _, e := range items {
		out = append(out, fmt.Sprintf("  %s %s: %s", e.Type, e.Reason, strings.TrimSpace(e.Message)))
	}
	return out
}

func eventTime(e corev1.Event) time.Time {
	switch {
	case !e.EventTime.IsZero():
		return e.EventTime.Time
	case !e.LastTimestamp.IsZero():
		return e.LastTimestamp.Time
	}
	return e.CreationTimestamp.Time
}

func checkControlPlaneVersion(ctx context.Context, env *Env) error {
	dep, err := controller(ctx, env)
	if err != nil {
		return err
	}
	cp := dep.Labels[meshconfig.LabelVersion]
	if cp != env.CLIVersion {
		return fmt.Errorf("the control plane runs %s and this meshctl is %s: run `meshctl upgrade` with this meshctl, or use the meshctl of %s",
			orNone(cp), env.CLIVersion, orNone(cp))
	}
	return nil
}
