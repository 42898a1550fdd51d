//go:build e2e

package e2e

import (
	"context"
	"fmt"
	"strconv"
	"strings"
	"testing"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	autoscalingv1 "k8s.io/api/autoscaling/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/intstr"
	"k8s.io/utils/ptr"

	"github.com/meshctl/meshctl/internal/testenv"
	"github.com/meshctl/meshctl/pkg/meshconfig"
	"github.com/meshctl/meshctl/pkg/proxyconfig"
)

// haRolloutPods is the size of the rollout that runs while a controller pod
// is deleted.
const haRolloutPods = 20

// controllerFailover: with the chart's two controller replicas, the leader's
// pod is deleted while a Deployment of 20 pods rolls out in an enrolled
// namespace. Every pod is created (no FailedCreate: the webhook, whose
// failurePolicy is Fail, answered every admission) and injected, every
// pod becomes ready (the surviving replica signs their certificates and
// serves their channel), the other replica takes the Lease, and the
// Deployment brings the controller back to two replicas.
func controllerFailover(t *testing.T, e *Env) {
	m := &e.mesh
	m.need(t, m.installed, "the control plane", "meshctl install: control plane ready, check all green")
	ctx := testenv.Context(t)
	cp := meshconfig.DefaultMeshNamespace
	selector := meshconfig.LabelComponent + "=" + meshconfig.ComponentController
	deps := e.Clients.Kube.AppsV1().Deployments(cp)
	dep, err := deps.Get(ctx, meshconfig.ControllerName, metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if dep.Spec.Replicas == nil || *dep.Spec.Replicas < 2 {
		// An earlier step scaled it; the chart's default is two.
		if _, err := deps.UpdateScale(ctx, meshconfig.ControllerName, &autoscalingv1.Scale{
			ObjectMeta: metav1.ObjectMeta{Name: meshconfig.ControllerName, Namespace: cp}, Spec: autoscalingv1.ScaleSpec{Replicas: 2},
		}, metav1.UpdateOptions{}); err != nil {
			t.Fatal(err)
		}
	}
	e.WaitPodsReady(t, cp, selector, 2, 2*time.Minute)
	holder := leaseHolder(ctx, t, e)
	if holder == "" {
		t.Fatalf("lease %s/%s has no holder with two ready replicas", cp, meshconfig.LeaderLeaseName)
	}
	webhookBefore := e.webhookAdmissions(t)

	ns := e.Namespace(t, "e2e-ha", nil)
	e.Run(t, m.meshctl, "namespace", "add", ns)
	const name = "ha-app"
	labels := map[string]string{"app": name}
	deploy := &appsv1.Deployment{
		ObjectMeta: metav1.ObjectMeta{Name: name, Labels: labels},
		Spec: appsv1.DeploymentSpec{
			Replicas: ptr.To[int32](haRolloutPods),
			Selector: &metav1.LabelSelector{MatchLabels: labels},
			Template: corev1.PodTemplateSpec{
				ObjectMeta: metav1.ObjectMeta{Labels: labels},
				Spec: corev1.PodSpec{Containers: []corev1.Container{{
					Name:            name,
					Image:           e.AppImage,
					ImagePullPolicy: corev1.PullNever,
					Ports:           []corev1.ContainerPort{{Name: "http", ContainerPort: appPort}},
					ReadinessProbe: &corev1.Probe{
						ProbeHandler:  corev1.ProbeHandler{HTTPGet: &corev1.HTTPGetAction{Path: "/", Port: intstr.FromString("http")}},
						PeriodSeconds: 2,
					},
				}}},
			},
		},
	}
	apps := e.Clients.Kube.AppsV1().Deployments(ns)
	start := time.Now()
	if _, err := apps.Create(ctx, deploy, metav1.CreateOptions{}); err != nil {
		t.Fatalf("creating deployment %s/%s: %v", ns, name, err)
	}
	// The 20 pods take a while: the node starts each one's init
	// container and proxy. Free it for the later steps.
	t.Cleanup(func() {
		_ = apps.Delete(context.WithoutCancel(ctx), name, metav1.DeleteOptions{PropagationPolicy: ptr.To(metav1.DeletePropagationForeground)})
	})
	eventually(t, time.Minute, "the rollout under way", func(ctx context.Context) error {
		pods, err := e.Clients.Kube.CoreV1().Pods(ns).List(ctx, metav1.ListOptions{LabelSelector: "app=" + name})
		if err != nil || len(pods.Items) == 0 {
			return fmt.Errorf("no pod yet: %v", err)
		}
		return nil
	})
	if err := e.Clients.Kube.CoreV1().Pods(cp).Delete(ctx, holder, metav1.DeleteOptions{}); err != nil {
		t.Fatalf("deleting the leader's pod %s/%s: %v", cp, holder, err)
	}
	t.Logf("deleted controller pod %s (the leader) %v into the rollout", holder, time.Since(start).Round(time.Millisecond))

	eventually(t, 3*time.Minute, fmt.Sprintf("%d pods created and injected", haRolloutPods), func(ctx context.Context) error {
		if failed := failedCreates(ctx, t, e, ns); failed != "" {
			t.Fatalf("a pod of the rollout failed admission while a controller pod was deleted: %s", failed)
		}
		pods, err := e.Clients.Kube.CoreV1().Pods(ns).List(ctx, metav1.ListOptions{LabelSelector: "app=" + name})
		if err != nil {
			return err
		}
		n := 0
		for i := range pods.Items {
			p := &pods.Items[i]
			if p.DeletionTimestamp != nil {
				continue
			}
			if proxyconfig.ProxyContainerOf(&p.Spec) == nil {
				t.Fatalf("pod %s/%s was created without the sidecar", ns, p.Name)
			}
			n++
		}
		if n != haRolloutPods {
			return fmt.Errorf("%d of %d pods", n, haRolloutPods)
		}
		return nil
	})
	t.Logf("%d pods created and injected in %v", haRolloutPods, time.Since(start).Round(time.Millisecond))
	e.WaitPodsReady(t, ns, "app="+name, haRolloutPods, 5*time.Minute)
	t.Logf("%d pods ready in %v", haRolloutPods, time.Since(start).Round(time.Millisecond))
	if failed := failedCreates(ctx, t, e, ns); failed != "" {
		t.Errorf("a pod of the rollout failed admission: %s", failed)
	}

	eventually(t, time.Minute, "another replica takes the Lease", func(ctx context.Context) error {
		if h := leaseHolder(ctx, t, e); h == holder || h == "" {
			return fmt.Errorf("holder %q", h)
		}
		return nil
	})
	e.WaitPodsReady(t, cp, selector, 2, 2*time.Minute)
	if after := e.webhookAdmissions(t); after.count > webhookBefore.count {
		n := after.count - webhookBefore.count
		t.Logf("API server's admission webhook latency over the step: %v admissions, mean %.1f ms",
			n, 1000*(after.sum-webhookBefore.sum)/n)
	}
}

// leaseHolder is the holder of the controller's Lease, "" when none.
func leaseHolder(ctx context.Context, t *testing.T, e *Env) string {
	t.Helper()
	l, err := e.Clients.Kube.CoordinationV1().Leases(meshconfig.DefaultMeshNamespace).Get(ctx, meshconfig.LeaderLeaseName, metav1.GetOptions{})
	if err != nil || l.Spec.HolderIdentity == nil {
		return ""
	}
	return *l.Spec.HolderIdentity
}

// failedCreates names the ReplicaSets of ns that reported FailedCreate, with
// the message; "" when none did.
func failedCreates(ctx context.Context, t *testing.T, e *Env, ns string) string {
	t.Helper()
	events, err := e.Clients.Kube.CoreV1().Events(ns).List(ctx, metav1.ListOptions{FieldSelector: "reason=FailedCreate"})
	if err != nil {
		t.Fatalf("listing events in %s: %v", ns, err)
	}
	var out []string
	for _, ev := range events.Items {
		out = append(out, ev.InvolvedObject.Kind+"/"+ev.InvolvedObject.Name+": "+ev.Message)
	}
	return strings.Join(out, "; ")
}

// admissionSum is the API server's histogram of the mesh's webhook, summed.
type admissionSum struct{ sum, count float64 }

// webhookAdmissions reads apiserver_admission_webhook_admission_duration_seconds
// for the mesh's webhook from the API server's /metrics.
func (e *Env) webhookAdmissions(t *testing.T) admissionSum {
	t.Helper()
	raw, err := e.Clients.Kube.Discovery().RESTClient().Get().AbsPath("/metrics").DoRaw(testenv.Context(t))
	if err != nil {
		t.Logf("the API server's /metrics: %v", err)
		return admissionSum{}
	}
	var s admissionSum
	webhook := `name="sidecar-injector.` + meshconfig.DefaultMeshName + `.meshctl.io"`
	for line := range strings.Lines(string(raw)) {
		if !strings.HasPrefix(line, "apiserver_admission_webhook_admission_duration_seconds_") || !strings.Contains(line, webhook) {
			continue
		}
		fields := strings.Fields(line)
		v, err := strconv.ParseFloat(fields[len(fields)-1], 64)
		if err != nil {
			continue
		}
		switch {
		case strings.HasPrefix(line, "apiserver_admission_webhook_admission_duration_seconds_sum"):
			s.sum += v
		case strings.HasPrefix(line, "apiserver_admission_webhook_admission_duration_seconds_count"):
			s.count += v
		}
	}
	return s
}
