package configure

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"maps"
	"slices"
	"strings"

	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/cli-runtime/pkg/genericiooptions"
	"k8s.io/client-go/dynamic"

	"github.com/meshctl/meshctl/pkg/cli"
	"github.com/meshctl/meshctl/pkg/kube"
	"github.com/meshctl/meshctl/pkg/meshconfig"
)

// GetOptions prints the live MeshConfig spec, or one field of it:
// `meshctl config get [FIELD]`.
type GetOptions struct {
	genericiooptions.IOStreams

	// Clients reaches the cluster. Complete sets it from the Factory; Run
	// calls it, so arguments are validated before a kubeconfig is loaded.
	Clients func() (*kube.Clients, error)

	// Mesh and MeshNamespace name the mesh.
	Mesh          string
	MeshNamespace string
	// Field is a dotted path below spec; empty prints every field.
	Field string
	// Output is table (FIELD VALUE rows, or the bare value of one field),
	// json or yaml.
	Output cli.Format

	path *meshconfig.Path
}

// Complete takes the mesh, FIELD and the client.
func (o *GetOptions) Complete(f cli.Factory, args []string) error {
	s := f.Settings()
	o.Mesh, o.MeshNamespace, o.Field = s.MeshName, s.MeshNamespace, ""
	if len(args) > 0 {
		o.Field = args[0]
	}
	o.Clients = f.Clients
	return nil
}

// Validate parses Field.
func (o *GetOptions) Validate() error {
	if o.Field == "" {
		return nil
	}
	p, err := meshconfig.ParsePath(o.Field)
	if err != nil {
		return cli.UsageErrorf("%w", err)
	}
	o.path = &p
	return nil
}

// Run reads the MeshConfig and writes the spec or the field.
func (o *GetOptions) Run(ctx context.Context) error {
	c, err := o.Clients()
	if err != nil {
		return err
	}
	spec, err := liveSpec(ctx, c.Dynamic, o.Mesh, o.MeshNamespace)
	if err != nil {
		return err
	}
	if o.path == nil {
		return cli.Write(o.Out, o.Output, specView(spec))
	}
	v, _ := o.path.Lookup(spec)
	return cli.Write(o.Out, o.Output, valueView{v})
}

// liveSpec reads the MeshConfig's spec as the API server holds it, with its
// defaults applied.
func liveSpec(ctx context.Context, dc dynamic.Interface, mesh, namespace string) (map[string]any, error) {
	mc, err := meshconfig.GetMesh(ctx, dc, mesh, namespace)
	if err != nil {
		return nil, err
	}
	u, err := meshconfig.ToUnstructured(mc)
	if err != nil {
		return nil, err
	}
	return specOf(u), nil
}

func specOf(u *unstructured.Unstructured) map[string]any {
	spec, _, _ := unstructured.NestedMap(u.Object, "spec")
	if spec == nil {
		spec = map[string]any{}
	}
	return spec
}

// specView renders a whole spec: one FIELD VALUE row per leaf, every known
// field listed even when unset, so the table shows what can be set.
type specView map[string]any

func (s specView) WriteTable(out io.Writer) error {
	values := map[string]string{}
	flatten("", map[string]any(s), values)
	for _, f := range meshconfig.Fields() {
		// A map field (such as sidecar.resources.limits) is one row, its
		// value shown as JSON, rather than a row per key.
		f, _, _ = strings.Cut(f, "."+meshconfig.MapKeyPlaceholder)
		if _, ok := values[f]; !ok {
			values[f] = ""
		}
	}
	rows := make([][]string, 0, len(values))
	for _, k := range slices.Sorted(maps.Keys(values)) {
		rows = append(rows, []string{k, values[k]})
	}
	return cli.WriteTable(out, []string{"FIELD", "VALUE"}, rows)
}

func (s specView) WriteJSON(out io.Writer) error { return cli.EncodeJSON(out, map[string]any(s)) }
func (s specView) WriteYAML(out io.Writer) error { return cli.EncodeYAML(out, map[string]any(s)) }

// flatten records the leaves of v under prefix. Objects of known fields
// recurse; maps of free keys (like resource limits) are leaves shown as JSON.
func flatten(prefix string, v any, out map[string]string) {
	m, ok := v.(map[string]any)
	if ok && prefix != "" {
		if p, err := meshconfig.ParsePath(prefix); err == nil && p.Kind() != meshconfig.KindObject {
			ok = false
		}
	}
	if !ok {
		out[prefix] = render(v)
		return
	}
	for k, e := range m {
		p := k
		if prefix != "" {
			p = prefix + "." + k
		}
		flatten(p, e, out)
	}
}

