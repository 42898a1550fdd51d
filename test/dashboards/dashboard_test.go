// Package dashboards_test holds the Grafana dashboard the chart ships
// (charts/mesh/dashboards/mesh.json) to the metrics mesh-proxy really
// exports: every PromQL expression parses with Prometheus's own parser, and
// every series and label it names is one a proxy's exposition, produced by
// pkg/proxy/telemetry with every series populated, holds. It is a package
// of its own, under test/, so that Prometheus's parser is a dependency of
// this test only: meshctl, mesh-proxy and mesh-controller do not link it.
package dashboards_test

import (
	"bytes"
	"encoding/json"
	"fmt"
	"os"
	"regexp"
	"slices"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/prometheus/model/labels"
	"github.com/prometheus/prometheus/promql/parser"

	_ "github.com/meshctl/meshctl/internal/golden"
	"github.com/meshctl/meshctl/pkg/proxy/telemetry"
	"github.com/meshctl/meshctl/pkg/proxyconfig/wire"
)

const dashboardPath = "../../charts/mesh/dashboards/mesh.json"

// targetLabels are the labels Prometheus itself gives every series it
// scrapes, whatever the scrape configuration: a query may join on them.
// Anything else a query names must come from the proxy.
var targetLabels = []string{"instance", "job"}

// exported is what a proxy's exposition holds: each series name (a
// histogram's _bucket, _sum and _count, not its family's name) with the
// label names it carries.
type exported map[string]map[string]bool

// proxyExposition is a real proxy's /metrics, every series populated: HTTP
// both ways over mutual TLS and not, opaque TCP, handshakes that worked and
// failed, denials by policy and by egress.
func proxyExposition(t *testing.T) exported {
	t.Helper()
	m := telemetry.NewMetricsFor(telemetry.Workload{Namespace: "bookstore", Kind: wire.KindDeployment, Name: "bookstore-v1"})
	m.ObserveRequest("inbound", "GET", 200, "bookbuyer/bookbuyer", true, 2*time.Millisecond)
	m.ObserveRequest("inbound", "POST", 503, "port/8080", false, 20*time.Millisecond)
	m.ObserveRequest("outbound", "GET", 200, "bookwarehouse/bookwarehouse", true, time.Millisecond)
	m.TCPOpened("inbound", "bookbuyer/bookbuyer", true)
	m.TCPClosed("inbound", "bookbuyer/bookbuyer", true, 10, 20)
	m.TCPOpened("outbound", "10.0.0.1:5432", false)
	m.Handshake("inbound", "ok", time.Millisecond)
	m.Handshake("outbound", "peer_identity", time.Millisecond)
	m.Denied("inbound", "http", "bookthief/bookthief", "source-not-allowed")
	m.Denied("outbound", "tcp", "203.0.113.1:443", "egress-disabled")
	var b bytes.Buffer
	if _, err := m.WriteTo(&b); err != nil {
		t.Fatal(err)
	}
	var p expfmt.TextParser
	fams, err := p.TextToMetricFamilies(&b)
	if err != nil {
		t.Fatal(err)
	}
	out := exported{}
	add := func(name string, ls map[string]bool) {
		if out[name] == nil {
			out[name] = map[string]bool{}
		}
		for l := range ls {
			out[name][l] = true
		}
	}
	for name, f := range fams {
		for _, s := range f.Metric {
			ls := map[string]bool{}
			for _, l := range s.Label {
				ls[l.GetName()] = true
			}
			if f.GetType().String() == "HISTOGRAM" {
				add(name+"_sum", ls)
				add(name+"_count", ls)
				ls["le"] = true
				add(name+"_bucket", ls)
				continue
			}
			add(name, ls)
		}
	}
	return out
}

// query is one PromQL expression of the dashboard and where it is.
type query struct {
	where, expr, legend string
}

// grafanaVars stand for Grafana's own variables, which are not PromQL.
var grafanaVars = strings.NewReplacer("$__rate_interval", "5m", "$__interval", "1m", "$__range", "1h")

// labelValues is a variable's query, label_values(selector, label).
var labelValues = regexp.MustCompile(`^label_values\((.+),\s*([a-zA-Z_][a-zA-Z0-9_]*)\)$`)

