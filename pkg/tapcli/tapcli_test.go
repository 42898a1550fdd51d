package tapcli

import (
	"bytes"
	"encoding/json"
	"strconv"
	"strings"
	"testing"
	"time"

	_ "github.com/meshctl/meshctl/internal/golden"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/meshctl/meshctl/pkg/cli"
	"github.com/meshctl/meshctl/pkg/proxy/tap"
)

func TestParseTarget(t *testing.T) {
	for _, c := range []struct {
		in   string
		want Target
		ok   bool
	}{
		{"deploy/bookstore", Target{KindDeployment, "bookstore"}, true},
		{"deployment/bookstore", Target{KindDeployment, "bookstore"}, true},
		{"Deployments/bookstore", Target{KindDeployment, "bookstore"}, true},
		{"deployment.apps/bookstore", Target{KindDeployment, "bookstore"}, true},
		{"po/x", Target{KindPod, "x"}, true},
		{"pods/x", Target{KindPod, "x"}, true},
		{"namespace/bookstore", Target{KindNamespace, "bookstore"}, true},
		{"ns/bookstore", Target{KindNamespace, "bookstore"}, true},
		{"bookstore", Target{}, false},
		{"svc/bookstore", Target{}, false},
		{"deploy/", Target{}, false},
		{"deploy/a/b", Target{}, false},
		{"/a", Target{}, false},
	} {
		got, err := ParseTarget(c.in)
		if (err == nil) != c.ok || got != c.want {
			t.Errorf("ParseTarget(%q) = %+v, %v; want %+v (ok %t)", c.in, got, err, c.want, c.ok)
		}
		if err != nil && cli.ExitCode(err) != 2 {
			t.Errorf("ParseTarget(%q): %v is not a usage error", c.in, err)
		}
	}
}

func TestOfDeployment(t *testing.T) {
	yes := true
	pod := func(owner, kind, hash string, controller bool) *corev1.Pod {
		p := &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Labels: map[string]string{}}}
		if hash != "" {
			p.Labels["pod-template-hash"] = hash
		}
		if owner != "" {
			c := &yes
			if !controller {
				c = nil
			}
			p.OwnerReferences = []metav1.OwnerReference{{Kind: kind, Name: owner, Controller: c}}
		}
		return p
	}
	for _, c := range []struct {
		name string
		pod  *corev1.Pod
		want bool
	}{
		{"its ReplicaSet", pod("bookstore-5d8f", "ReplicaSet", "5d8f", true), true},
		{"another Deployment's, whose name starts alike", pod("bookstore-v2-5d8f", "ReplicaSet", "5d8f", true), false},
		{"a ReplicaSet of its own", pod("bookstore-5d8f", "ReplicaSet", "", true), false},
		{"a StatefulSet", pod("bookstore-5d8f", "StatefulSet", "5d8f", true), false},
		{"not the controller", pod("bookstore-5d8f", "ReplicaSet", "5d8f", false), false},
		{"no owner", pod("", "", "5d8f", false), false},
	} {
		if got := ofDeployment(c.pod, "bookstore"); got != c.want {
			t.Errorf("%s: %t, want %t", c.name, got, c.want)
		}
	}
}

// Field leaves nothing of a caller's making that a terminal would obey or
// that would split a field.
func TestField(t *testing.T) {
	for _, c := range []struct{ in, want string }{
		{"", "-"},
		{"/api/buy", "/api/buy"},
		{"/a b", `"/a b"`},
		{"/a\"b", `"/a\"b"`},
		{"/\x1b[2J", `"/\x1b[2J"`},
		{"/\u202egnp.exe", `"/\u202egnp.exe"`},
		{"/é", `"/\u00e9"`},
		{"/\x7f", `"/\x7f"`},
		{"a\nb", `"a\nb"`},
		{"/\xff", `"/\xff"`},
	} {
		if got := Field(c.in); got != c.want {
			t.Errorf("Field(%q) = %s, want %s", c.in, got, c.want)
		}
	}
}

