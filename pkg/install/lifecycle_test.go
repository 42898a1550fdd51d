package install

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"os"
	"strings"
	"testing"
	"time"

	"helm.sh/helm/v3/pkg/action"
	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/cli-runtime/pkg/genericclioptions"
	"k8s.io/cli-runtime/pkg/genericiooptions"
	"k8s.io/client-go/rest"

	"github.com/meshctl/meshctl/internal/testenv"
	"github.com/meshctl/meshctl/pkg/cli"
	"github.com/meshctl/meshctl/pkg/kube"
	"github.com/meshctl/meshctl/pkg/meshconfig"
	"github.com/meshctl/meshctl/pkg/meshconfig/meshconfigtest"
	"github.com/meshctl/meshctl/pkg/proxyconfig"
	"github.com/meshctl/meshctl/pkg/version"
	"github.com/meshctl/meshctl/pkg/version/report"
)

var env *testenv.Env

// TestMain starts the API server, except for fuzzing: the fuzz targets need
// none, and every fuzz worker process would start its own.
func TestMain(m *testing.M) {
	flag.Parse()
	if f := flag.Lookup("test.fuzz"); f != nil && f.Value.String() != "" {
		os.Exit(m.Run())
	}
	if f := flag.Lookup("test.fuzzworker"); f != nil && f.Value.String() == "true" {
		os.Exit(m.Run())
	}
	testenv.Main(m, &env)
}

// testTimeout keeps waits short: nothing in the test API server ever becomes
// ready unless the test says so.
const testTimeout = 3 * time.Second

// newTestDeps builds the dependencies the way the command does, from
// kubeconfig flags pointing at the test API server.
func newTestDeps(t *testing.T, mesh, ns string) *Deps {
	t.Helper()
	flags := genericclioptions.NewConfigFlags(true)
	flags.KubeConfig = &env.Kubeconfig
	cache := t.TempDir()
	flags.CacheDir = &cache
	flags.WrapConfigFn = func(c *rest.Config) *rest.Config { c.QPS, c.Burst = 200, 400; return c }
	d, err := NewDeps(DepsConfig{MeshName: mesh, Namespace: ns, Getter: flags})
	if err != nil {
		t.Fatal(err)
	}
	return d
}

func installOptions(set ...string) *InstallOptions {
	return &InstallOptions{ReleaseOptions: ReleaseOptions{IOStreams: genericiooptions.NewTestIOStreamsDiscard(), Values: ValueOptions{Values: set}, Timeout: testTimeout, Atomic: true}}
}

// installMesh installs a mesh of the test's own (without waiting) and
// uninstalls it when the test ends, before its namespace is deleted.
func installMesh(t *testing.T, set ...string) (*Deps, *Result) {
	t.Helper()
	ns := env.Namespace(t, nil)
	d := newTestDeps(t, testenv.UniqueName("mesh"), ns)
	res, err := d.Install(testenv.Context(t), installOptions(set...))
	if err != nil {
		t.Fatalf("install: %v", err)
	}
	t.Cleanup(func() { uninstallQuietly(t, d) })
	return d, res
}

func uninstallQuietly(t *testing.T, d *Deps) {
	_, err := d.Uninstall(context.Background(), &UninstallOptions{IOStreams: genericiooptions.NewTestIOStreamsDiscard()})
	if err != nil && !strings.Contains(err.Error(), "is not installed") {
		t.Errorf("cleanup: uninstall: %v", err)
	}
}

// markAvailable plays the deployment controller and kubelet: it writes an
// available status on the Deployment as soon as it exists.
func markAvailable(t *testing.T, ns, name string) {
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	t.Cleanup(func() { cancel(); <-done })
	go func() {
		defer close(done)
		api := env.Clients.Kube.AppsV1().Deployments(ns)
		for ctx.Err() == nil {
			d, err := api.Get(ctx, name, metav1.GetOptions{})
			if err == nil {
				n := *d.Spec.Replicas
				d.Status = appsv1.DeploymentStatus{ObservedGeneration: d.Generation, Replicas: n, UpdatedReplicas: n, ReadyReplicas: n, AvailableReplicas: n}
				_, err = api.UpdateStatus(ctx, d, metav1.UpdateOptions{})
				if err == nil {
					return
				}
				t.Logf("marking deployment %s/%s available: %v", ns, name, err)
			}
			time.Sleep(50 * time.Millisecond)
		}
	}()
}

// meshObjects lists every object labelled with the mesh, across the kinds
// the chart and the controller create.
func meshObjects(t *testing.T, mesh string) []string {
	t.Helper()
	sel := meshconfig.LabelPartOf + "=" + meshconfig.PartOfValue + "," + meshconfig.LabelMeshName + "=" + mesh
	var out []string
	for _, gvr := range leftoverKinds() {
		list, err := env.Clients.Dynamic.Resource(gvr).List(testenv.Context(t), metav1.ListOptions{LabelSelector: sel})
		if err != nil {
			if apierrors.IsNotFound(err) {
				continue
			}
			t.Fatalf("listing %s: %v", gvr.Resource, err)
		}
		for _, o := range list.Items {
			out = append(out, gvr.Resource+"/"+o.GetNamespace()+"/"+o.GetName())
		}
	}
	return out
}

