package main

import (
	"runtime"
	"strconv"

	"github.com/spf13/cobra"
	"k8s.io/cli-runtime/pkg/genericiooptions"

	"github.com/meshctl/meshctl/pkg/cli"
	"github.com/meshctl/meshctl/pkg/dashboard"
	"github.com/meshctl/meshctl/pkg/proxyadmin"
)

func newDashboardCmd(f cli.Factory, streams genericiooptions.IOStreams, lookupEnv func(string) (string, bool)) *cobra.Command {
	o := &dashboard.Options{
		IOStreams: streams,
		BrowserCommand: func(url string) []string {
			return dashboard.BrowserCommand(lookupEnv, runtime.GOOS, url)
		},
	}
	cmd := &cobra.Command{
		Use:   "dashboard [-n NS | -A]",
		Short: "Show the mesh's topology and traffic, live, in a web page served by meshctl",
		Long: `Serve a web page, from meshctl itself, that draws the mesh as a graph:
each workload (deployment, statefulset, daemonset, or a pod none of them
controls) is a node, meshed or not, and each edge a caller and the workload
it called, with the requests per second, the share not answered 5xx and the
50th and 99th percentiles of latency, as the callee's proxies counted them
over the last interval. A table of the workloads, as ` + "`meshctl stat`" + ` shows
them, stands beside it. The page redraws itself as new readings come.

A caller is told by the identity its requests carry over the mesh's mutual
TLS (its namespace and ServiceAccount): a workload stands for its pod
template's ServiceAccount, and an identity that several workloads share, or
that no workload in scope has, is a node of its own. Requests in plain text
come from "callers without a proxy".

Nothing is installed in the cluster. meshctl lists the workloads (one List
per resource kind) and reads each meshed pod's proxy metrics over a
port-forward through the API server, as ` + "`meshctl stat`" + ` does, every --interval
while a page is open, whatever the number of pages (and not at all after
a while without one); the port-forwards stay open between readings, at most
` + strconv.Itoa(dashboard.MaxProxies) + `, opened ` + strconv.Itoa(proxyadmin.FleetConcurrency) + ` at a time. It needs list on pods, deployments,
replicasets, statefulsets and daemonsets, and create on pods/portforward.

The page is served on ` + dashboard.DefaultAddress + ` (--address, --port; --port 0 takes any free
port) and answers only requests addressed to that address, so that no other
web site can read it through a name of its own. Its URL is printed on
stderr, and opened in a browser when stderr is a terminal and there is one
($BROWSER, or a desktop session); --browser=false never opens one. Ctrl-C
stops it.`,
		Example: `  # The bookstore namespace's workloads
  meshctl dashboard -n bookstore

  # The whole mesh, on a port of its own, without opening a browser
  meshctl dashboard -A --port 0 --browser=false`,
		Args: exactArgs(0),
		RunE: runOptions(f, o),
	}
	fl := cmd.Flags()
	fl.BoolVarP(&o.AllNamespaces, "all-namespaces", "A", false, "show the workloads of every namespace")
	fl.StringVar(&o.Address, "address", dashboard.DefaultAddress, "the address to serve the page on (an IP address, or localhost)")
	fl.IntVar(&o.Port, "port", dashboard.DefaultPort, "the port to serve the page on; 0 takes any free port")
	fl.BoolVar(&o.Browser, "browser", true, "open the page in a browser when there is one")
	fl.DurationVar(&o.Interval, "interval", dashboard.DefaultInterval, "time between readings of the proxies ("+dashboard.MinInterval.String()+" to "+dashboard.MaxInterval.String()+")")
	return cmd
}
