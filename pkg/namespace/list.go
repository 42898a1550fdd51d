package namespace

import (
	"cmp"
	"context"
	"fmt"
	"io"
	"slices"

	"golang.org/x/sync/errgroup"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/selection"
	"k8s.io/cli-runtime/pkg/genericiooptions"

	"github.com/meshctl/meshctl/pkg/kube"

	"github.com/meshctl/meshctl/pkg/cli"
	"github.com/meshctl/meshctl/pkg/meshconfig"
)

// listConcurrency bounds the pod lists in flight, to stay well inside
// client-go's default rate limit and the API server's patience.
const listConcurrency = 8

// ListOptions lists enrolled namespaces: `meshctl namespace list`.
type ListOptions struct {
	genericiooptions.IOStreams

	// Clients reaches the cluster. Complete sets it from the Factory; Run
	// calls it, so arguments are validated before a kubeconfig is loaded.
	Clients func() (*kube.Clients, error)

	// Mesh is the mesh whose namespaces are listed, unless AllMeshes.
	Mesh string
	// MeshNamespace is Mesh's control-plane namespace: the namespaces
	// whose pods run sidecars `meshctl inject` added for it are listed
	// too, enrolled or not.
	MeshNamespace string
	// AllMeshes lists the namespaces of every mesh.
	AllMeshes bool
	// Output is table, json or yaml.
	Output cli.Format
}

// Entry is one enrolled namespace.
type Entry struct {
	Namespace string `json:"namespace"`
	Mesh      string `json:"mesh"`
	// SidecarInjection is the annotation's value: enabled or disabled (or
	// whatever else someone wrote there).
	SidecarInjection string `json:"sidecarInjection"`
	// InjectedPods of Pods live pods run the sidecar.
	InjectedPods int `json:"injectedPods"`
	Pods         int `json:"pods"`
	// MeshedBy is MeshedByLabel for an enrolled namespace, MeshedByInject
	// for one whose pods run sidecars `meshctl inject` added to their
	// manifests while the namespace is not enrolled.
	MeshedBy string `json:"meshedBy"`
}

// List is the result of ListOptions.Run; it renders in every cli.Format
// the command accepts.
type List struct {
	Namespaces []Entry `json:"namespaces"`
}

// Run lists the namespaces (one request) and the pods of each (one request
// per namespace), then writes the result to Out. Nothing is written when a
// Complete takes the mesh and the client.
func (o *ListOptions) Complete(f cli.Factory, _ []string) error {
	o.Mesh, o.MeshNamespace = f.Settings().MeshName, f.Settings().MeshNamespace
	o.Clients = f.Clients
	return nil
}

// Validate has nothing to check: the flags' own types do it.
func (o *ListOptions) Validate() error { return nil }

// request fails.
func (o *ListOptions) Run(ctx context.Context) error {
	l, err := o.list(ctx)
	if err != nil {
		return err
	}
	if len(l.Namespaces) == 0 && o.Output == cli.FormatTable {
		if o.AllMeshes {
			fmt.Fprintln(o.ErrOut, "No namespaces are enrolled in any mesh.")
		} else {
			fmt.Fprintf(o.ErrOut, "No namespaces are enrolled in mesh %q: add one with meshctl namespace add NAMESPACE\n", o.Mesh)
		}
		return nil
	}
	return cli.Write(o.Out, o.Output, l)
}