func releaseSecrets(t *testing.T, d *Deps) []string {
	t.Helper()
	list, err := env.Clients.Kube.CoreV1().Secrets(d.Namespace).List(testenv.Context(t), metav1.ListOptions{LabelSelector: "owner=helm,name=" + d.MeshName})
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, s := range list.Items {
		names = append(names, s.Name)
	}
	return names
}

func TestInstallCreatesEveryObjectAndWaits(t *testing.T) {
	ns := env.Namespace(t, nil)
	d := newTestDeps(t, testenv.UniqueName("mesh"), ns)
	t.Cleanup(func() { uninstallQuietly(t, d) })
	markAvailable(t, ns, meshconfig.ControllerName)
	o := installOptions("controller.logLevel=debug")
	o.Wait = true
	o.Timeout = 30 * time.Second
	var progress strings.Builder
	o.ErrOut = &progress
	res, err := d.Install(testenv.Context(t), o)
	if err != nil {
		t.Fatalf("install: %v", err)
	}
	if !strings.Contains(progress.String(), meshconfig.ControllerName+": ready") {
		t.Errorf("progress does not report the controller ready:\n%s", progress.String())
	}

	objs, err := res.Manifest.Objects()
	if err != nil {
		t.Fatal(err)
	}
	for _, o := range objs {
		gvk := o.GroupVersionKind()
		m, err := d.Clients.Mapper.RESTMapping(gvk.GroupKind(), gvk.Version)
		if err != nil {
			t.Fatalf("%s: %v", gvk, err)
		}
		api := env.Clients.Dynamic.Resource(m.Resource)
		if o.GetNamespace() != "" {
			_, err = api.Namespace(o.GetNamespace()).Get(testenv.Context(t), o.GetName(), metav1.GetOptions{})
		} else {
			_, err = api.Get(testenv.Context(t), o.GetName(), metav1.GetOptions{})
		}
		if err != nil {
			t.Errorf("%s %s/%s was not created: %v", gvk.Kind, o.GetNamespace(), o.GetName(), err)
		}
	}
	if got := releaseSecrets(t, d); len(got) != 1 {
		t.Errorf("release secrets = %v, want one", got)
	}
	// `meshctl version` reports the control plane from this label.
	vr := &report.Options{IOStreams: genericiooptions.NewTestIOStreamsDiscard(), MeshNamespace: ns, Output: cli.FormatJSON}
	var out strings.Builder
	vr.Out = &out
	vr.Clients = kube.Static(env.Clients)
	if err := vr.Run(testenv.Context(t)); err != nil || !strings.Contains(out.String(), `"version": "`+version.Version()+`"`) || !strings.Contains(out.String(), `"controlPlane"`) {
		t.Errorf("meshctl version does not see the control plane: %v\n%s", err, out.String())
	}
	labelled, err := env.Clients.Kube.CoreV1().Secrets(ns).List(testenv.Context(t), metav1.ListOptions{LabelSelector: "owner=helm," + meshconfig.LabelPartOf + "=" + meshconfig.PartOfValue + "," + meshconfig.LabelMeshName + "=" + d.MeshName})
	if err != nil || len(labelled.Items) != 1 {
		t.Errorf("release secret is not labelled as part of the mesh: %v", err)
	}
	for _, crd := range chartCRDs(t) {
		if _, err := env.Clients.Dynamic.Resource(crdResource()).Get(testenv.Context(t), crd, metav1.GetOptions{}); err != nil {
			t.Errorf("CRD %s: %v", crd, err)
		}
	}
	// It is a real Helm release: `helm list` and `helm get values` see it.
	list := action.NewList(d.Helm)
	rels, err := list.Run()
	if err != nil || len(rels) != 1 || rels[0].Name != d.MeshName || rels[0].Info.Status != "deployed" {
		t.Errorf("helm list = %v, %v; want one deployed release %s", rels, err, d.MeshName)
	}
	vals, err := action.NewGetValues(d.Helm).Run(d.MeshName)
	if err != nil || fmt.Sprint(vals) != "map[controller:map[logLevel:debug]]" {
		t.Errorf("helm get values = %v, %v; want only the --set value", vals, err)
	}
	var lines []string
	for _, c := range res.Changes {
		lines = append(lines, c.String())
	}
	for _, want := range []string{"deployment/" + meshconfig.ControllerName + " created", "meshconfig/mesh-config created", "release/" + d.MeshName + " installed (revision 1)"} {
		if !strings.Contains(strings.Join(lines, "\n"), want) {
			t.Errorf("changes %q lack %q", lines, want)
		}
	}
	if !strings.Contains(res.Notes, "meshctl check") || !strings.Contains(res.Notes, "meshctl namespace add") {
		t.Errorf("notes lack the next steps:\n%s", res.Notes)
	}
}

