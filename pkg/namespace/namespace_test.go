package namespace

import (
	"bytes"
	"context"
	"strings"
	"testing"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/cli-runtime/pkg/genericiooptions"
	"k8s.io/client-go/kubernetes"

	"github.com/meshctl/meshctl/internal/golden"
	"github.com/meshctl/meshctl/internal/testenv"
	"github.com/meshctl/meshctl/pkg/cli"
	"github.com/meshctl/meshctl/pkg/kube"
	"github.com/meshctl/meshctl/pkg/meshconfig"
	"github.com/meshctl/meshctl/pkg/meshconfig/meshconfigtest"
	"github.com/meshctl/meshctl/pkg/proxyconfig"
)

var env *testenv.Env

func TestMain(m *testing.M) { testenv.Main(m, &env) }

// fixedNow is the clock of restarts in tests.
var fixedNow = time.Date(2026, 11, 21, 12, 0, 0, 0, time.UTC)

type streams struct{ in, out, errOut bytes.Buffer }

func (s *streams) io() genericiooptions.IOStreams {
	return genericiooptions.IOStreams{In: &s.in, Out: &s.out, ErrOut: &s.errOut}
}

// mesh installs a mesh named name in a namespace of the test's own and
// returns that namespace.
func mesh(t *testing.T, name string) string {
	t.Helper()
	meshconfigtest.InstallCRDs(t, env.Config)
	ns := env.Namespace(t, nil)
	meshconfigtest.InstallMesh(t, env.Clients.Dynamic, name, ns)
	return ns
}

func addOpts(s *streams, meshName, meshNS string, names ...string) *AddOptions {
	return &AddOptions{IOStreams: s.io(), Clients: kube.Static(env.Clients), Now: func() time.Time { return fixedNow },
		Mesh: meshName, MeshNamespace: meshNS, Namespaces: names}
}

// deployment creates a Deployment, its ReplicaSet and one pod, the chain
// controllers would make; the pod runs the sidecar when injected.
func deployment(t *testing.T, ns, name string, injected bool) {
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
		Spec:       appsv1.DeploymentSpec{Selector: &metav1.LabelSelector{MatchLabels: labels}, Template: tmpl},
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
	pod(t, ns, name+"-5d8f-x", injected, labels, controllerRef(rs, "ReplicaSet"))
}

func controllerRef(obj metav1.Object, kind string) metav1.OwnerReference {
	yes := true
	return metav1.OwnerReference{APIVersion: "apps/v1", Kind: kind, Name: obj.GetName(), UID: obj.GetUID(), Controller: &yes}
}

func pod(t testing.TB, ns, name string, injected bool, labels map[string]string, owners ...metav1.OwnerReference) {
	t.Helper()
	containers := []corev1.Container{{Name: "app", Image: "example.invalid/app:1"}}
	if injected {
		containers = append(containers, corev1.Container{Name: proxyconfig.ProxyContainerName, Image: proxyconfig.DefaultImage()})
	}
	p := &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Name: name, Labels: labels, OwnerReferences: owners},
		Spec:       corev1.PodSpec{Containers: containers},
	}
	if _, err := env.Clients.Kube.CoreV1().Pods(ns).Create(testenv.Context(t), p, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
}

