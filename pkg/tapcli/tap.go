package tapcli

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/url"
	"strconv"
	"strings"
	"time"
	"unicode/utf16"
	"unicode/utf8"

	"k8s.io/cli-runtime/pkg/genericiooptions"

	"github.com/meshctl/meshctl/pkg/cli"
	"github.com/meshctl/meshctl/pkg/identity"
	"github.com/meshctl/meshctl/pkg/proxy/tap"
)

// Output formats of tap: one line of fields per request, the same with
// the time, the namespace and whole identities, or one JSON object per
// line.
const (
	FormatText cli.Format = "text"
	FormatWide cli.Format = "wide"
)

// DefaultMaxRPS is --max-rps's default, as Linkerd's tap's.
const DefaultMaxRPS = 100

// TapOptions are the inputs of `meshctl tap TARGET`.
type TapOptions struct {
	genericiooptions.IOStreams
	Listen
	// MaxRPS bounds the requests shown per second, shared among the
	// pods (each proxy sends at most MaxRPS/pods, rounded up); 0 shows
	// all. The others are counted and reported at the end.
	MaxRPS int
	// Max, when not 0, ends the command after that many requests.
	Max int
	// Output is text, wide or json.
	Output cli.Format
}

// Complete takes the target from args and the namespace and clients from
// f.
func (o *TapOptions) Complete(f cli.Factory, args []string) error { return o.complete(f, args) }

// Validate checks the bounds and the filter as the proxies will.
func (o *TapOptions) Validate() error {
	if o.MaxRPS < 0 || o.MaxRPS > tap.MaxRPS {
		return cli.UsageErrorf("--max-rps %d: from 0 (no bound) to %d", o.MaxRPS, tap.MaxRPS)
	}
	if o.Max < 0 {
		return cli.UsageErrorf("--max %d: 0 (until interrupted) or more", o.Max)
	}
	_, err := o.request(0)
	return err
}

// Run prints the requests of the target's proxies as they come, until
// ctx ends (Ctrl-C), Max requests have been shown, or every stream has
// ended.
func (o *TapOptions) Run(ctx context.Context) error {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	items, _, err := o.start(ctx, func(pods int) tap.Request {
		r, _ := o.request(perPod(o.MaxRPS, pods))
		return r
	}, o.ErrOut)
	if err != nil {
		return err
	}
	defer func() {
		cancel()
		for range items { // until every stream has closed its port-forward
		}
	}()
	var sum Summary
	shown := 0
	for it := range items {
		if it.err != nil {
			fmt.Fprintln(o.ErrOut, ended(it.pod, it.err))
			continue
		}
		switch it.line.Kind {
		case tap.KindMissed:
			sum.Dropped += it.line.Dropped
			sum.Limited += it.line.Limited
		case tap.KindRequest:
			r := NewRequest(it.pod.Namespace, it.pod.Name, &it.line.Event)
			if err := o.print(&r); err != nil {
				return err
			}
			if shown++; o.Max > 0 && shown >= o.Max {
				o.report(sum)
				return nil
			}
		}
	}
	o.report(sum)
	if ctx.Err() != nil {
		return nil // interrupted: the normal end
	}
	return fmt.Errorf("%s: every proxy's stream has ended", o.Target)
}

func (o *TapOptions) print(r *Request) error {
	switch o.Output {
	case cli.FormatJSON:
		b, err := json.Marshal(r)
		if err != nil {
			return err
		}
		_, err = o.Out.Write(append(ASCIIJSON(b), '\n'))
		return err
	case FormatWide:
		_, err := io.WriteString(o.Out, r.Wide()+"\n")
		return err
	}
	_, err := io.WriteString(o.Out, r.Text()+"\n")
	return err
}

// report says on ErrOut how many requests were not shown, and why.
func (o *TapOptions) report(s Summary) {
	if s.Limited > 0 {
		fmt.Fprintf(o.ErrOut, "%d requests over --max-rps %d were not shown.\n", s.Limited, o.MaxRPS)
	}
	if s.Dropped > 0 {
		fmt.Fprintf(o.ErrOut, "%d requests were dropped by proxies whose stream fell behind.\n", s.Dropped)
	}
}