func TestShort(t *testing.T) {
	for in, want := range map[string]string{
		"":                                   "",
		"spiffe://cluster.local/ns/a/sa/b":   "a/b",
		"spiffe://example.org/ns/a/sa/b":     "a/b",
		"spiffe://cluster.local/something":   "spiffe://cluster.local/something",
		"spiffe://cluster.local/ns/a/sa/b/c": "spiffe://cluster.local/ns/a/sa/b/c",
	} {
		if got := Short(in); got != want {
			t.Errorf("Short(%q) = %q, want %q", in, got, want)
		}
	}
}

func TestPerPod(t *testing.T) {
	for _, c := range []struct{ rps, pods, want int }{{100, 1, 100}, {100, 3, 34}, {100, 200, 1}, {0, 5, 0}, {7, 0, 7}} {
		if got := perPod(c.rps, c.pods); got != c.want {
			t.Errorf("perPod(%d, %d) = %d, want %d", c.rps, c.pods, got, c.want)
		}
	}
}

func ev(dir, src, path string, status int, latency time.Duration) *tap.Event {
	e := &tap.Event{Direction: dir, Method: "GET", Path: path, Status: status, Latency: latency}
	if src != "" {
		e.Source, e.Destination, e.TLS = src, "spiffe://cluster.local/ns/shop/sa/store", true
	}
	return e
}

// Counts, success rates and latencies against hand-computed values.
func TestTable(t *testing.T) {
	buyer := "spiffe://cluster.local/ns/shop/sa/buyer"
	var tb Table
	for _, e := range []*tap.Event{
		ev(tap.Inbound, buyer, "/buy", 200, 3*time.Millisecond),
		ev(tap.Inbound, buyer, "/buy", 503, 9*time.Millisecond),
		ev(tap.Inbound, buyer, "/buy", 404, 1*time.Millisecond), // a 4xx is an answer, not a failure
		ev(tap.Inbound, buyer, "/buy", 0, 2*time.Millisecond),   // no answer at all
		ev(tap.Inbound, "", "/buy", 200, 5*time.Millisecond),    // plain text: another row
		ev(tap.Outbound, buyer, "/list", 200, 4*time.Millisecond),
		ev(tap.Outbound, buyer, "/list", 200, 4*time.Millisecond),
	} {
		tb.Add(e)
	}
	at := time.Date(2026, 1, 2, 3, 4, 5, 0, time.FixedZone("x", 3600))
	s := tb.Snapshot(at, 2)
	want := []SnapshotRow{
		{Direction: "inbound", Source: "shop/buyer", Destination: "shop/store", Method: "GET", Path: "/buy", Count: 4, SuccessRate: 0.5, BestMs: 1, WorstMs: 9, LastMs: 2},
		{Direction: "outbound", Source: "shop/buyer", Destination: "shop/store", Method: "GET", Path: "/list", Count: 2, SuccessRate: 1, BestMs: 4, WorstMs: 4, LastMs: 4},
	}
	if s.Requests != 7 || !s.Time.Equal(at) || s.Time.Location() != time.UTC || len(s.Rows) != 2 || s.Rows[0] != want[0] || s.Rows[1] != want[1] {
		t.Errorf("snapshot %+v\nwant rows %+v", s, want)
	}
	var out bytes.Buffer
	if err := s.WriteTable(&out); err != nil {
		t.Fatal(err)
	}
	wantTable := `02:04:05  7 requests
DIR        SOURCE       DESTINATION   METHOD   PATH    COUNT   SUCCESS   BEST      WORST     LAST
inbound    shop/buyer   shop/store    GET      /buy    4       50.0%     1.000ms   9.000ms   2.000ms
outbound   shop/buyer   shop/store    GET      /list   2       100.0%    4.000ms   4.000ms   4.000ms
`
	if out.String() != wantTable {
		t.Errorf("table:\n%s\nwant:\n%s", out.String(), wantTable)
	}
}

