package policycli

import (
	"context"
	"fmt"
	"io"
	"strconv"
	"strings"

	"k8s.io/cli-runtime/pkg/genericiooptions"

	"github.com/meshctl/meshctl/pkg/cli"
	"github.com/meshctl/meshctl/pkg/kube"
	"github.com/meshctl/meshctl/pkg/policy"
)

// PermissiveNote is what list prints on stderr when permissive mode is on.
const PermissiveNote = "permissive mode is on: everyone may reach everyone; these are the edges that stay allowed once it is off"

// ListOptions are those of `meshctl policy list`: who may reach whom.
type ListOptions struct {
	genericiooptions.IOStreams

	// Clients reaches the cluster; Complete sets it from the Factory.
	Clients func() (*kube.Clients, error)
	// Mesh and MeshNamespace name the mesh.
	Mesh, MeshNamespace string
	// Namespace limits the list to destinations of one namespace: -n, or
	// the kubeconfig context's. AllNamespaces lists every one.
	Namespace     string
	AllNamespaces bool
	// Output is table, json or yaml.
	Output cli.Format
}

// Complete takes the mesh, the namespace and the clients.
func (o *ListOptions) Complete(f cli.Factory, _ []string) error {
	s := f.Settings()
	o.Mesh, o.MeshNamespace = s.MeshName, s.MeshNamespace
	ns, err := cli.ContextNamespace(f)
	if err != nil {
		return err
	}
	o.Namespace = ns
	o.Clients = f.Clients
	return nil
}

// Validate has nothing to check: the flags' own types do it.
func (o *ListOptions) Validate() error { return nil }

// Run reads and compiles the mesh's policy and writes its edges.
func (o *ListOptions) Run(ctx context.Context) error {
	c, err := o.Clients()
	if err != nil {
		return err
	}
	snap, err := Read(ctx, c, o.Mesh, o.MeshNamespace)
	if err != nil {
		return err
	}
	ns := o.Namespace
	if o.AllNamespaces {
		ns = ""
	}
	l := NewEdgeList(snap.Set, ns)
	if l.Permissive {
		fmt.Fprintln(o.ErrOut, "Note: "+PermissiveNote+".")
	}
	if len(snap.Findings) > 0 {
		fmt.Fprintf(o.ErrOut, "Note: the mesh's policy has %d findings (objects or parts of them that allow nothing): see meshctl check.\n", len(snap.Findings))
	}
	if len(l.Edges) == 0 && o.Output == cli.FormatTable {
		if ns == "" {
			fmt.Fprintln(o.ErrOut, "No TrafficTarget or IngressBackend allows anything.")
		} else {
			fmt.Fprintf(o.ErrOut, "No TrafficTarget or IngressBackend allows anything to reach namespace %q.\n", ns)
		}
		return nil
	}
	return cli.Write(o.Out, o.Output, l)
}

// EdgeList is what `meshctl policy list` prints.
type EdgeList struct {
	// Permissive is the mesh's permissive mode.
	Permissive bool `json:"permissive"`
	// Namespace is the destinations' namespace; empty for all.
	Namespace string `json:"namespace,omitempty"`
	// Edges are the grants, as policy.Set.Edges orders them.
	Edges []policy.Edge `json:"edges"`
}

// NewEdgeList lists the edges of set whose destination is in namespace
// ns, or every edge when ns is empty.
func NewEdgeList(set *policy.Set, ns string) *EdgeList {
	l := &EdgeList{Permissive: set.Permissive, Namespace: ns, Edges: []policy.Edge{}}
	for _, e := range set.Edges() {
		if ns == "" || e.Destination.Namespace() == ns {
			l.Edges = append(l.Edges, e)
		}
	}
	return l
}

// WriteTable writes one row per edge: DESTINATION and SOURCE as
// namespace/serviceaccount, the port ("*" for any), the object that grants
// and its routes.
func (l *EdgeList) WriteTable(out io.Writer) error {
	rows := make([][]string, len(l.Edges))
	for i, e := range l.Edges {
		src := e.Source.Short()
		if e.Source.IsZero() {
			ranges := make([]string, len(e.IPRanges))
			for j, r := range e.IPRanges {
				ranges[j] = r.String()
			}
			src = strings.Join(ranges, ",")
		}
		port := "*"
		if e.Port != 0 {
			port = strconv.Itoa(int(e.Port))
		}
		rows[i] = []string{e.Destination.Short(), src, port, e.Kind + "/" + e.Name, strings.Join(e.Routes, " ")}
	}
	return cli.WriteTable(out, []string{"DESTINATION", "SOURCE", "PORT", "ALLOWED BY", "ROUTES"}, rows)
}

// WriteJSON writes the list as one JSON document.
func (l *EdgeList) WriteJSON(out io.Writer) error { return cli.EncodeJSON(out, l) }

// WriteYAML writes the list as one YAML document.
func (l *EdgeList) WriteYAML(out io.Writer) error { return cli.EncodeYAML(out, l) }
