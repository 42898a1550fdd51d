package rollout

import (
	"bytes"
	"context"
	"strings"
	"testing"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/cli-runtime/pkg/genericiooptions"
	"k8s.io/utils/clock"
	"k8s.io/utils/ptr"

	"github.com/meshctl/meshctl/internal/golden"
	"github.com/meshctl/meshctl/internal/syncbuf"
	"github.com/meshctl/meshctl/internal/testenv"
	"github.com/meshctl/meshctl/pkg/cli"
	"github.com/meshctl/meshctl/pkg/kube"
	"github.com/meshctl/meshctl/pkg/meshconfig"
	"github.com/meshctl/meshctl/pkg/meshconfig/meshconfigtest"
	"github.com/meshctl/meshctl/pkg/proxyconfig"
)

var env *testenv.Env

func TestMain(m *testing.M) { testenv.Main(m, &env) }

const (
	oldImage = "ghcr.io/meshctl/mesh-proxy:v0.0.1"
	newImage = "ghcr.io/meshctl/mesh-proxy:v0.0.2"
)

// deployment creates a Deployment, its ReplicaSet and one pod whose sidecar
// runs image ("" for no sidecar): the chain the controllers would make.
func deployment(t *testing.T, ns, name, image string) *appsv1.Deployment {
	t.Helper()
	ctx := testenv.Context(t)
	kc := env.Clients.Kube
	labels := map[string]string{"app": name}
	tmpl := corev1.PodTemplateSpec{
		ObjectMeta: metav1.ObjectMeta{Labels: labels},
		Spec:       corev1.PodSpec{Containers: []corev1.Container{{Name: "app", Image: "example.invalid/app:1"}}},
	}
	d, err := kc.AppsV1().Deployments(ns).Create(ctx, &appsv1.Deployment{
		ObjectMeta: metav1.ObjectMeta{Name: name},
		Spec:       appsv1.DeploymentSpec{Replicas: ptr.To[int32](1), Selector: &metav1.LabelSelector{MatchLabels: labels}, Template: tmpl},
	}, metav1.CreateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	rs, err := kc.AppsV1().ReplicaSets(ns).Create(ctx, &appsv1.ReplicaSet{
		ObjectMeta: metav1.ObjectMeta{Name: name + "-5d8f", OwnerReferences: []metav1.OwnerReference{controllerRef(d, "Deployment")}},
		Spec:       appsv1.ReplicaSetSpec{Selector: &metav1.LabelSelector{MatchLabels: labels}, Template: tmpl},
	}, metav1.CreateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	pod(t, ns, name+"-5d8f-x", image, labels, controllerRef(rs, "ReplicaSet"))
	return d
}

func controllerRef(obj metav1.Object, kind string) metav1.OwnerReference {
	return metav1.OwnerReference{APIVersion: "apps/v1", Kind: kind, Name: obj.GetName(), UID: obj.GetUID(), Controller: ptr.To(true)}
}

func pod(t *testing.T, ns, name, image string, labels map[string]string, owners ...metav1.OwnerReference) {
	t.Helper()
	p := &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Name: name, Labels: labels, OwnerReferences: owners},
		Spec:       corev1.PodSpec{Containers: []corev1.Container{{Name: "app", Image: "example.invalid/app:1"}}},
	}
	if image != "" {
		p.Spec.InitContainers = []corev1.Container{
			{Name: proxyconfig.InitContainerName, Image: image},
			{Name: proxyconfig.ProxyContainerName, Image: image, RestartPolicy: ptr.To(corev1.ContainerRestartPolicyAlways)},
		}
	}
	if _, err := env.Clients.Kube.CoreV1().Pods(ns).Create(testenv.Context(t), p, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
}

// restarted reports whether the deployment carries the restart stamp.
func restarted(t *testing.T, ns, name string) bool {
	t.Helper()
	d, err := env.Clients.Kube.AppsV1().Deployments(ns).Get(testenv.Context(t), name, metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	_, ok := d.Spec.Template.Annotations[meshconfig.AnnotationRestartedAt]
	return ok
}

// waitUntil polls cond, for as long as the test may run.
func waitUntil(t *testing.T, what string, cond func() bool) {
	t.Helper()
	ctx := testenv.Context(t)
	for !cond() {
		select {
		case <-ctx.Done():
			t.Fatalf("waiting for %s: %v", what, ctx.Err())
		case <-time.After(5 * time.Millisecond):
		}
	}
}

// finishRollout writes the status the Deployment controller writes when a
// rollout is complete; with deadline, the status of one that gave up.
func finishRollout(t *testing.T, ns, name string, deadline bool) {
	t.Helper()
	ctx := testenv.Context(t)
	api := env.Clients.Kube.AppsV1().Deployments(ns)
	d, err := api.Get(ctx, name, metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	d.Status.ObservedGeneration = d.Generation
	if deadline {
		d.Status.Replicas, d.Status.UpdatedReplicas = 2, 1
		d.Status.Conditions = []appsv1.DeploymentCondition{{Type: appsv1.DeploymentProgressing, Status: corev1.ConditionFalse, Reason: progressDeadlineExceeded, Message: `ReplicaSet "x" has timed out progressing.`}}
	} else {
		d.Status.Replicas, d.Status.UpdatedReplicas, d.Status.AvailableReplicas, d.Status.ReadyReplicas = 1, 1, 1, 1
	}
	if _, err := api.UpdateStatus(ctx, d, metav1.UpdateOptions{}); err != nil {
		t.Fatal(err)
	}
}

func TestFind(t *testing.T) {
	ns := env.Namespace(t, nil)
	deployment(t, ns, "old", oldImage)
	deployment(t, ns, "current", newImage)
	deployment(t, ns, "plain", "")
	pod(t, ns, "bare", oldImage, nil)
	ws, err := Find(testenv.Context(t), env.Clients.Kube, ns, newImage, false)
	if err != nil {
		t.Fatal(err)
	}
	if got := names(ws); got != "deployment/old pod/bare" {
		t.Errorf("outdated = %s", got)
	}
	ws, err = Find(testenv.Context(t), env.Clients.Kube, ns, newImage, true)
	if err != nil {
		t.Fatal(err)
	}
	if got := names(ws); got != "deployment/current deployment/old pod/bare" {
		t.Errorf("all meshed = %s", got)
	}
}

func names[T interface{ String() string }](ws []T) string {
	var s []string
	for _, w := range ws {
		s = append(s, w.String())
	}
	return strings.Join(s, " ")
}

// TestRestartNamespaceByNamespace: the second namespace is restarted only
// once the first one's rollouts are complete, and the summary says what
// became of every workload.
func TestRestartNamespaceByNamespace(t *testing.T) {
	ctx := testenv.Context(t)
	a, b := env.Namespace(t, nil), env.Namespace(t, nil)
	deployment(t, a, "bookstore", oldImage)
	deployment(t, a, "bookbuyer", oldImage)
	pod(t, a, "bare", oldImage, nil)
	deployment(t, b, "books", oldImage)
	plan := []Namespace{}
	for _, ns := range []string{a, b} {
		ws, err := Find(ctx, env.Clients.Kube, ns, newImage, false)
		if err != nil {
			t.Fatal(err)
		}
		plan = append(plan, Namespace{Name: ns, Workloads: ws})
	}
	var progress syncbuf.Buffer
	r := &Restarter{Kube: env.Clients.Kube, Interval: time.Millisecond, Timeout: time.Hour, Progress: &progress}
	type result struct {
		s   *Summary
		err error
	}
	done := make(chan result, 1)
	go func() {
		s, err := r.Restart(ctx, newImage, plan)
		done <- result{s, err}
	}()

	waitUntil(t, "namespace "+a+" restarted", func() bool { return restarted(t, a, "bookstore") && restarted(t, a, "bookbuyer") })
	waitUntil(t, "a wait reported", func() bool {
		return strings.Contains(progress.String(), "waiting for the controller to see the restart")
	})
	if restarted(t, b, "books") {
		t.Fatal("namespace " + b + " was restarted before " + a + "'s rollouts were complete")
	}
	finishRollout(t, a, "bookstore", false)
	finishRollout(t, a, "bookbuyer", false)
	waitUntil(t, "namespace "+b+" restarted", func() bool { return restarted(t, b, "books") })
	finishRollout(t, b, "books", false)
	res := <-done
	if res.err != nil {
		t.Fatalf("restart: %v\n%s", res.err, progress.String())
	}
	want := []Outcome{
		{Namespace: a, Workload: "deployment/bookbuyer", Pods: 1, Result: ResultRolledOut},
		{Namespace: a, Workload: "deployment/bookstore", Pods: 1, Result: ResultRolledOut},
		{Namespace: a, Workload: "pod/bare", Pods: 1, Result: ResultSkipped, Detail: "meshctl cannot restart a Pod: delete its pods to have them recreated"},
		{Namespace: b, Workload: "deployment/books", Pods: 1, Result: ResultRolledOut},
	}
	if len(res.s.Workloads) != len(want) {
		t.Fatalf("summary %+v, want %+v", res.s.Workloads, want)
	}
	for i := range want {
		if res.s.Workloads[i] != want[i] {
			t.Errorf("outcome %d = %+v, want %+v", i, res.s.Workloads[i], want[i])
		}
	}
	for _, line := range []string{
		"namespace " + a + ": deployment/bookstore restarted (1 pod(s)); waiting for its rollout",
		"namespace " + a + ": deployment/bookstore rolled out",
		"namespace " + b + ": deployment/books rolled out",
	} {
		if !strings.Contains(progress.String(), line) {
			t.Errorf("progress lacks %q:\n%s", line, progress.String())
		}
	}
}

// TestRestartStopsAtAFailedNamespace: a rollout that exceeds its progress
// deadline fails its namespace, and the namespaces after it are left alone.
func TestRestartStopsAtAFailedNamespace(t *testing.T) {
	ctx := testenv.Context(t)
	a, b := env.Namespace(t, nil), env.Namespace(t, nil)
	deployment(t, a, "bookstore", oldImage)
	deployment(t, b, "books", oldImage)
	plan := []Namespace{
		{Name: a, Workloads: must(Find(ctx, env.Clients.Kube, a, newImage, false))},
		{Name: b, Workloads: must(Find(ctx, env.Clients.Kube, b, newImage, false))},
	}
	r := &Restarter{Kube: env.Clients.Kube, Interval: time.Millisecond, Timeout: time.Hour}
	done := make(chan error, 1)
	var s *Summary
	go func() {
		var err error
		s, err = r.Restart(ctx, newImage, plan)
		done <- err
	}()
	waitUntil(t, "namespace "+a+" restarted", func() bool { return restarted(t, a, "bookstore") })
	finishRollout(t, a, "bookstore", true)
	err := <-done
	if err == nil || !strings.Contains(err.Error(), "1 workload(s) did not roll out") {
		t.Fatalf("err = %v", err)
	}
	if restarted(t, b, "books") {
		t.Error("the namespace after a failed one was restarted")
	}
	if s.Workloads[0].Result != ResultFailed || !strings.Contains(s.Workloads[0].Detail, "exceeded its progress deadline") || s.Workloads[1].Result != ResultNotStarted {
		t.Errorf("summary %+v", s.Workloads)
	}
}

// TestRestartReadyGate: a namespace whose Ready check fails is not
// restarted.
func TestRestartReadyGate(t *testing.T) {
	ctx := testenv.Context(t)
	a := env.Namespace(t, nil)
	deployment(t, a, "bookstore", oldImage)
	r := &Restarter{Kube: env.Clients.Kube, Interval: time.Millisecond,
		Ready: func(context.Context, string) error { return context.DeadlineExceeded }}
	s, err := r.Restart(ctx, newImage, []Namespace{{Name: a, Workloads: must(Find(ctx, env.Clients.Kube, a, newImage, false))}})
	if err == nil || s.Workloads[0].Result != ResultFailed || restarted(t, a, "bookstore") {
		t.Errorf("err %v, summary %+v, restarted %v", err, s.Workloads, restarted(t, a, "bookstore"))
	}
}

// TestWebhookInjectsWithoutWebhook: with no webhook, the dry-run pod comes
// back without a sidecar and the check says so once its time is up.
func TestWebhookInjectsWithoutWebhook(t *testing.T) {
	ns := env.Namespace(t, nil)
	ready := WebhookInjects(env.Clients.Kube, newImage, clock.RealClock{}, time.Millisecond, 20*time.Millisecond)
	err := ready(testenv.Context(t), ns)
	if err == nil || !strings.Contains(err.Error(), "it injects no sidecar") {
		t.Errorf("err = %v", err)
	}
	pods, _ := env.Clients.Kube.CoreV1().Pods(ns).List(testenv.Context(t), metav1.ListOptions{})
	if len(pods.Items) != 0 {
		t.Errorf("the dry run created %d pods", len(pods.Items))
	}
}

// TestRestartOptions runs `meshctl namespace restart` against a mesh: an
// enrolled namespace is restarted, a namespace meshed by meshctl inject is
// skipped with what to do, and a namespace of neither is refused before
// anything is restarted.
func TestRestartOptions(t *testing.T) {
	ctx := testenv.Context(t)
	meshconfigtest.InstallCRDs(t, env.Config)
	mesh := testenv.UniqueName("blue")
	meshNS := env.Namespace(t, nil)
	meshconfigtest.InstallMesh(t, env.Clients.Dynamic, mesh, meshNS)
	enrolled := env.Namespace(t, map[string]string{meshconfig.LabelMonitoredBy: mesh})
	stranger := env.Namespace(t, nil)
	deployment(t, enrolled, "bookstore", oldImage)

	var out, errOut bytes.Buffer
	o := &RestartOptions{IOStreams: streams(&out, &errOut), Clients: kube.Static(env.Clients), Mesh: mesh, MeshNamespace: meshNS,
		Namespaces: []string{enrolled, stranger}, Timeout: time.Hour, Interval: time.Millisecond, SkipWebhookCheck: true, Output: cli.FormatJSON}
	err := o.Run(ctx)
	if err == nil || !strings.Contains(err.Error(), `nothing was restarted: namespace "`+stranger+`" is not enrolled in mesh "`+mesh+`"`) || restarted(t, enrolled, "bookstore") {
		t.Fatalf("err = %v, restarted %v", err, restarted(t, enrolled, "bookstore"))
	}

	o.Namespaces = []string{enrolled}
	done := make(chan error, 1)
	go func() { done <- o.Run(ctx) }()
	waitUntil(t, "bookstore restarted", func() bool { return restarted(t, enrolled, "bookstore") })
	finishRollout(t, enrolled, "bookstore", false)
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{`"image": "` + proxyconfig.DefaultImage() + `"`, `"workload": "deployment/bookstore"`, `"result": "rolled out"`} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("stdout lacks %s:\n%s", want, out.String())
		}
	}
}

func streams(out, errOut *bytes.Buffer) genericiooptions.IOStreams {
	return genericiooptions.IOStreams{In: strings.NewReader(""), Out: out, ErrOut: errOut}
}

func must[T any](v T, err error) T {
	if err != nil {
		panic(err)
	}
	return v
}

func TestSummaryGolden(t *testing.T) {
	s := &Summary{Image: newImage, Workloads: []Outcome{
		{Namespace: "bookbuyer", Workload: "deployment/bookbuyer", Pods: 2, Result: ResultRolledOut},
		{Namespace: "bookstore", Workload: "statefulset/db", Pods: 1, Result: ResultRestarted},
		{Namespace: "bookstore", Workload: "pod/debug", Pods: 1, Result: ResultSkipped, Detail: "meshctl cannot restart a Pod: delete its pods to have them recreated"},
		{Namespace: "books", Workload: "deployment/books", Pods: 1, Result: ResultFailed, Detail: "exceeded its progress deadline"},
		{Namespace: "stars", Workload: "deployment/stars", Pods: 1, Result: ResultNotStarted},
	}}
	for _, f := range []cli.Format{cli.FormatTable, cli.FormatJSON, cli.FormatYAML} {
		var b bytes.Buffer
		if err := cli.Write(&b, f, s); err != nil {
			t.Fatal(err)
		}
		golden.Assert(t, "testdata/summary."+string(f)+".golden", b.Bytes())
	}
}
