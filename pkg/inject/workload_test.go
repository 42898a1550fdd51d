package inject

import (
	"encoding/json"
	"reflect"
	"slices"
	"testing"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/utils/ptr"

	"github.com/meshctl/meshctl/pkg/meshconfig"
	"github.com/meshctl/meshctl/pkg/proxyconfig"
	"github.com/meshctl/meshctl/pkg/proxyconfig/wire"
)

// ownedPod is a pod template owned by kind/name of apiVersion, controller
// or not, with labels.
func ownedPod(apiVersion, kind, name string, controller bool, labels map[string]string) Target {
	return Target{Kind: "pod", Name: "", Namespace: "shop", Template: &corev1.PodTemplateSpec{
		ObjectMeta: metav1.ObjectMeta{GenerateName: "x-", Labels: labels, OwnerReferences: []metav1.OwnerReference{
			{APIVersion: apiVersion, Kind: kind, Name: name, UID: "u", Controller: ptr.To(controller)},
		}},
		Spec: corev1.PodSpec{Containers: []corev1.Container{{Name: "web", Image: "nginx"}}},
	}}
}

func TestWorkloadOf(t *testing.T) {
	hash := map[string]string{"pod-template-hash": "7d9f8c6b5"}
	for _, tc := range []struct {
		name string
		t    Target
		want wire.Workload
		ok   bool
	}{
		{"deployment", Target{Kind: "deployment", Name: "web"}, wire.Workload{Kind: "deployment", Name: "web"}, true},
		{"cronjob", Target{Kind: "cronjob", Name: "report"}, wire.Workload{Kind: "cronjob", Name: "report"}, true},
		{"unnamed deployment", Target{Kind: "deployment"}, wire.Workload{}, false},
		{"templated name", Target{Kind: "deployment", Name: "{{ .Values.name }}"}, wire.Workload{}, false},
		{"pod of a deployment", ownedPod("apps/v1", "ReplicaSet", "web-7d9f8c6b5", true, hash), wire.Workload{Kind: "deployment", Name: "web"}, true},
		{"pod of a dashed deployment", ownedPod("apps/v1", "ReplicaSet", "book-store-v1-7d9f8c6b5", true, hash), wire.Workload{Kind: "deployment", Name: "book-store-v1"}, true},
		{"replicaset of its own", ownedPod("apps/v1", "ReplicaSet", "web", true, map[string]string{"app": "web"}), wire.Workload{Kind: "replicaset", Name: "web"}, true},
		{"hash that is not the name's", ownedPod("apps/v1", "ReplicaSet", "web-abc", true, hash), wire.Workload{Kind: "replicaset", Name: "web-abc"}, true},
		{"name that is only the hash", ownedPod("apps/v1", "ReplicaSet", "-7d9f8c6b5", true, hash), wire.Workload{Kind: "pod"}, true},
		{"replicaset of another group", ownedPod("example.io/v1", "ReplicaSet", "web-7d9f8c6b5", true, hash), wire.Workload{Kind: "replicaset", Name: "web-7d9f8c6b5"}, true},
		{"statefulset", ownedPod("apps/v1", "StatefulSet", "db", true, nil), wire.Workload{Kind: "statefulset", Name: "db"}, true},
		{"daemonset", ownedPod("apps/v1", "DaemonSet", "agent", true, nil), wire.Workload{Kind: "daemonset", Name: "agent"}, true},
		{"job, maybe a cronjob's", ownedPod("batch/v1", "Job", "report-29012345", true, map[string]string{"job-name": "report-29012345"}), wire.Workload{Kind: "job", Name: "report-29012345"}, true},
		{"replicationcontroller", ownedPod("v1", "ReplicationController", "old", true, nil), wire.Workload{Kind: "replicationcontroller", Name: "old"}, true},
		{"custom controller", ownedPod("argoproj.io/v1alpha1", "Rollout", "web", true, nil), wire.Workload{Kind: "rollout", Name: "web"}, true},
		{"owner that is not the controller", ownedPod("apps/v1", "StatefulSet", "db", false, nil), wire.Workload{Kind: "pod"}, true},
		{"owner Kubernetes would refuse", ownedPod("apps/v1", "StatefulSet", "DB\"x", true, nil), wire.Workload{Kind: "pod"}, true},
		{"bare pod", Target{Kind: "pod", Name: "web-1", Template: &appPodTemplate}, wire.Workload{Kind: "pod"}, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, ok := WorkloadOf(tc.t)
			if got != tc.want || ok != tc.ok {
				t.Errorf("WorkloadOf = %+v, %v; want %+v, %v", got, ok, tc.want, tc.ok)
			}
		})
	}
}

var appPodTemplate = corev1.PodTemplateSpec{ObjectMeta: appPod().ObjectMeta, Spec: appPod().Spec}

