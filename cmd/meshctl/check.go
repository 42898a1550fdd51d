package main

import (
	"github.com/spf13/cobra"
	"k8s.io/cli-runtime/pkg/genericiooptions"

	"github.com/meshctl/meshctl/pkg/check"
	"github.com/meshctl/meshctl/pkg/cli"
)

const checkLong = `Check that the cluster can take the mesh (--pre), or that the installed mesh
is healthy: its CRDs, MeshConfig, control plane, sidecar-injector webhook and
certificate, the mesh CA (issuer, trust bundle and its copies in enrolled
namespaces), versions, the authorization policy (TrafficTargets, routes and
IngressBackends that cannot work; with permissive mode off, enrolled
Services that nothing may reach), and the sidecars of the pods in enrolled
namespaces.

Independent checks run in parallel; results print in a stable order. Every
problem comes with a link into docs/troubleshooting.md (docs/security.md for
the mesh CA). A failure of a check
that others need skips them. Warnings (a certificate, issuer or trust anchor close to expiry, a
version skew, policy findings, pods started before their namespace was enrolled) do not fail
the run unless --fail-on-warning is given.

--proxy runs only the data-plane checks (and the checks they need);
-n/--namespace limits the data-plane checks to one enrolled namespace.

Exit codes: 0 when nothing failed (warnings allowed), 1 when a check failed
(or warned, with --fail-on-warning), 2 on a usage error; the same for every
output format.`

const checkExample = `  # Before install: can this cluster, and this user, take the mesh?
  meshctl check --pre

  # Before an install with the issuer cert-manager keeps
  meshctl check --pre --identity-external-issuer

  # After install: is everything healthy?
  meshctl check

  # In CI, right after install: wait up to 5 minutes for the mesh to settle
  meshctl check --wait 5m --fail-on-warning -o junit > check.xml

  # The sidecars of one namespace
  meshctl check --proxy -n bookstore

  # For scripts: exactly one JSON document
  meshctl check -o json | jq '.categories[].checks[] | select(.result != "success")'`

func newCheckCmd(f cli.Factory, streams genericiooptions.IOStreams) *cobra.Command {
	o := &check.Options{IOStreams: streams}
	cmd := &cobra.Command{
		Use:     "check",
		Short:   "Check the cluster before install, or the mesh's health after it",
		Long:    checkLong,
		Example: checkExample,
		Args:    exactArgs(0),
		RunE:    runOptions(f, o),
	}
	fl := cmd.Flags()
	fl.BoolVar(&o.Pre, "pre", false, "check whether the cluster and your permissions allow an install")
	fl.BoolVar(&o.Proxy, "proxy", false, "run only the data-plane checks (and those they need)")
	fl.DurationVar(&o.Wait, "wait", 0, "retry failing checks for up to this long (for example 5m), showing progress")
	fl.BoolVar(&o.FailOnWarning, "fail-on-warning", false, "exit 1 on warnings too")
	fl.DurationVar(&o.CertExpiryWarning, "cert-expiry-warning", check.DefaultCertExpiryWarning, "warn when the webhook certificate, the mesh's issuer or a trust anchor expires within this long (0 means the default)")
	fl.BoolVar(&o.ExternalIssuer, "identity-external-issuer", false, "with --pre: the install will use the existing issuer Secret (meshctl install --identity-external-issuer), so check that it is there and usable")
	addOutputFlag(cmd, &o.Output, check.Formats()...)
	return cmd
}
