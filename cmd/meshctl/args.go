package main

import (
	"fmt"
	"strings"

	"github.com/spf13/cobra"

	"github.com/meshctl/meshctl/pkg/cli"
)

// flagError turns pflag's errors (unknown flag, bad value) into usage errors.
func flagError(cmd *cobra.Command, err error) error {
	return cli.UsageErrorf("%w\nSee '%s --help'.", err, cmd.CommandPath())
}

// showHelp is the RunE of commands that only group others.
func showHelp(cmd *cobra.Command, _ []string) error { return cmd.Help() }

// unknownSubcommand rejects a word that names no subcommand, suggesting the
// nearest one, as a usage error.
func unknownSubcommand(cmd *cobra.Command, args []string) error {
	if len(args) == 0 {
		return nil
	}
	msg := fmt.Sprintf("unknown command %q for %q", args[0], cmd.CommandPath())
	if s := cmd.SuggestionsFor(args[0]); len(s) > 0 {
		msg += "\n\nDid you mean this?\n\t" + strings.Join(s, "\n\t")
	}
	return cli.UsageErrorf("%s\nSee '%s --help'.", msg, cmd.CommandPath())
}

// newGroupCmd is a command whose only job is to hold subcommands.
func newGroupCmd(use, short, long string, subs ...*cobra.Command) *cobra.Command {
	c := &cobra.Command{Use: use, Short: short, Long: long, Args: unknownSubcommand, RunE: showHelp}
	c.AddCommand(subs...)
	return c
}

// exactArgs, rangeArgs and minArgs are cobra's validators returning usage
// errors, so a wrong argument count exits 2.
func exactArgs(n int) cobra.PositionalArgs { return usageArgs(cobra.ExactArgs(n)) }

func rangeArgs(lo, hi int) cobra.PositionalArgs { return usageArgs(cobra.RangeArgs(lo, hi)) }

func minArgs(n int) cobra.PositionalArgs { return usageArgs(cobra.MinimumNArgs(n)) }

func usageArgs(v cobra.PositionalArgs) cobra.PositionalArgs {
	return func(cmd *cobra.Command, args []string) error {
		if err := v(cmd, args); err != nil {
			return cli.UsageErrorf("%w\nSee '%s --help'.", err, cmd.CommandPath())
		}
		return nil
	}
}

// runOptions is the RunE of every command that does something: the one
// pattern, Complete → Validate → Run (cli.Run), with the positional
// arguments the command's Args already checked.
func runOptions(f cli.Factory, o cli.Options) func(*cobra.Command, []string) error {
	return func(cmd *cobra.Command, args []string) error {
		return cli.Run(cmd.Context(), o, f, args)
	}
}