func getNS(t *testing.T, name string) *corev1.Namespace {
	t.Helper()
	ns, err := env.Clients.Kube.CoreV1().Namespaces().Get(testenv.Context(t), name, metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	return ns
}

func assertEnrolled(t *testing.T, name, meshName, injection string) {
	t.Helper()
	ns := getNS(t, name)
	// The label the webhook's namespaceSelector reads and the annotation
	// older readers read, both.
	if ns.Labels[meshconfig.LabelMonitoredBy] != meshName || ns.Labels[meshconfig.LabelSidecarInjection] != injection ||
		ns.Annotations[meshconfig.AnnotationSidecarInjection] != injection {
		t.Errorf("namespace %s: labels %v, annotations %v; want %s=%q, %s=%q and annotation %s=%q", name, ns.Labels, ns.Annotations,
			meshconfig.LabelMonitoredBy, meshName, meshconfig.LabelSidecarInjection, injection, meshconfig.AnnotationSidecarInjection, injection)
	}
}

func assertContains(t *testing.T, what, got string, want ...string) {
	t.Helper()
	for _, w := range want {
		if !strings.Contains(got, w) {
			t.Errorf("%s %q does not contain %q", what, got, w)
		}
	}
}

func TestAddListRemove(t *testing.T) {
	ctx := testenv.Context(t)
	meshNS := mesh(t, "blue")
	a, b := env.Namespace(t, map[string]string{"team": "a"}), env.Namespace(t, nil)
	deployment(t, a, "bookstore", false)
	deployment(t, a, "bookbuyer", true)
	pod(t, a, "bare", false, nil)
	pod(t, a, "opted-out", false, nil)
	optOut, _ := env.Clients.Kube.CoreV1().Pods(a).Get(ctx, "opted-out", metav1.GetOptions{})
	optOut.Annotations = map[string]string{meshconfig.AnnotationSidecarInjection: meshconfig.InjectionDisabled}
	if _, err := env.Clients.Kube.CoreV1().Pods(a).Update(ctx, optOut, metav1.UpdateOptions{}); err != nil {
		t.Fatal(err)
	}

	var s streams
	if err := addOpts(&s, "blue", meshNS, a, b, a).Run(ctx); err != nil {
		t.Fatal(err)
	}
	if want := "namespace/" + a + " enrolled\nnamespace/" + b + " enrolled\n"; s.out.String() != want {
		t.Errorf("stdout %q, want %q", s.out.String(), want)
	}
	assertEnrolled(t, a, "blue", meshconfig.InjectionEnabled)
	assertEnrolled(t, b, "blue", meshconfig.InjectionEnabled)
	if getNS(t, a).Labels["team"] != "a" {
		t.Error("enrolment lost an existing label")
	}
	assertContains(t, "stderr", s.errOut.String(), "deployment/bookstore, pod/bare", "--restart")
	if strings.Contains(s.errOut.String(), "bookbuyer") || strings.Contains(s.errOut.String(), "opted-out") {
		t.Errorf("stderr names an injected or opted-out workload: %q", s.errOut.String())
	}

	var ls streams
	lo := &ListOptions{IOStreams: ls.io(), Clients: kube.Static(env.Clients), Mesh: "blue", Output: cli.FormatJSON}
	if err := lo.Run(ctx); err != nil {
		t.Fatal(err)
	}
	l, err := lo.list(ctx)
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]Entry{
		a: {Namespace: a, Mesh: "blue", SidecarInjection: "enabled", InjectedPods: 1, Pods: 4, MeshedBy: MeshedByLabel},
		b: {Namespace: b, Mesh: "blue", SidecarInjection: "enabled", InjectedPods: 0, Pods: 0, MeshedBy: MeshedByLabel},
	}
	if len(l.Namespaces) != 2 {
		t.Fatalf("list = %+v, want %s and %s", l.Namespaces, a, b)
	}
	for _, e := range l.Namespaces {
		if e != want[e.Namespace] {
			t.Errorf("list entry %+v, want %+v", e, want[e.Namespace])
		}
	}
	assertContains(t, "list -o json", ls.out.String(), `"namespace": "`+a+`"`, `"injectedPods": 1`)

	names, err := ListEnrolled(ctx, env.Clients.Kube, "blue")
	if err != nil || len(names) != 2 {
		t.Errorf("ListEnrolled = %v, %v", names, err)
	}

	var rs streams
	ro := &RemoveOptions{IOStreams: rs.io(), Clients: kube.Static(env.Clients), Mesh: "blue", Namespaces: []string{a, b}}
	if err := ro.Run(ctx); err != nil {
		t.Fatal(err)
	}
	if want := "namespace/" + a + " unenrolled\nnamespace/" + b + " unenrolled\n"; rs.out.String() != want {
		t.Errorf("remove stdout %q, want %q", rs.out.String(), want)
	}
	assertContains(t, "remove stderr", rs.errOut.String(), "Warning", a, "deployment/bookbuyer", "--restart")
	assertEnrolled(t, a, "", "")
	if getNS(t, a).Labels["team"] != "a" {
		t.Error("unenrolment lost an existing label")
	}

	// Removing again changes nothing.
	rs = streams{}
	ro.IOStreams = rs.io()
	if err := ro.Run(ctx); err != nil {
		t.Fatal(err)
	}
	assertContains(t, "second remove", rs.out.String(), "namespace/"+a+" unchanged", "namespace/"+b+" unchanged")
}

