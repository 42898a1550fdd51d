package main

import (
	"time"

	"github.com/spf13/cobra"
	"k8s.io/cli-runtime/pkg/genericiooptions"

	"github.com/meshctl/meshctl/pkg/cli"
	"github.com/meshctl/meshctl/pkg/install"
	"github.com/meshctl/meshctl/pkg/meshconfig"
)

const installLong = `Install the mesh control plane, its CRDs and its MeshConfig into
--mesh-namespace (default ` + meshconfig.DefaultMeshNamespace + `), as the Helm release --mesh-name.

The chart is embedded in meshctl, so a meshctl version always installs the
control plane and sidecar images of the same version. Values are merged as
chart defaults < --values files (left to right) < --set-json < --set <
--set-string, and checked against the chart's schema before anything is
changed. meshctl then waits for the control plane to become ready, and rolls
the release back if it does not (--atomic).`

const installExample = `  # Install the default mesh
  meshctl install

  # See what would be installed; needs no cluster
  meshctl install --dry-run

  # Validate against the cluster without changing it
  meshctl install --dry-run=server

  # Start with permissive mode off, with a values file
  meshctl install --set meshConfig.traffic.enablePermissiveTrafficPolicyMode=false -f mesh-values.yaml`

const upgradeLong = `Upgrade the mesh to the chart embedded in this meshctl.

Values are merged as the new chart defaults < the values supplied at install
and earlier upgrades < edits made to the live MeshConfig since (for example
with meshctl permissive) < the value flags given now. CRDs are upgraded too.`

const upgradeExample = `  # Upgrade to this meshctl's version, keeping earlier --set values
  meshctl upgrade

  # Show what would change
  meshctl upgrade --dry-run

  # Change one value
  meshctl upgrade --set controller.logLevel=debug`

const uninstallLong = `Uninstall the mesh: the Helm release, the control plane and its webhook and
cluster roles, and the enrolment of the mesh's namespaces
(--keep-namespaces to keep it). The CRDs are kept, so TrafficTargets and
HTTPRouteGroups survive; --purge deletes them and every object of their
kinds. Pods that still run the sidecar are listed: they keep it until
restarted.`

const uninstallExample = `  # Uninstall the default mesh, keeping the CRDs
  meshctl uninstall

  # Remove everything, CRDs and policies included, without a question
  meshctl uninstall --purge --yes`

func newInstallCmd(f cli.Factory, streams genericiooptions.IOStreams) *cobra.Command {
	o := &install.InstallOptions{ReleaseOptions: install.ReleaseOptions{IOStreams: streams}}
	cmd := &cobra.Command{
		Use:     "install",
		Short:   "Install the mesh control plane",
		Long:    installLong,
		Example: installExample,
		Args:    exactArgs(0),
		RunE:    runOptions(f, o),
	}
	addReleaseFlags(cmd, &o.ReleaseOptions,
		"render the manifests locally (client, no cluster needed) or validate them against the cluster (server); changes nothing")
	return cmd
}

func newUpgradeCmd(f cli.Factory, streams genericiooptions.IOStreams) *cobra.Command {
	o := &install.UpgradeOptions{ReleaseOptions: install.ReleaseOptions{IOStreams: streams}}
	cmd := &cobra.Command{
		Use:     "upgrade",
		Short:   "Upgrade the mesh to this meshctl's version or change its values",
		Long:    upgradeLong,
		Example: upgradeExample,
		Args:    exactArgs(0),
		RunE:    runOptions(f, o),
	}
	addReleaseFlags(cmd, &o.ReleaseOptions,
		"show what would change (client) and validate it against the cluster (server); changes nothing")
	return cmd
}

// addReleaseFlags binds the flags install and upgrade share straight into
// their options.
func addReleaseFlags(cmd *cobra.Command, o *install.ReleaseOptions, dryRunUsage string) {
	addValuesFlags(cmd, &o.Values)
	addDryRunFlag(cmd, &o.DryRun, dryRunUsage)
	addWaitFlags(cmd, &o.Wait, &o.Timeout, &o.Atomic)
	addOutputFlag(cmd, &o.Output, cli.FormatTable, cli.FormatYAML, cli.FormatJSON)
}

func newUninstallCmd(f cli.Factory, streams genericiooptions.IOStreams) *cobra.Command {
	o := &install.UninstallOptions{IOStreams: streams}
	cmd := &cobra.Command{
		Use:     "uninstall",
		Short:   "Uninstall the mesh",
		Long:    uninstallLong,
		Example: uninstallExample,
		Args:    exactArgs(0),
		RunE:    runOptions(f, o),
	}
	fl := cmd.Flags()
	fl.BoolVar(&o.Purge, "purge", false, "also delete the CRDs and every TrafficTarget, HTTPRouteGroup and MeshConfig in the cluster")
	fl.BoolVarP(&o.Yes, "yes", "y", false, "do not ask for confirmation")
	fl.BoolVar(&o.KeepNamespaces, "keep-namespaces", false, "leave the enrolment label and annotation on the mesh's namespaces")
	fl.DurationVar(&o.Timeout, "timeout", install.DefaultTimeout, "how long the uninstall may take")
	addOutputFlag(cmd, &o.Output, cli.FormatTable, cli.FormatYAML, cli.FormatJSON)
	return cmd
}

// addValuesFlags binds the Helm-style value flags.
func addValuesFlags(cmd *cobra.Command, v *install.ValueOptions) {
	fl := cmd.Flags()
	fl.StringArrayVarP(&v.ValueFiles, "values", "f", nil, "values file (repeatable; later files win)")
	fl.StringArrayVar(&v.Values, "set", nil, "set a value: key=value, a.b=c, list={a,b} (repeatable)")
	fl.StringArrayVar(&v.StringValues, "set-string", nil, "set a value that stays a string: key=value (repeatable)")
	fl.StringArrayVar(&v.JSONValues, "set-json", nil, "set a value from JSON: key=JSON (repeatable)")
}

// addDryRunFlag binds --dry-run[=client|server]; a bare --dry-run is client.
func addDryRunFlag(cmd *cobra.Command, target *install.DryRun, usage string) {
	cmd.Flags().Var(target, "dry-run", usage+"; one of none, client, server")
	cmd.Flags().Lookup("dry-run").NoOptDefVal = install.DryRunClient.String()
	_ = cmd.RegisterFlagCompletionFunc("dry-run", cobra.FixedCompletions([]string{"none", "client", "server"}, cobra.ShellCompDirectiveNoFileComp))
}

// addWaitFlags binds --wait, --timeout and --atomic.
func addWaitFlags(cmd *cobra.Command, wait *bool, timeout *time.Duration, atomic *bool) {
	fl := cmd.Flags()
	fl.BoolVar(wait, "wait", true, "wait until the control plane is ready")
	fl.DurationVar(timeout, "timeout", install.DefaultTimeout, "how long to wait for the control plane")
	fl.BoolVar(atomic, "atomic", true, "roll back if the operation or the wait fails")
}
