package proxyadmin

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"regexp"

	"k8s.io/cli-runtime/pkg/genericiooptions"

	"github.com/meshctl/meshctl/pkg/cli"
	"github.com/meshctl/meshctl/pkg/proxyconfig/wire"
)

// FormatText is the Prometheus text exposition format, as the proxy wrote
// it: `meshctl proxy stats`' default. It belongs to pkg/cli's closed set
// of formats once a second command prints it.
const FormatText cli.Format = "text"

// StatsOptions are the inputs of `meshctl proxy stats POD`.
type StatsOptions struct {
	genericiooptions.IOStreams
	Target
	// Filter, when set, keeps the metric families whose name it matches:
	// an RE2 regular expression, unanchored, so a plain name or part of
	// one matches as a substring.
	Filter string
	// Output is text, json or yaml.
	Output cli.Format

	filter *regexp.Regexp
}

// Complete takes the pod from args and the namespace and clients from f.
func (o *StatsOptions) Complete(f cli.Factory, args []string) error { return o.complete(f, args) }

// Validate checks the pod's name and compiles the filter.
func (o *StatsOptions) Validate() error {
	if err := o.validate(); err != nil {
		return err
	}
	if o.Filter != "" {
		re, err := regexp.Compile(o.Filter)
		if err != nil {
			return cli.UsageErrorf("--filter %q is not a regular expression: %w", o.Filter, err)
		}
		o.filter = re
	}
	return nil
}

// Run reads the proxy's /metrics through a port-forward and prints it.
func (o *StatsOptions) Run(ctx context.Context) error {
	c, err := o.client(ctx)
	if err != nil {
		return err
	}
	body, err := c.Get(ctx, o.Namespace, o.Pod, wire.MetricsPath)
	if err != nil {
		return err
	}
	// Unfiltered text is passed on untouched: it needs no parsing, and
	// a proxy newer than this meshctl may write what it cannot read.
	if o.Output == FormatText && o.filter == nil {
		_, err := o.Out.Write(body)
		return err
	}
	fams, err := ParseMetrics(body)
	if err != nil {
		return fmt.Errorf("pod %q in namespace %q: the proxy's %s: %w", o.Pod, o.Namespace, wire.MetricsPath, err)
	}
	s := &Stats{Families: FilterFamilies(fams, o.filter)}
	if len(s.Families) == 0 && o.filter != nil {
		fmt.Fprintf(o.ErrOut, "No metric family of the proxy's %d matches %q.\n", len(fams), o.Filter)
	}
	if o.Output == FormatText {
		return s.WriteText(o.Out)
	}
	return cli.Write(o.Out, o.Output, s)
}

// Stats is what `meshctl proxy stats` prints: the proxy's metric families.
// Its JSON form, a list of families with their samples, is part of the
// CLI's contract.
type Stats struct {
	Families []Family `json:"families"`
}

// WriteText writes the families' lines as the proxy wrote them.
func (s *Stats) WriteText(out io.Writer) error {
	var b bytes.Buffer
	for _, f := range s.Families {
		for _, l := range f.lines {
			b.WriteString(l)
			b.WriteByte('\n')
		}
	}
	_, err := out.Write(b.Bytes())
	return err
}

// WriteJSON writes the families as one JSON document.
func (s *Stats) WriteJSON(out io.Writer) error { return cli.EncodeJSON(out, s) }

// WriteYAML writes the families as one YAML document.
func (s *Stats) WriteYAML(out io.Writer) error { return cli.EncodeYAML(out, s) }

// WriteTable writes the human form, which is the text one.
func (s *Stats) WriteTable(out io.Writer) error { return s.WriteText(out) }
