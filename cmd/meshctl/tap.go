package main

import (
	"strconv"

	"github.com/spf13/cobra"
	"k8s.io/cli-runtime/pkg/genericiooptions"

	"github.com/meshctl/meshctl/pkg/cli"
	"github.com/meshctl/meshctl/pkg/proxy/tap"
	"github.com/meshctl/meshctl/pkg/proxyconfig/wire"
	"github.com/meshctl/meshctl/pkg/tapcli"
)

// tapRBAC is what tap and top need, said once for both helps.
func tapRBAC() string {
	return `It reads each proxy's tap (` + wire.TapPath + ` on its admin port) through a port-forward
by the API server, as kubectl port-forward does, and needs exactly these
permissions in the target's namespace: get and list on pods, and create on
pods/portforward. The proxy serves its tap only to its pod's loopback, where
the port-forward arrives: other pods, which can reach the admin port, cannot
listen. It never shows bodies or header values: for each request, the
method, the authority, the path without its query, the status, the latency,
and the two ends' identities over mutual TLS.

A proxy serves at most ` + strconv.Itoa(tap.MaxListeners) + ` listeners at once, and a listener that falls
behind loses requests rather than slow the proxy: they are counted and
reported. The pods are those of TARGET when the command starts, at most ` + strconv.Itoa(tapcli.MaxPods) + `.
Ctrl-C ends it (exit 0).`
}

func newTapCmd(f cli.Factory, streams genericiooptions.IOStreams) *cobra.Command {
	o := &tapcli.TapOptions{IOStreams: streams}
	cmd := &cobra.Command{
		Use:   "tap deploy/NAME|pod/NAME|ns/NAME",
		Short: "Show the requests of meshed pods as they happen",
		Long: `Show the requests the proxies of TARGET's meshed pods see, inbound and
outbound, one line each as they happen: the pod, the direction, the method,
the authority, the path (without its query, which may carry secrets), the
status, the latency, and the source and destination identities when the
request came or went over mutual TLS (- for plain text).

-o wide adds the time and the namespace and shows whole SPIFFE IDs; -o json
prints one JSON object per request. Values holding anything but visible ASCII
are quoted with escapes.

` + tapRBAC(),
		Example: `  # The requests of the bookstore Deployment's pods
  meshctl tap deploy/bookstore -n bookstore

  # Only purchases, five of them, as JSON
  meshctl tap deploy/bookstore -n bookstore --path /api/buy --method POST --max 5 -o json

  # Everything in a namespace, as fast as it comes
  meshctl tap ns/bookstore --max-rps 0`,
		Args: exactArgs(1),
		RunE: runOptions(f, o),
	}
	addTapFilterFlags(cmd, &o.Listen)
	cmd.Flags().IntVar(&o.MaxRPS, "max-rps", tapcli.DefaultMaxRPS, "show at most this many requests per second, shared among the pods (0: all); the others are counted")
	cmd.Flags().IntVar(&o.Max, "max", 0, "end after this many requests (0: until interrupted)")
	addOutputFlag(cmd, &o.Output, tapcli.FormatText, tapcli.FormatWide, cli.FormatJSON)
	return cmd
}

func newTopCmd(f cli.Factory, streams genericiooptions.IOStreams) *cobra.Command {
	o := &tapcli.TopOptions{IOStreams: streams}
	cmd := &cobra.Command{
		Use:   "top deploy/NAME|pod/NAME|ns/NAME",
		Short: "Show the busiest paths of meshed pods, live",
		Long: `Count the requests the proxies of TARGET's meshed pods see, by direction,
source and destination identity, method and path, and show the ` + strconv.Itoa(tapcli.TopRows) + ` busiest:
their count, success rate (answers below 500) and best, worst and last
latency since the start. On a terminal the table is redrawn every second;
elsewhere, and with NO_COLOR or --no-color, a snapshot is printed every
` + tapcli.SnapshotInterval.String() + ` without control codes, and once more at the end. -o json prints
each snapshot as a JSON document.

` + tapRBAC(),
		Example: `  # The busiest paths of the bookstore Deployment
  meshctl top deploy/bookstore -n bookstore

  # For scripts: a snapshot after 100 requests
  meshctl top ns/bookstore --max 100 -o json`,
		Args: exactArgs(1),
		RunE: runOptions(f, o),
	}
	addTapFilterFlags(cmd, &o.Listen)
	cmd.Flags().IntVar(&o.Max, "max", 0, "end after this many requests, with a last snapshot (0: until interrupted)")
	addOutputFlag(cmd, &o.Output, cli.FormatTable, cli.FormatJSON)
	return cmd
}

// addTapFilterFlags binds the filters the proxies apply.
func addTapFilterFlags(cmd *cobra.Command, l *tapcli.Listen) {
	cmd.Flags().StringVar(&l.Path, "path", "", "only requests whose path starts with this")
	cmd.Flags().StringVar(&l.Method, "method", "", "only requests of this method (GET, POST, ...)")
	cmd.Flags().StringVar(&l.Authority, "authority", "", "only requests for this authority (host:port, as the client sent it)")
}