func TestAddIsIdempotent(t *testing.T) {
	ctx := testenv.Context(t)
	meshNS := mesh(t, "blue")
	a := env.Namespace(t, nil)
	if err := addOpts(&streams{}, "blue", meshNS, a).Run(ctx); err != nil {
		t.Fatal(err)
	}
	rv := getNS(t, a).ResourceVersion
	var s streams
	if err := addOpts(&s, "blue", meshNS, a).Run(ctx); err != nil {
		t.Fatal(err)
	}
	if s.out.String() != "namespace/"+a+" unchanged\n" {
		t.Errorf("second add said %q", s.out.String())
	}
	if got := getNS(t, a).ResourceVersion; got != rv {
		t.Errorf("second add wrote the namespace (resourceVersion %s -> %s)", rv, got)
	}

	// Switching injection off is a change, and so is switching it back.
	s = streams{}
	o := addOpts(&s, "blue", meshNS, a)
	o.DisableSidecarInjection = true
	if err := o.Run(ctx); err != nil {
		t.Fatal(err)
	}
	assertEnrolled(t, a, "blue", meshconfig.InjectionDisabled)
	assertContains(t, "stdout", s.out.String(), "namespace/"+a+" enrolled")
}

// A namespace enrolled by a meshctl that wrote the annotation only is
// enrolled again, which adds the label the webhook's selector reads; one
// whose annotation was edited against its label is put back in agreement.
func TestAddCompletesOlderEnrolments(t *testing.T) {
	ctx := testenv.Context(t)
	meshNS := mesh(t, "blue")
	older := env.Namespace(t, map[string]string{meshconfig.LabelMonitoredBy: "blue"})
	edited := env.Namespace(t, map[string]string{meshconfig.LabelMonitoredBy: "blue", meshconfig.LabelSidecarInjection: meshconfig.InjectionEnabled})
	for name, value := range map[string]string{older: meshconfig.InjectionEnabled, edited: meshconfig.InjectionDisabled} {
		ns := getNS(t, name)
		ns.Annotations = map[string]string{meshconfig.AnnotationSidecarInjection: value}
		if _, err := env.Clients.Kube.CoreV1().Namespaces().Update(ctx, ns, metav1.UpdateOptions{}); err != nil {
			t.Fatal(err)
		}
	}
	var s streams
	if err := addOpts(&s, "blue", meshNS, older, edited).Run(ctx); err != nil {
		t.Fatal(err)
	}
	assertContains(t, "stdout", s.out.String(), "namespace/"+older+" enrolled", "namespace/"+edited+" enrolled")
	assertEnrolled(t, older, "blue", meshconfig.InjectionEnabled)
	assertEnrolled(t, edited, "blue", meshconfig.InjectionEnabled)
}

