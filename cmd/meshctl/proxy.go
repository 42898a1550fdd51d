package main

import (
	"strconv"
	"strings"

	"github.com/spf13/cobra"
	"k8s.io/cli-runtime/pkg/genericiooptions"

	"github.com/meshctl/meshctl/pkg/cli"
	"github.com/meshctl/meshctl/pkg/meshconfig"
	"github.com/meshctl/meshctl/pkg/proxy/admin"
	"github.com/meshctl/meshctl/pkg/proxyadmin"
	"github.com/meshctl/meshctl/pkg/proxyconfig"
	"github.com/meshctl/meshctl/pkg/proxyconfig/wire"
)

func newProxyCmd(f cli.Factory, streams genericiooptions.IOStreams) *cobra.Command {
	return newGroupCmd("proxy", "Inspect the sidecar proxy of a meshed pod",
		`Inspect the sidecar proxy of a meshed pod through its admin port, reached
with a port-forward through the API server, as kubectl port-forward does: it
needs the get permission on pods and the create permission on pods/portforward
in the pod's namespace, and nothing else.`,
		newProxyStatusCmd(f, streams),
		newProxyConfigCmd(f, streams),
		newProxyStatsCmd(f, streams),
		newProxyLogLevelCmd(f, streams),
	)
}

func newProxyStatusCmd(f cli.Factory, streams genericiooptions.IOStreams) *cobra.Command {
	o := &proxyadmin.StatusOptions{IOStreams: streams}
	cmd := &cobra.Command{
		Use:   "status [POD]",
		Short: "Show the proxies of a namespace, or one proxy's identity, certificate and channel",
		Long: `Without POD, show every meshed pod of the namespace (-n, or the kubeconfig
context's; every namespace with -A), one row each: whether its proxy is ready,
the sidecar version it was injected with (the ` + meshconfig.LabelProxyVersion + ` label),
whether its image is the MeshConfig's (current) or another (outdated: restart
the workload to inject the current one), and what the proxy reports on its
admin port (` + wire.StatusPath + `): its identity, when its certificate expires, and
its channel to the controller (connected or not, the snapshot it holds). A
proxy that cannot be asked is a row that says why (PROBLEM); the others are
shown all the same. The proxies are read ` + strconv.Itoa(proxyadmin.FleetConcurrency) + ` at a time, one port-forward
each; the pods with one List, the MeshConfig with one Get (without the
permission to read it, images are not compared).

With POD, show everything the proxy of POD reports: its workload identity
(SPIFFE ID), its certificate's serial, expiry and next renewal, the issuer
that signed it, the trust anchors it trusts, and its channel.`,
		Example: `  # Every proxy of the bookstore namespace
  meshctl proxy status -n bookstore

  # Every proxy of the mesh, for scripts: the outdated ones
  meshctl proxy status -A -o json | jq -r '.proxies[] | select(.imageState == "outdated") | .namespace + "/" + .pod'

  # The proxy of one bookstore pod
  meshctl proxy status -n bookstore bookstore-5d8f7c9b4-x2x7q

  # For scripts: the certificate's expiry
  meshctl proxy status -n bookstore bookstore-5d8f7c9b4-x2x7q -o json | jq -r .identity.certificate.notAfter`,
		Args: rangeArgs(0, 1),
		RunE: runOptions(f, o),
	}
	cmd.Flags().BoolVarP(&o.AllNamespaces, "all-namespaces", "A", false, "show the meshed pods of every namespace (without POD)")
	addOutputFlag(cmd, &o.Output, cli.FormatTable, cli.FormatJSON, cli.FormatYAML)
	return cmd
}

func newProxyConfigCmd(f cli.Factory, streams genericiooptions.IOStreams) *cobra.Command {
	o := &proxyadmin.ConfigOptions{IOStreams: streams}
	cmd := &cobra.Command{
		Use:   "config POD",
		Short: "Show a proxy's effective settings",
		Long: `Show the settings the proxy of POD runs with, as it reports them on its admin
port (` + wire.ConfigPath + `): ports, log level, interception exemptions, JWT
validation, tracing and identity. Secrets are withheld by the proxy itself
(an inline JWKS, and the credentials and query of a JWKS URL show as
` + admin.Redacted + `); meshctl adds nothing to what the proxy says.`,
		Example: `  # The settings of one bookstore pod's proxy
  meshctl proxy config -n bookstore bookstore-5d8f7c9b4-x2x7q

  # For scripts: its log level
  meshctl proxy config -n bookstore bookstore-5d8f7c9b4-x2x7q -o json | jq -r .LogLevel`,
		Args: exactArgs(1),
		RunE: runOptions(f, o),
	}
	addOutputFlag(cmd, &o.Output, cli.FormatYAML, cli.FormatJSON)
	return cmd
}

