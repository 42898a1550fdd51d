// Command mesh-proxy is meshctl's sidecar. One static binary (CGO off)
// serves both containers of the sidecar:
//
//   - `mesh-proxy init ...` runs in the init container and installs the
//     pod's interception rules (see pkg/proxy/interception);
//   - `mesh-proxy run ...` is the proxy itself (see pkg/proxy).
//
// The arguments are written by pkg/proxyconfig and read back with the
// parsers of pkg/proxyconfig/wire, which links no Kubernetes code,
// so the injector and the proxy can never disagree.
//
// Interception uses nftables through netlink (github.com/google/nftables)
// rather than iptables-restore: the image then needs nothing beyond this
// binary (no iptables binaries, libraries or xtables lock file on the
// read-only root), and one netlink batch is applied by the kernel as one
// transaction, as atomic as iptables-restore.
package main

import (
	"context"
	"fmt"
	"io"
	"os"
	"os/signal"
	"syscall"

	"github.com/meshctl/meshctl/pkg/proxy/interception"
	"github.com/meshctl/meshctl/pkg/proxyconfig/wire"
)

func main() {
	stderr := os.Stderr
	if len(os.Args) > 1 && os.Args[1] == wire.RunCommand {
		takeBackStderr()
		if godebug, again := godebugForRun(os.Getenv("GODEBUG")); again {
			// Should the restart fail, the proxy runs anyway, only less
			// efficiently.
			err := restartWithGODEBUG(godebug)
			fmt.Fprintf(os.Stderr, "mesh-proxy: warning: could not restart with GODEBUG=%s: %v\n", godebug, err)
		}
		stderr = pollable(2, stderr)
		routeLibraryLogs(stderr)
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	code := run(ctx, os.Args[1:], os.Stdout, stderr, os.LookupEnv)
	stop()
	os.Exit(code)
}

// run is main without the process; it returns the exit code: 0 success,
// 1 failure, 2 bad arguments.
func run(ctx context.Context, args []string, stdout, stderr io.Writer, lookupEnv func(string) (string, bool)) int {
	if len(args) == 0 {
		fmt.Fprintf(stderr, "usage: mesh-proxy %s|%s [flags]\n", wire.InitCommand, wire.RunCommand)
		return 2
	}
	switch args[0] {
	case wire.InitCommand:
		i, err := wire.ParseInitArgs(args)
		if err != nil {
			fmt.Fprintf(stderr, "Error: mesh-proxy init: %v\n", err)
			return 2
		}
		return report(stderr, runInit(i, stdout))
	case wire.RunCommand:
		r, err := wire.ParseRunArgs(args)
		if err != nil {
			fmt.Fprintf(stderr, "Error: mesh-proxy run: %v\n", err)
			return 2
		}
		return report(stderr, runProxy(ctx, r, stderr, lookupEnv))
	default:
		fmt.Fprintf(stderr, "Error: unknown subcommand %q: use %s or %s\n", args[0], wire.InitCommand, wire.RunCommand)
		return 2
	}
}

func report(stderr io.Writer, err error) int {
	if err != nil {
		fmt.Fprintf(stderr, "Error: %v\n", err)
		return 1
	}
	return 0
}

// runInit installs the rules and prints them, so the init container's log
// shows exactly what the pod runs with.
func runInit(i wire.Interception, stdout io.Writer) error {
	rs, err := interception.Generate(i)
	if err != nil {
		return err
	}
	if err := interception.Install(rs); err != nil {
		return err
	}
	_, err = io.WriteString(stdout, rs.String())
	return err
}