// TestAddRefusals checks every refusal, all reported at once, and that a
// refusal of one namespace leaves the valid ones untouched.
func TestAddRefusals(t *testing.T) {
	ctx := testenv.Context(t)
	meshNS := mesh(t, "blue")
	ok := env.Namespace(t, nil)
	other := env.Namespace(t, map[string]string{meshconfig.LabelMonitoredBy: "green"})
	missing := testenv.UniqueName("missing")
	// Without a controller-manager a deleted namespace stays Terminating.
	terminating := testenv.UniqueName("terminating")
	nsAPI := env.Clients.Kube.CoreV1().Namespaces()
	if _, err := nsAPI.Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: terminating}}, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	if err := nsAPI.Delete(ctx, terminating, metav1.DeleteOptions{}); err != nil {
		t.Fatal(err)
	}

	var s streams
	err := addOpts(&s, "blue", meshNS, ok, missing, "kube-system", "kube-public", "kube-node-lease", meshNS, other, terminating).Run(ctx)
	if err == nil {
		t.Fatal("no error")
	}
	assertContains(t, "error", err.Error(),
		"no namespace was changed",
		`namespace "`+missing+`": not found`,
		`namespace "kube-system": belongs to Kubernetes itself`,
		`namespace "kube-public": belongs to Kubernetes itself`,
		`namespace "kube-node-lease": belongs to Kubernetes itself`,
		`namespace "`+meshNS+`": is the control-plane namespace and cannot join a mesh`,
		`namespace "`+other+`": is enrolled in another mesh "green": pass --force`,
		`namespace "`+terminating+`": is being deleted`,
	)
	if s.out.Len() != 0 {
		t.Errorf("stdout %q on failure", s.out.String())
	}
	assertEnrolled(t, ok, "", "")
	assertEnrolled(t, other, "green", "")

	// --force moves the other mesh's namespace.
	o := addOpts(&streams{}, "blue", meshNS, other)
	o.Force = true
	if err := o.Run(ctx); err != nil {
		t.Fatal(err)
	}
	assertEnrolled(t, other, "blue", meshconfig.InjectionEnabled)

	// Remove refuses another mesh's namespace too.
	err = (&RemoveOptions{IOStreams: (&streams{}).io(), Clients: kube.Static(env.Clients), Mesh: "green", Namespaces: []string{other, missing}}).Run(ctx)
	if err == nil {
		t.Fatal("remove of another mesh's namespace: no error")
	}
	assertContains(t, "remove error", err.Error(), `namespace "`+other+`": is enrolled in mesh "blue", not "green"`, `namespace "`+missing+`": not found`)
	assertEnrolled(t, other, "blue", meshconfig.InjectionEnabled)
}

func TestAddNeedsAnInstalledMesh(t *testing.T) {
	meshconfigtest.InstallCRDs(t, env.Config)
	empty := env.Namespace(t, nil)
	a := env.Namespace(t, nil)
	err := addOpts(&streams{}, "blue", empty, a).Run(testenv.Context(t))
	if err == nil || err.Error() != `no mesh "blue" installed in namespace "`+empty+`": run meshctl install` {
		t.Errorf("error %v", err)
	}
	assertEnrolled(t, a, "", "")
}

func TestAddRestart(t *testing.T) {
	ctx := testenv.Context(t)
	meshNS := mesh(t, "blue")
	a := env.Namespace(t, nil)
	deployment(t, a, "bookstore", false)
	deployment(t, a, "bookbuyer", true)
	pod(t, a, "bare", false, nil)

	var s streams
	o := addOpts(&s, "blue", meshNS, a)
	o.Restart = true
	if err := o.Run(ctx); err != nil {
		t.Fatal(err)
	}
	assertContains(t, "stdout", s.out.String(), "deployment/bookstore restarted")
	assertContains(t, "stderr", s.errOut.String(), "pod/bare cannot be restarted by meshctl")
	for name, want := range map[string]string{"bookstore": fixedNow.Format(time.RFC3339), "bookbuyer": ""} {
		d, err := env.Clients.Kube.AppsV1().Deployments(a).Get(ctx, name, metav1.GetOptions{})
		if err != nil {
			t.Fatal(err)
		}
		if got := d.Spec.Template.Annotations[meshconfig.AnnotationRestartedAt]; got != want {
			t.Errorf("deployment %s: %s = %q, want %q", name, meshconfig.AnnotationRestartedAt, got, want)
		}
	}
}

func TestRemoveAll(t *testing.T) {
	ctx := testenv.Context(t)
	meshNS := mesh(t, "violet")
	a, b := env.Namespace(t, nil), env.Namespace(t, nil)
	other := env.Namespace(t, map[string]string{meshconfig.LabelMonitoredBy: "green"})
	if err := addOpts(&streams{}, "violet", meshNS, a, b).Run(ctx); err != nil {
		t.Fatal(err)
	}
	changed, err := RemoveAll(ctx, env.Clients.Kube, "violet")
	if err != nil || len(changed) != 2 {
		t.Fatalf("RemoveAll = %v, %v; want %s and %s", changed, err, a, b)
	}
	if left, _ := ListEnrolled(ctx, env.Clients.Kube, "violet"); len(left) != 0 {
		t.Errorf("still enrolled: %v", left)
	}
	assertEnrolled(t, other, "green", "")
	// Remove leaves alone what is not the mesh's, and what no longer exists.
	changed, err = Remove(ctx, env.Clients.Kube, "violet", []string{other, testenv.UniqueName("gone")})
	if err != nil || len(changed) != 0 {
		t.Errorf("Remove of others = %v, %v", changed, err)
	}
}

