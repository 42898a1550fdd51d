package telemetry

import (
	"bytes"
	"os"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/meshctl/meshctl/pkg/version"
)

// TestMetricsDocumented holds docs/configuration.md#metrics to the
// exposition: every proxy series and every label it writes is named in
// the proxy's metrics table.
func TestMetricsDocumented(t *testing.T) {
	doc, err := os.ReadFile("../../../docs/configuration.md")
	if err != nil {
		t.Fatal(err)
	}
	start := bytes.Index(doc, []byte("### The proxy: `:15000/metrics`"))
	end := bytes.Index(doc, []byte("### The controller"))
	if start < 0 || end < start {
		t.Fatal("docs/configuration.md has no proxy metrics section before the controller's")
	}
	section := string(doc[start:end])

	m := NewMetricsFor(Workload{Namespace: "n", Kind: "deployment", Name: "w"})
	m.ObserveRequest("inbound", "GET", 200, "p", true, time.Millisecond)
	m.TCPOpened("inbound", "p", true)
	m.Handshake("inbound", "ok", time.Millisecond)
	m.Denied("inbound", "http", "p", "no_traffic_target")
	var b bytes.Buffer
	appendBuildInfo(&b, version.Get(), m.workload)
	m.appendRequests(&b)
	m.appendTCP(&b)
	m.appendHandshakes(&b)
	m.appendDenied(&b)
	series := regexp.MustCompile(`(?m)^(mesh_proxy_\w+?)(_bucket|_sum|_count)?\{([^}]*)\}`)
	label := regexp.MustCompile(`(\w+)="`)
	for _, s := range series.FindAllStringSubmatch(b.String(), -1) {
		name := s[1]
		if !strings.Contains(section, "`"+name+"`") {
			t.Errorf("docs/configuration.md does not document the proxy metric `%s`", name)
		}
		for _, l := range label.FindAllStringSubmatch(s[3], -1) {
			if l[1] != "le" && !strings.Contains(section, "`"+l[1]+"`") {
				t.Errorf("docs/configuration.md does not document the label `%s` of `%s`", l[1], name)
			}
		}
	}
}
