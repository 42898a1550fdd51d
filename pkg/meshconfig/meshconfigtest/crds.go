// Package meshconfigtest gives integration tests what a mesh installation
// would: the chart's CRDs (read from the embedded chart, the same files
// install applies) and a MeshConfig in a control-plane namespace. Its own
// tests are pkg/meshconfig's tests against a real API server: the CRDs'
// defaults and validation rules, and reading a MeshConfig from the cluster.
// They live here so that pkg/meshconfig's unit tests and fuzz targets run
// without starting an API server.
package meshconfigtest

import (
	"context"
	"fmt"
	"io/fs"
	"path"
	"strings"
	"testing"
	"time"

	apiextensionsv1 "k8s.io/apiextensions-apiserver/pkg/apis/apiextensions/v1"
	apiextensionsclient "k8s.io/apiextensions-apiserver/pkg/client/clientset/clientset"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/wait"
	"k8s.io/client-go/dynamic"
	"k8s.io/client-go/rest"
	"sigs.k8s.io/yaml"

	"github.com/meshctl/meshctl/charts"
	"github.com/meshctl/meshctl/pkg/meshconfig"
)

// CRDDir is the directory of the CRDs inside charts.FS.
const CRDDir = charts.MeshChartDir + "/crds"

// ReadCRDs decodes every CRD of the chart.
func ReadCRDs() ([]*apiextensionsv1.CustomResourceDefinition, error) {
	entries, err := fs.ReadDir(charts.FS, CRDDir)
	if err != nil {
		return nil, err
	}
	var crds []*apiextensionsv1.CustomResourceDefinition
	for _, e := range entries {
		if !strings.HasSuffix(e.Name(), ".yaml") {
			continue
		}
		p := path.Join(CRDDir, e.Name())
		b, err := fs.ReadFile(charts.FS, p)
		if err != nil {
			return nil, err
		}
		crd := &apiextensionsv1.CustomResourceDefinition{}
		if err := yaml.UnmarshalStrict(b, crd); err != nil {
			return nil, fmt.Errorf("%s: %w", p, err)
		}
		crds = append(crds, crd)
	}
	return crds, nil
}

// InstallCRDs creates the chart's CRDs, unless they exist, and waits until
// the API server serves them. Tests of one package share an API server, so
// every test can call it.
func InstallCRDs(t testing.TB, cfg *rest.Config) {
	t.Helper()
	crds, err := ReadCRDs()
	if err != nil {
		t.Fatal(err)
	}
	client, err := apiextensionsclient.NewForConfig(cfg)
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	api := client.ApiextensionsV1().CustomResourceDefinitions()
	for _, crd := range crds {
		if _, err := api.Create(ctx, crd, metav1.CreateOptions{}); err != nil && !apierrors.IsAlreadyExists(err) {
			t.Fatalf("creating CRD %s: %v", crd.Name, err)
		}
	}
	for _, crd := range crds {
		err := wait.PollUntilContextTimeout(ctx, 50*time.Millisecond, 30*time.Second, true, func(ctx context.Context) (bool, error) {
			got, err := api.Get(ctx, crd.Name, metav1.GetOptions{})
			if err != nil {
				return false, err
			}
			for _, c := range got.Status.Conditions {
				if c.Type == apiextensionsv1.Established && c.Status == apiextensionsv1.ConditionTrue {
					return true, nil
				}
			}
			return false, nil
		})
		if err != nil {
			t.Fatalf("CRD %s not established: %v", crd.Name, err)
		}
	}
	// Established is set before every API server handler has caught up; a
	// first list proves the resource is served.
	dc, err := dynamic.NewForConfig(cfg)
	if err != nil {
		t.Fatal(err)
	}
	err = wait.PollUntilContextTimeout(ctx, 50*time.Millisecond, 30*time.Second, true, func(ctx context.Context) (bool, error) {
		_, err := dc.Resource(meshconfig.GroupVersionResource).List(ctx, metav1.ListOptions{Limit: 1})
		return err == nil, nil
	})
	if err != nil {
		t.Fatalf("MeshConfigs are not served: %v", err)
	}
}

// InstallMesh creates what marks a mesh as installed: its MeshConfig (New,
// so DefaultSpec) labelled with the mesh's name, in namespace, which must
// exist.
func InstallMesh(t testing.TB, dc dynamic.Interface, mesh, namespace string) {
	t.Helper()
	mc := meshconfig.New(namespace)
	mc.Labels = map[string]string{meshconfig.LabelMeshName: mesh, meshconfig.LabelPartOf: meshconfig.PartOfValue}
	u, err := meshconfig.ToUnstructured(mc)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := dc.Resource(meshconfig.GroupVersionResource).Namespace(namespace).Create(context.Background(), u, metav1.CreateOptions{}); err != nil {
		t.Fatalf("creating MeshConfig in %s: %v", namespace, err)
	}
}
