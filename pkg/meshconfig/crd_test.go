package meshconfig

import (
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"testing"

	apiextensionsv1 "k8s.io/apiextensions-apiserver/pkg/apis/apiextensions/v1"
	"sigs.k8s.io/yaml"
)

// crdDir is the chart's CRD directory, relative to this package.
const crdDir = "../../charts/mesh/crds"

func readCRD(t *testing.T, file string) *apiextensionsv1.CustomResourceDefinition {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(crdDir, file))
	if err != nil {
		t.Fatal(err)
	}
	crd := &apiextensionsv1.CustomResourceDefinition{}
	if err := yaml.UnmarshalStrict(b, crd); err != nil {
		t.Fatalf("%s: %v", file, err)
	}
	return crd
}

// TestCRDMatchesTypes walks the MeshConfig CRD's schema and the Go types
// together: the same fields, of the same types, on both sides. It fails when
// types.go changed and hack/gen-meshconfig.sh was not run.
func TestCRDMatchesTypes(t *testing.T) {
	crd := readCRD(t, "config.meshctl.io_meshconfigs.yaml")
	if crd.Spec.Group != GroupName || crd.Spec.Names.Kind != Kind || crd.Spec.Names.Plural != Resource || crd.Name != Resource+"."+GroupName {
		t.Errorf("CRD names %s %s/%s, want %s.%s %s", crd.Name, crd.Spec.Group, crd.Spec.Names.Kind, Resource, GroupName, Kind)
	}
	if len(crd.Spec.Versions) != 1 || crd.Spec.Versions[0].Name != Version || !crd.Spec.Versions[0].Served || !crd.Spec.Versions[0].Storage {
		t.Fatalf("CRD versions %+v, want %s alone, served and stored", crd.Spec.Versions, Version)
	}
	spec := crd.Spec.Versions[0].Schema.OpenAPIV3Schema.Properties["spec"]
	compareSchema(t, "spec", &spec, reflect.TypeFor[MeshConfigSpec]())

	level := spec.Properties["sidecar"].Properties["logLevel"]
	var enum []string
	for _, e := range level.Enum {
		enum = append(enum, strings.Trim(string(e.Raw), `"`))
	}
	if !slices.Equal(enum, LogLevels()) {
		t.Errorf("CRD logLevel enum %v, want LogLevels() %v", enum, LogLevels())
	}
}

func compareSchema(t *testing.T, path string, s *apiextensionsv1.JSONSchemaProps, typ reflect.Type) {
	t.Helper()
	want := map[FieldKind]string{
		KindObject: "object", KindMap: "object", KindList: "array", KindJSON: "array",
		KindBool: "boolean", KindInteger: "integer", KindString: "string",
	}
	k := kindOf(typ)
	if k == KindQuantity {
		if !s.XIntOrString {
			t.Errorf("%s: a quantity should be x-kubernetes-int-or-string", path)
		}
		return
	}
	if s.Type != want[k] {
		t.Errorf("%s: schema type %q, Go type %s (%s)", path, s.Type, typ, k)
		return
	}
	switch k {
	case KindObject:
		fields := jsonFields(typ)
		for name, ft := range fields {
			ps, ok := s.Properties[name]
			if !ok {
				t.Errorf("%s.%s: in the Go types, not in the CRD: run hack/gen-meshconfig.sh", path, name)
				continue
			}
			compareSchema(t, path+"."+name, &ps, ft)
		}
		for name := range s.Properties {
			if _, ok := fields[name]; !ok {
				t.Errorf("%s.%s: in the CRD, not in the Go types: run hack/gen-meshconfig.sh", path, name)
			}
		}
	case KindMap:
		if s.AdditionalProperties == nil || s.AdditionalProperties.Schema == nil {
			t.Errorf("%s: a map should have additionalProperties", path)
			return
		}
		compareSchema(t, path+".*", s.AdditionalProperties.Schema, typ.Elem())
	case KindList, KindJSON:
		if s.Items == nil || s.Items.Schema == nil {
			t.Errorf("%s: a list should have items", path)
			return
		}
		compareSchema(t, path+"[]", s.Items.Schema, typ.Elem())
	}
}

// TestCRDDefaultsMatchDefaultSpec reads the default of every field in the
// schema and compares the object they make with DefaultSpec.
func TestCRDDefaultsMatchDefaultSpec(t *testing.T) {
	crd := readCRD(t, "config.meshctl.io_meshconfigs.yaml")
	spec := crd.Spec.Versions[0].Schema.OpenAPIV3Schema.Properties["spec"]
	b, err := yaml.Marshal(map[string]any{"spec": defaults(&spec)})
	if err != nil {
		t.Fatal(err)
	}
	got := MeshConfig{}
	if err := yaml.UnmarshalStrict(b, &got); err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(got.Spec, DefaultSpec()) {
		t.Errorf("the CRD's defaults make\n%s\nwhich differs from DefaultSpec() %+v", b, DefaultSpec())
	}
}

// defaults is what structural defaulting makes of an absent object: its
// properties' defaults, recursively into objects that default to {}.
func defaults(s *apiextensionsv1.JSONSchemaProps) map[string]any {
	out := map[string]any{}
	for name, p := range s.Properties {
		if p.Default == nil {
			continue
		}
		if p.Type == "object" {
			out[name] = defaults(&p)
			continue
		}
		var v any
		if err := yaml.Unmarshal(p.Default.Raw, &v); err == nil {
			out[name] = v
		}
	}
	return out
}

// TestEveryCRDIsStructuralAndLabelled checks what the chart promises of each
// of its CRDs: the part-of label, and a schema for every version.
func TestEveryCRDIsStructuralAndLabelled(t *testing.T) {
	entries, err := os.ReadDir(crdDir)
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]string{
		"meshconfigs.config.meshctl.io":     "v1alpha1",
		"traffictargets.access.smi-spec.io": "v1alpha3",
		"httproutegroups.specs.smi-spec.io": "v1alpha4",
		"tcproutes.specs.smi-spec.io":       "v1alpha4",
		"ingressbackends.policy.meshctl.io": "v1alpha1",
	}
	seen := map[string]bool{}
	for _, e := range entries {
		crd := readCRD(t, e.Name())
		seen[crd.Name] = true
		if crd.Labels[LabelPartOf] != PartOfValue {
			t.Errorf("%s: label %s=%q, want %q", e.Name(), LabelPartOf, crd.Labels[LabelPartOf], PartOfValue)
		}
		for _, v := range crd.Spec.Versions {
			if v.Schema == nil || v.Schema.OpenAPIV3Schema == nil || v.Schema.OpenAPIV3Schema.Properties["spec"].Type != "object" {
				t.Errorf("%s: version %s has no structural schema for spec", e.Name(), v.Name)
			}
		}
		if wv, ok := want[crd.Name]; ok && (len(crd.Spec.Versions) == 0 || crd.Spec.Versions[0].Name != wv) {
			t.Errorf("%s: serves %+v, want version %s", crd.Name, crd.Spec.Versions, wv)
		}
	}
	for name := range want {
		if !seen[name] {
			t.Errorf("CRD %s is missing from %s", name, crdDir)
		}
	}
}
