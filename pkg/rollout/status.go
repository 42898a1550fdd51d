package rollout

import (
	"context"
	"fmt"

	appsv1 "k8s.io/api/apps/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"

	"github.com/meshctl/meshctl/pkg/kube"
	"github.com/meshctl/meshctl/pkg/namespace"
)

// progressDeadlineExceeded is the reason the Deployment controller gives a
// rollout that stopped progressing.
const progressDeadlineExceeded = "ProgressDeadlineExceeded"

// state is one reading of a rollout: done, or a message saying what it
// waits for; err when it cannot finish (its progress deadline passed).
type state struct {
	done    bool
	message string
	err     error
}

// readState reads w's rollout as `kubectl rollout status` judges it.
func readState(ctx context.Context, kc kubernetes.Interface, ns string, w namespace.Workload) (state, error) {
	opts := metav1.GetOptions{}
	switch w.Kind {
	case "Deployment":
		d, err := kc.AppsV1().Deployments(ns).Get(ctx, w.Name, opts)
		if err != nil {
			return state{}, fmt.Errorf("%s in namespace %q: %w", w, ns, kube.ExplainForbidden(err, "get", "deployments.apps", ns))
		}
		return deploymentState(d), nil
	case "StatefulSet":
		s, err := kc.AppsV1().StatefulSets(ns).Get(ctx, w.Name, opts)
		if err != nil {
			return state{}, fmt.Errorf("%s in namespace %q: %w", w, ns, kube.ExplainForbidden(err, "get", "statefulsets.apps", ns))
		}
		return statefulSetState(s), nil
	case "DaemonSet":
		d, err := kc.AppsV1().DaemonSets(ns).Get(ctx, w.Name, opts)
		if err != nil {
			return state{}, fmt.Errorf("%s in namespace %q: %w", w, ns, kube.ExplainForbidden(err, "get", "daemonsets.apps", ns))
		}
		return daemonSetState(d), nil
	}
	return state{}, fmt.Errorf("%s in namespace %q: no rollout to wait for", w, ns)
}

func deploymentState(d *appsv1.Deployment) state {
	if d.Generation > d.Status.ObservedGeneration {
		return state{message: "waiting for the controller to see the restart"}
	}
	for _, c := range d.Status.Conditions {
		if c.Type == appsv1.DeploymentProgressing && c.Reason == progressDeadlineExceeded {
			return state{err: fmt.Errorf("exceeded its progress deadline: %s", c.Message)}
		}
	}
	want := int32(1)
	if d.Spec.Replicas != nil {
		want = *d.Spec.Replicas
	}
	st := d.Status
	switch {
	case st.UpdatedReplicas < want:
		return state{message: fmt.Sprintf("%d of %d new pods updated", st.UpdatedReplicas, want)}
	case st.Replicas > st.UpdatedReplicas:
		return state{message: fmt.Sprintf("%d old pods pending termination", st.Replicas-st.UpdatedReplicas)}
	case st.AvailableReplicas < st.UpdatedReplicas:
		return state{message: fmt.Sprintf("%d of %d updated pods available", st.AvailableReplicas, st.UpdatedReplicas)}
	}
	return state{done: true}
}

func statefulSetState(s *appsv1.StatefulSet) state {
	if s.Status.ObservedGeneration == 0 || s.Generation > s.Status.ObservedGeneration {
		return state{message: "waiting for the controller to see the restart"}
	}
	want := int32(1)
	if s.Spec.Replicas != nil {
		want = *s.Spec.Replicas
	}
	st := s.Status
	if st.ReadyReplicas < want {
		return state{message: fmt.Sprintf("%d of %d pods ready", st.ReadyReplicas, want)}
	}
	if ru := s.Spec.UpdateStrategy.RollingUpdate; ru != nil && ru.Partition != nil {
		if st.UpdatedReplicas < want-*ru.Partition {
			return state{message: fmt.Sprintf("%d of %d new pods updated (partitioned)", st.UpdatedReplicas, want-*ru.Partition)}
		}
		return state{done: true}
	}
	if st.UpdateRevision != st.CurrentRevision {
		return state{message: fmt.Sprintf("%d pods at revision %s", st.UpdatedReplicas, st.UpdateRevision)}
	}
	return state{done: true}
}

func daemonSetState(d *appsv1.DaemonSet) state {
	if d.Generation > d.Status.ObservedGeneration {
		return state{message: "waiting for the controller to see the restart"}
	}
	st := d.Status
	switch {
	case st.UpdatedNumberScheduled < st.DesiredNumberScheduled:
		return state{message: fmt.Sprintf("%d of %d new pods updated", st.UpdatedNumberScheduled, st.DesiredNumberScheduled)}
	case st.NumberAvailable < st.DesiredNumberScheduled:
		return state{message: fmt.Sprintf("%d of %d updated pods available", st.NumberAvailable, st.DesiredNumberScheduled)}
	}
	return state{done: true}
}

// onDelete reports whether w rolls only when its pods are deleted by hand,
// so that a restart changes nothing to wait for.
func onDelete(ctx context.Context, kc kubernetes.Interface, ns string, w namespace.Workload) (bool, error) {
	switch w.Kind {
	case "StatefulSet":
		s, err := kc.AppsV1().StatefulSets(ns).Get(ctx, w.Name, metav1.GetOptions{})
		if err != nil {
			return false, fmt.Errorf("%s in namespace %q: %w", w, ns, kube.ExplainForbidden(err, "get", "statefulsets.apps", ns))
		}
		return s.Spec.UpdateStrategy.Type == appsv1.OnDeleteStatefulSetStrategyType, nil
	case "DaemonSet":
		d, err := kc.AppsV1().DaemonSets(ns).Get(ctx, w.Name, metav1.GetOptions{})
		if err != nil {
			return false, fmt.Errorf("%s in namespace %q: %w", w, ns, kube.ExplainForbidden(err, "get", "daemonsets.apps", ns))
		}
		return d.Spec.UpdateStrategy.Type == appsv1.OnDeleteDaemonSetStrategyType, nil
	}
	return false, nil
}
