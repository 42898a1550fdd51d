// Package integration_test checks the injector's output against a real API
// server. It lives apart from package inject so that inject's fuzzing and
// benchmarks do not start one.
package integration_test

import (
	"bytes"
	"errors"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	utilyaml "k8s.io/apimachinery/pkg/util/yaml"

	_ "github.com/meshctl/meshctl/internal/golden"
	"github.com/meshctl/meshctl/internal/testenv"
	"github.com/meshctl/meshctl/pkg/inject"
	"github.com/meshctl/meshctl/pkg/inject/manifest"
	"github.com/meshctl/meshctl/pkg/meshconfig"
	"github.com/meshctl/meshctl/pkg/proxyconfig"
)

// env is the API server shared by this package's integration tests.
var env *testenv.Env

func TestMain(m *testing.M) { testenv.Main(m, &env) }

// TestInjectedOutputIsAccepted sends every object of every golden case's
// injected output to the real API server: a server-side dry-run create with
// strict field validation, so an unknown or misspelt field, a bad value or
// an invalid pod spec (probes, security contexts, duplicate names) fails.
// Namespaced objects go into the test's namespace.
func TestInjectedOutputIsAccepted(t *testing.T) {
	spec := meshconfig.DefaultSpec()
	spec.Sidecar.Image = proxyconfig.ImageRepository + ":v0.2.0"
	in, err := inject.New(spec, meshconfig.DefaultMeshName, meshconfig.DefaultMeshNamespace)
	if err != nil {
		t.Fatal(err)
	}
	ns := env.Namespace(t, nil)
	ctx := testenv.Context(t)
	created := 0
	paths, err := filepath.Glob("../manifest/testdata/inject/*.*")
	if err != nil {
		t.Fatal(err)
	}
	cases := 0
	for _, path := range paths {
		name := filepath.Base(path)
		ext := filepath.Ext(name)
		if strings.HasPrefix(name, "error-") || strings.HasSuffix(name, ".golden") || (ext != ".yaml" && ext != ".json") {
			continue
		}
		cases++
		input, err := os.ReadFile(path)
		if err != nil {
			t.Fatal(err)
		}
		s := &manifest.Stream{Injector: in, EnrolNamespaces: strings.HasPrefix(name, "enrol-"), Force: strings.HasSuffix(strings.TrimSuffix(name, ext), "-force")}
		if strings.HasPrefix(name, "uninject-") {
			s.Mode = manifest.ModeUninject
		}
		out, _, err := s.Process(name, input)
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		c := struct{ name string }{name}
		for _, obj := range objects(t, out) {
			gvk := obj.GroupVersionKind()
			if gvk.Group == "example.com" {
				continue // the custom resource of not-workloads; no CRD
			}
			m, err := env.Clients.Mapper.RESTMapping(gvk.GroupKind(), gvk.Version)
			if err != nil {
				t.Errorf("%s: %s %s: %v", c.name, gvk, obj.GetName(), err)
				continue
			}
			if gvk.Kind == "Pod" {
				// The ServiceAccount admission plugin, which the test API
				// server runs without (it has no controller to create the
				// default ServiceAccount), names "default" in a pod that
				// names none, before validation; the identity volume's
				// projected token needs a ServiceAccount.
				if sa, _, _ := unstructured.NestedString(obj.Object, "spec", "serviceAccountName"); sa == "" {
					if err := unstructured.SetNestedField(obj.Object, "default", "spec", "serviceAccountName"); err != nil {
						t.Fatal(err)
					}
				}
			}
			ri := env.Clients.Dynamic.Resource(m.Resource)
			opts := metav1.CreateOptions{DryRun: []string{metav1.DryRunAll}, FieldValidation: metav1.FieldValidationStrict}
			if m.Scope.Name() == meta.RESTScopeNameNamespace {
				obj.SetNamespace(ns)
				_, err = ri.Namespace(ns).Create(ctx, obj, opts)
			} else {
				obj.SetName(testenv.UniqueName(obj.GetName()))
				_, err = ri.Create(ctx, obj, opts)
			}
			if err != nil {
				t.Errorf("%s: %s %s rejected: %v", c.name, gvk.Kind, obj.GetName(), err)
				continue
			}
			created++
		}
	}
	if cases < 25 {
		t.Errorf("only %d golden cases found", cases)
	}
	if created < 40 {
		t.Errorf("only %d objects were sent to the API server", created)
	}
}

// objects decodes a YAML or JSON stream, walking Lists.
func objects(t *testing.T, data []byte) []*unstructured.Unstructured {
	t.Helper()
	dec := utilyaml.NewYAMLOrJSONDecoder(bytes.NewReader(data), 4096)
	var objs []*unstructured.Unstructured
	for {
		var u unstructured.Unstructured
		err := dec.Decode(&u.Object)
		if errors.Is(err, io.EOF) {
			return objs
		}
		if err != nil {
			t.Fatalf("decoding output: %v", err)
		}
		if u.Object == nil {
			continue
		}
		if u.IsList() {
			l, err := u.ToList()
			if err != nil {
				t.Fatal(err)
			}
			for i := range l.Items {
				objs = append(objs, &l.Items[i])
			}
			continue
		}
		objs = append(objs, &u)
	}
}
