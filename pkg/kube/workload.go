package kube

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/fields"
	"k8s.io/client-go/kubernetes"
)

// MaxEvents is how many of an object's latest events a diagnosis shows.
const MaxEvents = 5

// DeploymentStatus reports whether a Deployment's current generation is fully
// rolled out and available, and a short status for progress lines. Install's
// wait and check's control-plane check share it, so "ready" means the same
// to both.
func DeploymentStatus(dep *appsv1.Deployment) (bool, string) {
	want := int32(1)
	if dep.Spec.Replicas != nil {
		want = *dep.Spec.Replicas
	}
	s := dep.Status
	status := fmt.Sprintf("%d/%d replicas available", s.AvailableReplicas, want)
	for _, c := range s.Conditions {
		if c.Type == appsv1.DeploymentProgressing && c.Reason == "ProgressDeadlineExceeded" {
			return false, status + " (progress deadline exceeded)"
		}
	}
	switch {
	case s.ObservedGeneration < dep.Generation:
		return false, "waiting for the deployment controller"
	case s.UpdatedReplicas < want:
		return false, fmt.Sprintf("%d/%d replicas updated", s.UpdatedReplicas, want)
	case s.Replicas > s.UpdatedReplicas:
		return false, fmt.Sprintf("%d old replicas terminating", s.Replicas-s.UpdatedReplicas)
	case s.AvailableReplicas < want:
		return false, status
	}
	return true, status
}

// DiagnoseDeployment names what keeps a Deployment from being available: its
// failing conditions, then each pod that is not ready with its containers'
// waiting or termination reasons and the pod's latest events. It is what
// replaces "timed out waiting for the condition".
func DiagnoseDeployment(ctx context.Context, kc kubernetes.Interface, dep *appsv1.Deployment) []string {
	ns, name := dep.Namespace, dep.Name
	var out []string
	for _, c := range dep.Status.Conditions {
		if (c.Status != corev1.ConditionTrue || c.Type == appsv1.DeploymentReplicaFailure) && c.Message != "" && c.Type != appsv1.DeploymentAvailable {
			out = append(out, fmt.Sprintf("deployment %s: %s: %s", c.Type, c.Reason, c.Message))
		}
	}
	sel, err := metav1.LabelSelectorAsSelector(dep.Spec.Selector)
	if err != nil {
		return append(out, fmt.Sprintf("deployment %s/%s has an invalid selector: %v", ns, name, err))
	}
	pods, err := kc.CoreV1().Pods(ns).List(ctx, metav1.ListOptions{LabelSelector: sel.String()})
	if err != nil {
		return append(out, fmt.Sprintf("cannot list the pods of deployment %s/%s: %v", ns, name, ExplainForbidden(err, "list", "pods", ns)))
	}
	if len(pods.Items) == 0 {
		out = append(out, fmt.Sprintf("no pods of deployment %s/%s exist", ns, name))
		return append(out, LatestEvents(ctx, kc, ns, "Deployment", name)...)
	}
	slices.SortFunc(pods.Items, func(a, b corev1.Pod) int { return strings.Compare(a.Name, b.Name) })
	for _, pod := range pods.Items {
		problems := PodProblems(&pod)
		for _, p := range problems {
			out = append(out, fmt.Sprintf("pod %s: %s", pod.Name, p))
		}
		if len(problems) > 0 {
			out = append(out, LatestEvents(ctx, kc, ns, "Pod", pod.Name)...)
		}
	}
	if len(out) == 0 {
		out = append(out, "its pods report no failing container; see `kubectl describe deployment -n "+ns+" "+name+"`")
	}
	return out
}

// PodProblems describes what keeps a pod from being ready: scheduling, and
// each container that is waiting (with its reason and last exit), has failed
// or is running unready.
func PodProblems(pod *corev1.Pod) []string {
	var out []string
	for _, c := range pod.Status.Conditions {
		if c.Type == corev1.PodScheduled && c.Status == corev1.ConditionFalse {
			out = append(out, fmt.Sprintf("not scheduled: %s: %s", c.Reason, c.Message))
		}
	}
	statuses := append(slices.Clone(pod.Status.InitContainerStatuses), pod.Status.ContainerStatuses...)
	for _, cs := range statuses {
		if p := ContainerProblem(cs); p != "" {
			out = append(out, p)
		}
	}
	if len(out) == 0 && len(statuses) == 0 && pod.Status.Phase != corev1.PodRunning && pod.Status.Phase != corev1.PodSucceeded {
		out = append(out, strings.TrimSpace(fmt.Sprintf("phase %s, no container has started %s", orNone(string(pod.Status.Phase)), pod.Status.Message)))
	}
	return out
}

// ContainerProblem describes a container that is waiting (with its reason
// and last exit), has failed or is running unready; "" for a healthy one.
func ContainerProblem(cs corev1.ContainerStatus) string {
	switch {
	case cs.State.Waiting != nil:
		msg := fmt.Sprintf("container %s is waiting: %s", cs.Name, cs.State.Waiting.Reason)
		if cs.State.Waiting.Message != "" {
			msg += ": " + cs.State.Waiting.Message
		}
		if t := cs.LastTerminationState.Terminated; t != nil {
			msg += fmt.Sprintf(" (last exit code %d: %s)", t.ExitCode, t.Reason)
		}
		return msg
	case cs.State.Terminated != nil && cs.State.Terminated.ExitCode != 0:
		t := cs.State.Terminated
		return strings.TrimSpace(fmt.Sprintf("container %s terminated: exit code %d: %s %s", cs.Name, t.ExitCode, t.Reason, t.Message))
	case cs.State.Running != nil && !cs.Ready:
		return fmt.Sprintf("container %s is running but not ready (readiness probe failing?)", cs.Name)
	}
	return ""
}

// LatestEvents lists the newest MaxEvents events of one object, oldest first,
// under a heading line; nothing when there are none or they can't be read.
func LatestEvents(ctx context.Context, kc kubernetes.Interface, ns, kind, name string) []string {
	sel := fields.Set{"involvedObject.kind": kind, "involvedObject.name": name}.AsSelector().String()
	evs, err := kc.CoreV1().Events(ns).List(ctx, metav1.ListOptions{FieldSelector: sel})
	if err != nil || len(evs.Items) == 0 {
		return nil
	}
	items := evs.Items
	slices.SortStableFunc(items, func(a, b corev1.Event) int { return eventTime(a).Compare(eventTime(b)) })
	if len(items) > MaxEvents {
		items = items[len(items)-MaxEvents:]
	}
	out := []string{fmt.Sprintf("latest events of %s %s:", strings.ToLower(kind), name)}
	for _, e := range items {
		out = append(out, fmt.Sprintf("  %s %s: %s", e.Type, e.Reason, strings.TrimSpace(e.Message)))
	}
	return out
}

// eventTime is when an event last happened; which field holds it depends on
// the client that recorded it.
func eventTime(e corev1.Event) time.Time {
	switch {
	case !e.EventTime.IsZero():
		return e.EventTime.Time
	case !e.LastTimestamp.IsZero():
		return e.LastTimestamp.Time
	default:
		return e.CreationTimestamp.Time
	}
}

func orNone(s string) string {
	if s == "" {
		return "(none)"
	}
	return s
}
