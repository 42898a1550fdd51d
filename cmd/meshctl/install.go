package main

import (
	"time"

	"github.com/spf13/cobra"
	"k8s.io/cli-runtime/pkg/genericiooptions"

	"github.com/meshctl/meshctl/pkg/cli"
	"github.com/meshctl/meshctl/pkg/install"
	"github.com/meshctl/meshctl/pkg/meshconfig"
	"github.com/meshctl/meshctl/pkg/rollout"
)

const installLong = `Install the mesh control plane, its CRDs and its MeshConfig into
--mesh-namespace (default ` + meshconfig.DefaultMeshNamespace + `), as the Helm release --mesh-name.

The chart is embedded in meshctl, so a meshctl version always installs the
control plane and sidecar images of the same version. Values are merged as
chart defaults < --values files (left to right) < --set-json < --set <
--set-string, and checked against the chart's schema before anything is
changed. meshctl then waits for the control plane to become ready, and rolls
the release back if it does not (--atomic).

The mesh CA: unless the issuer Secret ` + meshconfig.IssuerSecretName + ` exists already,
meshctl generates a trust anchor (10 years) and an issuer it signs (1 year) in
the trust domain of meshConfig.identity.trustDomain, and stores the issuer in
that Secret (the only one the controller reads), the anchor and its key in
the Secret ` + meshconfig.AnchorSecretName + `, and the anchor in the ConfigMap
` + meshconfig.TrustBundleName + ` (the bundle proxies trust). None of them is in the Helm
release. With --identity-external-issuer meshctl generates nothing and uses
the issuer Secret cert-manager (or you) wrote; with the --identity-*-file
flags it stores your own PKI. An existing CA is never replaced, by install or
upgrade; uninstall deletes what meshctl created and leaves a Secret you
brought. See docs/security.md.`

const installExample = `  # Install the default mesh
  meshctl install

  # See what would be installed; needs no cluster
  meshctl install --dry-run

  # Validate against the cluster without changing it
  meshctl install --dry-run=server

  # Start with permissive mode off, with a values file
  meshctl install --set meshConfig.traffic.enablePermissiveTrafficPolicyMode=false -f mesh-values.yaml

  # Use the issuer cert-manager keeps in the Secret mesh-identity-issuer
  meshctl install --identity-external-issuer

  # Pull the images from your own registry (see make images)
  meshctl install --registry registry.example.com/team

  # Use your own PKI
  meshctl install --identity-trust-anchors-file ca.crt \
    --identity-issuer-certificate-file issuer.crt --identity-issuer-key-file issuer.key`

const upgradeLong = `Upgrade the mesh to the chart embedded in this meshctl.

Values are merged as the new chart defaults < the values supplied at install
and earlier upgrades < edits made to the live MeshConfig since (for example
with meshctl permissive) < the value flags given now. CRDs are upgraded too.
An upgrade to an older chart than the installed one is refused unless
--force is given (meshctl rollback goes back a revision).

The mesh CA is kept as it is: an upgrade never rotates it. A mesh installed
before meshctl made one gets one, as meshctl install would make it.

Running pods keep the proxy they were started with. After the upgrade,
meshctl lists on stderr the workloads whose proxies are older than the image
the new MeshConfig names (the rule meshctl check applies). With
--restart-proxies it restarts them, namespace by namespace, as meshctl
namespace restart does: each namespace's rollouts are awaited before the
next starts, a failed rollout stops the rest, and a summary ends the
output (on stderr; stdout keeps the release's changes or manifest).`

const upgradeExample = `  # Upgrade to this meshctl's version, keeping earlier --set values
  meshctl upgrade

  # Show what would change
  meshctl upgrade --dry-run

  # Change one value
  meshctl upgrade --set controller.logLevel=debug

  # Upgrade, then roll every workload whose proxy is outdated
  meshctl upgrade --restart-proxies`

const uninstallLong = `Uninstall the mesh: the Helm release, the control plane and its webhook and
cluster roles, and the enrolment of the mesh's namespaces
(--keep-namespaces to keep it). The CRDs are kept, so TrafficTargets and
HTTPRouteGroups survive; --purge deletes them and every object of their
kinds. Pods that still run the sidecar are listed: they keep it until
restarted. Namespaces meshed by meshctl inject (their pods carry the sidecar
without the namespace being enrolled) are named too.

meshctl asks for confirmation on a terminal; without one, --yes is required.
Only the --yes flag confirms: MESHCTL_YES and a config-file key are refused.`

