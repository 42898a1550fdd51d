package main

import (
	"encoding/json"
	"strings"
	"testing"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/types"

	"github.com/meshctl/meshctl/pkg/meshconfig"
	"github.com/meshctl/meshctl/pkg/policy/cluster"
	"github.com/meshctl/meshctl/pkg/policycli"
)

func TestPolicyUsageErrorsGolden(t *testing.T) {
	for name, args := range map[string]string{
		"policy-explain-no-from":    "policy explain --to a/b --port 80",
		"policy-explain-bad-from":   "policy explain --from bookbuyer --to a/b --port 80",
		"policy-explain-no-port":    "policy explain --from a/b --to c/d",
		"policy-explain-svc-source": "policy explain --from a/svc/s --to c/d --port 80",
		"policy-explain-tcp-path":   "policy explain --from a/b --to c/d --port 80 --tcp --path /x",
		"policy-explain-bad-output": "policy explain --from a/b --to c/d --port 80 -o wide",
		"policy-list-too-many-args": "policy list x",
	} {
		t.Run(name, func(t *testing.T) {
			r := executeCommand(t, nil, args)
			if r.code != 2 {
				t.Errorf("exit code %d, want 2", r.code)
			}
			assertGolden(t, name, r)
		})
	}
}

// The commands as a user runs them, against a real API server: bookbuyer
// may GET /api/buy of bookstore's pods, spelled oddly or not.
func TestPolicyCommands(t *testing.T) {
	meshNS := installedMesh(t)
	ns := env.Namespace(t, nil)
	flags := " --mesh-namespace " + meshNS
	for _, doc := range []struct {
		res  int
		body string
	}{
		{1, `{"apiVersion":"specs.smi-spec.io/v1alpha4","kind":"HTTPRouteGroup","metadata":{"name":"routes"},"spec":{"matches":[{"name":"buy","methods":["GET"],"pathRegex":"/api/buy"}]}}`},
		{0, `{"apiVersion":"access.smi-spec.io/v1alpha3","kind":"TrafficTarget","metadata":{"name":"buy"},"spec":{"destination":{"kind":"ServiceAccount","name":"bookstore"},"rules":[{"kind":"HTTPRouteGroup","name":"routes"}],"sources":[{"kind":"ServiceAccount","name":"bookbuyer"}]}}`},
	} {
		u := &unstructured.Unstructured{}
		if err := json.Unmarshal([]byte(doc.body), &u.Object); err != nil {
			t.Fatal(err)
		}
		if _, err := env.Clients.Dynamic.Resource(cluster.Resources()[doc.res]).Namespace(ns).Create(t.Context(), u, metav1.CreateOptions{}); err != nil {
			t.Fatal(err)
		}
	}
	_, err := env.Clients.Dynamic.Resource(meshconfig.GroupVersionResource).Namespace(meshNS).
		Patch(t.Context(), meshconfig.ObjectName, types.MergePatchType, meshconfig.PermissivePatch(false), metav1.PatchOptions{})
	if err != nil {
		t.Fatal(err)
	}

	for path, allow := range map[string]bool{"/api/buy": true, "/api//buy": true, "/api/%62uy": true, "/api/steal": false, "/api/buy/../steal": false} {
		r := executeCommand(t, kubeEnv(), "policy explain -n "+ns+" --from sa/bookbuyer --to sa/bookstore --port 8080 -o json --path "+path+flags)
		if r.code != 0 {
			t.Fatalf("%s: %+v", path, r)
		}
		var x policycli.Explanation
		if err := json.Unmarshal([]byte(r.stdout), &x); err != nil || len(x.Destinations) != 1 {
			t.Fatalf("%s: %v: %s", path, err, r.stdout)
		}
		if d := x.Destinations[0].Decision; d.Allow != allow || allow && (d.Name != ns+"/buy" || d.Rule != 0) {
			t.Errorf("%s: %+v, want allow %t", path, d, allow)
		}
	}

	r := executeCommand(t, kubeEnv(), "policy list -n "+ns+flags)
	if r.code != 0 || !strings.Contains(r.stdout, ns+"/bookstore   "+ns+"/bookbuyer   *      TrafficTarget/"+ns+"/buy") {
		t.Errorf("list: %+v", r)
	}
}
