package install

import (
	"fmt"
	"io/fs"
	"path"

	"helm.sh/helm/v3/pkg/chart"
	"helm.sh/helm/v3/pkg/chart/loader"
	"helm.sh/helm/v3/pkg/chartutil"
	corev1 "k8s.io/api/core/v1"

	"github.com/meshctl/meshctl/charts"
	"github.com/meshctl/meshctl/pkg/proxyconfig"
	"github.com/meshctl/meshctl/pkg/proxyconfig/wire"
	"github.com/meshctl/meshctl/pkg/version"
)

// ChartFS is the filesystem meshctl installs from: the embedded chart.
func ChartFS() fs.FS {
	sub, err := fs.Sub(charts.FS, charts.MeshChartDir)
	if err != nil {
		// fs.Sub fails only on an invalid path, which is a constant here.
		panic(err)
	}
	return sub
}

// LoadChart loads the chart at the root of fsys, stamps it with this meshctl
// version and fills the defaults that come from Go code rather than
// values.yaml: the sidecar's log level and resources from pkg/proxyconfig.
// The images follow from the stamp: the chart names
// <imageRegistry>/<image>:<appVersion>, and appVersion is this version, the
// tag of pkg/proxyconfig.DefaultImage. Stamping at load time rather than in
// Chart.yaml means a build can never install a chart that names another
// version.
func LoadChart(fsys fs.FS) (*chart.Chart, error) {
	var files []*loader.BufferedFile
	err := fs.WalkDir(fsys, ".", func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		data, err := fs.ReadFile(fsys, p)
		if err != nil {
			return err
		}
		files = append(files, &loader.BufferedFile{Name: path.Clean(p), Data: data})
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("reading the embedded chart: %w", err)
	}
	ch, err := loader.LoadFiles(files)
	if err != nil {
		return nil, fmt.Errorf("loading the embedded chart: %w", err)
	}
	ch.Metadata.Version = version.ChartVersion()
	ch.Metadata.AppVersion = version.Version()
	if err := ch.Validate(); err != nil {
		return nil, fmt.Errorf("embedded chart: %w", err)
	}
	ch.Values = chartutil.CoalesceTables(computedDefaults(), ch.Values)
	return ch, nil
}

// computedDefaults are the chart defaults that are facts owned by Go
// packages. They override the empty placeholders of values.yaml, and are
// overridden in turn by everything the user supplies.
func computedDefaults() map[string]any {
	return map[string]any{
		// meshctl makes the mesh CA before the release (planCA); the
		// controller generates one only under a plain helm install.
		"controller": map[string]any{"generateCA": false},
		"meshConfig": map[string]any{
			"sidecar": map[string]any{
				"logLevel":  string(wire.DefaultLogLevel),
				"resources": resourcesValues(proxyconfig.DefaultResources()),
			},
		},
	}
}

// resourcesValues turns resource requirements into chart values.
func resourcesValues(r corev1.ResourceRequirements) map[string]any {
	out := map[string]any{}
	for key, list := range map[string]corev1.ResourceList{"requests": r.Requests, "limits": r.Limits} {
		if len(list) == 0 {
			continue
		}
		m := map[string]any{}
		for name, q := range list {
			m[string(name)] = q.String()
		}
		out[key] = m
	}
	return out
}
