package namespace

import (
	"fmt"
	"testing"

	"github.com/meshctl/meshctl/internal/testenv"
	"github.com/meshctl/meshctl/pkg/cli"
	"github.com/meshctl/meshctl/pkg/kube"
	"github.com/meshctl/meshctl/pkg/meshconfig"
)

// BenchmarkList measures `meshctl namespace list` against the API server:
// 20 enrolled namespaces of 10 pods each (one list of namespaces, then one
// list of pods per namespace).
func BenchmarkList(b *testing.B) {
	mesh := testenv.UniqueName("bench")
	for range 20 {
		ns := env.Namespace(b, map[string]string{meshconfig.LabelMonitoredBy: mesh})
		for j := range 10 {
			pod(b, ns, fmt.Sprintf("p%d", j), j%2 == 0, nil)
		}
	}
	o := &ListOptions{IOStreams: (&streams{}).io(), Clients: kube.Static(env.Clients), Mesh: mesh, Output: cli.FormatTable}
	ctx := testenv.Context(b)
	for b.Loop() {
		l, err := o.list(ctx)
		if err != nil || len(l.Namespaces) != 20 || l.Namespaces[0].Pods != 10 || l.Namespaces[0].InjectedPods != 5 {
			b.Fatalf("list = %+v, %v", l, err)
		}
	}
}