// queries returns every expression of the dashboard: the panels' targets
// (rows' nested panels too) and the variables' label_values queries, the
// latter as the selector and a `sum by (label)` over it, which checks the
// same names.
func queries(t *testing.T, data []byte) []query {
	t.Helper()
	var d struct {
		Panels     []json.RawMessage `json:"panels"`
		Templating struct {
			List []struct {
				Name  string `json:"name"`
				Type  string `json:"type"`
				Query any    `json:"query"`
			} `json:"list"`
		} `json:"templating"`
	}
	if err := json.Unmarshal(data, &d); err != nil {
		t.Fatalf("%s: %v", dashboardPath, err)
	}
	var out []query
	var panels func([]json.RawMessage)
	panels = func(ps []json.RawMessage) {
		for _, raw := range ps {
			var p struct {
				Title   string            `json:"title"`
				Type    string            `json:"type"`
				Panels  []json.RawMessage `json:"panels"`
				Targets []struct {
					RefID  string `json:"refId"`
					Expr   string `json:"expr"`
					Legend string `json:"legendFormat"`
				} `json:"targets"`
			}
			if err := json.Unmarshal(raw, &p); err != nil {
				t.Fatal(err)
			}
			panels(p.Panels)
			if p.Type != "row" && len(p.Targets) == 0 {
				t.Errorf("panel %q has no query", p.Title)
			}
			for _, tg := range p.Targets {
				if tg.Expr == "" {
					t.Errorf("panel %q target %s has no expr", p.Title, tg.RefID)
					continue
				}
				out = append(out, query{where: fmt.Sprintf("panel %q target %s", p.Title, tg.RefID), expr: tg.Expr, legend: tg.Legend})
			}
		}
	}
	panels(d.Panels)
	for _, v := range d.Templating.List {
		if v.Type != "query" {
			continue
		}
		var q string
		switch x := v.Query.(type) {
		case string:
			q = x
		case map[string]any:
			q, _ = x["query"].(string)
		}
		m := labelValues.FindStringSubmatch(strings.TrimSpace(q))
		if m == nil {
			t.Errorf("variable %s: query %q is not label_values(selector, label)", v.Name, q)
			continue
		}
		out = append(out, query{where: "variable " + v.Name, expr: fmt.Sprintf("sum by (%s) (%s)", m[2], m[1])})
	}
	return out
}

// check parses expr and returns what in it the exposition does not hold:
// series it selects that the proxy does not export, labels it matches a
// series on that the series lacks, labels it groups or joins by that none
// of the series beneath lacks, and legend labels the result cannot have.
func check(exp exported, q query) []string {
	e, err := parser.ParseExpr(grafanaVars.Replace(q.expr))
	if err != nil {
		return []string{fmt.Sprintf("does not parse: %v", err)}
	}
	var problems []string
	// labelsOf is the union of the labels of the series selected under n.
	labelsOf := func(n parser.Node) map[string]bool {
		out := map[string]bool{}
		for _, l := range targetLabels {
			out[l] = true
		}
		parser.Inspect(n, func(n parser.Node, _ []parser.Node) error {
			if vs, ok := n.(*parser.VectorSelector); ok {
				for l := range exp[selectorName(vs)] {
					out[l] = true
				}
			}
			return nil
		})
		return out
	}
	need := func(have map[string]bool, what string, ls []string) {
		for _, l := range ls {
			if !have[l] {
				problems = append(problems, fmt.Sprintf("%s label %q: no series beneath has it", what, l))
			}
		}
	}
	parser.Inspect(e, func(n parser.Node, _ []parser.Node) error {
		switch n := n.(type) {
		case *parser.VectorSelector:
			name := selectorName(n)
			ls, ok := exp[name]
			if !ok {
				problems = append(problems, fmt.Sprintf("series %q: the proxy exports no such series", name))
				return nil
			}
			for _, m := range n.LabelMatchers {
				if m.Name != labels.MetricName && !ls[m.Name] && !slices.Contains(targetLabels, m.Name) {
					problems = append(problems, fmt.Sprintf("series %q has no label %q", name, m.Name))
				}
			}
		case *parser.AggregateExpr:
			if !n.Without {
				need(labelsOf(n.Expr), "by", n.Grouping)
			}
		case *parser.BinaryExpr:
			if vm := n.VectorMatching; vm != nil {
				if vm.On {
					need(labelsOf(n.LHS), "on (left)", vm.MatchingLabels)
					need(labelsOf(n.RHS), "on (right)", vm.MatchingLabels)
				}
				switch vm.Card {
				case parser.CardManyToOne:
					need(labelsOf(n.RHS), "group_left", vm.Include)
				case parser.CardOneToMany:
					need(labelsOf(n.LHS), "group_right", vm.Include)
				}
			}
		}
		return nil
	})
	result := labelsOf(e)
	for _, m := range legendLabel.FindAllStringSubmatch(q.legend, -1) {
		if !result[m[1]] {
			problems = append(problems, fmt.Sprintf("legend label %q: no series beneath has it", m[1]))
		}
	}
	return problems
}

var legendLabel = regexp.MustCompile(`\{\{\s*([a-zA-Z_][a-zA-Z0-9_]*)\s*\}\}`)

// selectorName is a selector's metric name, from its name or an equality
// matcher on __name__.
func selectorName(vs *parser.VectorSelector) string {
	if vs.Name != "" {
		return vs.Name
	}
	for _, m := range vs.LabelMatchers {
		if m.Name == labels.MetricName && m.Type == labels.MatchEqual {
			return m.Value
		}
	}
	return ""
}

