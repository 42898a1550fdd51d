package main

import (
	"github.com/meshctl/meshctl/pkg/cli"

	"github.com/spf13/cobra"
	"k8s.io/cli-runtime/pkg/genericiooptions"
)

const completionLong = `Print a shell completion script for meshctl.

  bash:        source <(meshctl completion bash)
  zsh:         meshctl completion zsh > "${fpath[1]}/_meshctl"
  fish:        meshctl completion fish | source
  powershell:  meshctl completion powershell | Out-String | Invoke-Expression`

func newCompletionCmd(streams genericiooptions.IOStreams) *cobra.Command {
	return &cobra.Command{
		Use:       "completion bash|zsh|fish|powershell",
		Short:     "Print a shell completion script",
		Long:      completionLong,
		ValidArgs: []string{"bash", "zsh", "fish", "powershell"},
		Args:      exactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			root := cmd.Root()
			switch args[0] {
			case "bash":
				return root.GenBashCompletionV2(streams.Out, true)
			case "zsh":
				return root.GenZshCompletion(streams.Out)
			case "fish":
				return root.GenFishCompletion(streams.Out, true)
			case "powershell":
				return root.GenPowerShellCompletionWithDesc(streams.Out)
			}
			return cli.UsageErrorf("unknown shell %q: must be one of bash, zsh, fish, powershell", args[0])
		},
	}
}
