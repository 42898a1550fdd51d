// Command meshctl is the operator's CLI for the meshctl service mesh.
package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/signal"
	"syscall"

	"k8s.io/cli-runtime/pkg/genericiooptions"

	"github.com/meshctl/meshctl/pkg/cli"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	code := run(ctx, os.Args[1:], genericiooptions.IOStreams{In: os.Stdin, Out: os.Stdout, ErrOut: os.Stderr}, os.LookupEnv)
	stop()
	os.Exit(code)
}

// run executes one meshctl invocation and returns its exit code. It is main
// without the process: tests call it with their own streams and environment.
func run(ctx context.Context, args []string, streams genericiooptions.IOStreams, lookupEnv func(string) (string, bool)) int {
	root := newRootCmd(&cli.Settings{}, streams, lookupEnv)
	root.SetArgs(args)
	err := root.ExecuteContext(ctx)
	reportError(streams.ErrOut, err)
	return cli.ExitCode(err)
}

// reportError is the one place errors become messages.
func reportError(w io.Writer, err error) {
	var silent *cli.SilentError
	switch {
	case err == nil, errors.As(err, &silent):
	default:
		// A message may carry what a server or a proxy wrote; it reaches
		// the terminal without control sequences.
		fmt.Fprintf(w, "Error: %s\n", cli.PrintableLines(err.Error()))
	}
}