func (o *ListOptions) list(ctx context.Context) (*List, error) {
	c, err := o.Clients()
	if err != nil {
		return nil, err
	}
	op, value := selection.Equals, []string{o.Mesh}
	if o.AllMeshes {
		op, value = selection.Exists, nil
	}
	req, err := labels.NewRequirement(meshconfig.LabelMonitoredBy, op, value)
	if err != nil {
		return nil, err
	}
	nss, err := listNamespaces(ctx, c.Kube, labels.NewSelector().Add(*req).String())
	if err != nil {
		return nil, err
	}
	injectOnly, err := o.injectOnly(ctx, c, nss)
	if err != nil {
		return nil, err
	}
	l := &List{Namespaces: make([]Entry, len(nss), len(nss)+len(injectOnly))}
	// One pod list per namespace; a few at a time, as the requests are
	// independent and each is mostly waiting for the API server.
	g, gctx := errgroup.WithContext(ctx)
	g.SetLimit(listConcurrency)
	for i := range nss {
		ns := &nss[i]
		g.Go(func() error {
			c, err := CountPods(gctx, c.Kube, ns.Name)
			if err != nil {
				return err
			}
			l.Namespaces[i] = Entry{
				Namespace:        ns.Name,
				Mesh:             ns.Labels[meshconfig.LabelMonitoredBy],
				SidecarInjection: meshconfig.InjectionOf(ns.Labels, ns.Annotations).Setting,
				InjectedPods:     c.Injected,
				Pods:             c.Total,
				MeshedBy:         MeshedByLabel,
			}
			return nil
		})
	}
	if err := g.Wait(); err != nil {
		return nil, err
	}
	l.Namespaces = append(l.Namespaces, injectOnly...)
	slices.SortFunc(l.Namespaces, func(a, b Entry) int {
		return cmp.Or(cmp.Compare(a.Mesh, b.Mesh), cmp.Compare(a.Namespace, b.Namespace))
	})
	return l, nil
}

// injectOnly returns the entries of the namespaces, not enrolled in any
// mesh, whose pods run sidecars injected for this mesh by `meshctl inject`.
func (o *ListOptions) injectOnly(ctx context.Context, c *kube.Clients, enrolledNS []corev1.Namespace) ([]Entry, error) {
	if o.MeshNamespace == "" {
		return nil, nil
	}
	injected, err := InjectedNamespaces(ctx, c.Kube, o.MeshNamespace)
	if err != nil {
		return nil, err
	}
	names := make([]string, len(enrolledNS))
	for i := range enrolledNS {
		names[i] = enrolledNS[i].Name
	}
	var out []Entry
	for _, in := range NotEnrolled(injected, names) {
		ns, err := getNamespace(ctx, c.Kube, in.Namespace)
		if err != nil {
			return nil, err
		}
		// Enrolled in another mesh: not this list's, even with --all-meshes,
		// where that namespace is listed under its own mesh already.
		if ns.Labels[meshconfig.LabelMonitoredBy] != "" {
			continue
		}
		count, err := CountPods(ctx, c.Kube, in.Namespace)
		if err != nil {
			return nil, err
		}
		out = append(out, Entry{Namespace: in.Namespace, Mesh: o.Mesh, InjectedPods: in.Pods, Pods: count.Total, MeshedBy: MeshedByInject})
	}
	return out, nil
}

// WriteTable writes NAMESPACE, MESH, SIDECAR-INJECTION and INJECTED PODS.
func (l *List) WriteTable(out io.Writer) error {
	rows := make([][]string, len(l.Namespaces))
	for i, e := range l.Namespaces {
		inj := e.SidecarInjection
		switch {
		case e.MeshedBy == MeshedByInject:
			inj = "<not enrolled: meshctl inject>"
		case inj == "":
			inj = "<unset>"
		}
		rows[i] = []string{e.Namespace, e.Mesh, inj, fmt.Sprintf("%d/%d", e.InjectedPods, e.Pods)}
	}
	return cli.WriteTable(out, []string{"NAMESPACE", "MESH", "SIDECAR-INJECTION", "INJECTED PODS"}, rows)
}

// WriteJSON writes the list as one JSON document.
func (l *List) WriteJSON(out io.Writer) error { return cli.EncodeJSON(out, l) }

// WriteYAML writes the list as one YAML document.
func (l *List) WriteYAML(out io.Writer) error { return cli.EncodeYAML(out, l) }
