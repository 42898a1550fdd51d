// Command chart packages charts/mesh for a release, stamped with the
// release's version (Chart.yaml's version and appVersion, from which the
// chart takes its image tags), and with -push pushes the package to an OCI
// registry through Helm's registry client, as `helm push` does.
//
//	go run ./hack/chart -version v1.2.3 -o dist [-push oci://ghcr.io/meshctl/charts] [-plain-http]
package main

import (
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"helm.sh/helm/v3/pkg/chart/loader"
	"helm.sh/helm/v3/pkg/chartutil"
	"helm.sh/helm/v3/pkg/registry"
)

func main() {
	var o options
	flag.StringVar(&o.dir, "chart", "charts/mesh", "the chart's directory")
	flag.StringVar(&o.version, "version", "", "the release's version, such as v1.2.3 (the leading v is dropped from the chart's version)")
	flag.StringVar(&o.out, "o", "dist", "directory the package is written to")
	flag.StringVar(&o.push, "push", "", "push the package under this oci:// repository")
	flag.BoolVar(&o.plainHTTP, "plain-http", false, "reach the registry over plain HTTP (one on loopback)")
	flag.Parse()
	path, ref, err := run(o)
	if err != nil {
		fmt.Fprintln(os.Stderr, "chart:", err)
		os.Exit(1)
	}
	fmt.Println(path)
	if ref != "" {
		fmt.Println("pushed", ref)
	}
}

type options struct {
	dir, version, out, push string
	plainHTTP               bool
}

// run packages the chart and pushes it; it returns the package's path and
// the reference pushed.
func run(o options) (string, string, error) {
	if o.version == "" {
		return "", "", fmt.Errorf("-version is required")
	}
	ch, err := loader.LoadDir(o.dir)
	if err != nil {
		return "", "", fmt.Errorf("loading %s: %w", o.dir, err)
	}
	ch.Metadata.Version = strings.TrimPrefix(o.version, "v")
	ch.Metadata.AppVersion = o.version
	if err := ch.Validate(); err != nil {
		return "", "", fmt.Errorf("chart %s: %w", o.dir, err)
	}
	if err := os.MkdirAll(o.out, 0o755); err != nil {
		return "", "", err
	}
	// The release uploads every package the directory holds: one of an
	// earlier version left there would be published with this one.
	stale, err := filepath.Glob(filepath.Join(o.out, ch.Metadata.Name+"-*.tgz"))
	if err != nil {
		return "", "", err
	}
	for _, p := range stale {
		if err := os.Remove(p); err != nil {
			return "", "", err
		}
	}
	path, err := chartutil.Save(ch, o.out)
	if err != nil {
		return "", "", fmt.Errorf("packaging %s: %w", o.dir, err)
	}
	if o.push == "" {
		return path, "", nil
	}
	repo, ok := strings.CutPrefix(o.push, "oci://")
	if !ok {
		return "", "", fmt.Errorf("-push %q: want oci://REGISTRY/PATH", o.push)
	}
	var opts []registry.ClientOption
	if o.plainHTTP {
		opts = append(opts, registry.ClientOptPlainHTTP())
	}
	c, err := registry.NewClient(opts...)
	if err != nil {
		return "", "", err
	}
	data, err := os.ReadFile(path)
	if err != nil {
		return "", "", err
	}
	ref := fmt.Sprintf("%s/%s:%s", strings.TrimSuffix(repo, "/"), ch.Metadata.Name, ch.Metadata.Version)
	if _, err := c.Push(data, ref); err != nil {
		return "", "", fmt.Errorf("pushing %s: %w", ref, err)
	}
	return path, ref, nil
}
