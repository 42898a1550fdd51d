package main

import (
	"strings"

	"github.com/spf13/cobra"

	"github.com/meshctl/meshctl/pkg/cli"
)

// addOutputFlag binds -o/--output to target, accepting only allowed; the first
// is the default.
func addOutputFlag(cmd *cobra.Command, target *cli.Format, allowed ...cli.Format) {
	v := cli.NewFormatValue(target, allowed...)
	cmd.Flags().VarP(v, "output", "o", "output format: one of "+strings.Join(v.Allowed(), "|"))
	_ = cmd.RegisterFlagCompletionFunc("output", cobra.FixedCompletions(v.Allowed(), cobra.ShellCompDirectiveNoFileComp))
}