// TestAddForbidden is a user who may read but not patch namespaces.
func TestAddForbidden(t *testing.T) {
	ctx := testenv.Context(t)
	meshNS := mesh(t, "blue")
	a := env.Namespace(t, nil)
	cfg, _ := env.User(t,
		rbacv1.PolicyRule{APIGroups: []string{""}, Resources: []string{"namespaces", "pods"}, Verbs: []string{"get", "list"}},
		rbacv1.PolicyRule{APIGroups: []string{meshconfig.GroupName}, Resources: []string{meshconfig.Resource}, Verbs: []string{"get"}},
	)
	kc, err := kubernetes.NewForConfig(cfg)
	if err != nil {
		t.Fatal(err)
	}
	var s streams
	o := addOpts(&s, "blue", meshNS, a)
	o.Clients = kube.Static(&kube.Clients{Kube: kc, Dynamic: env.Clients.Dynamic})
	err = o.Run(ctx)
	if err == nil {
		t.Fatal("no error")
	}
	assertContains(t, "error", err.Error(), `namespace "`+a+`"`, "forbidden: you may not patch namespaces cluster-wide")
	assertEnrolled(t, a, "", "")
}

func TestListGolden(t *testing.T) {
	l := &List{Namespaces: []Entry{
		{Namespace: "bookbuyer", Mesh: "mesh", SidecarInjection: "enabled", InjectedPods: 2, Pods: 2, MeshedBy: MeshedByLabel},
		{Namespace: "bookstore", Mesh: "mesh", SidecarInjection: "enabled", InjectedPods: 1, Pods: 3, MeshedBy: MeshedByLabel},
		{Namespace: "books", Mesh: "mesh", InjectedPods: 2, Pods: 2, MeshedBy: MeshedByInject},
		{Namespace: "legacy", Mesh: "other-mesh", SidecarInjection: "disabled", InjectedPods: 0, Pods: 12, MeshedBy: MeshedByLabel},
		{Namespace: "odd", Mesh: "mesh", MeshedBy: MeshedByLabel},
	}}
	for _, f := range []cli.Format{cli.FormatTable, cli.FormatJSON, cli.FormatYAML} {
		var b bytes.Buffer
		if err := cli.Write(&b, f, l); err != nil {
			t.Fatal(err)
		}
		golden.Assert(t, "testdata/list."+string(f)+".golden", b.Bytes())
	}
}

func TestListEmpty(t *testing.T) {
	var s streams
	o := &ListOptions{IOStreams: s.io(), Clients: kube.Static(env.Clients), Mesh: testenv.UniqueName("nobody"), Output: cli.FormatTable}
	if err := o.Run(context.Background()); err != nil {
		t.Fatal(err)
	}
	if s.out.Len() != 0 || !strings.Contains(s.errOut.String(), "No namespaces are enrolled") {
		t.Errorf("stdout %q, stderr %q", s.out.String(), s.errOut.String())
	}
	s = streams{}
	o.IOStreams, o.Output = s.io(), cli.FormatJSON
	if err := o.Run(context.Background()); err != nil {
		t.Fatal(err)
	}
	if s.out.String() != "{\n  \"namespaces\": []\n}\n" {
		t.Errorf("empty list as JSON: %q", s.out.String())
	}
}

func TestListAllMeshes(t *testing.T) {
	ctx := testenv.Context(t)
	blue := testenv.UniqueName("blue")
	green := testenv.UniqueName("green")
	a := env.Namespace(t, map[string]string{meshconfig.LabelMonitoredBy: blue})
	b := env.Namespace(t, map[string]string{meshconfig.LabelMonitoredBy: green})
	pod(t, b, "p", true, nil)

	o := &ListOptions{Clients: kube.Static(env.Clients), Mesh: blue}
	l, err := o.list(ctx)
	if err != nil || len(l.Namespaces) != 1 || l.Namespaces[0].Namespace != a {
		t.Errorf("list of mesh %s = %+v, %v; want %s alone", blue, l, err, a)
	}
	o.AllMeshes = true
	if l, err = o.list(ctx); err != nil {
		t.Fatal(err)
	}
	found := map[string]Entry{}
	for _, e := range l.Namespaces {
		found[e.Namespace] = e
	}
	if found[a].Mesh != blue || found[b] != (Entry{Namespace: b, Mesh: green, InjectedPods: 1, Pods: 1, MeshedBy: MeshedByLabel}) {
		t.Errorf("--all-meshes = %+v; want %s in %s and %s in %s with 1/1 pods", l.Namespaces, a, blue, b, green)
	}
}

