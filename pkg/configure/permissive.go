package configure

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"strings"

	"k8s.io/cli-runtime/pkg/genericiooptions"

	"github.com/meshctl/meshctl/pkg/kube"
	"github.com/meshctl/meshctl/pkg/namespace"
	"github.com/meshctl/meshctl/pkg/policycli"
	"github.com/meshctl/meshctl/pkg/proxyadmin"

	"github.com/meshctl/meshctl/pkg/cli"
	"github.com/meshctl/meshctl/pkg/meshconfig"
)

// PermissiveAction is what `meshctl permissive` does.
type PermissiveAction int

// The actions of `meshctl permissive`.
const (
	PermissiveStatus PermissiveAction = iota
	PermissiveEnable
	PermissiveDisable
)

// PermissiveOptions reads or flips spec.traffic.enablePermissiveTrafficPolicyMode.
type PermissiveOptions struct {
	genericiooptions.IOStreams

	// Clients reaches the cluster. Complete sets it from the Factory; Run
	// calls it, so arguments are validated before a kubeconfig is loaded.
	Clients func() (*kube.Clients, error)

	// Mesh and MeshNamespace name the mesh.
	Mesh          string
	MeshNamespace string
	// Action is status, enable or disable.
	Action PermissiveAction
	// Yes confirms disable without asking.
	Yes bool
	// DryRun sends the patch as a server-side dry run: validated, not stored.
	DryRun bool
	// Output is the format of status: table (the bare word) or json or yaml.
	Output cli.Format

	// afterRead runs between reading the state and patching it; tests use it
	// to edit the MeshConfig concurrently.
	afterRead func()
	// isTerminal is cli.IsTerminal unless a test answers the prompt.
	isTerminal func(any) bool
	// ReadMetrics reads a proxy's /metrics, for the edges proxies have
	// carried; a port-forward (proxyadmin.Client.Get) when nil.
	ReadMetrics policycli.MetricsReader
}

// PermissiveState is what status prints in json and yaml.
type PermissiveState struct {
	Mesh      string `json:"mesh"`
	Namespace string `json:"namespace"`
	// Permissive is spec.traffic.enablePermissiveTrafficPolicyMode.
	Permissive bool `json:"permissive"`
}

// String is enabled or disabled.
func (s PermissiveState) String() string { return stateWord(s.Permissive) }

// WriteTable writes enabled or disabled, alone on its line, for scripts.
func (s PermissiveState) WriteTable(out io.Writer) error {
	_, err := fmt.Fprintln(out, s.String())
	return err
}

// WriteJSON writes the state as one JSON document.
func (s PermissiveState) WriteJSON(out io.Writer) error { return cli.EncodeJSON(out, s) }

// WriteYAML writes the state as one YAML document.
func (s PermissiveState) WriteYAML(out io.Writer) error { return cli.EncodeYAML(out, s) }

func stateWord(on bool) string {
	if on {
		return "enabled"
	}
	return "disabled"
}

// Complete takes the mesh and the clients.
func (o *PermissiveOptions) Complete(f cli.Factory, _ []string) error {
	s := f.Settings()
	o.Mesh, o.MeshNamespace = s.MeshName, s.MeshNamespace
	o.Clients = f.Clients
	return nil
}

// Validate has nothing to check before the cluster is read. The
// confirmation of disable is asked in Run, after the services it would cut
// off are listed, and only when the mode really changes: without a terminal
// it fails there, asking for --yes.
func (o *PermissiveOptions) Validate() error { return nil }

// Run performs o.Action.
func (o *PermissiveOptions) Run(ctx context.Context) error {
	c, err := o.Clients()
	if err != nil {
		return err
	}
	mc, err := meshconfig.GetMesh(ctx, c.Dynamic, o.Mesh, o.MeshNamespace)
	if err != nil {
		return err
	}
	before := mc.Spec.Traffic.EnablePermissiveTrafficPolicyMode
	state := PermissiveState{Mesh: o.Mesh, Namespace: o.MeshNamespace, Permissive: before}
	if o.Action == PermissiveStatus {
		return cli.Write(o.Out, o.Output, state)
	}
	want := o.Action == PermissiveEnable
	fmt.Fprintf(o.ErrOut, "Permissive traffic policy mode of mesh %q is %s.\n", o.Mesh, state)
	if before == want {
		fmt.Fprintf(o.ErrOut, "Nothing to do.\n")
		fmt.Fprintln(o.Out, verbed(false, o.DryRun))
		return nil
	}
	if !want {
		if err := o.confirmDisable(ctx, c); err != nil {
			return err
		}
	}
	if o.afterRead != nil {
		o.afterRead()
	}
	u, err := patchMeshConfig(ctx, c.Dynamic, o.MeshNamespace, meshconfig.PermissivePatch(want), o.DryRun)
	if err != nil {
		return err
	}
	after, err := meshconfig.FromUnstructured(u)
	if err != nil {
		return err
	}
	fmt.Fprintf(o.ErrOut, "Permissive traffic policy mode of mesh %q: %s -> %s.\n", o.Mesh, stateWord(before), stateWord(after.Spec.Traffic.EnablePermissiveTrafficPolicyMode))
	fmt.Fprintln(o.Out, verbed(true, o.DryRun))
	return nil
}

