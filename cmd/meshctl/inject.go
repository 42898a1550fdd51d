package main

import (
	"strings"

	"github.com/spf13/cobra"
	"k8s.io/cli-runtime/pkg/genericiooptions"

	"github.com/meshctl/meshctl/pkg/cli"
	"github.com/meshctl/meshctl/pkg/inject/manifest"
	"github.com/meshctl/meshctl/pkg/meshconfig"
	"github.com/meshctl/meshctl/pkg/proxyconfig"
)

// injectLong is a function, not a constant, because it prints the public
// names from their owners.
func injectLong() string {
	return `Add the mesh's sidecar to the workloads of Kubernetes manifests, offline.

Pods, Deployments, StatefulSets, DaemonSets, ReplicaSets,
ReplicationControllers, Jobs and CronJobs get two init containers after
their own: ` + proxyconfig.InitContainerName + `, which installs the interception rules, and
` + proxyconfig.ProxyContainerName + `, the proxy, as a native sidecar (restartPolicy: Always, with a
startup probe). The kubelet starts the app's containers only once the proxy
is ready, stops the proxy only after they have exited, and lets Jobs
complete. The app's containers are left as they are. The annotation
` + meshconfig.AnnotationInjected + ` records what was added, and the label
` + meshconfig.LabelProxyVersion + ` the version. Every other resource passes through
byte for byte; the items of a List are walked. The injection is the one the
mesh's admission webhook applies.

Only what changes is rewritten: comments, key order, quoting and every
untouched field come out as they went in. JSON in gives JSON out.

Injecting again changes nothing; injecting manifests made by an older
meshctl replaces their sidecar with this version's (the upgrade path), moving
a mesh-proxy container of theirs to a native sidecar.

Skipped, with a warning: workloads with hostNetwork, opted out with the
pod-template annotation ` + meshconfig.AnnotationSidecarInjection + `: ` + meshconfig.InjectionDisabled + `, in
` + strings.Join(meshconfig.SystemNamespaces(), ", ") + ` or the control-plane namespace,
carrying another mesh's sidecar or a container named like the sidecar's, or
without containers. --strict makes any skip a failure.

The proxy settings come from this meshctl's default MeshConfig, from a
MeshConfig manifest (--mesh-config) or from the cluster's (--from-cluster),
refined per workload by these pod-template annotations:

  ` + strings.Join(proxyconfig.Annotations(), "\n  ") + `

and, with JWT validation on, by the pod's own httpGet probes, which the
proxy then lets through without a token.

With --enrol-namespaces, the stream's Namespace documents get the mesh's
label and annotation, on the terms of meshctl namespace add: the
namespaces of Kubernetes itself (` + strings.Join(meshconfig.SystemNamespaces(), ", ") + `)
and the control-plane namespace are skipped, and a Namespace enrolled in
another mesh fails the run (exit 1, nothing on stdout) unless --force,
which moves it into this mesh.

The result goes to stdout only when every input was read and injected; the
report, one line per resource, goes to stderr.`
}

const injectExample = `  # Mesh an app as you apply it
  meshctl inject -f app.yaml | kubectl apply -f -

  # Every manifest under a directory, recursively, with the cluster's settings
  meshctl inject -f k8s/ -R --from-cluster > meshed.yaml

  # From stdin, failing if any workload is skipped
  kubectl get deploy -n bookstore -o yaml | meshctl inject --strict

  # Enrol the Namespace documents of the stream too
  meshctl inject -f namespaces.yaml -f apps/ --enrol-namespaces

  # ... moving those enrolled in another mesh into this one
  meshctl inject -f namespaces.yaml --enrol-namespaces --force`

func uninjectLong() string {
	return `Remove the mesh's sidecar from the workloads of Kubernetes manifests, offline.

Exactly what the marker annotation ` + meshconfig.AnnotationInjected + ` says was added is
removed: the init and proxy containers, the annotations and labels, and the
fields injection created. Manifests that were never injected come back byte
for byte. Resources without the marker pass through unchanged.`
}

const uninjectExample = `  # Take the sidecar out of a meshed manifest
  meshctl uninject -f meshed.yaml > app.yaml

  # ... or of what runs in a namespace
  kubectl get deploy -n bookstore -o yaml | meshctl uninject | kubectl apply -f -`

func newInjectCmd(f cli.Factory, streams genericiooptions.IOStreams) *cobra.Command {
	o := &manifest.Options{IOStreams: streams, Mode: manifest.ModeInject}
	cmd := &cobra.Command{
		Use:     "inject [-f FILE|DIR|URL|-]...",
		Short:   "Add the mesh's sidecar to Kubernetes manifests",
		Long:    injectLong(),
		Example: injectExample,
		Args:    exactArgs(0),
		RunE:    runOptions(f, o),
	}
	addInjectInputFlags(cmd, o)
	fl := cmd.Flags()
	fl.BoolVar(&o.Strict, "strict", false, "fail (exit 1, nothing on stdout) when any workload is skipped")
	fl.BoolVar(&o.EnrolNamespaces, "enrol-namespaces", false, "also enrol the stream's Namespace documents in the mesh")
	fl.BoolVar(&o.Force, "force", false, "with --enrol-namespaces, move Namespace documents enrolled in another mesh into this one")
	markCommandLineOnly(cmd, "force")
	fl.StringVar(&o.MeshConfigFile, "mesh-config", "", "read the proxy settings from this MeshConfig manifest")
	fl.BoolVar(&o.FromCluster, "from-cluster", false, "read the proxy settings from the cluster's MeshConfig")
	return cmd
}

func newUninjectCmd(f cli.Factory, streams genericiooptions.IOStreams) *cobra.Command {
	o := &manifest.Options{IOStreams: streams, Mode: manifest.ModeUninject}
	cmd := &cobra.Command{
		Use:     "uninject [-f FILE|DIR|URL|-]...",
		Short:   "Remove the mesh's sidecar from Kubernetes manifests",
		Long:    uninjectLong(),
		Example: uninjectExample,
		Args:    exactArgs(0),
		RunE:    runOptions(f, o),
	}
	addInjectInputFlags(cmd, o)
	return cmd
}

// addInjectInputFlags binds the input and report flags both commands share.
func addInjectInputFlags(cmd *cobra.Command, o *manifest.Options) {
	fl := cmd.Flags()
	fl.StringArrayVarP(&o.Filenames, "filename", "f", nil, "a file, a directory (.yaml, .yml, .json files), an https:// URL or - for stdin; repeatable (default: stdin)")
	fl.BoolVarP(&o.Recursive, "recursive", "R", false, "descend into subdirectories of directory inputs")
	fl.BoolVarP(&o.Quiet, "quiet", "q", false, "no report on stderr")
	_ = cmd.MarkFlagFilename("filename", "yaml", "yml", "json")
}
