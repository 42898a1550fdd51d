package proxyadmin

import (
	"bytes"
	"math"
	"os"
	"strconv"
	"strings"
	"testing"

	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"
)

func TestParseMetrics(t *testing.T) {
	for _, c := range []struct {
		name, text string
		families   []string // name/type/samples
		err        string
	}{
		{"empty", "", nil, ""},
		{"untyped sample", "up 1\n", []string{"up//1"}, ""},
		{"typed", "# TYPE a counter\na 1\na{x=\"y\"} 2\n", []string{"a/counter/2"}, ""},
		{"histogram parts", "# TYPE h histogram\nh_bucket{le=\"1\"} 1\nh_bucket{le=\"+Inf\"} 2\nh_sum 3\nh_count 2\n", []string{"h/histogram/4"}, ""},
		{"a sample of another name starts a family", "# TYPE a gauge\na 1\nb 2\n", []string{"a/gauge/1", "b//1"}, ""},
		{"a prefix is not a suffix", "# TYPE a gauge\na_other 1\n", []string{"a/gauge/0", "a_other//1"}, ""},
		{"HELP and TYPE in either order", "# TYPE a gauge\n# HELP a help\na 1\n# HELP b help\n# TYPE b gauge\nb 1\n", []string{"a/gauge/1", "b/gauge/1"}, ""},
		{"blank lines and other comments", "\n# a comment\n# TYPE a gauge\n\n# another\na 1\n", []string{"a/gauge/1"}, ""},
		{"timestamp", "a 1 1700000000000\n", []string{"a//1"}, ""},
		{"special values", "a NaN\nb +Inf\nc -Inf\nd 1e-3\n", []string{"a//1", "b//1", "c//1", "d//1"}, ""},
		{"spaces in labels", "a{ x = \"1\" , y=\"2\", } 1\n", []string{"a//1"}, ""},
		{"carriage returns", "# TYPE a gauge\r\na 1\r\n", []string{"a/gauge/1"}, ""},
		{"no value", "a\n", nil, "want a value"},
		{"not a number", "a one\n", nil, "not a number"},
		{"three fields", "a 1 2 3\n", nil, "want a value"},
		{"bad timestamp", "a 1 soon\n", nil, "timestamp"},
		{"no name", "{x=\"1\"} 1\n", nil, "no metric name"},
		{"unquoted label", "a{x=1} 1\n", nil, "not quoted"},
		{"unclosed label", "a{x=\"1} 1\n", nil, "not closed"},
		{"unclosed braces", "a{x=\"1\" 1\n", nil, "want ','"},
		{"duplicate label", "a{x=\"1\",x=\"2\"} 1\n", nil, "twice"},
		{"bad escape", "a{x=\"\\t\"} 1\n", nil, "unknown escape"},
		{"label without =", "a{x} 1\n", nil, "no '='"},
		{"bad TYPE", "# TYPE a meter\n", nil, "unknown type"},
		{"second TYPE", "# TYPE a gauge\n# TYPE a gauge\n", nil, "second TYPE"},
		{"bad name in HELP", "# HELP 0a help\n", nil, "invalid metric name"},
		{"TYPE without a name", "# TYPE\n", nil, "invalid metric name"},
	} {
		t.Run(c.name, func(t *testing.T) {
			fams, err := ParseMetrics([]byte(c.text))
			if c.err != "" {
				if err == nil || !strings.Contains(err.Error(), c.err) {
					t.Fatalf("%v, want an error with %q", err, c.err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			var got []string
			for _, f := range fams {
				got = append(got, f.Name+"/"+f.Type+"/"+strconv.Itoa(len(f.Samples)))
			}
			if strings.Join(got, " ") != strings.Join(c.families, " ") {
				t.Errorf("families %v, want %v", got, c.families)
			}
		})
	}
}

func TestParseMetricsLabels(t *testing.T) {
	fams, err := ParseMetrics([]byte(`a{x="say \"hi\"\\n\n",y=""} 1.5 12` + "\n"))
	if err != nil {
		t.Fatal(err)
	}
	s := fams[0].Samples[0]
	if s.Labels["x"] != "say \"hi\"\\n\n" || s.Labels["y"] != "" || s.Value != "1.5" || s.Timestamp == nil || *s.Timestamp != 12 {
		t.Errorf("%+v", s)
	}
	if fams, err := ParseMetrics([]byte("# HELP a line\\nbreak and \\\\\n")); err != nil || fams[0].Help != "line\nbreak and \\" {
		t.Errorf("HELP escapes: %+v %v", fams, err)
	}
}

// The proxy's own exposition, as pkg/proxy/telemetry's golden file holds
// it, parses, and its families are the ones Prometheus's parser sees.
func TestParseMetricsOfTheProxy(t *testing.T) {
	for _, path := range []string{"../proxy/telemetry/testdata/metrics.golden", "testdata/metrics.txt"} {
		text, err := os.ReadFile(path)
		if err != nil {
			t.Fatal(err)
		}
		fams, err := ParseMetrics(text)
		if err != nil {
			t.Fatalf("%s: %v", path, err)
		}
		if len(fams) < 3 {
			t.Fatalf("%s: %d families", path, len(fams))
		}
		agree(t, text, fams)
	}
}

// agree checks fams against Prometheus's own parser of text: the same
// families, types, sample counts and values.
func agree(t *testing.T, text []byte, fams []Family) {
	t.Helper()
	var p expfmt.TextParser
	want, err := p.TextToMetricFamilies(bytes.NewReader(text))
	if err != nil {
		t.Fatalf("Prometheus's parser: %v", err)
	}
	if len(want) != len(fams) {
		t.Fatalf("%d families, Prometheus's parser %d", len(fams), len(want))
	}
	for _, f := range fams {
		w, ok := want[f.Name]
		if !ok {
			t.Fatalf("family %s is not Prometheus's", f.Name)
		}
		typ := strings.ToLower(w.GetType().String())
		if f.Type != "" && f.Type != typ {
			t.Errorf("%s: type %s, Prometheus's %s", f.Name, f.Type, typ)
		}
		n := 0
		var values []float64
		for _, m := range w.Metric {
			switch {
			case m.Histogram != nil:
				n += len(m.Histogram.Bucket) + 2
				values = append(values, m.Histogram.GetSampleSum(), float64(m.Histogram.GetSampleCount()))
			case m.Summary != nil:
				n += len(m.Summary.Quantile) + 2
			case m.Counter != nil:
				n++
				values = append(values, m.Counter.GetValue())
			case m.Gauge != nil:
				n++
				values = append(values, m.Gauge.GetValue())
			case m.Untyped != nil:
				n++
				values = append(values, m.Untyped.GetValue())
			}
		}
		if n != len(f.Samples) {
			t.Errorf("%s: %d samples, Prometheus's parser %d", f.Name, len(f.Samples), n)
		}
		for _, v := range values {
			if !hasValue(f, v) {
				t.Errorf("%s: no sample of value %v", f.Name, v)
			}
		}
	}
}

func hasValue(f Family, v float64) bool {
	for _, s := range f.Samples {
		got, _ := strconv.ParseFloat(s.Value, 64)
		if got == v || math.IsNaN(got) && math.IsNaN(v) {
			return true
		}
	}
	return false
}

func FuzzParseMetrics(f *testing.F) {
	for _, s := range []string{
		"# HELP a help\n# TYPE a counter\na{x=\"y\"} 1\n",
		"# TYPE h histogram\nh_bucket{le=\"+Inf\"} 2\nh_sum NaN\nh_count 2 123\n",
		"a{x=\"\\\"\\\\\\n\"} -Inf\n",
		"#\tTYPE\ta\tgauge\n",
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		fams, err := ParseMetrics(b)
		if err != nil {
			return
		}
		for _, fam := range fams {
			if !model.IsValidLegacyMetricName(fam.Name) {
				t.Fatalf("family name %q", fam.Name)
			}
			for _, s := range fam.Samples {
				if !belongs(s.Name, fam.Name) {
					t.Fatalf("sample %q in family %q", s.Name, fam.Name)
				}
				if _, err := strconv.ParseFloat(s.Value, 64); err != nil {
					t.Fatalf("value %q", s.Value)
				}
			}
		}
		// Text written back from what was parsed parses the same.
		var out bytes.Buffer
		if err := (&Stats{Families: fams}).WriteText(&out); err != nil {
			t.Fatal(err)
		}
		again, err := ParseMetrics(out.Bytes())
		if err != nil || len(again) != len(fams) {
			t.Fatalf("the text written back: %d families, %v; want %d", len(again), err, len(fams))
		}
	})
}