// TestDashboardQueriesNameExportedSeries is the test of the dashboard:
// every query parses, and names only what a proxy exports.
func TestDashboardQueriesNameExportedSeries(t *testing.T) {
	data, err := os.ReadFile(dashboardPath)
	if err != nil {
		t.Fatal(err)
	}
	exp := proxyExposition(t)
	qs := queries(t, data)
	if len(qs) < 20 {
		t.Fatalf("%d queries in %s, want the dashboard's 20 or more", len(qs), dashboardPath)
	}
	used := map[string]bool{}
	for _, q := range qs {
		for _, p := range check(exp, q) {
			t.Errorf("%s: %s\n  %s", q.where, p, q.expr)
		}
		if e, err := parser.ParseExpr(grafanaVars.Replace(q.expr)); err == nil {
			parser.Inspect(e, func(n parser.Node, _ []parser.Node) error {
				if vs, ok := n.(*parser.VectorSelector); ok {
					used[strings.TrimSuffix(strings.TrimSuffix(strings.TrimSuffix(selectorName(vs), "_bucket"), "_sum"), "_count")] = true
				}
				return nil
			})
		}
	}
	// The dashboard shows every traffic metric the proxy has.
	for _, name := range []string{wire.MetricRequestsTotal, wire.MetricRequestDuration, wire.MetricTCPOpened, wire.MetricTCPActive,
		wire.MetricTCPBytes, wire.MetricHandshakes, wire.MetricHandshakeDuration, wire.MetricDenied, wire.MetricBuildInfo} {
		if !used[name] {
			t.Errorf("no panel shows %s", name)
		}
	}
}

// TestCheckRefusesWhatTheProxyDoesNotExport holds the check itself to its
// purpose: a query that names a series, a label or a grouping the proxy
// does not have, or does not parse, is reported.
func TestCheckRefusesWhatTheProxyDoesNotExport(t *testing.T) {
	exp := proxyExposition(t)
	for _, tc := range []struct {
		q    query
		want string // "" for a query that passes
	}{
		{query{expr: `sum by (workload_name) (rate(mesh_proxy_requests_total{direction="inbound"}[$__rate_interval]))`, legend: "{{workload_name}}"}, ""},
		{query{expr: `histogram_quantile(0.99, sum by (le) (rate(mesh_proxy_request_duration_seconds_bucket[5m])))`}, ""},
		{query{expr: `go_goroutines * on (instance, job) group_left (workload_name) mesh_proxy_build_info`}, ""},
		{query{expr: `rate(mesh_proxy_request_total[5m])`}, `series "mesh_proxy_request_total"`},
		{query{expr: `rate(mesh_proxy_request_duration_seconds[5m])`}, `series "mesh_proxy_request_duration_seconds"`},
		{query{expr: `rate(mesh_proxy_tls_handshakes_total{status_class="5xx"}[5m])`}, `no label "status_class"`},
		{query{expr: `sum by (namespace) (rate(mesh_proxy_requests_total[5m]))`}, `by label "namespace"`},
		{query{expr: `sum by (le) (rate(mesh_proxy_requests_total[5m]))`}, `by label "le"`},
		{query{expr: `go_goroutines * on (instance, pod) group_left (workload_name) mesh_proxy_build_info`}, `on (left) label "pod"`},
		{query{expr: `go_goroutines * on (instance) group_left (deployment) mesh_proxy_build_info`}, `group_left label "deployment"`},
		{query{expr: `sum(rate(mesh_proxy_requests_total[5m]))`, legend: "{{workload}}"}, `legend label "workload"`},
		{query{expr: `sum by (workload_name (rate(mesh_proxy_requests_total[5m]))`}, "does not parse"},
	} {
		problems := check(exp, tc.q)
		switch {
		case tc.want == "" && len(problems) > 0:
			t.Errorf("%s: %v, want none", tc.q.expr, problems)
		case tc.want != "" && !slices.ContainsFunc(problems, func(p string) bool { return strings.Contains(p, tc.want) }):
			t.Errorf("%s: %v, want one naming %s", tc.q.expr, problems, tc.want)
		}
	}
}

// TestExpositionIsComplete: the exposition the dashboard is checked
// against has every proxy series, so that a query is refused for naming
// what the proxy lacks, not what this test forgot to record.
func TestExpositionIsComplete(t *testing.T) {
	exp := proxyExposition(t)
	var names []string
	for n := range exp {
		if strings.HasPrefix(n, "mesh_proxy_") {
			names = append(names, n)
		}
	}
	sort.Strings(names)
	want := []string{
		wire.MetricDenied, wire.MetricBuildInfo, wire.MetricRequestDuration + "_bucket", wire.MetricRequestDuration + "_count", wire.MetricRequestDuration + "_sum",
		wire.MetricRequestsTotal, wire.MetricTCPBytes, wire.MetricTCPActive, wire.MetricTCPOpened,
		wire.MetricHandshakeDuration + "_bucket", wire.MetricHandshakeDuration + "_count", wire.MetricHandshakeDuration + "_sum", wire.MetricHandshakes,
	}
	sort.Strings(want)
	if !slices.Equal(names, want) {
		t.Errorf("exposition's series %v, want %v", names, want)
	}
	for _, n := range names {
		for _, l := range []string{"workload_namespace", "workload_kind", "workload_name"} {
			if !exp[n][l] {
				t.Errorf("%s lacks %s", n, l)
			}
		}
	}
}