func TestInstallDryRunTouchesNothing(t *testing.T) {
	for _, mode := range []DryRun{DryRunClient, DryRunServer} {
		t.Run(mode.String(), func(t *testing.T) {
			ns := testenv.UniqueName("dry")
			d := newTestDeps(t, testenv.UniqueName("mesh"), ns)
			o := installOptions("controller.replicas=2")
			o.DryRun = mode
			res, err := d.Install(testenv.Context(t), o)
			if err != nil {
				t.Fatalf("dry run: %v", err)
			}
			if !strings.Contains(string(res.Manifest), "replicas: 2") {
				t.Error("dry run manifest lacks the --set value")
			}
			if _, err := env.Clients.Kube.CoreV1().Namespaces().Get(testenv.Context(t), ns, metav1.GetOptions{}); !apierrors.IsNotFound(err) {
				t.Errorf("namespace %s: err = %v, want not found", ns, err)
			}
			if got := meshObjects(t, d.MeshName); len(got) > 0 {
				t.Errorf("dry run created %v", got)
			}
			if got := releaseSecrets(t, d); len(got) > 0 {
				t.Errorf("dry run created release secrets %v", got)
			}
		})
	}
}

func TestServerDryRunReportsWhatTheAPIServerRejects(t *testing.T) {
	d := newTestDeps(t, testenv.UniqueName("mesh"), testenv.UniqueName("dry"))
	o := installOptions("controller.resources.limits.memory=lots")
	o.DryRun = DryRunServer
	_, err := d.Install(testenv.Context(t), o)
	if err == nil || !strings.Contains(err.Error(), "deployment/"+meshconfig.ControllerName+": ") || !strings.Contains(err.Error(), "quantities must match") {
		t.Fatalf("err = %v, want the API server's rejection of the deployment", err)
	}
}

func TestSecondInstallRefused(t *testing.T) {
	d, _ := installMesh(t)
	_, err := d.Install(testenv.Context(t), installOptions())
	if err == nil || !strings.Contains(err.Error(), "already installed in namespace") || !strings.Contains(err.Error(), "meshctl upgrade") {
		t.Errorf("second install: err = %v, want a refusal suggesting meshctl upgrade", err)
	}

	other := newTestDeps(t, d.MeshName, env.Namespace(t, nil))
	_, err = other.Install(testenv.Context(t), installOptions())
	if err == nil || !strings.Contains(err.Error(), fmt.Sprintf("a mesh named %q is already installed in namespace %q", d.MeshName, d.Namespace)) {
		t.Errorf("same name in another namespace: err = %v, want a refusal naming the other namespace", err)
	}

	// Even with its webhook configuration gone, the release is found.
	hook := "meshctl-" + d.MeshName + "-sidecar-injector"
	if err := env.Clients.Kube.AdmissionregistrationV1().MutatingWebhookConfigurations().Delete(testenv.Context(t), hook, metav1.DeleteOptions{}); err != nil {
		t.Fatal(err)
	}
	_, err = other.Install(testenv.Context(t), installOptions())
	if err == nil || !strings.Contains(err.Error(), fmt.Sprintf("a mesh named %q is already installed in namespace %q (release secret", d.MeshName, d.Namespace)) {
		t.Errorf("same name in another namespace, webhook deleted: err = %v", err)
	}

	second := newTestDeps(t, testenv.UniqueName("mesh"), d.Namespace)
	_, err = second.Install(testenv.Context(t), installOptions())
	if err == nil || !strings.Contains(err.Error(), "already holds a mesh control plane") {
		t.Errorf("second mesh in the namespace: err = %v, want a refusal", err)
	}

	bad := newTestDeps(t, "Not_A_Label", d.Namespace)
	if _, err := bad.Install(testenv.Context(t), installOptions()); err == nil || !strings.Contains(err.Error(), `invalid mesh name "Not_A_Label"`) {
		t.Errorf("invalid name: err = %v", err)
	}
}

