package main

import (
	"github.com/spf13/cobra"
	"k8s.io/cli-runtime/pkg/genericiooptions"

	"github.com/meshctl/meshctl/pkg/cli"
	"github.com/meshctl/meshctl/pkg/configure"
)

func newPermissiveCmd(f cli.Factory, streams genericiooptions.IOStreams) *cobra.Command {
	return newGroupCmd("permissive", "Show or switch permissive traffic policy mode",
		`Show or switch the mesh's permissive traffic policy mode, the MeshConfig field
spec.traffic.enablePermissiveTrafficPolicyMode.

In permissive mode every meshed service may reach every other, whatever the
SMI TrafficTargets say. With it disabled, a service accepts only the traffic
that some TrafficTarget allows. The switch is a JSON merge patch of that one
field, so a concurrent change of any other field is never lost.

Every proxy follows a switch within about a second, without a restart: an
HTTP request no TrafficTarget allows gets 403, an opaque TCP connection is
closed before it reaches the app, and plain text from outside the mesh is
refused unless an IngressBackend lets it in (docs/authorization.md).`,
		newPermissiveSwitchCmd(f, streams, configure.PermissiveEnable),
		newPermissiveSwitchCmd(f, streams, configure.PermissiveDisable),
		newPermissiveStatusCmd(f, streams),
	)
}

func newPermissiveSwitchCmd(f cli.Factory, streams genericiooptions.IOStreams, action configure.PermissiveAction) *cobra.Command {
	o := &configure.PermissiveOptions{IOStreams: streams, Action: action}
	cmd := &cobra.Command{
		Use:   "enable",
		Short: "Let every meshed service reach every other",
		Long: `Enable permissive traffic policy mode: every meshed service may reach every
other, whatever the TrafficTargets say. The state before and after is printed
on stderr.`,
		Example: `  meshctl permissive enable`,
		Args:    exactArgs(0),
		RunE:    runOptions(f, o),
	}
	if action == configure.PermissiveDisable {
		cmd.Use = "disable"
		cmd.Short = "Let through only what TrafficTargets allow"
		cmd.Long = `Disable permissive traffic policy mode: from then on a meshed service accepts
only the traffic that some SMI TrafficTarget (or IngressBackend) allows.

First it lists the enrolled services that no TrafficTarget allows anyone to
reach, as those will stop receiving meshed traffic. Then it asks for confirmation
on a terminal; --yes answers for you, and without a terminal --yes is
required. The state before and after is printed on stderr.`
		cmd.Example = `  # Look at what would stop working, and confirm
  meshctl permissive disable

  # In a script
  meshctl permissive disable --yes`
		cmd.Flags().BoolVarP(&o.Yes, "yes", "y", false, "do not ask for confirmation")
		markCommandLineOnly(cmd, "yes")
	}
	cmd.Flags().BoolVar(&o.DryRun, "dry-run", false, "send the change as a server-side dry run: validated, not stored")
	return cmd
}

func newPermissiveStatusCmd(f cli.Factory, streams genericiooptions.IOStreams) *cobra.Command {
	o := &configure.PermissiveOptions{IOStreams: streams, Action: configure.PermissiveStatus}
	cmd := &cobra.Command{
		Use:   "status",
		Short: "Print enabled or disabled",
		Long:  `Print "enabled" or "disabled": the mesh's permissive traffic policy mode.`,
		Example: `  meshctl permissive status
  meshctl permissive status -o json`,
		Args: exactArgs(0),
		RunE: runOptions(f, o),
	}
	addOutputFlag(cmd, &o.Output, cli.FormatTable, cli.FormatJSON, cli.FormatYAML)
	return cmd
}
