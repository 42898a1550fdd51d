package install

import (
	"fmt"
	"reflect"
	"strings"
	"testing"
)

func TestChangedLeaves(t *testing.T) {
	values := map[string]any{
		"traffic": map[string]any{"enablePermissiveTrafficPolicyMode": true, "inboundPortExclusionList": []any{}},
		"sidecar": map[string]any{"logLevel": "", "resources": map[string]any{}},
	}
	rendered := map[string]any{
		"traffic": map[string]any{"enablePermissiveTrafficPolicyMode": true},
		"sidecar": map[string]any{"logLevel": "info", "resources": map[string]any{"limits": map[string]any{"memory": "256Mi"}}},
	}
	tests := []struct {
		name string
		live map[string]any
		want map[string]any
	}{
		{"no edits", rendered, map[string]any{}},
		{"bool flipped", map[string]any{"traffic": map[string]any{"enablePermissiveTrafficPolicyMode": false}},
			map[string]any{"traffic": map[string]any{"enablePermissiveTrafficPolicyMode": false}}},
		{"list added", map[string]any{"traffic": map[string]any{"enablePermissiveTrafficPolicyMode": true, "inboundPortExclusionList": []any{int64(8080)}}},
			map[string]any{"traffic": map[string]any{"inboundPortExclusionList": []any{int64(8080)}}}},
		{"free-form map compared whole", map[string]any{"sidecar": map[string]any{"logLevel": "info", "resources": map[string]any{"limits": map[string]any{"memory": "1Gi"}}}},
			map[string]any{"sidecar": map[string]any{"resources": map[string]any{"limits": map[string]any{"memory": "1Gi"}}}}},
		{"fields the chart has no values for are left alone", map[string]any{"future": "x", "traffic": map[string]any{"enablePermissiveTrafficPolicyMode": true, "newField": 1}}, map[string]any{}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := changedLeaves(rendered, tt.live, values); !reflect.DeepEqual(got, tt.want) {
				t.Errorf("changedLeaves = %v, want %v", got, tt.want)
			}
		})
	}
}

func TestNotReadyErrorMessage(t *testing.T) {
	err := &NotReadyError{Deployment: "mesh-system/mesh-controller", Timeout: 0, Status: "0/1 replicas available", Diagnosis: []string{"pod p: container c is waiting: ImagePullBackOff"}}
	want := "deployment mesh-system/mesh-controller is not ready after 0s: 0/1 replicas available\n  pod p: container c is waiting: ImagePullBackOff"
	if err.Error() != want {
		t.Errorf("got %q", err.Error())
	}
	if !strings.Contains(err.Error(), "ImagePullBackOff") {
		t.Error("diagnosis missing")
	}
}

func TestNextSteps(t *testing.T) {
	tests := []struct {
		mesh, ns, want string
	}{
		{"mesh", "mesh-system", "  meshctl check\n  meshctl namespace add NAMESPACE...\n"},
		{"blue", "mesh-system", "  meshctl check --mesh-name blue\n  meshctl namespace add NAMESPACE... --mesh-name blue\n"},
		{"mesh", "prod", "  meshctl check --mesh-namespace prod\n  meshctl namespace add NAMESPACE... --mesh-namespace prod\n"},
	}
	for _, tt := range tests {
		got := nextSteps(tt.mesh, tt.ns, "installed")
		if !strings.HasSuffix(got, tt.want) || !strings.HasPrefix(got, fmt.Sprintf("Mesh %q is installed in namespace %q.", tt.mesh, tt.ns)) {
			t.Errorf("nextSteps(%q, %q) = %q", tt.mesh, tt.ns, got)
		}
	}
}
