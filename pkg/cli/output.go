package cli

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"slices"
	"strings"

	"github.com/olekukonko/tablewriter"
	"github.com/olekukonko/tablewriter/renderer"
	"github.com/olekukonko/tablewriter/tw"
	"sigs.k8s.io/yaml"
)

// Format is an output format. The set is closed; each command accepts the
// subset it can render.
type Format string

// The output formats.
const (
	FormatTable Format = "table"
	FormatJSON  Format = "json"
	FormatYAML  Format = "yaml"
	FormatShort Format = "short"
	FormatJUnit Format = "junit"
)

// ParseFormat parses s as one of allowed. An empty s is the first allowed
// format. An unknown value is a usage error that lists the allowed ones.
func ParseFormat(s string, allowed ...Format) (Format, error) {
	if s == "" && len(allowed) > 0 {
		return allowed[0], nil
	}
	if slices.Contains(allowed, Format(s)) {
		return Format(s), nil
	}
	v := FormatValue{allowed: allowed}
	return "", UsageErrorf("invalid output format %q: must be one of %s", s, strings.Join(v.Allowed(), ", "))
}

// Writer is implemented by every result a command prints in several formats.
type Writer interface {
	// WriteTable writes the human form.
	WriteTable(out io.Writer) error
	// WriteJSON writes exactly one JSON document.
	WriteJSON(out io.Writer) error
	// WriteYAML writes exactly one YAML document.
	WriteYAML(out io.Writer) error
}

// Write renders w in format f.
func Write(out io.Writer, f Format, w Writer) error {
	switch f {
	case FormatJSON:
		return w.WriteJSON(out)
	case FormatYAML:
		return w.WriteYAML(out)
	case FormatTable, "":
		return w.WriteTable(out)
	default:
		return fmt.Errorf("output format %q is not supported here", f)
	}
}

// EncodeJSON writes v as one indented JSON document followed by a newline.
func EncodeJSON(out io.Writer, v any) error {
	enc := json.NewEncoder(out)
	enc.SetIndent("", "  ")
	return enc.Encode(v)
}

// EncodeYAML writes v as one YAML document, using its JSON field names.
func EncodeYAML(out io.Writer, v any) error {
	b, err := yaml.Marshal(v)
	if err != nil {
		return err
	}
	_, err = out.Write(b)
	return err
}

// WriteTable writes rows under header as a borderless, left-aligned table in
// the style of kubectl get. It is the only place tablewriter is used.
func WriteTable(out io.Writer, header []string, rows [][]string) error {
	var buf bytes.Buffer
	t := tablewriter.NewTable(&buf,
		tablewriter.WithRenderer(newPlainRenderer()),
		tablewriter.WithPadding(tw.Padding{Overwrite: true}),
		tablewriter.WithHeaderAutoFormat(tw.Off),
		tablewriter.WithHeaderAlignment(tw.AlignLeft),
		tablewriter.WithRowAlignment(tw.AlignLeft),
		tablewriter.WithTrimSpace(tw.On),
	)
	t.Header(header)
	if err := t.Bulk(rows); err != nil {
		return err
	}
	if err := t.Render(); err != nil {
		return err
	}
	// The last column is padded to its width; trailing blanks only get in the
	// way of diffs and golden files.
	for line := range strings.Lines(buf.String()) {
		if _, err := io.WriteString(out, strings.TrimRight(line, " \n")+"\n"); err != nil {
			return err
		}
	}
	return nil
}

// newPlainRenderer draws no borders or rules: kubectl-style columns separated
// by three spaces, which scripts can split on whitespace.
func newPlainRenderer() tw.Renderer {
	return renderer.NewBlueprint(tw.Rendition{
		Borders: tw.BorderNone,
		Symbols: tw.NewSymbolCustom("plain").WithColumn("   "),
		Settings: tw.Settings{
			Separators: tw.Separators{ShowHeader: tw.Off, ShowFooter: tw.Off, BetweenRows: tw.Off, BetweenColumns: tw.On},
			Lines:      tw.Lines{ShowTop: tw.Off, ShowBottom: tw.Off, ShowHeaderLine: tw.Off, ShowFooterLine: tw.Off},
		},
	})
}

// FormatValue is a flag value that accepts only the given formats, so a bad
// -o value fails at flag parsing, as a usage error listing the allowed ones.
type FormatValue struct {
	target  *Format
	allowed []Format
}

// NewFormatValue binds target, setting it to the first allowed format.
func NewFormatValue(target *Format, allowed ...Format) *FormatValue {
	*target = allowed[0]
	return &FormatValue{target: target, allowed: allowed}
}

// String returns the current format.
func (v *FormatValue) String() string { return string(*v.target) }

// Set parses s.
func (v *FormatValue) Set(s string) error {
	f, err := ParseFormat(s, v.allowed...)
	if err != nil {
		return err
	}
	*v.target = f
	return nil
}

// Type names the value in help output.
func (v *FormatValue) Type() string { return "format" }

// Allowed lists the accepted formats, for help text and completion.
func (v *FormatValue) Allowed() []string {
	names := make([]string, len(v.allowed))
	for i, f := range v.allowed {
		names[i] = string(f)
	}
	return names
}