func getMeshConfig(t *testing.T, d *Deps) *unstructured.Unstructured {
	t.Helper()
	mc, err := env.Clients.Dynamic.Resource(meshConfigResource()).Namespace(d.Namespace).Get(testenv.Context(t), meshconfig.ObjectName, metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	return mc
}

func TestUpgradeKeepsInstallValuesAndLiveEdits(t *testing.T) {
	d, _ := installMesh(t, "controller.logLevel=debug", "meshConfig.observability.tracing.address=collector")
	ctx := testenv.Context(t)
	// meshctl permissive disable, as it does it: a merge patch of one field.
	patch := []byte(`{"spec":{"traffic":{"enablePermissiveTrafficPolicyMode":false},"sidecar":{"logLevel":"warn"}}}`)
	if _, err := env.Clients.Dynamic.Resource(meshConfigResource()).Namespace(d.Namespace).Patch(ctx, meshconfig.ObjectName, types.MergePatchType, patch, metav1.PatchOptions{}); err != nil {
		t.Fatal(err)
	}

	up := &UpgradeOptions{ReleaseOptions: ReleaseOptions{IOStreams: genericiooptions.NewTestIOStreamsDiscard(), Values: ValueOptions{Values: []string{"controller.replicas=2", "meshConfig.sidecar.logLevel=error"}}, Timeout: testTimeout, Atomic: true}}
	res, err := newTestDeps(t, d.MeshName, d.Namespace).Upgrade(ctx, up)
	if err != nil {
		t.Fatalf("upgrade: %v", err)
	}
	if res.Revision != 2 {
		t.Errorf("revision = %d, want 2", res.Revision)
	}
	dep, err := env.Clients.Kube.AppsV1().Deployments(d.Namespace).Get(ctx, meshconfig.ControllerName, metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if *dep.Spec.Replicas != 2 {
		t.Errorf("replicas = %d, want 2 (the upgrade's --set)", *dep.Spec.Replicas)
	}
	if args := strings.Join(dep.Spec.Template.Spec.Containers[0].Args, " "); !strings.Contains(args, "--log-level=debug") {
		t.Errorf("controller args %q lost the install-time --set controller.logLevel=debug", args)
	}
	mc := getMeshConfig(t, d)
	permissive, _, _ := unstructured.NestedBool(mc.Object, "spec", "traffic", "enablePermissiveTrafficPolicyMode")
	if permissive {
		t.Error("upgrade undid the live edit of enablePermissiveTrafficPolicyMode")
	}
	if got, _, _ := unstructured.NestedString(mc.Object, "spec", "sidecar", "logLevel"); got != "error" {
		t.Errorf("sidecar.logLevel = %q, want the upgrade's --set (error) to beat the live edit", got)
	}
	if got, _, _ := unstructured.NestedString(mc.Object, "spec", "observability", "tracing", "address"); got != "collector" {
		t.Errorf("tracing.address = %q, want the install-time --set", got)
	}

	// A second upgrade without flags keeps all of it.
	up2 := &UpgradeOptions{ReleaseOptions: ReleaseOptions{IOStreams: genericiooptions.NewTestIOStreamsDiscard(), Timeout: testTimeout, Atomic: true}}
	if _, err := newTestDeps(t, d.MeshName, d.Namespace).Upgrade(ctx, up2); err != nil {
		t.Fatalf("second upgrade: %v", err)
	}
	mc = getMeshConfig(t, d)
	if permissive, _, _ := unstructured.NestedBool(mc.Object, "spec", "traffic", "enablePermissiveTrafficPolicyMode"); permissive {
		t.Error("second upgrade undid the live edit")
	}
}

func TestUpgradeDryRunShowsChanges(t *testing.T) {
	d, _ := installMesh(t)
	up := &UpgradeOptions{ReleaseOptions: ReleaseOptions{IOStreams: genericiooptions.NewTestIOStreamsDiscard(), Values: ValueOptions{Values: []string{"controller.replicas=3"}}, DryRun: DryRunServer}}
	res, err := newTestDeps(t, d.MeshName, d.Namespace).Upgrade(testenv.Context(t), up)
	if err != nil {
		t.Fatal(err)
	}
	var lines []string
	for _, c := range res.Changes {
		lines = append(lines, c.String())
	}
	got := strings.Join(lines, "\n")
	for _, want := range []string{"deployment/" + meshconfig.ControllerName + " configured (dry run)", "service/" + meshconfig.ControllerName + " unchanged (dry run)"} {
		if !strings.Contains(got, want) {
			t.Errorf("changes lack %q:\n%s", want, got)
		}
	}
	dep, err := env.Clients.Kube.AppsV1().Deployments(d.Namespace).Get(testenv.Context(t), meshconfig.ControllerName, metav1.GetOptions{})
	if err != nil || *dep.Spec.Replicas != 2 {
		t.Errorf("dry run changed the deployment: %v", err)
	}
}

func TestUpgradeOfMissingMeshRefused(t *testing.T) {
	d := newTestDeps(t, testenv.UniqueName("mesh"), env.Namespace(t, nil))
	_, err := d.Upgrade(testenv.Context(t), &UpgradeOptions{ReleaseOptions: ReleaseOptions{IOStreams: genericiooptions.NewTestIOStreamsDiscard()}})
	if err == nil || !strings.Contains(err.Error(), "is not installed") || !strings.Contains(err.Error(), "meshctl install") {
		t.Errorf("err = %v", err)
	}
}

// testPod is a pod that the test API server accepts without a service
// account controller.
func testPod(ns, name string, labels map[string]string, containers ...string) *corev1.Pod {
	pod := &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: ns, Labels: labels},
		Spec:       corev1.PodSpec{AutomountServiceAccountToken: ptr(false), ServiceAccountName: "default"},
	}
	for _, c := range append([]string{"app"}, containers...) {
		pod.Spec.Containers = append(pod.Spec.Containers, corev1.Container{Name: c, Image: "example.com/" + c})
	}
	return pod
}