// Paths come from callers: past MaxTopKeys rows, new ones are counted
// together, so that top's memory is bounded.
func TestTableBounded(t *testing.T) {
	var tb Table
	for i := range MaxTopKeys + 500 {
		tb.Add(ev(tap.Inbound, "", "/"+strconv.Itoa(i), 200, time.Millisecond))
	}
	tb.Add(ev(tap.Inbound, "", "/0", 200, time.Millisecond))
	if len(tb.rows) != MaxTopKeys || tb.other.Count != 500 || tb.rows[Key{Direction: "inbound", Method: "GET", Path: "/0"}].Count != 2 {
		t.Errorf("%d rows, %d other; want %d and 500", len(tb.rows), tb.other.Count, MaxTopKeys)
	}
	if s := tb.Snapshot(time.Now(), 1); s.Rows[0].Path != "(other paths)" || s.Rows[0].Count != 500 {
		t.Errorf("the busiest row: %+v, want the other paths", s.Rows[0])
	}
}

// On a terminal top redraws in place; elsewhere no control code is
// written.
func TestTopShow(t *testing.T) {
	var tb Table
	tb.Add(ev(tap.Inbound, "", "/\x1b]0;owned\x07", 200, time.Millisecond))
	at := func() time.Time { return time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC) }
	for _, redraw := range []bool{false, true} {
		var out bytes.Buffer
		o := &TopOptions{Output: cli.FormatTable, Redraw: redraw, Now: at}
		o.Out = &out
		if err := o.show(&tb); err != nil {
			t.Fatal(err)
		}
		s := out.String()
		if strings.HasPrefix(s, clearScreen) != redraw || strings.Count(s, "\x1b") != map[bool]int{false: 0, true: 2}[redraw] {
			t.Errorf("redraw %t: %q", redraw, s)
		}
		if !strings.Contains(s, `"/\x1b]0;owned\a"`) {
			t.Errorf("redraw %t: the path is not escaped: %q", redraw, s)
		}
	}
}

// FuzzTapLines is what tap does with a proxy's stream, which it does not
// trust: decode, and print each request as text, wide and JSON. Whatever
// the proxy sends, each request is one line of visible ASCII.
func FuzzTapLines(f *testing.F) {
	var buf bytes.Buffer
	enc := tap.NewEncoder(&buf)
	enc.Event(&tap.Event{Time: time.Unix(1, 0), Direction: tap.Inbound, Method: "GET", Authority: "a:1", Path: "/b", Status: 200,
		Source: "spiffe://td/ns/a/sa/b", Destination: "spiffe://td/ns/c/sa/d", TLS: true})
	enc.Missed(1, 2)
	f.Add(buf.Bytes())
	f.Add([]byte(`{"kind":"request","time":"2026-01-02T03:04:05Z","direction":"outbound","method":"G\u001bT","authority":"\u202e","path":"/\n\"x","status":999,"latencyMs":0.001,"source":"spiffe://x/\u0000","tls":true}` + "\n"))
	f.Fuzz(func(t *testing.T, data []byte) {
		d := tap.NewDecoder(bytes.NewReader(data))
		for range 100 {
			l, err := d.Next()
			if err != nil {
				return
			}
			if l.Kind != tap.KindRequest {
				continue
			}
			r := NewRequest("ns", "pod", &l.Event)
			var js bytes.Buffer
			o := &TapOptions{Output: cli.FormatJSON}
			o.Out = &js
			if err := o.print(&r); err != nil {
				t.Fatal(err)
			}
			for _, line := range []string{r.Text(), r.Wide(), strings.TrimSuffix(js.String(), "\n")} {
				for i := 0; i < len(line); i++ {
					if c := line[i]; c < ' ' || c >= 0x7f {
						t.Fatalf("%q holds byte %#x", line, c)
					}
				}
			}
		}
	})
}

func TestASCIIJSON(t *testing.T) {
	in := "{\"path\":\"/\u00e9\u202e\U0001F600\",\"n\":1}"
	got := string(ASCIIJSON([]byte(in)))
	if want := `{"path":"/\u00e9\u202e\ud83d\ude00","n":1}`; got != want {
		t.Errorf("got %s, want %s", got, want)
	}
	var a, b map[string]any
	if json.Unmarshal([]byte(in), &a) != nil || json.Unmarshal([]byte(got), &b) != nil || a["path"] != b["path"] {
		t.Errorf("%s does not read back as %s", got, in)
	}
}
