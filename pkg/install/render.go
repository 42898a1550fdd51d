package install

import (
	"bytes"
	"fmt"
	"io"
	"strings"

	"helm.sh/helm/v3/pkg/action"
	"helm.sh/helm/v3/pkg/chart"
	"helm.sh/helm/v3/pkg/chartutil"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"sigs.k8s.io/yaml"

	"github.com/meshctl/meshctl/pkg/cli"
)

// RenderKubeVersion is the Kubernetes version a render without a cluster
// assumes, as `helm template --kube-version` does: the oldest the mesh
// supports (pkg/check.MinKubernetesVersion; a test holds them equal), which
// the chart's kubeVersion admits. Helm's own default is older than any
// supported cluster.
const RenderKubeVersion = "v1.30.0"

// Render renders ch for the mesh name in namespace with the given
// user-supplied values, locally, as `helm template` does. The values are
// validated against values.schema.json first. With includeCRDs the chart's
// CRDs come first, so the output can be applied as is.
func Render(ch *chart.Chart, meshName, namespace string, user map[string]any, includeCRDs bool) (string, error) {
	in := action.NewInstall(&action.Configuration{Log: func(string, ...any) {}})
	in.ClientOnly = true
	kv, err := chartutil.ParseKubeVersion(RenderKubeVersion)
	if err != nil {
		return "", err
	}
	in.KubeVersion = kv
	in.DryRun = true
	in.ReleaseName = meshName
	in.Namespace = namespace
	in.IncludeCRDs = includeCRDs
	in.DisableHooks = true
	rel, err := in.Run(ch, user)
	if err != nil {
		return "", renderError(err)
	}
	return rel.Manifest, nil
}

// renderError says where a render failure comes from.
func renderError(err error) error {
	return fmt.Errorf("rendering the chart: %w", err)
}

// Manifest is a rendered multi-document YAML stream, in Helm's install order.
type Manifest string

// Objects parses the manifest into objects, in order.
func (m Manifest) Objects() ([]*unstructured.Unstructured, error) {
	var objs []*unstructured.Unstructured
	for i, doc := range splitDocuments(string(m)) {
		obj := &unstructured.Unstructured{}
		if err := yaml.Unmarshal([]byte(doc), &obj.Object); err != nil {
			return nil, fmt.Errorf("rendered document %d: %w", i+1, err)
		}
		if len(obj.Object) == 0 {
			continue
		}
		objs = append(objs, obj)
	}
	return objs, nil
}

// splitDocuments splits a YAML stream on "---" lines, in order (Helm's
// SplitManifests returns a map, which loses the order).
func splitDocuments(s string) []string {
	var docs []string
	var cur strings.Builder
	for line := range strings.Lines(s) {
		if strings.TrimRight(line, " \n") == "---" {
			docs = append(docs, cur.String())
			cur.Reset()
			continue
		}
		cur.WriteString(line)
	}
	docs = append(docs, cur.String())
	out := docs[:0]
	for _, d := range docs {
		if strings.TrimSpace(stripComments(d)) != "" {
			out = append(out, d)
		}
	}
	return out
}

func stripComments(doc string) string {
	var b strings.Builder
	for line := range strings.Lines(doc) {
		if !strings.HasPrefix(strings.TrimSpace(line), "#") {
			b.WriteString(line)
		}
	}
	return b.String()
}

// WriteManifest writes m as YAML (the stream itself) or JSON (a v1 List).
func WriteManifest(out io.Writer, f cli.Format, m Manifest) error {
	if f != cli.FormatJSON {
		var buf bytes.Buffer
		buf.WriteString(strings.TrimPrefix(string(m), "\n"))
		if !strings.HasSuffix(buf.String(), "\n") {
			buf.WriteString("\n")
		}
		_, err := out.Write(buf.Bytes())
		return err
	}
	objs, err := m.Objects()
	if err != nil {
		return err
	}
	items := make([]any, len(objs))
	for i, o := range objs {
		items[i] = o.Object
	}
	return cli.EncodeJSON(out, map[string]any{"apiVersion": "v1", "kind": "List", "items": items})
}
