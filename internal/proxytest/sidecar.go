package proxytest

import (
	"testing"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/utils/ptr"

	"github.com/meshctl/meshctl/pkg/identity"
	"github.com/meshctl/meshctl/pkg/meshconfig"
	"github.com/meshctl/meshctl/pkg/proxyconfig"
	"github.com/meshctl/meshctl/pkg/proxyconfig/wire"
)

// Sidecar is the proxy container the injector adds with the mesh's
// defaults, identity included: what a meshed pod of a test carries.
func Sidecar(t testing.TB) corev1.Container {
	t.Helper()
	pc, err := proxyconfig.New(meshconfig.DefaultSpec())
	if err != nil {
		t.Fatal(err)
	}
	ctrl, err := meshconfig.ControllerID(identity.DefaultTrustDomain, meshconfig.DefaultMeshNamespace)
	if err != nil {
		t.Fatal(err)
	}
	proxy := pc.NativeSidecarContainer()
	run := pc.Run()
	run.Identity = &wire.Identity{ControllerAddress: meshconfig.ControllerAddress(meshconfig.DefaultMeshNamespace), ControllerID: ctrl}
	proxy.Args = run.Args()
	return proxy
}

// AppSpec is the spec of a pod of one app container running as the
// ServiceAccount sa.
func AppSpec(sa string) corev1.PodSpec {
	return corev1.PodSpec{ServiceAccountName: sa, AutomountServiceAccountToken: ptr.To(false), Containers: []corev1.Container{{Name: "app", Image: "app:1"}}}
}
