package meshconfig

import (
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
)

func TestDecodeAppliesDefaults(t *testing.T) {
	mc, err := Decode(strings.NewReader(`
apiVersion: config.meshctl.io/v1alpha1
kind: MeshConfig
metadata:
  name: mesh-config
spec:
  traffic:
    enablePermissiveTrafficPolicyMode: false
    outboundPortExclusionList: [25]
  sidecar:
    resources:
      limits: {cpu: 500m}
`))
	if err != nil {
		t.Fatal(err)
	}
	want := DefaultSpec()
	want.Traffic.EnablePermissiveTrafficPolicyMode = false
	want.Traffic.OutboundPortExclusionList = []int32{25}
	want.Sidecar.Resources = mc.Spec.Sidecar.Resources // checked below
	if !reflect.DeepEqual(mc.Spec, want) {
		t.Errorf("got %+v\nwant %+v", mc.Spec, want)
	}
	if q := mc.Spec.Sidecar.Resources.Limits.Cpu().String(); q != "500m" {
		t.Errorf("cpu limit %s, want 500m", q)
	}
}

func TestDecodeNoSpecIsDefaultSpec(t *testing.T) {
	mc, err := Decode(strings.NewReader("apiVersion: config.meshctl.io/v1alpha1\nkind: MeshConfig\n"))
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(mc.Spec, DefaultSpec()) {
		t.Errorf("got %+v, want DefaultSpec", mc.Spec)
	}
}

func TestDecodeErrorsNameTheField(t *testing.T) {
	const head = "apiVersion: config.meshctl.io/v1alpha1\nkind: MeshConfig\n"
	tests := []struct {
		name string
		doc  string
		want []string
	}{
		{"empty", "", []string{"input is empty"}},
		{"two documents", head + "---\n" + head, []string{"2 YAML documents"}},
		{"wrong kind", "apiVersion: v1\nkind: ConfigMap\n", []string{"field apiVersion: got \"v1\"", "field kind: got \"ConfigMap\""}},
		{"unknown top-level field", head + "data: {}\n", []string{`unknown field "data"`}},
		{"unknown spec field", head + "spec:\n  traffic:\n    egress: true\n", []string{"unknown field spec.traffic.egress", "enableEgress"}},
		{"wrong type", head + "spec:\n  traffic:\n    enableEgress: yes please\n", []string{"field spec.traffic.enableEgress", "bool"}},
		{"duplicate key", head + "spec:\n  sidecar: {}\n  sidecar: {}\n", []string{"sidecar"}},
		{"bad log level", head + "spec:\n  sidecar:\n    logLevel: loud\n", []string{"spec.sidecar.logLevel", "loud", "debug"}},
		{"port out of range", head + "spec:\n  traffic:\n    inboundPortExclusionList: [0, 80]\n", []string{"spec.traffic.inboundPortExclusionList[0]"}},
		{"duplicate port", head + "spec:\n  traffic:\n    outboundPortExclusionList: [80, 80]\n", []string{"spec.traffic.outboundPortExclusionList[1]", "Duplicate"}},
		{"bad cidr", head + "spec:\n  traffic:\n    outboundIPRangeExclusionList: [10.0.0.0]\n", []string{"spec.traffic.outboundIPRangeExclusionList[0]", "CIDR"}},
		{"tracing without address", head + "spec:\n  observability:\n    tracing:\n      enable: true\n", []string{"spec.observability.tracing.address"}},
		{"jwt without keys", head + "spec:\n  auth:\n    jwt:\n      enable: true\n      issuer: me\n", []string{"spec.auth.jwt", "exactly one of jwksURL and jwks"}},
		{"jwt url scheme", head + "spec:\n  auth:\n    jwt:\n      jwksURL: ftp://x\n", []string{"spec.auth.jwt.jwksURL"}},
		{"wrong name", "apiVersion: config.meshctl.io/v1alpha1\nkind: MeshConfig\nmetadata:\n  name: other\n", []string{"metadata.name", "mesh-config"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := Decode(strings.NewReader(tt.doc))
			if err == nil {
				t.Fatal("no error")
			}
			for _, w := range tt.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q does not contain %q", err, w)
				}
			}
		})
	}
}

func TestReadFileNamesTheFile(t *testing.T) {
	path := filepath.Join(t.TempDir(), "mesh.yaml")
	if err := os.WriteFile(path, []byte("apiVersion: config.meshctl.io/v1alpha1\nkind: MeshConfig\nspec:\n  sidecar:\n    logLevel: loud\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	_, err := ReadFile(path)
	if err == nil || !strings.HasPrefix(err.Error(), path+": ") || !strings.Contains(err.Error(), "spec.sidecar.logLevel") {
		t.Errorf("error %v: want one starting with the file name and naming the field", err)
	}
	if _, err := ReadFile(filepath.Join(t.TempDir(), "absent.yaml")); err == nil || !strings.Contains(err.Error(), "absent.yaml") {
		t.Errorf("error %v: want one naming the missing file", err)
	}
}

func FuzzDecode(f *testing.F) {
	f.Add("apiVersion: config.meshctl.io/v1alpha1\nkind: MeshConfig\nspec:\n  traffic:\n    enableEgress: false\n")
	f.Add("apiVersion: config.meshctl.io/v1alpha1\nkind: MeshConfig\nspec:\n  sidecar:\n    resources: {limits: {cpu: 1}}\n")
	f.Add("{}")
	f.Add("---\n---\n")
	f.Fuzz(func(t *testing.T, doc string) {
		mc, err := Decode(strings.NewReader(doc))
		if err != nil {
			return
		}
		// What Decode accepts passes Validate: it never hands out an
		// object the API server's schema would refuse for these rules.
		if errs := Validate(mc); len(errs) > 0 {
			t.Fatalf("Decode accepted %q but Validate says %v", doc, errs)
		}
	})
}
