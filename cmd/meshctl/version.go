package main

import (
	"github.com/spf13/cobra"
	"k8s.io/cli-runtime/pkg/genericiooptions"

	"github.com/meshctl/meshctl/pkg/cli"
	"github.com/meshctl/meshctl/pkg/version/report"
)

const versionExample = `  # The CLI, the Kubernetes server and the installed control plane
  meshctl version

  # The CLI alone; needs no cluster
  meshctl version --client

  # For scripts
  meshctl version -o json`

func newVersionCmd(f cli.Factory, streams genericiooptions.IOStreams) *cobra.Command {
	o := &report.Options{IOStreams: streams}
	cmd := &cobra.Command{
		Use:   "version",
		Short: "Print the versions of meshctl, Kubernetes and the control plane",
		Long: `Print the version of this meshctl binary, of the Kubernetes API server and of
the mesh control plane in --mesh-namespace, when one is installed.`,
		Example: versionExample,
		Args:    exactArgs(0),
		RunE:    runOptions(f, o),
	}
	cmd.Flags().BoolVar(&o.ClientOnly, "client", false, "print the meshctl version only; needs no cluster")
	addOutputFlag(cmd, &o.Output, cli.FormatTable, cli.FormatJSON, cli.FormatYAML)
	return cmd
}