// perPod is each of pods' share of maxRPS, rounded up; 0 stays 0.
func perPod(maxRPS, pods int) int {
	if maxRPS == 0 || pods == 0 {
		return maxRPS
	}
	return (maxRPS + pods - 1) / pods
}

// Request is one request as tap prints it: the proxy's event and the pod
// whose proxy saw it.
type Request struct {
	Time        time.Time `json:"time"`
	Namespace   string    `json:"namespace"`
	Pod         string    `json:"pod"`
	Direction   string    `json:"direction"`
	Method      string    `json:"method"`
	Authority   string    `json:"authority"`
	Path        string    `json:"path"`
	Status      int       `json:"status"`
	LatencyMs   float64   `json:"latencyMs"`
	Source      string    `json:"source,omitempty"`
	Destination string    `json:"destination,omitempty"`
	TLS         bool      `json:"tls"`
}

// NewRequest is e as seen by the proxy of pod in namespace.
func NewRequest(namespace, pod string, e *tap.Event) Request {
	return Request{
		Time: e.Time, Namespace: namespace, Pod: pod, Direction: e.Direction, Method: e.Method, Authority: e.Authority, Path: e.Path,
		Status: e.Status, LatencyMs: float64(e.Latency.Microseconds()) / 1000, Source: e.Source, Destination: e.Destination, TLS: e.TLS,
	}
}

// Text is the request as one line of fields.
func (r *Request) Text() string {
	return r.fields([][2]string{{"pod", r.Pod}}, Short(r.Source), Short(r.Destination))
}

// Wide is Text with the time, the namespace and whole identities.
func (r *Request) Wide() string {
	return r.fields([][2]string{{"time", r.Time.UTC().Format(time.RFC3339Nano)}, {"namespace", r.Namespace}, {"pod", r.Pod}}, r.Source, r.Destination)
}

func (r *Request) fields(lead [][2]string, src, dst string) string {
	var b strings.Builder
	for _, f := range append(lead, [][2]string{
		{"dir", r.Direction}, {"method", r.Method}, {"authority", r.Authority}, {"path", r.Path},
		{"status", strconv.Itoa(r.Status)}, {"latency", strconv.FormatFloat(r.LatencyMs, 'f', 3, 64) + "ms"},
		{"src", src}, {"dst", dst}, {"tls", strconv.FormatBool(r.TLS)},
	}...) {
		if b.Len() > 0 {
			b.WriteByte(' ')
		}
		b.WriteString(f[0])
		b.WriteByte('=')
		b.WriteString(Field(f[1]))
	}
	return b.String()
}

// Field is a value as tap and top print it: "-" when empty, and quoted
// with Go's escapes when it holds anything but visible ASCII (a quote,
// a space, a control character, a byte beyond ASCII), so that what a
// caller put in a request can neither split a field nor reach the
// terminal as a control sequence.
func Field(v string) string {
	if v == "" {
		return "-"
	}
	for i := 0; i < len(v); i++ {
		if c := v[i]; c <= ' ' || c >= 0x7f || c == '"' {
			return strconv.QuoteToASCII(v)
		}
	}
	return v
}

// ASCIIJSON is JSON text b with every character beyond ASCII escaped
// (\uXXXX, in surrogate pairs beyond the BMP): the same JSON, but a
// terminal it is printed to sees no bidirectional override or other
// control of a caller's making. encoding/json escapes the control
// characters of ASCII already.
func ASCIIJSON(b []byte) []byte {
	out := make([]byte, 0, len(b))
	for _, r := range string(b) {
		switch {
		case r < utf8.RuneSelf:
			out = append(out, byte(r))
		case r > 0xffff:
			r1, r2 := utf16.EncodeRune(r)
			out = fmt.Appendf(out, `\u%04x\u%04x`, r1, r2)
		default:
			out = fmt.Appendf(out, `\u%04x`, r)
		}
	}
	return out
}

// Short is a SPIFFE ID's ns/sa form, as metrics name peers; the ID as it
// is when it is not one this meshctl reads.
func Short(id string) string {
	if id == "" {
		return ""
	}
	if parsed, err := identity.ParseID(id); err == nil {
		return parsed.Short()
	}
	return id
}

// mustQuery parses a query this package wrote.
func mustQuery(q string) url.Values {
	v, err := url.ParseQuery(q)
	if err != nil {
		panic(err)
	}
	return v
}
