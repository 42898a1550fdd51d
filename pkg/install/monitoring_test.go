package install

import (
	"encoding/json"
	"os"
	"reflect"
	"testing"

	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"

	"github.com/meshctl/meshctl/pkg/meshconfig"
	"github.com/meshctl/meshctl/pkg/proxyconfig"
	"github.com/meshctl/meshctl/pkg/proxyconfig/wire"
)

// The Prometheus Operator's monitors and the Grafana dashboard are off by
// default.
func TestMonitoringOffByDefault(t *testing.T) {
	for _, o := range renderObjects(t, loadChart(t)) {
		if o.GetKind() == "PodMonitor" || o.GetKind() == "ServiceMonitor" || o.GetLabels()["grafana_dashboard"] != "" {
			t.Errorf("%s/%s rendered by default", o.GetKind(), o.GetName())
		}
	}
}

// With prometheus.podMonitor, the PodMonitor selects every injected pod
// in every namespace by the label the injector puts on it and scrapes the
// proxy's admin port by the name the injector gives it, at the proxy's
// metrics path; the ServiceMonitor selects the controller's Service by its
// labels and scrapes the port the Service names metrics, which is the
// controller's health port. The names are the Go packages' own.
func TestPodMonitorNamesComeFromTheInjector(t *testing.T) {
	d := loadChart(t)
	objs := renderObjects(t, d, "prometheus.podMonitor=true", "prometheus.monitorLabels.release=kps")
	pm, sm, svc := find(objs, "PodMonitor"), find(objs, "ServiceMonitor"), find(objs, "Service")
	if pm == nil || sm == nil {
		t.Fatalf("PodMonitor %v, ServiceMonitor %v", pm != nil, sm != nil)
	}
	for _, o := range []*unstructured.Unstructured{pm, sm} {
		if o.GetAPIVersion() != "monitoring.coreos.com/v1" || o.GetNamespace() != d.Namespace || o.GetLabels()["release"] != "kps" {
			t.Errorf("%s: apiVersion %s, namespace %s, labels %v", o.GetKind(), o.GetAPIVersion(), o.GetNamespace(), o.GetLabels())
		}
	}
	if any, _, _ := unstructured.NestedBool(pm.Object, "spec", "namespaceSelector", "any"); !any {
		t.Error("the PodMonitor does not select every namespace")
	}
	exprs, _, _ := unstructured.NestedSlice(pm.Object, "spec", "selector", "matchExpressions")
	want := []any{map[string]any{"key": meshconfig.LabelProxyVersion, "operator": "Exists"}}
	if !reflect.DeepEqual(exprs, want) {
		t.Errorf("PodMonitor selector %v, want %v", exprs, want)
	}
	eps, _, _ := unstructured.NestedSlice(pm.Object, "spec", "podMetricsEndpoints")
	if len(eps) != 1 || eps[0].(map[string]any)["port"] != proxyconfig.AdminPortName || eps[0].(map[string]any)["path"] != wire.MetricsPath {
		t.Errorf("PodMonitor endpoints %v, want port %s path %s", eps, proxyconfig.AdminPortName, wire.MetricsPath)
	}
	// The port the PodMonitor names is the proxy container's.
	proxy := proxyconfig.Config{}
	if c := proxy.ProxyContainer(); len(c.Ports) != 1 || c.Ports[0].Name != proxyconfig.AdminPortName || c.Ports[0].ContainerPort != wire.AdminPort {
		t.Errorf("the proxy container's ports %v", c.Ports)
	}

	sel, _, _ := unstructured.NestedStringMap(sm.Object, "spec", "selector", "matchLabels")
	for k, v := range sel {
		if svc.GetLabels()[k] != v {
			t.Errorf("ServiceMonitor selector %s=%s; the Service's labels %v", k, v, svc.GetLabels())
		}
	}
	if len(sel) == 0 || sel[meshconfig.LabelMeshName] != d.MeshName {
		t.Errorf("ServiceMonitor selector %v does not name the mesh", sel)
	}
	ports, _, _ := unstructured.NestedSlice(svc.Object, "spec", "ports")
	sEps, _, _ := unstructured.NestedSlice(sm.Object, "spec", "endpoints")
	found := false
	for _, p := range ports {
		pm := p.(map[string]any)
		if len(sEps) == 1 && pm["name"] == sEps[0].(map[string]any)["port"] && pm["targetPort"] == "health" {
			found = true
		}
	}
	if !found {
		t.Errorf("ServiceMonitor endpoints %v name no Service port to the controller's health port: %v", sEps, ports)
	}
}

// With grafana.dashboards, the dashboard JSON is in a ConfigMap the
// Grafana sidecar loads, byte for byte the file the repository ships.
func TestGrafanaDashboardConfigMap(t *testing.T) {
	objs := renderObjects(t, loadChart(t), "grafana.dashboards=true")
	var cm *unstructured.Unstructured
	for _, o := range objs {
		if o.GetKind() == "ConfigMap" && o.GetLabels()["grafana_dashboard"] == "1" {
			cm = o
		}
	}
	if cm == nil {
		t.Fatal("no ConfigMap labelled grafana_dashboard: \"1\"")
	}
	got, _, _ := unstructured.NestedString(cm.Object, "data", "mesh.json")
	want, err := os.ReadFile("../../charts/mesh/dashboards/mesh.json")
	if err != nil {
		t.Fatal(err)
	}
	if got+"\n" != string(want) && got != string(want) {
		t.Errorf("the ConfigMap's dashboard differs from charts/mesh/dashboards/mesh.json")
	}
	if !json.Valid([]byte(got)) {
		t.Error("the ConfigMap's dashboard is not JSON")
	}
}