// proxyArgs injects t and returns its proxy's arguments and the pod's
// annotations as the patch leaves them.
func proxyArgs(t *testing.T, in *Injector, target Target) ([]string, map[string]string) {
	t.Helper()
	r, err := in.Inject(target)
	if err != nil || r.Action != Injected {
		t.Fatalf("%s: %+v, %v", target, r, err)
	}
	var got corev1.PodTemplateSpec
	if err := json.Unmarshal(applyJSONPatch(t, target.Template, r.Patch), &got); err != nil {
		t.Fatal(err)
	}
	c := proxyconfig.ProxyContainerOf(&got.Spec)
	if c == nil {
		t.Fatalf("%s: no proxy", target)
	}
	return c.Args, got.Annotations
}

// TestDeploymentAndItsPodsNameTheSameWorkload: `meshctl inject` of a
// Deployment and the webhook's injection of one of its pods give the
// proxy the same arguments, which mesh-proxy reads back as the
// Deployment; a new pod of a bare Pod names itself.
func TestDeploymentAndItsPodsNameTheSameWorkload(t *testing.T) {
	in := testInjector(t, testVersion)
	tpl := appPodTemplate.DeepCopy()
	tpl.Name = ""
	offline, _ := proxyArgs(t, in, Target{Kind: "deployment", Name: "web", Namespace: "shop", Template: tpl})
	pod := ownedPod("apps/v1", "ReplicaSet", "web-7d9f8c6b5", true, map[string]string{"app": "web", "pod-template-hash": "7d9f8c6b5"})
	webhook, _ := proxyArgs(t, in, pod)
	if !reflect.DeepEqual(offline, webhook) {
		t.Errorf("meshctl inject's proxy arguments\n%q\nthe webhook's\n%q", offline, webhook)
	}
	run, err := wire.ParseRunArgs(webhook)
	if err != nil {
		t.Fatal(err)
	}
	if run.Workload == nil || *run.Workload != (wire.Workload{Kind: "deployment", Name: "web"}) {
		t.Errorf("mesh-proxy reads the workload %+v", run.Workload)
	}
	if want := in.Sidecar.WithWorkload(*run.Workload).RunArgs(); !reflect.DeepEqual(webhook, want) {
		t.Errorf("injected arguments\n%q\nare not the sidecar definition's\n%q", webhook, want)
	}

	bare, _ := proxyArgs(t, in, Target{Kind: "pod", Name: "web-1", Namespace: "shop", Template: appPodTemplate.DeepCopy()})
	if run, err := wire.ParseRunArgs(bare); err != nil || run.Workload == nil || *run.Workload != (wire.Workload{Kind: "pod"}) {
		t.Errorf("a bare pod's proxy reads %+v, %v", run.Workload, err)
	}
}

// TestPrometheusAnnotations: pods get the three annotations pointing at
// the proxy's metrics unless the MeshConfig turns them (or the metrics)
// off, or the pod has one of its own, which is kept and never paired with
// the injector's; uninjection removes exactly what was added.
func TestPrometheusAnnotations(t *testing.T) {
	ours := map[string]string{"prometheus.io/scrape": "true", "prometheus.io/port": "15000", "prometheus.io/path": "/metrics"}
	prom := func(a map[string]string) map[string]string {
		out := map[string]string{}
		for _, k := range proxyconfig.PrometheusAnnotationKeys() {
			if v, ok := a[k]; ok {
				out[k] = v
			}
		}
		return out
	}
	injector := func(metrics, annotations bool) *Injector {
		spec := meshconfig.DefaultSpec()
		spec.Observability.Metrics.Enable, spec.Observability.Metrics.PrometheusAnnotations = metrics, annotations
		in, err := New(spec, meshconfig.DefaultMeshName, meshconfig.DefaultMeshNamespace)
		if err != nil {
			t.Fatal(err)
		}
		return in
	}
	for _, tc := range []struct {
		name                 string
		metrics, annotations bool
		own, want            map[string]string
	}{
		{"default", true, true, nil, ours},
		{"turned off", true, false, nil, map[string]string{}},
		{"metrics off", false, true, nil, map[string]string{}},
		{"the pod's own port", true, true, map[string]string{"prometheus.io/port": "8080"}, map[string]string{"prometheus.io/port": "8080"}},
		{"the pod says no", true, true, map[string]string{"prometheus.io/scrape": "false"}, map[string]string{"prometheus.io/scrape": "false"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			in := injector(tc.metrics, tc.annotations)
			tpl := appPodTemplate.DeepCopy()
			for k, v := range tc.own {
				tpl.Annotations = setKey(tpl.Annotations, k, v)
			}
			target := Target{Kind: "deployment", Name: "web", Namespace: "shop", Template: tpl}
			_, got := proxyArgs(t, in, target)
			if !reflect.DeepEqual(prom(got), tc.want) {
				t.Errorf("Prometheus annotations %v, want %v", prom(got), tc.want)
			}

			r, _ := in.Inject(target)
			var injected corev1.PodTemplateSpec
			json.Unmarshal(applyJSONPatch(t, tpl, r.Patch), &injected)
			u, err := in.Uninject(Target{Kind: "deployment", Name: "web", Template: &injected})
			if err != nil {
				t.Fatal(err)
			}
			var back corev1.PodTemplateSpec
			json.Unmarshal(applyJSONPatch(t, &injected, u.Patch), &back)
			if !reflect.DeepEqual(back.Annotations, tpl.Annotations) {
				t.Errorf("uninjected annotations %v, want the pod's own %v", back.Annotations, tpl.Annotations)
			}
		})
	}
}

