package main

import (
	"github.com/spf13/cobra"
	"k8s.io/cli-runtime/pkg/genericiooptions"

	"github.com/meshctl/meshctl/pkg/cli"
	"github.com/meshctl/meshctl/pkg/proxyadmin"
	"github.com/meshctl/meshctl/pkg/proxyconfig/wire"
)

func newProxyCmd(f cli.Factory, streams genericiooptions.IOStreams) *cobra.Command {
	return newGroupCmd("proxy", "Inspect the sidecar proxy of a meshed pod",
		`Inspect the sidecar proxy of a meshed pod through its admin port, reached
with a port-forward through the API server, as kubectl port-forward does: it
needs the pods/portforward permission in the pod's namespace, and nothing
else.`,
		newProxyStatusCmd(f, streams),
	)
}

func newProxyStatusCmd(f cli.Factory, streams genericiooptions.IOStreams) *cobra.Command {
	o := &proxyadmin.StatusOptions{IOStreams: streams}
	cmd := &cobra.Command{
		Use:   "status POD",
		Short: "Show a proxy's identity, certificate, trust bundle and channel",
		Long: `Show what the proxy of POD reports on its admin port (` + wire.StatusPath + `): its workload
identity (SPIFFE ID), its certificate's serial, expiry and next renewal, the
issuer that signed it, the trust anchors it trusts, and its channel to the
controller (connected or not, the snapshot it holds).`,
		Example: `  # The proxy of one bookstore pod
  meshctl proxy status -n bookstore bookstore-5d8f7c9b4-x2x7q

  # For scripts: the certificate's expiry
  meshctl proxy status -n bookstore bookstore-5d8f7c9b4-x2x7q -o json | jq -r .identity.certificate.notAfter`,
		Args: exactArgs(1),
		RunE: runOptions(f, o),
	}
	addOutputFlag(cmd, &o.Output, cli.FormatTable, cli.FormatJSON, cli.FormatYAML)
	return cmd
}
