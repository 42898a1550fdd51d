package main

import (
	"context"
	"io"

	"github.com/meshctl/meshctl/pkg/proxy"
	"github.com/meshctl/meshctl/pkg/proxyconfig/wire"
)

// drainDelay keeps the proxy serving after SIGTERM while Kubernetes takes
// the pod out of its endpoints.
const drainDelay = 3e9

// envProfiling, set to "true", serves Go's profiles on the admin port
// (/debug/pprof/). It is for whoever measures the proxy, so the injector
// never sets it and it is not part of the wire contract.
const envProfiling = "MESH_PROXY_PPROF"

// runProxy runs the sidecar until SIGTERM. The pod's identity comes from
// the downward API; outside a pod (tests) it is optional.
func runProxy(ctx context.Context, r wire.Run, stderr io.Writer, lookupEnv func(string) (string, bool)) error {
	tuneRuntime(lookupEnv)
	pod, _ := wire.ReadPodEnv(lookupEnv)
	delay := proxy.Options{}.DrainDelay
	if _, inPod := lookupEnv(wire.EnvPodName); inPod {
		delay = drainDelay
	}
	profiling, _ := lookupEnv(envProfiling)
	return proxy.Run(ctx, proxy.Options{Run: r, Pod: pod, Log: stderr, DrainDelay: delay, Profiling: profiling == "true"})
}
