package main

import (
	"strings"

	"github.com/spf13/cobra"
	"k8s.io/cli-runtime/pkg/genericiooptions"

	"github.com/meshctl/meshctl/pkg/cli"
	"github.com/meshctl/meshctl/pkg/configure"
	"github.com/meshctl/meshctl/pkg/meshconfig"
)

func newConfigCmd(f cli.Factory, streams genericiooptions.IOStreams) *cobra.Command {
	return newGroupCmd("config", "Read and change the mesh's live configuration (its MeshConfig)",
		`Read and change the mesh's live configuration: the spec of its MeshConfig
(`+meshconfig.GroupName+"/"+meshconfig.Version+`, named `+meshconfig.ObjectName+`, in --mesh-namespace).

FIELD is a dotted path below spec, such as traffic.enableEgress or
sidecar.logLevel. The fields are:

  `+strings.Join(meshconfig.Fields(), "\n  "),
		newConfigGetCmd(f, streams),
		newConfigSetCmd(f, streams),
	)
}

func newConfigGetCmd(f cli.Factory, streams genericiooptions.IOStreams) *cobra.Command {
	o := &configure.GetOptions{IOStreams: streams}
	cmd := &cobra.Command{
		Use:   "get [FIELD]",
		Short: "Print the live configuration, or one field of it",
		Long: `Print the live configuration, with defaults filled in: every field as a
FIELD VALUE table, or the spec as JSON or YAML. With FIELD, print that
field's value alone.`,
		Example: `  meshctl config get
  meshctl config get traffic.enablePermissiveTrafficPolicyMode
  meshctl config get traffic -o json`,
		Args:              rangeArgs(0, 1),
		ValidArgsFunction: completeFields,
		RunE:              runOptions(f, o),
	}
	addOutputFlag(cmd, &o.Output, cli.FormatTable, cli.FormatJSON, cli.FormatYAML)
	return cmd
}

func newConfigSetCmd(f cli.Factory, streams genericiooptions.IOStreams) *cobra.Command {
	o := &configure.SetOptions{IOStreams: streams}
	cmd := &cobra.Command{
		Use:   "set FIELD=VALUE...",
		Short: "Change fields of the live configuration",
		Long: `Change fields of the live configuration with one JSON merge patch that carries
only the fields given, so concurrent changes of other fields survive. The API
server validates the values against the MeshConfig schema; --dry-run asks it
to validate without storing.

VALUE is typed by the field: true/false, a number, text (taken as it is, so
a text field may hold a JSON document), a comma-separated list (an empty VALUE
is an empty list), or JSON for a list or object field (starting with [ or {).
"null" resets a field to its default. Each field is printed before and after
on stderr.`,
		Example: `  meshctl config set sidecar.logLevel=debug
  meshctl config set traffic.outboundPortExclusionList=25,587 traffic.enableEgress=false
  meshctl config set sidecar.resources.limits.memory=256Mi --dry-run
  meshctl config set sidecar.logLevel=null   # back to the default
  meshctl config set auth.jwt.jwks="$(cat jwks.json)"`,
		Args:              minArgs(1),
		ValidArgsFunction: completeFields,
		RunE:              runOptions(f, o),
	}
	cmd.Flags().BoolVar(&o.DryRun, "dry-run", false, "server-side dry run: the API server validates the change and stores nothing")
	return cmd
}

// completeFields completes FIELD from the MeshConfig types; it needs no
// cluster.
func completeFields(_ *cobra.Command, _ []string, _ string) ([]string, cobra.ShellCompDirective) {
	return meshconfig.Fields(), cobra.ShellCompDirectiveNoFileComp | cobra.ShellCompDirectiveNoSpace
}
