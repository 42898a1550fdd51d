package controller

import (
	"maps"
	"net/http"
	"net/http/httptest"
	"testing"

	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"

	"github.com/meshctl/meshctl/pkg/version"
)

// TestMetricsBuildInfo: /metrics names the build, as a gauge of 1.
func TestMetricsBuildInfo(t *testing.T) {
	rec := httptest.NewRecorder()
	HealthHandler(NewReadiness(), NewMetrics()).ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/metrics", nil))
	var p expfmt.TextParser
	fams, err := p.TextToMetricFamilies(rec.Body)
	if err != nil {
		t.Fatalf("/metrics does not parse: %v", err)
	}
	f := fams[MetricBuildInfo]
	if f == nil || f.GetType() != dto.MetricType_GAUGE || len(f.Metric) != 1 {
		t.Fatalf("%s: %v, want one gauge", MetricBuildInfo, f)
	}
	v := version.Get()
	want := map[string]string{"version": v.Version, "commit": v.Commit, "go_version": v.GoVersion}
	got := map[string]string{}
	for _, l := range f.Metric[0].Label {
		got[l.GetName()] = l.GetValue()
	}
	if !maps.Equal(got, want) || f.Metric[0].GetGauge().GetValue() != 1 {
		t.Errorf("%s: labels %v value %v, want %v and 1", MetricBuildInfo, got, f.Metric[0].GetGauge().GetValue(), want)
	}
}