func TestMeshFlags(t *testing.T) {
	for _, tt := range []struct{ mesh, ns, want string }{
		{meshconfig.DefaultMeshName, meshconfig.DefaultMeshNamespace, ""},
		{"blue", meshconfig.DefaultMeshNamespace, " --mesh-name blue"},
		{meshconfig.DefaultMeshName, "blue-system", " --mesh-namespace blue-system"},
		{"blue", "", " --mesh-name blue"},
	} {
		if got := meshFlags(tt.mesh, tt.ns); got != tt.want {
			t.Errorf("meshFlags(%q, %q) = %q, want %q", tt.mesh, tt.ns, got, tt.want)
		}
	}
}

// injectedPod creates a pod as `meshctl inject` leaves it in a namespace
// that is not enrolled: the injector's label and the sidecar told to hold
// the controller of the mesh in meshNS to its identity.
func injectedPod(t testing.TB, ns, name, meshNS string) {
	t.Helper()
	pc, err := proxyconfig.New(meshconfig.MeshConfigSpec{})
	if err != nil {
		t.Fatal(err)
	}
	if pc, err = pc.WithIdentity(meshNS, "cluster.local"); err != nil {
		t.Fatal(err)
	}
	p := &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Name: name, Labels: map[string]string{meshconfig.LabelProxyVersion: "v1"}},
		Spec: corev1.PodSpec{
			InitContainers:     []corev1.Container{pc.InitContainer(), pc.NativeSidecarContainer()},
			Containers:         []corev1.Container{{Name: "app", Image: "example.invalid/app:1"}},
			Volumes:            []corev1.Volume{proxyconfig.IdentityVolume()},
			ServiceAccountName: "default",
		},
	}
	if _, err := env.Clients.Kube.CoreV1().Pods(ns).Create(testenv.Context(t), p, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
}

// TestListInjectOnly: a namespace meshed by `meshctl inject` alone is
// listed as such, for its mesh only; another mesh's injected pods and an
// enrolled namespace's are not counted twice.
func TestListInjectOnly(t *testing.T) {
	ctx := testenv.Context(t)
	meshName := testenv.UniqueName("blue")
	meshNS := mesh(t, meshName)
	otherMeshNS := env.Namespace(t, nil)
	injectedNS, otherNS, enrolledNS := env.Namespace(t, nil), env.Namespace(t, nil), env.Namespace(t, map[string]string{meshconfig.LabelMonitoredBy: meshName})
	injectedPod(t, injectedNS, "books", meshNS)
	pod(t, injectedNS, "plain", false, nil)
	injectedPod(t, otherNS, "theirs", otherMeshNS)
	injectedPod(t, enrolledNS, "stars", meshNS)

	got, err := InjectedNamespaces(ctx, env.Clients.Kube, meshNS)
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != 2 || got[0].Pods != 1 || got[1].Pods != 1 {
		t.Errorf("InjectedNamespaces = %+v, want %s and %s with one pod each", got, injectedNS, enrolledNS)
	}
	o := &ListOptions{IOStreams: (&streams{}).io(), Clients: kube.Static(env.Clients), Mesh: meshName, MeshNamespace: meshNS, Output: cli.FormatTable}
	l, err := o.list(ctx)
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]Entry{
		enrolledNS: {Namespace: enrolledNS, Mesh: meshName, InjectedPods: 1, Pods: 1, MeshedBy: MeshedByLabel},
		injectedNS: {Namespace: injectedNS, Mesh: meshName, InjectedPods: 1, Pods: 2, MeshedBy: MeshedByInject},
	}
	if len(l.Namespaces) != len(want) {
		t.Fatalf("list = %+v, want %v", l.Namespaces, want)
	}
	for _, e := range l.Namespaces {
		if e != want[e.Namespace] {
			t.Errorf("entry %+v, want %+v", e, want[e.Namespace])
		}
	}
}