func newProxyStatsCmd(f cli.Factory, streams genericiooptions.IOStreams) *cobra.Command {
	o := &proxyadmin.StatsOptions{IOStreams: streams}
	cmd := &cobra.Command{
		Use:   "stats POD",
		Short: "Show a proxy's metrics",
		Long: `Show the metrics of the proxy of POD, from its admin port (` + wire.MetricsPath + `), in
Prometheus's text format as the proxy wrote them, or only the metric
families whose name matches --filter.

--filter is a regular expression (RE2, as Go and Prometheus write them),
matched anywhere in the family's name, so a plain word keeps the families
whose name contains it; anchor it with ^ and $ to match a whole name. A
histogram's _bucket, _sum and _count lines belong to its family.

-o json and -o yaml give the parsed families: name, type, help and samples
with their labels. A sample's value is a string, as in Prometheus's HTTP API,
because JSON cannot hold NaN or infinities.`,
		Example: `  # Everything the proxy measures
  meshctl proxy stats -n bookstore bookstore-5d8f7c9b4-x2x7q

  # Only the request counters and latency histograms
  meshctl proxy stats -n bookstore bookstore-5d8f7c9b4-x2x7q --filter requests

  # For scripts: inbound requests by status class
  meshctl proxy stats -n bookstore bookstore-5d8f7c9b4-x2x7q --filter '^mesh_proxy_requests_total$' -o json \
    | jq '.families[0].samples[] | select(.labels.direction == "inbound") | {(.labels.status_class): .value}'`,
		Args: exactArgs(1),
		RunE: runOptions(f, o),
	}
	cmd.Flags().StringVar(&o.Filter, "filter", "", "keep the metric families whose name matches this regular expression")
	addOutputFlag(cmd, &o.Output, proxyadmin.FormatText, cli.FormatJSON, cli.FormatYAML)
	return cmd
}

func newProxyLogLevelCmd(f cli.Factory, streams genericiooptions.IOStreams) *cobra.Command {
	o := &proxyadmin.LogLevelOptions{IOStreams: streams}
	levels := make([]string, 0, len(wire.LogLevels()))
	for _, l := range wire.LogLevels() {
		levels = append(levels, string(l))
	}
	cmd := &cobra.Command{
		Use:   "log-level POD [LEVEL]",
		Short: "Change a proxy's log level for a while, or show it",
		Long: `Change the log level of the proxy of POD to LEVEL (` + strings.Join(levels, ", ") + `) for the
time --for gives (` + proxyadmin.ShortDuration(admin.DefaultLogLevelFor) + ` unless set, at most ` + proxyadmin.ShortDuration(admin.MaxLogLevelFor) + `). The proxy itself goes
back to its configured level when that time is up, so meshctl need not stay
connected, and an interrupted session never leaves a proxy logging at debug
for good. Setting the configured level ends a change at once; a second change
replaces the first. A restart also ends it. Without LEVEL, show the level in
force and when it reverts.

The proxy accepts a change only from its pod's loopback, where the API
server's port-forward arrives; other pods, which can reach its admin port,
cannot change it. So a change needs the same permission as reading it: create
on pods/portforward in the pod's namespace. To change the level for good, set
the pod template's ` + proxyconfig.AnnotationProxyLogLevel + ` annotation.`,
		Example: `  # Debug logging from one bookstore pod's proxy for the next 10 minutes
  meshctl proxy log-level -n bookstore bookstore-5d8f7c9b4-x2x7q debug

  # For half an hour
  meshctl proxy log-level -n bookstore bookstore-5d8f7c9b4-x2x7q debug --for 30m

  # Back to the configured level now (here info)
  meshctl proxy log-level -n bookstore bookstore-5d8f7c9b4-x2x7q info

  # The level in force, and when it reverts
  meshctl proxy log-level -n bookstore bookstore-5d8f7c9b4-x2x7q`,
		Args: rangeArgs(1, 2),
		RunE: runOptions(f, o),
		ValidArgsFunction: func(_ *cobra.Command, args []string, _ string) ([]string, cobra.ShellCompDirective) {
			if len(args) == 1 {
				return levels, cobra.ShellCompDirectiveNoFileComp
			}
			return nil, cobra.ShellCompDirectiveNoFileComp
		},
	}
	cmd.Flags().DurationVar(&o.For, "for", admin.DefaultLogLevelFor, "how long the level holds before the proxy goes back to its configured one (at most "+proxyadmin.ShortDuration(admin.MaxLogLevelFor)+")")
	addOutputFlag(cmd, &o.Output, cli.FormatTable, cli.FormatJSON, cli.FormatYAML)
	return cmd
}
