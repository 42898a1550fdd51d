package main

import (
	"github.com/spf13/cobra"
	"k8s.io/cli-runtime/pkg/genericiooptions"

	"github.com/meshctl/meshctl/pkg/cli"
	"github.com/meshctl/meshctl/pkg/meshconfig"
	"github.com/meshctl/meshctl/pkg/rotation"
)

func newIdentityCmd(f cli.Factory, streams genericiooptions.IOStreams) *cobra.Command {
	return newGroupCmd("identity", "Manage the mesh's workload identity CA",
		`Manage the mesh CA that gives every meshed pod its identity: a trust anchor
(root), kept in Secret `+meshconfig.AnchorSecretName+`, and an issuer it signs, kept in Secret
`+meshconfig.IssuerSecretName+`, with which mesh-controller signs the proxies' certificates. The
anchors proxies trust are in ConfigMap `+meshconfig.TrustBundleName+`.`,
		newIdentityRotateCmd(f, streams),
	)
}

func newIdentityRotateCmd(f cli.Factory, streams genericiooptions.IOStreams) *cobra.Command {
	o := &rotation.Options{IOStreams: streams}
	cmd := &cobra.Command{
		Use:   "rotate",
		Short: "Replace the issuer, or with --anchor the trust anchor too, without downtime",
		Long: `Replace the mesh CA's issuer with a new one signed by the same trust anchor,
and wait until every ready proxy holds a certificate from it. Proxies renew
within seconds of the controller picking up the new issuer: no pod restarts,
and no connection fails, as old and new certificates chain to the same anchor.

With --anchor, the trust anchor is replaced too, in three overlapping steps,
each waited for on every proxy: the new anchor is added to the trust bundle;
a new issuer signed by it replaces the old issuer; the old anchor is removed
from the bundle. Proxies read the bundle from a mounted ConfigMap, which the
kubelet refreshes within about a minute and a half, so this takes a few
minutes.

A rotation that stops (Ctrl-C, --timeout, a lost connection) leaves the mesh
in a working state and is finished by running the same command again: the
state lives in the cluster (annotation ` + rotation.AnnotationRetiringAnchor + ` on the anchor
Secret), never in this process. Nothing is rolled back.

Only a CA that meshctl generated can be rotated here. An issuer you brought
(cert-manager, --identity-*-file) is rotated where it was made; see
docs/security.md#rotation.

Progress goes to stderr; what was replaced, by SHA-256 fingerprint, to
stdout.`,
		Example: `  # Rotate the issuer, as once a year
  meshctl identity rotate

  # Rotate the trust anchor and the issuer
  meshctl identity rotate --anchor

  # Finish a rotation that was interrupted
  meshctl identity rotate --anchor`,
		Args: exactArgs(0),
		RunE: runOptions(f, o),
	}
	cmd.Flags().BoolVar(&o.Anchor, "anchor", false, "rotate the trust anchor too (or finish an anchor rotation that was stopped)")
	cmd.Flags().DurationVar(&o.Timeout, "timeout", rotation.DefaultTimeout, "how long to wait for the proxies at each step")
	addOutputFlag(cmd, &o.Output, cli.FormatTable, cli.FormatJSON, cli.FormatYAML)
	return cmd
}