func ensureDefaultServiceAccount(t *testing.T, ns string) {
	t.Helper()
	sa := &corev1.ServiceAccount{ObjectMeta: metav1.ObjectMeta{Name: "default", Namespace: ns}}
	if _, err := env.Clients.Kube.CoreV1().ServiceAccounts(ns).Create(testenv.Context(t), sa, metav1.CreateOptions{}); err != nil && !apierrors.IsAlreadyExists(err) {
		t.Fatal(err)
	}
}

func TestUninstallLeavesNothingButCRDs(t *testing.T) {
	d, _ := installMesh(t)
	ctx := testenv.Context(t)
	// The pod is created before the namespace is enrolled, as the webhook
	// has no controller behind it here.
	appNS := env.Namespace(t, nil)
	ensureDefaultServiceAccount(t, appNS)
	if _, err := env.Clients.Kube.CoreV1().Pods(appNS).Create(ctx, testPod(appNS, "books", nil, proxyconfig.ProxyContainerName), metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	enrol := []byte(`{"metadata":{"labels":{"` + meshconfig.LabelMonitoredBy + `":"` + d.MeshName + `"}}}`)
	if _, err := env.Clients.Kube.CoreV1().Namespaces().Patch(ctx, appNS, types.MergePatchType, enrol, metav1.PatchOptions{}); err != nil {
		t.Fatal(err)
	}
	// The controller's own serving certificate, labelled as it must be.
	tls := &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Name: "mesh-controller-tls", Namespace: d.Namespace, Labels: map[string]string{meshconfig.LabelPartOf: meshconfig.PartOfValue, meshconfig.LabelMeshName: d.MeshName}}}
	if _, err := env.Clients.Kube.CoreV1().Secrets(d.Namespace).Create(ctx, tls, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}

	// A namespace meshed by `meshctl inject` alone: not enrolled, named.
	injectNS := env.Namespace(t, nil)
	ensureDefaultServiceAccount(t, injectNS)
	pc, err := proxyconfig.New(meshconfig.MeshConfigSpec{})
	if err != nil {
		t.Fatal(err)
	}
	if pc, err = pc.WithIdentity(d.Namespace, "cluster.local"); err != nil {
		t.Fatal(err)
	}
	injected := &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Name: "stars", Labels: map[string]string{meshconfig.LabelProxyVersion: "v1"}},
		Spec: corev1.PodSpec{
			ServiceAccountName: "default",
			InitContainers:     []corev1.Container{pc.InitContainer(), pc.NativeSidecarContainer()},
			Containers:         []corev1.Container{{Name: "app", Image: "example.invalid/app:1"}},
			Volumes:            []corev1.Volume{proxyconfig.IdentityVolume()},
		},
	}
	if _, err := env.Clients.Kube.CoreV1().Pods(injectNS).Create(ctx, injected, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}

	res, err := d.Uninstall(ctx, &UninstallOptions{IOStreams: genericiooptions.NewTestIOStreamsDiscard()})
	if err != nil {
		t.Fatalf("uninstall: %v", err)
	}
	if w := strings.Join(res.Warnings, "\n"); !strings.Contains(w, "namespace "+injectNS+" is meshed by meshctl inject (not enrolled): 1 pod(s) keep the sidecar") {
		t.Errorf("warnings do not name the namespace meshed by meshctl inject:\n%s", w)
	}
	if got := meshObjects(t, d.MeshName); len(got) > 0 {
		t.Errorf("uninstall left %v", got)
	}
	if got := releaseSecrets(t, d); len(got) > 0 {
		t.Errorf("uninstall left release secrets %v", got)
	}
	hooks, _ := env.Clients.Kube.AdmissionregistrationV1().MutatingWebhookConfigurations().List(ctx, metav1.ListOptions{LabelSelector: meshconfig.LabelMeshName + "=" + d.MeshName})
	roles, _ := env.Clients.Kube.RbacV1().ClusterRoles().List(ctx, metav1.ListOptions{LabelSelector: meshconfig.LabelMeshName + "=" + d.MeshName})
	classes, _ := env.Clients.Kube.SchedulingV1().PriorityClasses().List(ctx, metav1.ListOptions{LabelSelector: meshconfig.LabelMeshName + "=" + d.MeshName})
	if len(hooks.Items)+len(roles.Items)+len(classes.Items) > 0 {
		t.Errorf("uninstall left %d webhook configurations, %d cluster roles and %d priority classes", len(hooks.Items), len(roles.Items), len(classes.Items))
	}
	if _, err := env.Clients.Dynamic.Resource(crdResource()).Get(ctx, "traffictargets.access.smi-spec.io", metav1.GetOptions{}); err != nil {
		t.Errorf("uninstall without --purge deleted the CRDs: %v", err)
	}
	ns, err := env.Clients.Kube.CoreV1().Namespaces().Get(ctx, appNS, metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if _, ok := ns.Labels[meshconfig.LabelMonitoredBy]; ok {
		t.Errorf("namespace %s is still enrolled: %v", appNS, ns.Labels)
	}
	if w := strings.Join(res.Warnings, "\n"); !strings.Contains(w, "pod "+appNS+"/books still runs the "+proxyconfig.ProxyContainerName+" sidecar") {
		t.Errorf("warnings do not name the pod with a sidecar:\n%s", w)
	}
	if _, err := d.Uninstall(ctx, &UninstallOptions{IOStreams: genericiooptions.NewTestIOStreamsDiscard()}); err == nil || !strings.Contains(err.Error(), "is not installed") {
		t.Errorf("second uninstall: err = %v, want not installed", err)
	}
}

