//go:build e2e

package e2e

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// hopeless are the container waiting reasons that no amount of waiting cures
// (nothing is ever pulled, so a missing image stays missing);
// a pod in one of them fails the wait at once instead of at the timeout.
var hopeless = map[string]bool{
	"ErrImageNeverPull":          true,
	"InvalidImageName":           true,
	"CreateContainerConfigError": true,
	"CreateContainerError":       true,
	"ImagePullBackOff":           true,
	"ErrImagePull":               true,
}

// WaitPodsReady waits until want pods match the label selector in the
// namespace, each Running with every container ready, and returns them. A
// failure says which pod is stuck and why.
func (e *Env) WaitPodsReady(t *testing.T, namespace, selector string, want int, timeout time.Duration) []corev1.Pod {
	t.Helper()
	var ready []corev1.Pod
	var stuck error
	eventually(t, timeout, fmt.Sprintf("%d ready pods %q in namespace %q", want, selector, namespace), func(ctx context.Context) error {
		if stuck != nil {
			return nil
		}
		pods, err := e.Clients.Kube.CoreV1().Pods(namespace).List(ctx, metav1.ListOptions{LabelSelector: selector})
		if err != nil {
			return err
		}
		ready = ready[:0]
		var waiting []string
		for _, pod := range pods.Items {
			if pod.DeletionTimestamp == nil && pod.Status.Phase == corev1.PodRunning && podReady(&pod) {
				ready = append(ready, pod)
				continue
			}
			summary, reason := podSummary(&pod)
			if hopeless[reason] {
				stuck = errors.New(summary)
				return nil
			}
			waiting = append(waiting, summary)
		}
		if len(ready) == want {
			return nil
		}
		return fmt.Errorf("%d of %d ready; %s", len(ready), want, strings.Join(waiting, "; "))
	})
	if stuck != nil {
		t.Fatalf("namespace %q: %v", namespace, stuck)
	}
	return ready
}

func podReady(pod *corev1.Pod) bool {
	for _, c := range pod.Status.Conditions {
		if c.Type == corev1.PodReady {
			return c.Status == corev1.ConditionTrue
		}
	}
	return false
}

// podSummary names the pod, its phase and each container that is not ready,
// and returns the first container waiting reason it saw.
func podSummary(pod *corev1.Pod) (string, string) {
	parts := []string{fmt.Sprintf("pod %s is %s", pod.Name, pod.Status.Phase)}
	reason := ""
	statuses := append(append([]corev1.ContainerStatus{}, pod.Status.InitContainerStatuses...), pod.Status.ContainerStatuses...)
	for _, cs := range statuses {
		if cs.Ready {
			continue
		}
		parts = append(parts, fmt.Sprintf("container %s %s", cs.Name, describeState(cs.State)))
		if cs.State.Waiting != nil && reason == "" {
			reason = cs.State.Waiting.Reason
		}
	}
	return strings.Join(parts, ", "), reason
}
