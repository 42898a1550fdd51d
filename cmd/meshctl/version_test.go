package main

import (
	"encoding/json"
	"runtime"
	"strings"
	"testing"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/meshctl/meshctl/internal/testenv"
	"github.com/meshctl/meshctl/pkg/meshconfig"
	"github.com/meshctl/meshctl/pkg/version"
	"github.com/meshctl/meshctl/pkg/version/report"
)

func TestVersionClientNeedsNoCluster(t *testing.T) {
	// No KUBECONFIG, no HOME: any cluster access would fail.
	r := executeCommand(t, nil, "version --client")
	if r.code != 0 {
		t.Fatalf("exit code %d: %s", r.code, r.stderr)
	}
	want := "Client:         " + version.Version() + " "
	if !strings.HasPrefix(r.stdout, want) || strings.Count(r.stdout, "\n") != 1 {
		t.Errorf("stdout = %q, want one line starting %q", r.stdout, want)
	}
	if !strings.Contains(r.stdout, runtime.Version()) {
		t.Errorf("stdout lacks the Go version: %q", r.stdout)
	}
}

// TestVersionAgainstAPIServer runs `meshctl version -o json` against the real
// API server of the test environment: the server version it reports is the
// real one, and the control plane appears once its Deployment exists.
func TestVersionAgainstAPIServer(t *testing.T) {
	sv, err := env.Clients.Kube.Discovery().ServerVersion()
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(sv.GitVersion, "v1.") || strings.Contains(sv.GitVersion, "master") {
		t.Fatalf("the test API server reports %q; hack/testenv.sh must stamp a real version", sv.GitVersion)
	}
	ns := env.Namespace(t, nil)

	decode := func(r result) report.Report {
		t.Helper()
		if r.code != 0 {
			t.Fatalf("exit code %d: %s", r.code, r.stderr)
		}
		var rep report.Report
		dec := json.NewDecoder(strings.NewReader(r.stdout))
		dec.DisallowUnknownFields()
		if err := dec.Decode(&rep); err != nil {
			t.Fatalf("stdout is not one JSON report: %v\n%s", err, r.stdout)
		}
		if dec.More() {
			t.Fatalf("stdout holds more than one JSON document:\n%s", r.stdout)
		}
		return rep
	}

	rep := decode(executeCommand(t, kubeEnv(), "version -o json --mesh-namespace "+ns))
	if rep.Server == nil || rep.Server.GitVersion != sv.GitVersion {
		t.Errorf("server = %+v, want gitVersion %s", rep.Server, sv.GitVersion)
	}
	if rep.ControlPlane != nil {
		t.Errorf("control plane = %+v before any was installed", rep.ControlPlane)
	}
	if rep.Client.Version != version.Version() {
		t.Errorf("client version = %q, want %q", rep.Client.Version, version.Version())
	}

	createControllerDeployment(t, ns, "v9.9.9")
	rep = decode(executeCommand(t, kubeEnv(), "version -o json --mesh-namespace "+ns))
	if rep.ControlPlane == nil || rep.ControlPlane.Version != "v9.9.9" || rep.ControlPlane.Namespace != ns {
		t.Errorf("control plane = %+v, want v9.9.9 in %s", rep.ControlPlane, ns)
	}

	r := executeCommand(t, kubeEnv(), "version --mesh-namespace "+ns)
	for _, want := range []string{"Kubernetes:     " + sv.GitVersion, "Control plane:  v9.9.9 (namespace " + ns + ")"} {
		if !strings.Contains(r.stdout, want) {
			t.Errorf("table output lacks %q:\n%s", want, r.stdout)
		}
	}

	r = executeCommand(t, kubeEnv(), "version -o yaml --mesh-namespace "+ns)
	if !strings.Contains(r.stdout, "gitVersion: "+sv.GitVersion) {
		t.Errorf("yaml output lacks the server version:\n%s", r.stdout)
	}
}

func TestVersionForbidden(t *testing.T) {
	_, kubeconfig := env.User(t) // may do nothing at all
	r := executeCommand(t, map[string]string{"MESHCTL_KUBECONFIG": kubeconfig}, "version --mesh-namespace "+env.Namespace(t, nil))
	if r.code != 1 || !strings.Contains(r.stderr, "forbidden") || !strings.Contains(r.stderr, "mesh-controller") {
		t.Errorf("code %d, stderr %q: want 1 and a forbidden error naming the deployment", r.code, r.stderr)
	}
	if r.stdout != "" {
		t.Errorf("stdout is not empty on failure: %q", r.stdout)
	}
}

func createControllerDeployment(t *testing.T, ns, v string) {
	t.Helper()
	labels := map[string]string{"app": meshconfig.ControllerName}
	d := &appsv1.Deployment{
		ObjectMeta: metav1.ObjectMeta{Name: meshconfig.ControllerName, Namespace: ns,
			Labels: map[string]string{meshconfig.LabelVersion: v, meshconfig.LabelPartOf: meshconfig.PartOfValue}},
		Spec: appsv1.DeploymentSpec{
			Selector: &metav1.LabelSelector{MatchLabels: labels},
			Template: corev1.PodTemplateSpec{
				ObjectMeta: metav1.ObjectMeta{Labels: labels},
				Spec:       corev1.PodSpec{Containers: []corev1.Container{{Name: "c", Image: "example.invalid/c:1"}}},
			},
		},
	}
	if _, err := env.Clients.Kube.AppsV1().Deployments(ns).Create(testenv.Context(t), d, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
}
