package install

import (
	"fmt"
	"maps"
	"strings"

	"github.com/distribution/reference"
	"helm.sh/helm/v3/pkg/chartutil"
	"helm.sh/helm/v3/pkg/strvals"
	"sigs.k8s.io/yaml"
)

// ValueOptions are the user's value flags, as given on the command line.
type ValueOptions struct {
	// ValueFiles are --values files, applied left to right.
	ValueFiles []string
	// JSONValues are --set-json key=JSON pairs.
	JSONValues []string
	// Values are --set key=value pairs; values are typed as YAML would.
	Values []string
	// StringValues are --set-string key=value pairs; values stay strings.
	StringValues []string
	// Registry is --registry: the chart value RegistryValue, where both
	// images are pulled from (REGISTRY/mesh-proxy and
	// REGISTRY/mesh-controller, as `make images REGISTRY=...` pushes them).
	Registry string
}

// RegistryValue is the chart value --registry sets: one registry (with an
// optional path) for both of the mesh's images.
const RegistryValue = "imageRegistry"

// validateRegistry refuses a --registry that is not a registry host with
// an optional path: no scheme, tag or digest.
func validateRegistry(reg string) error {
	if reg == "" {
		return nil
	}
	if strings.Contains(reg, "://") {
		return fmt.Errorf("--registry %q: give the registry without a scheme, such as registry.example.com/team", reg)
	}
	ref, err := reference.ParseNamed(reg + "/mesh-proxy")
	if err != nil {
		return fmt.Errorf("--registry %q: not a registry host and path, such as registry.example.com/team: %w", reg, err)
	}
	if reference.Domain(ref) != strings.SplitN(reg, "/", 2)[0] {
		return fmt.Errorf("--registry %q: not a registry host and path, such as registry.example.com/team", reg)
	}
	return nil
}

// valueLayers are the sources of a release's values, lowest precedence first.
type valueLayers struct {
	// chartDefaults are values.yaml plus the computed defaults (LoadChart).
	chartDefaults map[string]any
	// previous are the user-supplied values of the release being upgraded.
	previous map[string]any
	// liveEdits are the MeshConfig fields changed in the cluster since the
	// previous release rendered them, under "meshConfig".
	liveEdits map[string]any
	// flags are this invocation's value flags.
	flags ValueOptions
}

// mergeValues is the one place that knows the precedence of values:
//
//	chart defaults < previous release's values < live MeshConfig edits < --values files (left to right) < --set-json < --set < --set-string < --registry
//
// It returns the user-supplied values, which are what Helm stores in the
// release (so `helm get values` shows only what the user chose and a later
// upgrade can tell the user's choices from old defaults), and the complete
// merged values the chart renders with.
func mergeValues(l valueLayers, readFile func(string) ([]byte, error)) (user, merged map[string]any, err error) {
	user = overlay(l.previous, l.liveEdits)
	for _, f := range l.flags.ValueFiles {
		data, err := readFile(f)
		if err != nil {
			return nil, nil, fmt.Errorf("values file %s: %w", f, err)
		}
		file := map[string]any{}
		if err := yaml.Unmarshal(data, &file); err != nil {
			return nil, nil, fmt.Errorf("values file %s: %w", f, err)
		}
		user = overlay(user, file)
	}
	for _, kv := range l.flags.JSONValues {
		if err := strvals.ParseJSON(kv, user); err != nil {
			return nil, nil, fmt.Errorf("--set-json %q: %w", kv, err)
		}
	}
	for _, kv := range l.flags.Values {
		if err := strvals.ParseInto(kv, user); err != nil {
			return nil, nil, fmt.Errorf("--set %q: %w", kv, err)
		}
	}
	for _, kv := range l.flags.StringValues {
		if err := strvals.ParseIntoString(kv, user); err != nil {
			return nil, nil, fmt.Errorf("--set-string %q: %w", kv, err)
		}
	}
	if l.flags.Registry != "" {
		user[RegistryValue] = l.flags.Registry
	}
	merged = overlay(l.chartDefaults, user)
	return user, merged, nil
}

// values merges the layers and validates the result against the chart's
// values.schema.json, so that a misspelt key or a wrong type is refused,
// naming the key, before anything is rendered or changed. It returns the
// user-supplied values.
func (d *Deps) values(l valueLayers) (map[string]any, error) {
	user, merged, err := mergeValues(l, d.ReadFile)
	if err != nil {
		return nil, err
	}
	d.Log.Debug("merged values", "user", user, "merged", merged)
	if d.Chart.Schema != nil {
		if err := chartutil.ValidateAgainstSingleSchema(merged, d.Chart.Schema); err != nil {
			return nil, fmt.Errorf("invalid values (see the chart's values.schema.json):\n%s", strings.TrimSpace(err.Error()))
		}
	}
	return user, nil
}

// overlay returns base with top laid over it, leaving both unchanged. Tables
// merge key by key; any other value in top replaces the one in base; a null
// in top deletes the key, as in Helm.
func overlay(base, top map[string]any) map[string]any {
	return chartutil.CoalesceTables(deepCopy(top), deepCopy(base))
}

func deepCopy(m map[string]any) map[string]any {
	if m == nil {
		return map[string]any{}
	}
	out := maps.Clone(m)
	for k, v := range out {
		switch v := v.(type) {
		case map[string]any:
			out[k] = deepCopy(v)
		case []any:
			out[k] = deepCopySlice(v)
		}
	}
	return out
}

func deepCopySlice(s []any) []any {
	out := make([]any, len(s))
	for i, v := range s {
		switch v := v.(type) {
		case map[string]any:
			out[i] = deepCopy(v)
		case []any:
			out[i] = deepCopySlice(v)
		default:
			out[i] = v
		}
	}
	return out
}