// confirmDisable shows what stops working and asks, unless --yes: the
// edges proxies have carried that no policy allows, and the enrolled
// services nothing may reach, both from the policy as the proxies will
// hold it (pkg/policycli). The report is advice: an operator allowed to
// change the mode but not to read everything still gets to decide.
func (o *PermissiveOptions) confirmDisable(ctx context.Context, c *kube.Clients) error {
	snap, err := policycli.Read(ctx, c, o.Mesh, o.MeshNamespace)
	if err != nil {
		fmt.Fprintf(o.ErrOut, "Warning: cannot tell what would stop working: %v\n", err)
	} else {
		if err := o.reportBroken(ctx, c, snap); err != nil {
			return err
		}
		if err := o.reportUnreachable(ctx, c, snap); err != nil {
			return err
		}
	}
	if o.Yes || o.DryRun {
		return nil
	}
	isTerminal := cli.IsTerminal
	if o.isTerminal != nil {
		isTerminal = o.isTerminal
	}
	if !isTerminal(o.In) {
		return cli.UsageErrorf("disabling permissive mode needs confirmation and stdin is not a terminal: pass --yes")
	}
	fmt.Fprintf(o.ErrOut, "Disable permissive traffic policy mode of mesh %q? [y/N] ", o.Mesh)
	line, err := bufio.NewReader(o.In).ReadString('\n')
	if err != nil && line == "" {
		return fmt.Errorf("reading the answer: %w", err)
	}
	switch strings.ToLower(strings.TrimSpace(line)) {
	case "y", "yes":
		return nil
	}
	fmt.Fprintln(o.ErrOut, "Aborted; nothing was changed.")
	return &cli.SilentError{Err: fmt.Errorf("aborted")}
}

// reportBroken lists the edges proxies have carried (their counters, by
// the caller's verified identity) that no TrafficTarget allows.
func (o *PermissiveOptions) reportBroken(ctx context.Context, c *kube.Clients, snap *policycli.Snapshot) error {
	ctrl, err := meshconfig.ControllerID(snap.Objects.TrustDomain, o.MeshNamespace)
	if err != nil {
		return err
	}
	read := o.ReadMetrics
	if read == nil {
		read = (&proxyadmin.Client{Config: c.Config, Kube: c.Kube}).Get
	}
	seen, err := policycli.ObservedEdges(ctx, c, ctrl, read)
	if err != nil {
		fmt.Fprintf(o.ErrOut, "Warning: cannot tell which edges carried traffic: %v\n", err)
		return nil
	}
	if len(seen.Unreadable) > 0 {
		fmt.Fprintf(o.ErrOut, "Warning: %d proxies' counters could not be read: %s\n", len(seen.Unreadable), strings.Join(seen.Unreadable, ", "))
	}
	broken := policycli.BrokenEdges(snap.Set, seen.Edges)
	if len(broken) == 0 {
		fmt.Fprintf(o.ErrOut, "Every edge the proxies have carried (%d) is allowed by a TrafficTarget.\n", len(seen.Edges))
		return nil
	}
	fmt.Fprintf(o.ErrOut, "These %d edges carried traffic, and no TrafficTarget allows them: they will be refused once permissive mode is off:\n", len(broken))
	rows := make([][]string, len(broken))
	for i, e := range broken {
		rows[i] = []string{"  " + e.Source.Short(), e.Destination.Short()}
	}
	return cli.WriteTable(o.ErrOut, []string{"  SOURCE", "DESTINATION"}, rows)
}

// reportUnreachable lists the enrolled services nothing may reach.
func (o *PermissiveOptions) reportUnreachable(ctx context.Context, c *kube.Clients, snap *policycli.Snapshot) error {
	nss, err := namespace.ListEnrolled(ctx, c.Kube, o.Mesh)
	if err != nil {
		fmt.Fprintf(o.ErrOut, "Warning: cannot tell which services would stop receiving traffic: %v\n", err)
		return nil
	}
	unreachable := policycli.Unreachable(snap, nss)
	if len(unreachable) == 0 {
		fmt.Fprintln(o.ErrOut, "Every enrolled service with meshed pods stays reachable by someone.")
		return nil
	}
	fmt.Fprintf(o.ErrOut, "Once permissive mode is off, nothing may reach these %d enrolled services:\n", len(unreachable))
	return writeUnreachable(o.ErrOut, unreachable)
}

func writeUnreachable(w io.Writer, services []policycli.UnreachableService) error {
	rows := make([][]string, len(services))
	for i, s := range services {
		rows[i] = []string{"  " + s.Namespace, s.Name, strings.Join(s.ServiceAccounts, ",")}
	}
	return cli.WriteTable(w, []string{"  NAMESPACE", "SERVICE", "SERVICE ACCOUNTS"}, rows)
}