func TestUninstallKeepNamespaces(t *testing.T) {
	d, _ := installMesh(t)
	appNS := env.Namespace(t, map[string]string{meshconfig.LabelMonitoredBy: d.MeshName})
	if _, err := d.Uninstall(testenv.Context(t), &UninstallOptions{IOStreams: genericiooptions.NewTestIOStreamsDiscard(), KeepNamespaces: true, Yes: true}); err != nil {
		t.Fatal(err)
	}
	ns, err := env.Clients.Kube.CoreV1().Namespaces().Get(testenv.Context(t), appNS, metav1.GetOptions{})
	if err != nil || ns.Labels[meshconfig.LabelMonitoredBy] != d.MeshName {
		t.Errorf("--keep-namespaces: namespace labels = %v, %v", ns.Labels, err)
	}
}

// TestUninstallNeedsConfirmation: plain uninstall, like --purge, asks on a
// terminal and needs --yes without one; only "y" or "yes" goes on.
func TestUninstallNeedsConfirmation(t *testing.T) {
	for _, purge := range []bool{false, true} {
		o := &UninstallOptions{IOStreams: genericiooptions.NewTestIOStreamsDiscard(), Mesh: "mesh", MeshNamespace: "mesh-system", Purge: purge, Timeout: DefaultTimeout}
		err := o.Validate()
		if err == nil || !strings.Contains(err.Error(), "pass --yes") || cli.ExitCode(err) != cli.ExitUsage {
			t.Errorf("purge=%v, non-terminal without --yes: err = %v, want a usage error naming --yes", purge, err)
		}
		if err != nil && purge != strings.Contains(err.Error(), purgeWarning) {
			t.Errorf("purge=%v: the warning %q says purge: %v", purge, err, !purge)
		}
		o.Yes = true
		if err := o.Validate(); err != nil {
			t.Errorf("purge=%v with --yes: %v", purge, err)
		}
		o.Yes, o.Interactive = false, true
		if err := o.Validate(); err != nil {
			t.Errorf("purge=%v on a terminal: Validate = %v, want the question asked in Run", purge, err)
		}
		for answer, ok := range map[string]bool{"n\n": false, "\n": false, "": false, "yes please\n": false, "yes\n": true, "Y\n": true} {
			o.In = strings.NewReader(answer)
			if err := o.confirm(); (err == nil) != ok {
				t.Errorf("purge=%v, answer %q: err = %v, want confirmed=%v", purge, answer, err, ok)
			}
		}
	}
}

