//go:build e2e

package e2e

import (
	"fmt"
	"testing"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/meshctl/meshctl/internal/testenv"
	"github.com/meshctl/meshctl/pkg/proxy/telemetry"
	"github.com/meshctl/meshctl/pkg/proxyconfig"
	"github.com/meshctl/meshctl/pkg/proxyconfig/wire"
)

// bookstoreScrapedByWorkload: the webhook annotated bookstore's pod for
// Prometheus (its proxy's admin port and metrics path), and its proxy
// names the Deployment bookstore, found through the pod's ReplicaSet, in
// the series of the requests bookbuyer sent it.
func bookstoreScrapedByWorkload(t *testing.T, e *Env) {
	m := &e.mesh
	m.need(t, m.bookstore.pod != "", "bookstore and bookbuyer deployed", "enrolled namespaces")
	pod, err := e.Clients.Kube.CoreV1().Pods(m.bookstore.namespace).Get(testenv.Context(t), m.bookstore.pod, metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	for k, want := range map[string]string{
		proxyconfig.AnnotationPrometheusScrape: "true",
		proxyconfig.AnnotationPrometheusPort:   fmt.Sprint(wire.AdminPort),
		proxyconfig.AnnotationPrometheusPath:   wire.MetricsPath,
	} {
		if got := pod.Annotations[k]; got != want {
			t.Errorf("pod %s/%s: annotation %s = %q, want %q", pod.Namespace, pod.Name, k, got, want)
		}
	}
	if n := e.proxyCounter(t, m.bookstore, telemetry.MetricRequestsTotal, `direction="inbound"`, `peer="bookbuyer/bookbuyer"`,
		`workload_kind="deployment"`, `workload_name="bookstore"`, `workload_namespace="`+m.bookstore.namespace+`"`); n == 0 {
		t.Errorf("bookstore's proxy counts no inbound request from bookbuyer under workload deployment/bookstore")
	}
}
