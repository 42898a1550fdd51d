package main

import (
	"strings"

	"github.com/spf13/cobra"
	"k8s.io/cli-runtime/pkg/genericiooptions"

	"github.com/meshctl/meshctl/pkg/cli"
	"github.com/meshctl/meshctl/pkg/meshconfig"
	"github.com/meshctl/meshctl/pkg/namespace"
	"github.com/meshctl/meshctl/pkg/rollout"
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
		newNamespaceRestartCmd(f, streams),
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
'kubectl rollout restart' does.

Before enrolling, meshctl warns about a namespace whose Pod Security
enforcement (the label pod-security.kubernetes.io/enforce) would reject the
injected pods: the init container installs the interception rules as root
with NET_ADMIN and NET_RAW, which only the privileged level allows. The
warning says how to relabel the namespace; enrolment goes on.`,
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
and how many of their live pods run the sidecar (INJECTED PODS, n/m).
Namespaces that are not enrolled but whose pods run sidecars 'meshctl inject'
added for this mesh are listed too, as "<not enrolled: meshctl inject>"
(meshedBy: inject in JSON and YAML).`,
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

func newNamespaceRestartCmd(f cli.Factory, streams genericiooptions.IOStreams) *cobra.Command {
	o := &rollout.RestartOptions{IOStreams: streams}
	cmd := &cobra.Command{
		Use:   "restart NAMESPACE...",
		Short: "Restart the workloads whose proxies are older than the MeshConfig's",
		Long: `Restart the workloads of the namespaces whose pods run an outdated proxy:
one whose sidecar does not run the image the MeshConfig names (the rule
meshctl check applies). Deployments, StatefulSets and DaemonSets are restarted
as 'kubectl rollout restart' does, namespace by namespace: all the workloads
of one namespace, then meshctl waits for their rollouts (as 'kubectl rollout
status' judges them) before it goes on to the next namespace. After a
namespace whose rollout fails, the namespaces left are not started.

Before restarting a namespace, meshctl creates a pod there as a dry run to
see that the webhook injects the MeshConfig's image; otherwise the new pods
would come back with the old proxy.

Progress goes to stderr and the summary to stdout. Bare pods and Jobs' pods
are listed as skipped (delete them to have them recreated), and so are
workloads in namespaces meshed by 'meshctl inject' without being enrolled:
their sidecar is in their manifest, so inject it again and apply it.

meshctl upgrade --restart-proxies does the same for every namespace of the
mesh. Exit code 1 when a rollout fails.`,
		Example: `  # Bring the proxies of one namespace to the MeshConfig's image
  meshctl namespace restart bookstore

  # Restart every meshed workload, to apply a proxy setting that is not the image
  meshctl namespace restart bookstore --all -o json`,
		Args: minArgs(1),
		RunE: runOptions(f, o),
	}
	fl := cmd.Flags()
	fl.BoolVar(&o.All, "all", false, "restart every workload whose pods run the sidecar, outdated or not")
	fl.DurationVar(&o.Timeout, "timeout", rollout.DefaultTimeout, "how long each namespace's rollouts may take")
	fl.BoolVar(&o.SkipWebhookCheck, "skip-webhook-check", false, "restart without first checking, by a dry run, that the webhook injects the MeshConfig's image")
	addOutputFlag(cmd, &o.Output, cli.FormatTable, cli.FormatJSON, cli.FormatYAML)
	return cmd
}
