package main

import (
	"strconv"

	"github.com/spf13/cobra"
	"k8s.io/cli-runtime/pkg/genericiooptions"

	"github.com/meshctl/meshctl/pkg/cli"
	"github.com/meshctl/meshctl/pkg/proxyadmin"
	"github.com/meshctl/meshctl/pkg/proxyconfig/wire"
	"github.com/meshctl/meshctl/pkg/statcli"
)

func newStatCmd(f cli.Factory, streams genericiooptions.IOStreams) *cobra.Command {
	o := &statcli.Options{IOStreams: streams}
	cmd := &cobra.Command{
		Use:   "stat KIND [NAME] [--from RES | --to RES]",
		Short: "Show the traffic of deployments, namespaces or pods, from the proxies",
		Long: `Show, for each deployment, statefulset, daemonset, namespace or pod (KIND: ` + statcli.RowKinds + `),
the traffic its meshed pods received: how many of its pods are meshed,
requests per second, the share of them not answered 5xx (SUCCESS), the 50th,
95th and 99th percentiles of their latency, and the opaque TCP connections
open. A deployment's pods are its ReplicaSets'.

No Prometheus is needed: meshctl reads each meshed pod's proxy metrics
(` + wire.MetricsPath + ` on the admin port) twice, --window apart, over one port-forward
per pod, and computes rates and percentiles from the difference, as
Prometheus's rate() and histogram_quantile() would. The figures are the
proxies' own: every request the proxy in front of the app received, latency
from the request's arrival at that proxy to the end of its response. A
proxy restarted in between counts from its restart.

--from and --to restrict each row to one edge, told by the peer label of
the destination's inbound series, which is the caller's workload identity:
its namespace and ServiceAccount. So a workload stands for its pod
template's ServiceAccount, and workloads that share one are one caller; only
requests over the mesh's mutual TLS carry an identity (a caller without a
proxy is not counted). RES is written:
  NS/SA                   the ServiceAccount SA of namespace NS
  KIND/NAME               in the namespace of -n (KIND: deploy, sts, ds, pod, sa)
  NS/KIND/NAME
  ns/NAME                 every identity of namespace NAME
  spiffe://TD/ns/NS/sa/SA a workload identity
--from RES: the requests each row received from RES. --to RES: the requests
each row sent to RES, as RES's proxies counted them (their inbound series).

Cost: one List per resource kind (pods; the kind; ReplicaSets for
deployments), a Get per --from or --to workload, and one port-forward per
meshed pod per invocation, opened ` + strconv.Itoa(proxyadmin.FleetConcurrency) + ` at a time and held for the window (at
most ` + strconv.Itoa(proxyadmin.MaxOpenForwards) + ` at once): it takes about --window plus the time to open them.
It needs list on those resources and create on pods/portforward.`,
		Example: `  # The deployments of the bookstore namespace, over 10 seconds
  meshctl stat deploy -n bookstore

  # Every namespace
  meshctl stat ns

  # bookstore's pods, with the requests counted and the TCP bytes
  meshctl stat pod -n bookstore -o wide

  # What bookbuyer's requests to bookstore look like, over 30 seconds
  meshctl stat deploy bookstore -n bookstore --from bookbuyer/deploy/bookbuyer --window 30s

  # The deployments of bookbuyer, as bookstore saw them
  meshctl stat deploy -n bookbuyer --to bookstore/deploy/bookstore

  # For scripts: the success rate of every deployment of the mesh
  meshctl stat deploy -A -o json | jq -r '.rows[] | select(.stats.successRate != null) | "\(.namespace)/\(.name) \(.stats.successRate)"'`,
		// KIND is checked by Validate, which lists the kinds.
		Args:      rangeArgs(0, 2),
		RunE:      runOptions(f, o),
		ValidArgs: []string{"deploy", "sts", "ds", "ns", "pod"},
	}
	fl := cmd.Flags()
	fl.BoolVarP(&o.AllNamespaces, "all-namespaces", "A", false, "show the rows of every namespace")
	fl.StringVar(&o.From, "from", "", "count only the requests from RES: "+statcli.EdgeSyntax)
	fl.StringVar(&o.To, "to", "", "count only the requests to RES, as RES's proxies counted them")
	fl.DurationVar(&o.Window, "window", statcli.DefaultWindow, "time between the two readings of each proxy ("+statcli.MinWindow.String()+" to "+statcli.MaxWindow.String()+")")
	addOutputFlag(cmd, &o.Output, cli.FormatTable, statcli.FormatWide, cli.FormatJSON, cli.FormatYAML)
	return cmd
}
