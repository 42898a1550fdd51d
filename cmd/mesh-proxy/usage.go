package main

import (
	"fmt"
	"io"

	"github.com/meshctl/meshctl/pkg/proxyconfig/wire"
	"github.com/meshctl/meshctl/pkg/version"
)

// isHelp and isVersion accept the spellings Go's flag package gives the
// subcommands' flags, so `mesh-proxy -h` works as `mesh-proxy init -h` does.
func isHelp(arg string) bool { return arg == "-h" || arg == "-help" || arg == "--help" }

func isVersion(arg string) bool { return arg == "-version" || arg == "--version" }

// writeVersion prints the build on one line, as `mesh-proxy --version` and
// bug reports want it.
func writeVersion(w io.Writer) {
	v := version.Get()
	fmt.Fprintf(w, "mesh-proxy %s (commit %s, %s, %s)\n", v.Version, v.Commit, v.GoVersion, v.Platform)
}

func writeUsage(w io.Writer) {
	fmt.Fprintf(w, `mesh-proxy is meshctl's sidecar: one binary for both of its containers.

Usage:
  mesh-proxy %[1]s [flags]    install the pod's interception rules (the init container)
  mesh-proxy %[2]s [flags]     run the proxy (the native sidecar)
  mesh-proxy --version       print the version and exit
  mesh-proxy --help          print this help

'mesh-proxy %[1]s --help' and 'mesh-proxy %[2]s --help' list the flags. The
injector writes them into the pod; they are not meant to be typed by hand.
`, wire.InitCommand, wire.RunCommand)
}

// The subcommands' flags are parsed by pkg/proxyconfig/wire, which keeps
// no help text: these pages list them, and a test holds them to the flags
// the injector writes.

func writeInitUsage(w io.Writer) {
	fmt.Fprintf(w, `Usage: mesh-proxy %s --inbound-port=PORT --outbound-port=PORT --admin-port=PORT --proxy-uid=UID [flags]

Installs the pod's interception rules (nftables, one atomic batch) and
prints them.

Flags:
  --inbound-port=PORT         redirect inbound TCP here (the injector writes %d)
  --outbound-port=PORT        redirect outbound TCP here (%d)
  --admin-port=PORT           the proxy's admin port, never intercepted (%d)
  --proxy-uid=UID             the proxy's user, whose traffic is not redirected (%d)
  --skip-inbound-ports=LIST   inbound ports that bypass the proxy, such as 8081,9090
  --skip-outbound-ports=LIST  outbound ports that bypass the proxy
  --skip-outbound-cidrs=LIST  destinations that bypass the proxy, such as 10.0.0.0/8
`, wire.InitCommand, wire.InboundPort, wire.OutboundPort, wire.AdminPort, wire.ProxyUID)
}

func writeRunUsage(w io.Writer) {
	fmt.Fprintf(w, `Usage: mesh-proxy %s --log-level=LEVEL --inbound-port=PORT --outbound-port=PORT --admin-port=PORT [flags]

Runs the proxy until SIGTERM, then drains.

Flags:
  --log-level=LEVEL           %s, %s, %s or %s
  --inbound-port=PORT         inbound listener (the injector writes %d)
  --outbound-port=PORT        outbound listener (%d)
  --admin-port=PORT           %s, %s, %s, %s and %s (%d)
  --metrics                   serve %s
  --tracing-address=HOST      the OTLP/HTTP collector; the three tracing
  --tracing-port=PORT         flags go together
  --tracing-endpoint=PATH     such as /v1/traces
  --jwt-issuer=ISS            validate inbound bearer tokens of this issuer
  --jwt-audience=AUD          an accepted audience; repeatable
  --jwks-url=URL              where the signing keys are fetched
  --jwks=JSON                 an inline JSON Web Key Set
  --jwt-exempt-probe=PORT/PATH  an app probe that needs no token; repeatable
  --controller-address=HOST:PORT  the controller's proxy API: the proxy's
                              certificate (with the token in %s) and the
                              channel; with --controller-id
  --controller-id=SPIFFE-ID   the identity the controller must present
  --workload-kind=KIND        the object that runs the pod (deployment,
  --workload-name=NAME        statefulset, job, pod...), which the metrics
                              name with the namespace (%s); a pod
                              without --workload-name is named after itself
`, wire.RunCommand, wire.LogDebug, wire.LogInfo, wire.LogWarn, wire.LogError,
		wire.InboundPort, wire.OutboundPort,
		wire.ReadyPath, wire.LivePath, wire.MetricsPath, wire.ConfigPath, wire.StatusPath, wire.AdminPort, wire.MetricsPath, wire.IdentityDir, wire.EnvPodNamespace)
}
