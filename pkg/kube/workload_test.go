package kube

import (
	"reflect"
	"testing"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	_ "github.com/meshctl/meshctl/internal/golden"
)

func TestDeploymentStatus(t *testing.T) {
	two := int32(2)
	dep := func(gen, observed int64, s appsv1.DeploymentStatus) *appsv1.Deployment {
		s.ObservedGeneration = observed
		return &appsv1.Deployment{ObjectMeta: metav1.ObjectMeta{Generation: gen}, Spec: appsv1.DeploymentSpec{Replicas: &two}, Status: s}
	}
	tests := []struct {
		name   string
		dep    *appsv1.Deployment
		ready  bool
		status string
	}{
		{"not observed yet", dep(2, 1, appsv1.DeploymentStatus{Replicas: 2, UpdatedReplicas: 2, AvailableReplicas: 2}), false, "waiting for the deployment controller"},
		{"rolling out", dep(1, 1, appsv1.DeploymentStatus{Replicas: 3, UpdatedReplicas: 1, AvailableReplicas: 2}), false, "1/2 replicas updated"},
		{"old replicas left", dep(1, 1, appsv1.DeploymentStatus{Replicas: 3, UpdatedReplicas: 2, AvailableReplicas: 2}), false, "1 old replicas terminating"},
		{"not available", dep(1, 1, appsv1.DeploymentStatus{Replicas: 2, UpdatedReplicas: 2, AvailableReplicas: 1}), false, "1/2 replicas available"},
		{"deadline exceeded", dep(1, 1, appsv1.DeploymentStatus{Conditions: []appsv1.DeploymentCondition{{Type: appsv1.DeploymentProgressing, Reason: "ProgressDeadlineExceeded"}}}), false, "0/2 replicas available (progress deadline exceeded)"},
		{"ready", dep(3, 3, appsv1.DeploymentStatus{Replicas: 2, UpdatedReplicas: 2, AvailableReplicas: 2}), true, "2/2 replicas available"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ready, status := DeploymentStatus(tt.dep)
			if ready != tt.ready || status != tt.status {
				t.Errorf("DeploymentStatus = %v, %q; want %v, %q", ready, status, tt.ready, tt.status)
			}
		})
	}
}

func TestPodProblems(t *testing.T) {
	tests := []struct {
		name   string
		status corev1.PodStatus
		want   []string
	}{
		{"image pull", corev1.PodStatus{ContainerStatuses: []corev1.ContainerStatus{{Name: "controller", State: corev1.ContainerState{Waiting: &corev1.ContainerStateWaiting{Reason: "ImagePullBackOff", Message: "Back-off pulling image"}}}}},
			[]string{"container controller is waiting: ImagePullBackOff: Back-off pulling image"}},
		{"crash loop", corev1.PodStatus{ContainerStatuses: []corev1.ContainerStatus{{Name: "controller",
			State:                corev1.ContainerState{Waiting: &corev1.ContainerStateWaiting{Reason: "CrashLoopBackOff"}},
			LastTerminationState: corev1.ContainerState{Terminated: &corev1.ContainerStateTerminated{ExitCode: 2, Reason: "Error"}}}}},
			[]string{"container controller is waiting: CrashLoopBackOff (last exit code 2: Error)"}},
		{"init container failed", corev1.PodStatus{InitContainerStatuses: []corev1.ContainerStatus{{Name: "init", State: corev1.ContainerState{Terminated: &corev1.ContainerStateTerminated{ExitCode: 1, Reason: "Error", Message: "boom"}}}}},
			[]string{"container init terminated: exit code 1: Error boom"}},
		{"unschedulable", corev1.PodStatus{Phase: corev1.PodPending, Conditions: []corev1.PodCondition{{Type: corev1.PodScheduled, Status: corev1.ConditionFalse, Reason: "Unschedulable", Message: "0/1 nodes are available"}}},
			[]string{"not scheduled: Unschedulable: 0/1 nodes are available"}},
		{"not ready", corev1.PodStatus{ContainerStatuses: []corev1.ContainerStatus{{Name: "controller", State: corev1.ContainerState{Running: &corev1.ContainerStateRunning{}}}}},
			[]string{"container controller is running but not ready (readiness probe failing?)"}},
		{"healthy", corev1.PodStatus{ContainerStatuses: []corev1.ContainerStatus{{Name: "controller", Ready: true, State: corev1.ContainerState{Running: &corev1.ContainerStateRunning{}}}}}, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := PodProblems(&corev1.Pod{Status: tt.status}); !reflect.DeepEqual(got, tt.want) {
				t.Errorf("PodProblems = %q, want %q", got, tt.want)
			}
		})
	}
}