// render shows a value as the user would type it back to config set.
func render(v any) string {
	switch v := v.(type) {
	case nil:
		return ""
	case string:
		return v
	case []any:
		parts := make([]string, len(v))
		for i, e := range v {
			parts[i] = render(e)
		}
		// A list of objects (resource claims) reads better as JSON.
		if slices.ContainsFunc(v, func(e any) bool { _, isObject := e.(map[string]any); return isObject }) {
			b, _ := json.Marshal(v)
			return string(b)
		}
		return strings.Join(parts, ",")
	default:
		b, _ := json.Marshal(v)
		return string(b)
	}
}

// valueView renders one field's value.
type valueView struct{ v any }

func (v valueView) WriteTable(out io.Writer) error {
	if m, ok := v.v.(map[string]any); ok {
		return cli.EncodeYAML(out, m)
	}
	_, err := fmt.Fprintln(out, render(v.v))
	return err
}
func (v valueView) WriteJSON(out io.Writer) error { return cli.EncodeJSON(out, v.v) }
func (v valueView) WriteYAML(out io.Writer) error { return cli.EncodeYAML(out, v.v) }

// SetOptions changes fields of the live MeshConfig with one merge patch:
// `meshctl config set FIELD=VALUE...`.
type SetOptions struct {
	genericiooptions.IOStreams

	// Clients reaches the cluster. Complete sets it from the Factory; Run
	// calls it, so arguments are validated before a kubeconfig is loaded.
	Clients func() (*kube.Clients, error)

	// Mesh and MeshNamespace name the mesh.
	Mesh          string
	MeshNamespace string
	// Assignments are the FIELD=VALUE arguments.
	Assignments []string
	// DryRun sends the patch as a server-side dry run: the API server
	// validates and defaults it, and stores nothing.
	DryRun bool

	parsed []meshconfig.Assignment
	patch  []byte
}

// Complete takes the mesh, the FIELD=VALUE arguments and the client.
func (o *SetOptions) Complete(f cli.Factory, args []string) error {
	s := f.Settings()
	o.Mesh, o.MeshNamespace, o.Assignments = s.MeshName, s.MeshNamespace, args
	o.Clients = f.Clients
	return nil
}

// Validate parses every assignment and builds the patch; any error, for any
// argument, is reported before a request is made.
func (o *SetOptions) Validate() error {
	if len(o.Assignments) == 0 {
		return cli.UsageErrorf("give at least one FIELD=VALUE, such as traffic.enableEgress=false")
	}
	var errs []error
	o.parsed = nil
	for _, s := range o.Assignments {
		a, err := meshconfig.ParseAssignment(s)
		if err != nil {
			errs = append(errs, err)
			continue
		}
		o.parsed = append(o.parsed, a)
	}
	if len(errs) > 0 {
		return cli.UsageErrorf("%w", errors.Join(errs...))
	}
	patch, err := meshconfig.MergePatch(o.parsed...)
	if err != nil {
		return cli.UsageErrorf("%w", err)
	}
	o.patch = patch
	return nil
}

// Run patches the MeshConfig and prints each field before and after.
func (o *SetOptions) Run(ctx context.Context) error {
	c, err := o.Clients()
	if err != nil {
		return err
	}
	if o.patch == nil {
		if err := o.Validate(); err != nil {
			return err
		}
	}
	before, err := liveSpec(ctx, c.Dynamic, o.Mesh, o.MeshNamespace)
	if err != nil {
		return err
	}
	u, err := patchMeshConfig(ctx, c.Dynamic, o.MeshNamespace, o.patch, o.DryRun)
	if err != nil {
		return fmt.Errorf("setting %s: %w", o.fieldNames(), err)
	}
	after := specOf(u)
	changed := false
	for _, a := range o.parsed {
		b, _ := a.Path.Lookup(before)
		n, _ := a.Path.Lookup(after)
		rb, rn := render(b), render(n)
		if rb != rn {
			changed = true
		}
		fmt.Fprintf(o.ErrOut, "%s: %s -> %s\n", a.Path, quoteEmpty(rb), quoteEmpty(rn))
	}
	fmt.Fprintln(o.Out, verbed(changed, o.DryRun))
	return nil
}

func (o *SetOptions) fieldNames() string {
	names := make([]string, len(o.parsed))
	for i, a := range o.parsed {
		names[i] = a.Path.String()
	}
	return strings.Join(names, ", ")
}

func quoteEmpty(s string) string {
	if s == "" {
		return `""`
	}
	return s
}
