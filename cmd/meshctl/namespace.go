package main

import (
	"strings"

	"github.com/spf13/cobra"
	"k8s.io/cli-runtime/pkg/genericiooptions"

	"github.com/meshctl/meshctl/pkg/cli"
	"github.com/meshctl/meshctl/pkg/meshconfig"
	"github.com/meshctl/meshctl/pkg/namespace"
)

func newNamespaceCmd(f cli.Factory, streams genericiooptions.IOStreams) *cobra.Command {
	cmd := newGroupCmd("namespace", "Enrol namespaces in the mesh, unenrol them, list them",
		`Enrol namespaces in the mesh, unenrol them and list them.

A namespace belongs to a mesh when it carries the label
`+meshconfig.LabelMonitoredBy+`=<mesh>; the annotation `+meshconfig.AnnotationSidecarInjection+`
(`+meshconfig.InjectionEnabled+` or `+meshconfig.InjectionDisabled+`) says whether the mesh's webhook injects the sidecar
into its new pods. Pods that already run keep what they have until they are
restarted.`,
		newNamespaceAddCmd(f, streams),
		newNamespaceRemoveCmd(f, streams),
		newNamespaceListCmd(f, streams),
	)
	cmd.Aliases = []string{"ns"}
	return cmd
}

func newNamespaceAddCmd(f cli.Factory, streams genericiooptions.IOStreams) *cobra.Command {
	o := &namespace.AddOptions{IOStreams: streams}
	cmd := &cobra.Command{
		Use:   "add NAMESPACE...",
		Short: "Enrol namespaces in the mesh",
		Long: `Enrol namespaces in the mesh: label each with ` + meshconfig.LabelMonitoredBy + `=<mesh>
and annotate it with ` + meshconfig.AnnotationSidecarInjection + `=` + meshconfig.InjectionEnabled + ` (or ` + meshconfig.InjectionDisabled + `).

Every namespace is checked before any is changed. A namespace that does not
exist, a namespace of Kubernetes itself (` + strings.Join(meshconfig.SystemNamespaces(), ", ") + `),
the control-plane namespace, and a namespace enrolled in another mesh
(unless --force) are refused, and then nothing changes.
Enrolling a namespace again changes nothing.

The webhook injects pods created from now on. The workloads whose running
pods lack the sidecar are named on stderr; --restart rolls them as
'kubectl rollout restart' does.`,
		Example: `  # Enrol two namespaces
  meshctl namespace add bookstore bookbuyer

  # ... and restart their workloads so that every pod gets the sidecar
  meshctl namespace add bookstore bookbuyer --restart

  # Enrol without injecting (for example before the apps are ready for it)
  meshctl namespace add bookstore --disable-sidecar-injection`,
		Args: minArgs(1),
		RunE: runOptions(f, o),
	}
	fl := cmd.Flags()
	fl.BoolVar(&o.Force, "force", false, "move namespaces enrolled in another mesh into this one")
	markCommandLineOnly(cmd, "force")
	fl.BoolVar(&o.DisableSidecarInjection, "disable-sidecar-injection", false, "enrol with sidecar injection disabled")
	fl.BoolVar(&o.Restart, "restart", false, "restart the workloads whose pods lack the sidecar (like kubectl rollout restart)")
	return cmd
}

func newNamespaceRemoveCmd(f cli.Factory, streams genericiooptions.IOStreams) *cobra.Command {
	o := &namespace.RemoveOptions{IOStreams: streams}
	cmd := &cobra.Command{
		Use:   "remove NAMESPACE...",
		Short: "Unenrol namespaces from the mesh",
		Long: `Unenrol namespaces from the mesh: remove the label ` + meshconfig.LabelMonitoredBy + ` and
the annotation ` + meshconfig.AnnotationSidecarInjection + `.

Every namespace is checked before any is changed: one that does not exist or
that is enrolled in another mesh (unless --force) is refused, and then nothing
changes. A namespace that is not enrolled is left as it is.

Pods keep their sidecar until they are restarted; the workloads that still
run it are named on stderr, and --restart rolls them.`,
		Example: `  # Unenrol a namespace and roll its workloads so that the sidecars go away
  meshctl namespace remove bookstore --restart`,
		Aliases: []string{"rm"},
		Args:    minArgs(1),
		RunE:    runOptions(f, o),
	}
	fl := cmd.Flags()
	fl.BoolVar(&o.Force, "force", false, "unenrol namespaces that belong to another mesh")
	markCommandLineOnly(cmd, "force")
	fl.BoolVar(&o.Restart, "restart", false, "restart the workloads whose pods still run the sidecar (like kubectl rollout restart)")
	return cmd
}

func newNamespaceListCmd(f cli.Factory, streams genericiooptions.IOStreams) *cobra.Command {
	o := &namespace.ListOptions{IOStreams: streams}
	cmd := &cobra.Command{
		Use:   "list",
		Short: "List the namespaces enrolled in the mesh",
		Long: `List the namespaces enrolled in the mesh, with their sidecar injection setting
and how many of their live pods run the sidecar (INJECTED PODS, n/m).`,
		Example: `  meshctl namespace list
  meshctl namespace list --all-meshes -o json`,
		Aliases: []string{"ls"},
		Args:    exactArgs(0),
		RunE:    runOptions(f, o),
	}
	cmd.Flags().BoolVar(&o.AllMeshes, "all-meshes", false, "list the namespaces of every mesh")
	addOutputFlag(cmd, &o.Output, cli.FormatTable, cli.FormatJSON, cli.FormatYAML)
	return cmd
}
