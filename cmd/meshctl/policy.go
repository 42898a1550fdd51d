package main

import (
	"github.com/spf13/cobra"
	"k8s.io/cli-runtime/pkg/genericiooptions"

	"github.com/meshctl/meshctl/pkg/cli"
	"github.com/meshctl/meshctl/pkg/policycli"
)

func newPolicyCmd(f cli.Factory, streams genericiooptions.IOStreams) *cobra.Command {
	return newGroupCmd("policy", "Explain and list the mesh's authorization policy",
		`Explain and list the mesh's authorization policy: the SMI TrafficTargets
(with their HTTPRouteGroups and TCPRoutes) and IngressBackends, compiled as
the controller compiles them and decided by the proxies' own evaluator, so
the answer is the one a proxy would give. See docs/authorization.md.

Both commands read, in one List each across every namespace, the policy
objects, Services, EndpointSlices, Pods and ServiceAccounts, and the
MeshConfig (permissive mode, trust domain).`,
		newPolicyExplainCmd(f, streams),
		newPolicyListCmd(f, streams),
	)
}

func newPolicyExplainCmd(f cli.Factory, streams genericiooptions.IOStreams) *cobra.Command {
	o := &policycli.ExplainOptions{IOStreams: streams}
	cmd := &cobra.Command{
		Use:   "explain --from SOURCE --to DESTINATION [--port N]",
		Short: "Explain whether a request would be allowed, and by what",
		Long: `Explain whether the proxy of the destination would allow a request (or, with
--tcp, an opaque TCP connection) from the source: allowed or denied, the
TrafficTarget and rule (or IngressBackend) that decided, and every object the
evaluator looked at, with why it did or did not allow. The decision is the
proxy's: the policy is compiled as the controller compiles it, decoded as the
proxy decodes it, and decided by the same code. The path is normalized as
the proxy normalizes it (//, dot segments, percent-encoding).

SOURCE and DESTINATION are written as:
  NS/SA                     the ServiceAccount SA of namespace NS
  sa/NAME, pod/NAME         in the namespace of -n (or the kubeconfig context)
  svc/NAME                  a Service (DESTINATION only)
  NS/KIND/NAME              KIND is sa, pod or svc
  spiffe://TD/ns/NS/sa/SA   a workload identity
  ip/ADDR                   a caller without mesh identity (SOURCE only)
A pod stands for its ServiceAccount; as a source, also for its address, and a
pod without sidecar calls as plain text. A Service stands for the
identities of the pods behind it (from its EndpointSlices), each explained
on its own; --port is then the Service's port (optional if it has one),
and the request reaches the pods' port it targets. For any other
DESTINATION --port is the pods' port and is required.

The exit code is 0 whatever the decision: scripts read -o json. A mesh
whose CRDs predate the policy resources is told to run meshctl upgrade.
See docs/authorization.md#explain.`,
		Example: `  # May bookbuyer buy? (bookstore's Service port 14001)
  meshctl policy explain --from bookbuyer/bookbuyer --to bookstore/svc/bookstore --path /api/buy

  # May bookthief steal, calling a pod's port directly?
  meshctl policy explain --from bookthief/bookthief --to bookstore/bookstore --port 14001 --path /api/steal

  # From a pod, with a method and a header
  meshctl policy explain -n bookbuyer --from pod/bookbuyer-7d9c --to bookstore/svc/bookstore \
    --method POST --path /api/buy --header 'X-Role: admin'

  # An opaque TCP connection from outside the mesh (IngressBackend)
  meshctl policy explain --from ip/10.0.0.7 --to bookstore/svc/bookstore --tcp

  # For scripts: the decision alone
  meshctl policy explain --from bookbuyer/bookbuyer --to bookstore/svc/bookstore --path /api/buy -o json \
    | jq '.destinations[].decision.allow'`,
		Args: exactArgs(0),
		RunE: runOptions(f, o),
	}
	fl := cmd.Flags()
	fl.StringVar(&o.From, "from", "", "the caller: "+policycli.EndpointSyntax)
	fl.StringVar(&o.To, "to", "", "the destination: NS/SA, pod/NAME, svc/NAME or NS/KIND/NAME")
	fl.IntVar(&o.Port, "port", 0, "destination port: the Service's port with --to svc/NAME, else the pods' port")
	fl.BoolVar(&o.TCP, "tcp", false, "explain an opaque TCP connection instead of an HTTP request")
	fl.StringVar(&o.Method, "method", "", "HTTP method (default GET)")
	fl.StringVar(&o.Path, "path", "", "HTTP request-target, as sent (default /)")
	fl.StringArrayVar(&o.Headers, "header", nil, "HTTP header 'Name: value' (repeatable); 'Host: x' sets the host")
	addOutputFlag(cmd, &o.Output, cli.FormatTable, cli.FormatJSON, cli.FormatYAML)
	return cmd
}

func newPolicyListCmd(f cli.Factory, streams genericiooptions.IOStreams) *cobra.Command {
	o := &policycli.ListOptions{IOStreams: streams}
	cmd := &cobra.Command{
		Use:   "list",
		Short: "List who may reach whom",
		Long: `List who may reach whom once permissive mode is off: one row per destination
ServiceAccount, source (ServiceAccount, or the IP ranges of an
IngressBackend), port ("*" for any), the TrafficTarget or IngressBackend that
allows it, and its routes (HTTPRouteGroup/NAME[MATCHES], TCPRoute/NAME, or an
IngressBackend's SERVICE:PORT/PROTOCOL). A TrafficTarget whose rules allow
nothing (none, or none that compiled) is not listed: meshctl check reports it.

Destinations are those of the namespace of -n (or the kubeconfig context);
-A lists every namespace. When permissive mode is on, everyone may reach
everyone, and a note on stderr says so.`,
		Example: `  # Who may reach bookstore's workloads
  meshctl policy list -n bookstore

  # The whole mesh, for a script
  meshctl policy list -A -o json | jq -r '.edges[] | "\(.source) -> \(.destination)"'`,
		Args: exactArgs(0),
		RunE: runOptions(f, o),
	}
	cmd.Flags().BoolVarP(&o.AllNamespaces, "all-namespaces", "A", false, "list the destinations of every namespace")
	addOutputFlag(cmd, &o.Output, cli.FormatTable, cli.FormatJSON, cli.FormatYAML)
	return cmd
}
