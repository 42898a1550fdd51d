package install

import (
	"encoding/json"
	"testing"

	"k8s.io/apimachinery/pkg/runtime"

	"github.com/meshctl/meshctl/pkg/meshconfig"
)

func fromUnstructured(obj map[string]any, into any) error {
	return runtime.DefaultUnstructuredConverter.FromUnstructured(obj, into)
}

// normalizeSpec compares specs by their JSON form, so that equal quantities
// written differently compare equal.
func normalizeSpec(t testing.TB, s meshconfig.MeshConfigSpec) map[string]any {
	t.Helper()
	b, err := json.Marshal(s)
	if err != nil {
		t.Fatal(err)
	}
	var out map[string]any
	if err := json.Unmarshal(b, &out); err != nil {
		t.Fatal(err)
	}
	return out
}