func TestPurgeDeletesCRDsAndPolicies(t *testing.T) {
	d, _ := installMesh(t)
	ctx := testenv.Context(t)
	appNS := env.Namespace(t, nil)
	tt := &unstructured.Unstructured{Object: map[string]any{
		"apiVersion": "access.smi-spec.io/v1alpha3", "kind": "TrafficTarget",
		"metadata": map[string]any{"name": "bookstore", "namespace": appNS},
		"spec": map[string]any{
			"destination": map[string]any{"kind": "ServiceAccount", "name": "bookstore", "namespace": appNS},
			"sources":     []any{map[string]any{"kind": "ServiceAccount", "name": "bookbuyer", "namespace": appNS}},
		},
	}}
	ttRes := schema.GroupVersionResource{Group: "access.smi-spec.io", Version: "v1alpha3", Resource: "traffictargets"}
	if _, err := env.Clients.Dynamic.Resource(ttRes).Namespace(appNS).Create(ctx, tt, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	res, err := d.Uninstall(ctx, &UninstallOptions{IOStreams: genericiooptions.NewTestIOStreamsDiscard(), Purge: true, Yes: true})
	if err != nil {
		t.Fatalf("purge: %v", err)
	}
	for _, crd := range chartCRDs(t) {
		if _, err := env.Clients.Dynamic.Resource(crdResource()).Get(ctx, crd, metav1.GetOptions{}); err == nil {
			// Deletion is asynchronous: the CRD may be Terminating.
			if err := waitGone(ctx, crd); err != nil {
				t.Errorf("CRD %s: %v", crd, err)
			}
		}
	}
	crds, err := env.Clients.Dynamic.Resource(crdResource()).List(ctx, metav1.ListOptions{LabelSelector: meshconfig.LabelPartOf + "=" + meshconfig.PartOfValue})
	if err != nil || len(crds.Items) > 0 {
		t.Errorf("CRDs labelled part-of meshctl after purge: %d, %v", len(crds.Items), err)
	}
	if got := meshObjects(t, d.MeshName); len(got) > 0 {
		t.Errorf("purge left %v", got)
	}
	found := false
	for _, c := range res.Changes {
		found = found || c.String() == "traffictarget/"+appNS+"/bookstore deleted"
	}
	if !found {
		t.Errorf("changes do not report the TrafficTarget deleted: %v", res.Changes)
	}
}

func waitGone(ctx context.Context, crd string) error {
	deadline := time.Now().Add(20 * time.Second)
	for time.Now().Before(deadline) {
		_, err := env.Clients.Dynamic.Resource(crdResource()).Get(ctx, crd, metav1.GetOptions{})
		if apierrors.IsNotFound(err) {
			return nil
		}
		time.Sleep(100 * time.Millisecond)
	}
	return errors.New("still there 20s after purge")
}

// An object the API server rejects half-way through the install: the
// release is rolled back and nothing of it is left.
func TestFailedInstallIsRolledBack(t *testing.T) {
	ns := env.Namespace(t, nil)
	d := newTestDeps(t, testenv.UniqueName("mesh"), ns)
	t.Cleanup(func() { uninstallQuietly(t, d) })
	_, err := d.Install(testenv.Context(t), installOptions("controller.resources.limits.memory=lots"))
	if err == nil {
		t.Fatal("install with an invalid quantity succeeded")
	}
	for _, want := range []string{"deployment/" + meshconfig.ControllerName + ": ", "quantities must match", "rolled back", "uninstalled"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error does not say %q:\n%v", want, err)
		}
	}
	if got := meshObjects(t, d.MeshName); len(got) > 0 {
		t.Errorf("rolled-back install left %v", got)
	}
	if got := releaseSecrets(t, d); len(got) > 0 {
		t.Errorf("rolled-back install left release secrets %v", got)
	}
}

// The control plane never becomes ready: the error names the pod, the
// container, its waiting reason and its latest events, and the rollback.
func TestWaitFailureNamesThePodAndRollsBack(t *testing.T) {
	ns := env.Namespace(t, nil)
	ctx := testenv.Context(t)
	d := newTestDeps(t, testenv.UniqueName("mesh"), ns)
	t.Cleanup(func() { uninstallQuietly(t, d) })
	ensureDefaultServiceAccount(t, ns)
	pod := testPod(ns, "mesh-controller-7d9f8-x2x4q", map[string]string{"app.kubernetes.io/name": meshconfig.ControllerName, meshconfig.LabelMeshName: d.MeshName})
	pod.Spec.Containers[0].Name = "controller"
	created, err := env.Clients.Kube.CoreV1().Pods(ns).Create(ctx, pod, metav1.CreateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	created.Status.Phase = corev1.PodPending
	created.Status.ContainerStatuses = []corev1.ContainerStatus{{
		Name:  "controller",
		Image: "ghcr.io/meshctl/mesh-controller:v0",
		State: corev1.ContainerState{Waiting: &corev1.ContainerStateWaiting{Reason: "ImagePullBackOff", Message: `Back-off pulling image "ghcr.io/meshctl/mesh-controller:v0"`}},
	}}
	if _, err := env.Clients.Kube.CoreV1().Pods(ns).UpdateStatus(ctx, created, metav1.UpdateOptions{}); err != nil {
		t.Fatal(err)
	}
	ev := &corev1.Event{
		ObjectMeta:     metav1.ObjectMeta{Name: pod.Name + ".1", Namespace: ns},
		InvolvedObject: corev1.ObjectReference{Kind: "Pod", Name: pod.Name, Namespace: ns},
		Type:           corev1.EventTypeWarning, Reason: "Failed",
		Message:       "Failed to pull image: manifest unknown",
		LastTimestamp: metav1.Now(),
	}
	if _, err := env.Clients.Kube.CoreV1().Events(ns).Create(ctx, ev, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}

	o := installOptions()
	o.Wait = true
	var progress strings.Builder
	o.ErrOut = &progress
	_, err = d.Install(ctx, o)
	if err == nil {
		t.Fatal("install succeeded with a controller that never becomes ready")
	}
	for _, want := range []string{
		"deployment " + ns + "/" + meshconfig.ControllerName + " is not ready after 3s",
		"pod " + pod.Name + ": container controller is waiting: ImagePullBackOff",
		"Warning Failed: Failed to pull image: manifest unknown",
		"rolled back",
	} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error lacks %q:\n%v", want, err)
		}
	}
	if !strings.Contains(progress.String(), meshconfig.ControllerName+": 0/1 replicas available") && !strings.Contains(progress.String(), meshconfig.ControllerName+": waiting") {
		t.Errorf("no progress reported:\n%s", progress.String())
	}
	if got := meshObjects(t, d.MeshName); len(got) > 0 {
		t.Errorf("rolled-back install left %v", got)
	}
}

