package install

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

	"github.com/meshctl/meshctl/pkg/cli"
)

// pollInterval is how often readiness is checked.
const pollInterval = time.Second

// maxEvents is how many of a pod's latest events a failure report shows.
const maxEvents = 5

// NotReadyError says which component did not become ready, and why, as far as
// pods and events tell.
type NotReadyError struct {
	// Deployment is namespace/name of the component.
	Deployment string
	// Timeout is how long meshctl waited.
	Timeout time.Duration
	// Status is the last observed replica status.
	Status string
	// Diagnosis lists failing pods and containers and their latest events.
	Diagnosis []string
}

// Error says which component is not ready and why, one diagnosis per line.
func (e *NotReadyError) Error() string {
	var b strings.Builder
	fmt.Fprintf(&b, "deployment %s is not ready after %s: %s", e.Deployment, e.Timeout, e.Status)
	for _, l := range e.Diagnosis {
		b.WriteString("\n  " + l)
	}
	return b.String()
}

// waitReady waits until every Deployment in objs is available, reporting each
// one's progress, and on timeout diagnoses the first that is not.
func (d *Deps) waitReady(ctx context.Context, deployments []string, timeout time.Duration, p *cli.Progress) error {
	kc := d.Clients.Kube
	// Requests use ctx, not the deadline: a request that a rate limiter
	// predicts would overrun the deadline must not be mistaken for a failure.
	deadline := d.Clock.NewTimer(timeout)
	defer deadline.Stop()
	ticker := d.Clock.NewTicker(pollInterval)
	defer ticker.Stop()
	pending := slices.Clone(deployments)
	last := map[string]string{}
	for {
		var still []string
		for _, name := range pending {
			dep, err := kc.AppsV1().Deployments(d.Namespace).Get(ctx, name, metav1.GetOptions{})
			if err != nil {
				return fmt.Errorf("deployment %s/%s: %w", d.Namespace, name, err)
			}
			ready, status := deploymentStatus(dep)
			last[name] = status
			if ready {
				p.Done(name, "ready")
				continue
			}
			p.Update(name, status)
			still = append(still, name)
		}
		pending = still
		if len(pending) == 0 {
			return nil
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-deadline.C():
			name := pending[0]
			p.Failed(name, "not ready: "+last[name])
			return &NotReadyError{
				Deployment: d.Namespace + "/" + name,
				Timeout:    timeout,
				Status:     last[name],
				Diagnosis:  diagnose(ctx, kc, d.Namespace, name),
			}
		case <-ticker.C():
		}
	}
}

// deploymentStatus reports whether a Deployment's current generation is
// fully rolled out and available, and a short status for progress lines.
func deploymentStatus(dep *appsv1.Deployment) (bool, string) {
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

// diagnose names the pods and containers of a Deployment that are not
// ready, with their waiting or termination reasons and latest events.
func diagnose(ctx context.Context, kc kubernetes.Interface, ns, name string) []string {
	dep, err := kc.AppsV1().Deployments(ns).Get(ctx, name, metav1.GetOptions{})
	if err != nil {
		return []string{fmt.Sprintf("cannot read deployment %s/%s: %v", ns, name, err)}
	}
	sel, err := metav1.LabelSelectorAsSelector(dep.Spec.Selector)
	if err != nil {
		return []string{fmt.Sprintf("deployment %s/%s has an invalid selector: %v", ns, name, err)}
	}
	pods, err := kc.CoreV1().Pods(ns).List(ctx, metav1.ListOptions{LabelSelector: sel.String()})
	if err != nil {
		return []string{fmt.Sprintf("cannot list pods of deployment %s/%s: %v", ns, name, err)}
	}
	var out []string
	for _, c := range dep.Status.Conditions {
		if c.Status != corev1.ConditionTrue || c.Type == appsv1.DeploymentReplicaFailure {
			if c.Message != "" && c.Type != appsv1.DeploymentAvailable {
				out = append(out, fmt.Sprintf("deployment %s: %s: %s", c.Type, c.Reason, c.Message))
			}
		}
	}
	if len(pods.Items) == 0 {
		out = append(out, fmt.Sprintf("no pods of deployment %s/%s exist", ns, name))
		return append(out, latestEvents(ctx, kc, ns, "Deployment", name)...)
	}
	slices.SortFunc(pods.Items, func(a, b corev1.Pod) int { return strings.Compare(a.Name, b.Name) })
	for _, pod := range pods.Items {
		problems := podProblems(&pod)
		if len(problems) == 0 {
			continue
		}
		for _, pr := range problems {
			out = append(out, fmt.Sprintf("pod %s: %s", pod.Name, pr))
		}
		out = append(out, latestEvents(ctx, kc, ns, "Pod", pod.Name)...)
	}
	if len(out) == 0 {
		out = append(out, "its pods report no failing container; see `kubectl describe deployment -n "+ns+" "+name+"`")
	}
	return out
}

// podProblems describes what keeps a pod from being ready.
func podProblems(pod *corev1.Pod) []string {
	var out []string
	for _, c := range pod.Status.Conditions {
		if c.Type == corev1.PodScheduled && c.Status == corev1.ConditionFalse {
			out = append(out, fmt.Sprintf("not scheduled: %s: %s", c.Reason, c.Message))
		}
	}
	statuses := append(slices.Clone(pod.Status.InitContainerStatuses), pod.Status.ContainerStatuses...)
	for _, cs := range statuses {
		switch {
		case cs.State.Waiting != nil:
			msg := fmt.Sprintf("container %s is waiting: %s", cs.Name, cs.State.Waiting.Reason)
			if cs.State.Waiting.Message != "" {
				msg += ": " + cs.State.Waiting.Message
			}
			if t := cs.LastTerminationState.Terminated; t != nil {
				msg += fmt.Sprintf(" (last exit code %d: %s)", t.ExitCode, t.Reason)
			}
			out = append(out, msg)
		case cs.State.Terminated != nil && cs.State.Terminated.ExitCode != 0:
			t := cs.State.Terminated
			out = append(out, fmt.Sprintf("container %s terminated: exit code %d: %s %s", cs.Name, t.ExitCode, t.Reason, t.Message))
		case cs.State.Running != nil && !cs.Ready:
			out = append(out, fmt.Sprintf("container %s is running but not ready (readiness probe failing?)", cs.Name))
		}
	}
	if len(out) == 0 && pod.Status.Phase == corev1.PodPending && len(statuses) == 0 {
		out = append(out, "pending: "+pod.Status.Reason+" "+pod.Status.Message)
	}
	return out
}

// latestEvents lists the newest events of one object, oldest first.
func latestEvents(ctx context.Context, kc kubernetes.Interface, ns, kind, name string) []string {
	sel := fields.Set{"involvedObject.kind": kind, "involvedObject.name": name}.AsSelector().String()
	evs, err := kc.CoreV1().Events(ns).List(ctx, metav1.ListOptions{FieldSelector: sel})
	if err != nil || len(evs.Items) == 0 {
		return nil
	}
	items := evs.Items
	slices.SortFunc(items, func(a, b corev1.Event) int { return eventTime(a).Compare(eventTime(b)) })
	if len(items) > maxEvents {
		items = items[len(items)-maxEvents:]
	}
	out := []string{fmt.Sprintf("latest events of %s %s:", strings.ToLower(kind), name)}
	for _, e := range items {
		out = append(out, fmt.Sprintf("  %s  %s  %s", e.Type, e.Reason, strings.TrimSpace(e.Message)))
	}
	return out
}

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