const uninstallExample = `  # Uninstall the default mesh, keeping the CRDs (asks first)
  meshctl uninstall

  # The same in a script
  meshctl uninstall --yes

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

// addRegistryFlag binds --registry.
func addRegistryFlag(cmd *cobra.Command, reg *string) {
	cmd.Flags().StringVar(reg, "registry", "", "registry (and path) to pull both mesh images from, such as registry.example.com/team, where make images REGISTRY=... pushed them; sets the chart value "+install.RegistryValue)
}

// addProxyFlags binds what upgrade and rollback do about outdated proxies.
func addProxyFlags(cmd *cobra.Command, o *install.ProxyOptions) {
	fl := cmd.Flags()
	fl.BoolVar(&o.RestartProxies, "restart-proxies", false, "restart the workloads whose proxies are older than the MeshConfig's image, namespace by namespace, waiting for each rollout")
	fl.DurationVar(&o.RolloutTimeout, "rollout-timeout", rollout.DefaultTimeout, "with --restart-proxies, how long each namespace's rollouts may take")
	fl.BoolVar(&o.SkipWebhookCheck, "skip-webhook-check", false, "with --restart-proxies, restart without first checking, by a dry run, that the webhook injects the new image")
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
	addProxyFlags(cmd, &o.Proxies)
	cmd.Flags().BoolVar(&o.Force, "force", false, "upgrade even to an older chart than the installed one (a downgrade)")
	markCommandLineOnly(cmd, "force")
	return cmd
}

// addReleaseFlags binds the flags install and upgrade share straight into
// their options.
func addReleaseFlags(cmd *cobra.Command, o *install.ReleaseOptions, dryRunUsage string) {
	addValuesFlags(cmd, &o.Values)
	addDryRunFlag(cmd, &o.DryRun, dryRunUsage)
	addWaitFlags(cmd, &o.Wait, &o.Timeout, &o.Atomic)
	addOutputFlag(cmd, &o.Output, cli.FormatTable, cli.FormatYAML, cli.FormatJSON)
	addIdentityFlags(cmd, &o.Identity)
	addRegistryFlag(cmd, &o.Values.Registry)
}

// addIdentityFlags binds where the mesh CA comes from.
func addIdentityFlags(cmd *cobra.Command, o *install.IdentityOptions) {
	fl := cmd.Flags()
	fl.BoolVar(&o.ExternalIssuer, "identity-external-issuer", false,
		"use the issuer Secret "+meshconfig.IssuerSecretName+" that already exists in the control-plane namespace (kubernetes.io/tls: tls.crt, tls.key, ca.crt, as cert-manager writes it) instead of generating a CA; meshctl never touches it")
	fl.StringVar(&o.TrustAnchorsFile, "identity-trust-anchors-file", "", "PEM file of the trust anchor certificate(s) of your own PKI (with the two files below)")
	fl.StringVar(&o.IssuerCertificateFile, "identity-issuer-certificate-file", "", "PEM file of the issuer certificate, signed by a trust anchor, then any intermediates")
	fl.StringVar(&o.IssuerKeyFile, "identity-issuer-key-file", "", "PEM file of the issuer's private key")
	for _, f := range []string{"identity-trust-anchors-file", "identity-issuer-certificate-file", "identity-issuer-key-file"} {
		_ = cmd.MarkFlagFilename(f, "pem", "crt", "key")
	}
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
	fl.BoolVarP(&o.Yes, "yes", "y", false, "do not ask for confirmation (needed without a terminal)")
	markCommandLineOnly(cmd, "yes", "purge")
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

const rollbackLong = `Roll the mesh back to an earlier revision of its Helm release: the one
before the current revision, or REVISION (helm history lists them). The
manifest and the values of that revision, the MeshConfig with them, are
applied as a new revision, and meshctl waits for the control plane. The CRDs
are left as they are, and so is the mesh CA, which is not in the release.

Like upgrade, it then lists the workloads whose proxies no longer run the
MeshConfig's image, and --restart-proxies restarts them.`

const rollbackExample = `  # Undo the last upgrade
  meshctl rollback

  # Go back to revision 3 and bring the proxies to its image
  meshctl rollback 3 --restart-proxies`

func newRollbackCmd(f cli.Factory, streams genericiooptions.IOStreams) *cobra.Command {
	o := &install.RollbackOptions{IOStreams: streams}
	cmd := &cobra.Command{
		Use:     "rollback [REVISION]",
		Short:   "Roll the mesh back to an earlier revision",
		Long:    rollbackLong,
		Example: rollbackExample,
		Args:    rangeArgs(0, 1),
		RunE:    runOptions(f, o),
	}
	fl := cmd.Flags()
	fl.BoolVar(&o.Wait, "wait", true, "wait until the control plane is ready")
	fl.DurationVar(&o.Timeout, "timeout", install.DefaultTimeout, "how long the rollback and the wait may take")
	addProxyFlags(cmd, &o.Proxies)
	addOutputFlag(cmd, &o.Output, cli.FormatTable, cli.FormatYAML, cli.FormatJSON)
	return cmd
}
