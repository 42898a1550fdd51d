package check

import (
	"github.com/meshctl/meshctl/pkg/install"
)

// RenderEmbeddedChart renders the chart built into meshctl, with its default
// values, as `meshctl install` would for this mesh. The preflight
// permissions are derived from it, and the post-install checks look for the
// objects it names, so neither keeps a list of its own.
func RenderEmbeddedChart(meshName, namespace string) (*Chart, error) {
	ch, err := install.LoadChart(install.ChartFS())
	if err != nil {
		return nil, err
	}
	manifest, err := install.Render(ch, meshName, namespace, nil, true)
	if err != nil {
		return nil, err
	}
	objs, err := install.Manifest(manifest).Objects()
	if err != nil {
		return nil, err
	}
	out := &Chart{}
	for _, o := range objs {
		if o.GetKind() == "CustomResourceDefinition" {
			out.CRDs = append(out.CRDs, o)
			continue
		}
		out.Objects = append(out.Objects, o)
	}
	return out, nil
}
