// Package report owns what `meshctl version` prints: this binary's build
// (from the leaf package version), the Kubernetes server's version and the
// version the chart stamped on the installed control plane. It lives apart
// from package version so that the sidecar and the controller can link their
// own build identity without client-go.
package report

import (
	"context"
	"fmt"
	"io"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/cli-runtime/pkg/genericiooptions"
	"k8s.io/client-go/kubernetes"

	"github.com/meshctl/meshctl/pkg/cli"
	"github.com/meshctl/meshctl/pkg/kube"
	"github.com/meshctl/meshctl/pkg/meshconfig"
	"github.com/meshctl/meshctl/pkg/version"
)

// Report is what `meshctl version` prints. Its JSON form is part of the CLI's
// contract: fields are only ever added.
type Report struct {
	// Client is the meshctl binary.
	Client version.Info `json:"client"`
	// Server is the Kubernetes API server; absent with --client.
	Server *ServerInfo `json:"server,omitempty"`
	// ControlPlane is the installed mesh; absent with --client or when no
	// mesh is installed in the namespace.
	ControlPlane *ControlPlaneInfo `json:"controlPlane,omitempty"`
}

// ServerInfo is the Kubernetes API server's version.
type ServerInfo struct {
	// GitVersion is the server's version, such as v1.34.4.
	GitVersion string `json:"gitVersion"`
	// Platform is the server's GOOS/GOARCH.
	Platform string `json:"platform"`
}

// ControlPlaneInfo is the installed mesh control plane.
type ControlPlaneInfo struct {
	// Namespace is the control-plane namespace.
	Namespace string `json:"namespace"`
	// Version is the version the chart stamped on the controller Deployment.
	Version string `json:"version"`
}

// Options are the inputs of `meshctl version`.
type Options struct {
	genericiooptions.IOStreams
	// ClientOnly skips every cluster call.
	ClientOnly bool
	// Output is table, json or yaml.
	Output cli.Format
	// MeshNamespace is where the control plane is looked for.
	MeshNamespace string
	// Clients reaches the cluster; it is called only without ClientOnly, so
	// --client works with no kubeconfig at all.
	Clients func() (*kube.Clients, error)
}

// Complete takes the control-plane namespace and the client from f.
func (o *Options) Complete(f cli.Factory, _ []string) error {
	o.MeshNamespace = f.Settings().MeshNamespace
	o.Clients = f.Clients
	return nil
}

// Validate has nothing to check: the flags' own types do it.
func (o *Options) Validate() error { return nil }

// Run collects the report and prints it.
func (o *Options) Run(ctx context.Context) error {
	r := Report{Client: version.Get()}
	if !o.ClientOnly {
		c, err := o.Clients()
		if err != nil {
			return err
		}
		if err := r.collectServer(ctx, c.Kube, o.MeshNamespace); err != nil {
			return err
		}
	}
	return cli.Write(o.Out, o.Output, &r)
}

func (r *Report) collectServer(ctx context.Context, kc kubernetes.Interface, ns string) error {
	sv, err := kc.Discovery().ServerVersion()
	if err != nil {
		return fmt.Errorf("getting the Kubernetes server version: %w", err)
	}
	r.Server = &ServerInfo{GitVersion: sv.GitVersion, Platform: sv.Platform}

	d, err := kc.AppsV1().Deployments(ns).Get(ctx, meshconfig.ControllerName, metav1.GetOptions{})
	switch {
	case apierrors.IsNotFound(err):
		return nil
	case err != nil:
		return fmt.Errorf("deployment %s/%s: %w", ns, meshconfig.ControllerName, err)
	}
	r.ControlPlane = &ControlPlaneInfo{Namespace: ns, Version: d.Labels[meshconfig.LabelVersion]}
	return nil
}

// WriteTable writes the human form.
func (r *Report) WriteTable(out io.Writer) error {
	c := r.Client
	fmt.Fprintf(out, "Client:         %s (commit %s, built %s, %s, %s)\n", c.Version, c.Commit, c.Date, c.GoVersion, c.Platform)
	if r.Server == nil {
		return nil
	}
	fmt.Fprintf(out, "Kubernetes:     %s\n", r.Server.GitVersion)
	if r.ControlPlane == nil {
		_, err := fmt.Fprintln(out, "Control plane:  not installed")
		return err
	}
	_, err := fmt.Fprintf(out, "Control plane:  %s (namespace %s)\n", r.ControlPlane.Version, r.ControlPlane.Namespace)
	return err
}

// WriteJSON writes the report as one JSON document.
func (r *Report) WriteJSON(out io.Writer) error { return cli.EncodeJSON(out, r) }

// WriteYAML writes the report as one YAML document.
func (r *Report) WriteYAML(out io.Writer) error { return cli.EncodeYAML(out, r) }