// An upgrade whose control plane does not become ready is rolled back to
// the revision that was deployed.
func TestFailedUpgradeRollsBack(t *testing.T) {
	d, _ := installMesh(t)
	up := &UpgradeOptions{ReleaseOptions: ReleaseOptions{IOStreams: genericiooptions.NewTestIOStreamsDiscard(), Values: ValueOptions{Values: []string{"controller.replicas=3"}}, Wait: true, Timeout: time.Second, Atomic: true}}
	_, err := newTestDeps(t, d.MeshName, d.Namespace).Upgrade(testenv.Context(t), up)
	if err == nil || !strings.Contains(err.Error(), "rolled back") || !strings.Contains(err.Error(), "revision 1") {
		t.Fatalf("err = %v, want a rollback to revision 1", err)
	}
	dep, err := env.Clients.Kube.AppsV1().Deployments(d.Namespace).Get(testenv.Context(t), meshconfig.ControllerName, metav1.GetOptions{})
	if err != nil || *dep.Spec.Replicas != 2 {
		t.Errorf("after rollback: replicas = %v, %v; want 2", *dep.Spec.Replicas, err)
	}
	hist, _ := d.Helm.Releases.History(d.MeshName)
	if len(hist) != 3 {
		t.Errorf("history has %d revisions, want 3 (install, failed upgrade, rollback)", len(hist))
	}
}

// Without --atomic a release whose control plane does not become ready is
// kept, and recorded as failed, as Helm's own wait would record it.
func TestFailedWaitWithoutAtomicKeepsFailedRelease(t *testing.T) {
	ns := env.Namespace(t, nil)
	d := newTestDeps(t, testenv.UniqueName("mesh"), ns)
	t.Cleanup(func() { uninstallQuietly(t, d) })
	o := installOptions()
	o.Wait, o.Atomic, o.Timeout = true, false, time.Second
	_, err := d.Install(testenv.Context(t), o)
	if err == nil || !strings.Contains(err.Error(), "--atomic=false") {
		t.Fatalf("err = %v, want the release left as it is", err)
	}
	rel, err := d.Helm.Releases.Last(d.MeshName)
	if err != nil || rel.Info.Status != "failed" {
		t.Fatalf("release = %v, %v; want it recorded as failed", rel, err)
	}
	if got := meshObjects(t, d.MeshName); len(got) == 0 {
		t.Error("the objects of the failed release were deleted")
	}
	_, err = d.Install(testenv.Context(t), installOptions())
	if err == nil || !strings.Contains(err.Error(), "failed") || !strings.Contains(err.Error(), "meshctl uninstall") {
		t.Errorf("install over a failed release: err = %v", err)
	}
	// An upgrade repairs it.
	up := &UpgradeOptions{ReleaseOptions: ReleaseOptions{IOStreams: genericiooptions.NewTestIOStreamsDiscard(), Timeout: testTimeout, Atomic: true}}
	if _, err := newTestDeps(t, d.MeshName, d.Namespace).Upgrade(testenv.Context(t), up); err != nil {
		t.Errorf("upgrade of a failed release: %v", err)
	}
}

// Upgrade re-applies the CRDs, which Helm never upgrades.
func TestUpgradeAppliesCRDs(t *testing.T) {
	d, _ := installMesh(t)
	ctx := testenv.Context(t)
	const crd = "traffictargets.access.smi-spec.io"
	patch := []byte(`{"spec":{"names":{"shortNames":["changed"]}}}`)
	if _, err := env.Clients.Dynamic.Resource(crdResource()).Patch(ctx, crd, types.MergePatchType, patch, metav1.PatchOptions{FieldManager: "someone-else"}); err != nil {
		t.Fatal(err)
	}
	up := &UpgradeOptions{ReleaseOptions: ReleaseOptions{IOStreams: genericiooptions.NewTestIOStreamsDiscard(), Timeout: testTimeout, Atomic: true}}
	res, err := newTestDeps(t, d.MeshName, d.Namespace).Upgrade(ctx, up)
	if err != nil {
		t.Fatal(err)
	}
	got, err := env.Clients.Dynamic.Resource(crdResource()).Get(ctx, crd, metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	short, _, _ := unstructured.NestedStringSlice(got.Object, "spec", "names", "shortNames")
	if len(short) != 1 || short[0] != "tt" {
		t.Errorf("shortNames after upgrade = %v, want the chart's [tt]", short)
	}
	found := false
	for _, c := range res.Changes {
		found = found || c.String() == "customresourcedefinition/"+crd+" applied"
	}
	if !found {
		t.Errorf("changes do not report the CRD applied: %v", res.Changes)
	}
}

// chartCRDs are the names of the chart's CRDs, as the chart has them.
func chartCRDs(t testing.TB) []string {
	t.Helper()
	crds, err := meshconfigtest.ReadCRDs()
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, c := range crds {
		names = append(names, c.Name)
	}
	if len(names) < 5 {
		t.Fatalf("the chart has %d CRDs: %v", len(names), names)
	}
	return names
}