// TestOwnPrometheusAnnotationRemovedInjectsAgain: a template whose own
// annotation kept the injector's out is not "unchanged" once it is gone.
func TestOwnPrometheusAnnotationRemovedInjectsAgain(t *testing.T) {
	in := testInjector(t, testVersion)
	tpl := appPodTemplate.DeepCopy()
	tpl.Annotations = map[string]string{"prometheus.io/scrape": "false"}
	target := Target{Kind: "deployment", Name: "web", Template: tpl}
	r, err := in.Inject(target)
	if err != nil {
		t.Fatal(err)
	}
	var injected corev1.PodTemplateSpec
	json.Unmarshal(applyJSONPatch(t, tpl, r.Patch), &injected)
	delete(injected.Annotations, "prometheus.io/scrape")
	again, err := in.Inject(Target{Kind: "deployment", Name: "web", Template: &injected})
	if err != nil || again.Action != Updated {
		t.Fatalf("after the pod's own annotation went: %+v, %v; want updated", again, err)
	}
}

// FuzzWorkloadOf: whatever a pod claims as its owner (the API server
// checks little of an ownerReference), the workload named is one
// mesh-proxy accepts, so that a pod cannot make its own proxy refuse to
// start, nor put text in its metrics that a Kubernetes name cannot hold.
func FuzzWorkloadOf(f *testing.F) {
	f.Add("pod", "", "apps/v1", "ReplicaSet", "web-7d9f8c6b5", "7d9f8c6b5")
	f.Add("deployment", "web", "", "", "", "")
	f.Add("pod", "", "batch/v1", "Job", "report-29012345", "")
	f.Add("pod", "", "x/v1", "Weird Kind", "a\"b\nc", "")
	f.Fuzz(func(t *testing.T, kind, name, apiVersion, ownerKind, ownerName, hash string) {
		target := Target{Kind: kind, Name: name}
		if kind == "pod" {
			target = ownedPod(apiVersion, ownerKind, ownerName, true, map[string]string{"pod-template-hash": hash})
		}
		w, ok := WorkloadOf(target)
		if ok {
			if err := w.Check(); err != nil {
				t.Fatalf("WorkloadOf(%+v) = %+v, which mesh-proxy refuses: %v", target, w, err)
			}
		}
	})
}

// TestRenamedWorkloadInjectedAgain: the marker does not cover the
// workload's arguments, which Inject compares itself: a template injected
// for one workload and injected again for another gets the other's name,
// and for the same one is unchanged.
func TestRenamedWorkloadInjectedAgain(t *testing.T) {
	in := testInjector(t, testVersion)
	tpl := appPodTemplate.DeepCopy()
	r, err := in.Inject(Target{Kind: "deployment", Name: "web", Template: tpl})
	if err != nil {
		t.Fatal(err)
	}
	var injected corev1.PodTemplateSpec
	if err := json.Unmarshal(applyJSONPatch(t, tpl, r.Patch), &injected); err != nil {
		t.Fatal(err)
	}
	if same, err := in.Inject(Target{Kind: "deployment", Name: "web", Template: &injected}); err != nil || same.Action != Unchanged {
		t.Fatalf("injected again for the same workload: %+v, %v", same, err)
	}
	args, _ := proxyArgsAfter(t, in, Target{Kind: "deployment", Name: "shop", Template: &injected}, Updated)
	if !slices.Contains(args, "--workload-name=shop") || slices.Contains(args, "--workload-name=web") {
		t.Errorf("renamed workload's proxy arguments %q", args)
	}
}

// proxyArgsAfter is proxyArgs for an injection expected to end in action.
func proxyArgsAfter(t *testing.T, in *Injector, target Target, action Action) ([]string, map[string]string) {
	t.Helper()
	r, err := in.Inject(target)
	if err != nil || r.Action != action {
		t.Fatalf("%s: %+v, %v; want %s", target, r, err, action)
	}
	var got corev1.PodTemplateSpec
	if err := json.Unmarshal(applyJSONPatch(t, target.Template, r.Patch), &got); err != nil {
		t.Fatal(err)
	}
	return proxyconfig.ProxyContainerOf(&got.Spec).Args, got.Annotations
}
