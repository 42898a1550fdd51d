//go:build e2e

package e2e

import (
	"context"
	"fmt"
	"io"
	"os"
	"sort"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/fields"

	"github.com/meshctl/meshctl/internal/testenv"
)

// Namespace creates a namespace that lives until the journey ends. If the
// journey failed, the state of its pods, their events and their containers'
// logs are printed first, so the failure names what went wrong.
func (e *Env) Namespace(t *testing.T, prefix string, labels map[string]string) string {
	t.Helper()
	name := testenv.UniqueName(prefix)
	ns := &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: name, Labels: labels}}
	if _, err := e.Clients.Kube.CoreV1().Namespaces().Create(testenv.Context(t), ns, metav1.CreateOptions{}); err != nil {
		t.Fatalf("creating namespace %q: %v", name, err)
	}
	e.cleanupNamespace(name)
	return name
}

// AdoptNamespace is Namespace for a namespace of a fixed name that the step's
// commands create (the examples' manifests hold their Namespaces): it is
// diagnosed and deleted when the journey ends. A namespace of that name that
// a previous journey left Terminating is waited out; one that is in use
// (left by `make demo`, say) fails the step, since the journey would mix
// with it.
func (e *Env) AdoptNamespace(t *testing.T, name string) {
	t.Helper()
	eventually(t, 2*time.Minute, fmt.Sprintf("namespace %q gone", name), func(ctx context.Context) error {
		ns, err := e.Clients.Kube.CoreV1().Namespaces().Get(ctx, name, metav1.GetOptions{})
		switch {
		case apierrors.IsNotFound(err):
			return nil
		case err != nil:
			return err
		case ns.DeletionTimestamp == nil:
			t.Fatalf("namespace %q exists already (left by `make demo`?): delete it, or run `make demo-down`, before the journey", name)
		}
		return fmt.Errorf("namespace %q is %s", name, ns.Status.Phase)
	})
	e.cleanupNamespace(name)
}

// cleanupNamespace diagnoses (when the journey failed) and deletes the
// namespace when the journey ends.
func (e *Env) cleanupNamespace(name string) {
	e.journey.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		defer cancel()
		if e.journey.Failed() {
			e.Diagnose(ctx, os.Stderr, name)
		}
		if err := e.Clients.Kube.CoreV1().Namespaces().Delete(ctx, name, metav1.DeleteOptions{}); err != nil && !apierrors.IsNotFound(err) {
			e.journey.Errorf("deleting namespace %q: %v", name, err)
		}
	})
}

// Diagnose writes, for every pod in the namespace, its phase and container
// states, the events about it and the last lines of each container's log.
func (e *Env) Diagnose(ctx context.Context, w io.Writer, namespace string) {
	core := e.Clients.Kube.CoreV1()
	pods, err := core.Pods(namespace).List(ctx, metav1.ListOptions{})
	if err != nil {
		fmt.Fprintf(w, "namespace %q: listing pods: %v\n", namespace, err)
		return
	}
	fmt.Fprintf(w, "==== namespace %q: %d pods\n", namespace, len(pods.Items))
	for _, pod := range pods.Items {
		fmt.Fprintf(w, "---- pod %s/%s: %s on %q, IP %s\n", namespace, pod.Name, pod.Status.Phase, pod.Spec.NodeName, pod.Status.PodIP)
		statuses := append(append([]corev1.ContainerStatus{}, pod.Status.InitContainerStatuses...), pod.Status.ContainerStatuses...)
		for _, cs := range statuses {
			fmt.Fprintf(w, "  container %s: ready=%t restarts=%d state=%s\n", cs.Name, cs.Ready, cs.RestartCount, describeState(cs.State))
		}
		selector := fields.OneTermEqualSelector("involvedObject.name", pod.Name).String()
		events, err := core.Events(namespace).List(ctx, metav1.ListOptions{FieldSelector: selector})
		if err != nil {
			fmt.Fprintf(w, "  events: %v\n", err)
		} else {
			sort.Slice(events.Items, func(i, j int) bool {
				return events.Items[i].LastTimestamp.Before(&events.Items[j].LastTimestamp)
			})
			for _, ev := range events.Items {
				fmt.Fprintf(w, "  event %s %s: %s\n", ev.Type, ev.Reason, ev.Message)
			}
		}
		for _, cs := range statuses {
			tail := int64(40)
			logs, err := core.Pods(namespace).GetLogs(pod.Name, &corev1.PodLogOptions{Container: cs.Name, TailLines: &tail}).DoRaw(ctx)
			if err != nil {
				fmt.Fprintf(w, "  logs of %s: %v\n", cs.Name, err)
				continue
			}
			fmt.Fprintf(w, "  logs of %s:\n    %s\n", cs.Name, strings.ReplaceAll(strings.TrimRight(string(logs), "\n"), "\n", "\n    "))
		}
	}
}

func describeState(s corev1.ContainerState) string {
	switch {
	case s.Running != nil:
		return "running"
	case s.Waiting != nil:
		return fmt.Sprintf("waiting (%s: %s)", s.Waiting.Reason, s.Waiting.Message)
	case s.Terminated != nil:
		return fmt.Sprintf("terminated (%s, exit %d: %s)", s.Terminated.Reason, s.Terminated.ExitCode, s.Terminated.Message)
	}
	return "unknown"
}

// eventually calls check until it returns nil or the timeout passes, and then
// fails the test with check's last error.
func eventually(t *testing.T, timeout time.Duration, what string, check func(ctx context.Context) error) {
	t.Helper()
	ctx := testenv.Context(t)
	deadline := time.Now().Add(timeout)
	for {
		err := check(ctx)
		if err == nil {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s: not after %s: %v", what, timeout, err)
		}
		time.Sleep(500 * time.Millisecond)
	}
}
