package install

import (
	"fmt"
	"io"
	"strings"

	"github.com/meshctl/meshctl/pkg/cli"
	"github.com/meshctl/meshctl/pkg/meshconfig"
)

// Change is one thing an operation did (or, in a dry run, would do) to one
// object, printed as "kind/name verb".
type Change struct {
	// Kind is the object's kind, such as Deployment.
	Kind string `json:"kind"`
	// Name is the object's name, namespace/name for objects found in other
	// namespaces than the mesh's.
	Name string `json:"name"`
	// Verb is what happened to it: created, configured, deleted...
	Verb string `json:"verb"`
}

// String is the line printed for the change, as kubectl prints it.
func (c Change) String() string { return strings.ToLower(c.Kind) + "/" + c.Name + " " + c.Verb }

// Result is what Install, Upgrade and Uninstall did.
type Result struct {
	// Release and Namespace name the Helm release (the mesh).
	Release   string `json:"release"`
	Namespace string `json:"namespace"`
	// Revision is the release revision written; 0 for uninstall and dry runs.
	Revision int `json:"revision,omitempty"`
	// DryRun says whether anything was changed.
	DryRun DryRun `json:"-"`
	// Manifest is the rendered chart (install and upgrade).
	Manifest Manifest `json:"-"`
	// Changes are the objects touched, in order.
	Changes []Change `json:"changes"`
	// ShowManifest prints the manifest rather than the changes by default.
	ShowManifest bool `json:"-"`
	// Notes are the next steps for the operator.
	Notes string `json:"-"`
	// Warnings are things the operator should act on, such as pods that
	// still carry the sidecar after uninstall.
	Warnings []string `json:"warnings,omitempty"`
}

func (r *Result) add(kind, name, verb string) {
	if r.DryRun != DryRunNone {
		verb += " (dry run)"
	}
	r.Changes = append(r.Changes, Change{Kind: kind, Name: name, Verb: verb})
}

// Write prints the result: the manifest for -o yaml|json, otherwise one
// "kind/name verb" line per change, on out; warnings and notes go to errOut.
func (r *Result) Write(out, errOut io.Writer, f cli.Format) error {
	switch {
	case f == cli.FormatYAML || f == cli.FormatJSON:
		if err := WriteManifest(out, f, r.Manifest); err != nil {
			return err
		}
	case r.ShowManifest:
		if err := WriteManifest(out, cli.FormatYAML, r.Manifest); err != nil {
			return err
		}
	default:
		var b strings.Builder
		for _, c := range r.Changes {
			b.WriteString(c.String() + "\n")
		}
		if _, err := io.WriteString(out, b.String()); err != nil {
			return err
		}
	}
	for _, w := range r.Warnings {
		fmt.Fprintf(errOut, "Warning: %s\n", w)
	}
	if r.Notes != "" {
		fmt.Fprintf(errOut, "\n%s\n", strings.TrimSpace(r.Notes))
	}
	return nil
}

// nextSteps tells the operator what to run after an install or upgrade. It
// lives here rather than in the chart's NOTES.txt so that the commands it
// suggests carry only the flags the operator needs: those that differ from
// meshctl's defaults.
func nextSteps(mesh, namespace, verb string) string {
	var flags string
	if mesh != meshconfig.DefaultMeshName {
		flags += " --mesh-name " + mesh
	}
	if namespace != meshconfig.DefaultMeshNamespace {
		flags += " --mesh-namespace " + namespace
	}
	return fmt.Sprintf("Mesh %q is %s in namespace %q.\n\nNext steps:\n  meshctl check%s\n  meshctl namespace add NAMESPACE...%s\n",
		mesh, verb, namespace, flags, flags)
}
