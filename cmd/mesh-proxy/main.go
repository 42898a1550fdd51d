// Command mesh-proxy is meshctl's sidecar. One static binary (CGO off)
// serves both containers of the sidecar:
//
//   - `mesh-proxy init ...` runs in the init container and installs the
//     pod's interception rules (see pkg/proxy/interception);
//   - `mesh-proxy run ...` is the proxy itself (see pkg/proxy).
//
// `mesh-proxy --version` prints the build, and --help (or -h) the usage of
// mesh-proxy or of a subcommand.
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
	"errors"
	"flag"
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

// run is main without the process; it returns the exit code: 0 success
// (help and version included), 1 failure, 2 bad arguments.
func run(ctx context.Context, args []string, stdout, stderr io.Writer, lookupEnv func(string) (string, bool)) int {
	if len(args) == 0 {
		fmt.Fprintf(stderr, "usage: mesh-proxy %s|%s [flags]; mesh-proxy --help for more\n", wire.InitCommand, wire.RunCommand)
		return 2
	}
	switch {
	case isHelp(args[0]):
		writeUsage(stdout)
		return 0
	case isVersion(args[0]):
		writeVersion(stdout)
		return 0
	case args[0] == wire.InitCommand:
		i, err := wire.ParseInitArgs(args)
		if code, done := parsed(err, wire.InitCommand, writeInitUsage, stdout, stderr); done {
			return code
		}
		return report(stderr, runInit(i, stdout))
	case args[0] == wire.RunCommand:
		r, err := wire.ParseRunArgs(args)
		if code, done := parsed(err, wire.RunCommand, writeRunUsage, stdout, stderr); done {
			return code
		}
		return report(stderr, runProxy(ctx, r, stderr, lookupEnv))
	default:
		fmt.Fprintf(stderr, "Error: unknown subcommand %q: use %s or %s (mesh-proxy --help)\n", args[0], wire.InitCommand, wire.RunCommand)
		return 2
	}
}

// parsed handles a subcommand's parse error: a help flag prints the
// subcommand's usage (wire's parser reports it as flag.ErrHelp), anything
// else is a bad argument. done is false when there was no error.
func parsed(err error, command string, usage func(io.Writer), stdout, stderr io.Writer) (code int, done bool) {
	switch {
	case err == nil:
		return 0, false
	case errors.Is(err, flag.ErrHelp):
		usage(stdout)
		return 0, true
	default:
		fmt.Fprintf(stderr, "Error: mesh-proxy %s: %v\n", command, err)
		return 2, true
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
