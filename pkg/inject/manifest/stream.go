package manifest

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"regexp"
	"strconv"
	"strings"

	"go.yaml.in/yaml/v3"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	sigsjson "sigs.k8s.io/json"

	"github.com/meshctl/meshctl/pkg/inject"
	"github.com/meshctl/meshctl/pkg/proxyconfig"
)

// Mode is what Stream does to workloads.
type Mode int

// The modes.
const (
	ModeInject Mode = iota
	ModeUninject
)

// Stream applies the Injector to streams of Kubernetes manifests: YAML
// (multi-document) or JSON (one or more values). Workloads get their patch
// applied to the node tree; everything else passes through byte for byte.
type Stream struct {
	// Injector computes the patches.
	Injector *inject.Injector
	// Mode says whether to inject or uninject.
	Mode Mode
	// EnrolNamespaces enrols Namespace documents in the mesh (inject only).
	EnrolNamespaces bool
	// Force, with EnrolNamespaces, moves Namespace documents enrolled in
	// another mesh into this one; without it they fail the stream, as
	// `meshctl namespace add` refuses them without --force.
	Force bool
	// SeparateJSON puts a "---" line between the values of a JSON stream,
	// for output that joins it with other inputs into one YAML stream
	// (kubectl reads a stream as JSON only when the whole of it is).
	SeparateJSON bool

	emit   *emitter
	cache  *valueCache
	blocks *blockReader
}

// Entry is one line of the report: a resource and what happened to it.
type Entry struct {
	// Resource names it as kind/name, kind in lower case.
	Resource string
	// Result is what was done.
	Result *inject.Result
}

// String formats the entry as the report prints it, such as
// "deployment/web injected" or "warning: daemonset/agent skipped: hostNetwork".
func (e Entry) String() string {
	r := e.Result
	switch {
	case r.Action == inject.Skipped:
		s := e.Resource + " skipped: " + r.Skip.Message()
		if r.Detail != "" {
			s += " (" + r.Detail + ")"
		}
		if r.Skip.Warning() {
			s = "warning: " + s
		}
		return s
	case r.Detail != "":
		return e.Resource + " " + string(r.Action) + " (" + r.Detail + ")"
	}
	return e.Resource + " " + string(r.Action)
}

// Process transforms one input (named name in errors) and returns the
// output and the report. Any error leaves no output: the caller writes
// nothing.
func (s *Stream) Process(name string, data []byte) ([]byte, []Entry, error) {
	if s.emit == nil {
		s.start(true)
	}
	p := &processor{s: s, name: name}
	var out []byte
	var err error
	if looksLikeJSON(data) {
		out, err = p.jsonStream(data)
		if err != nil {
			// Maybe YAML flow style; if not, the JSON error is the clearer.
			p.entries = nil
			if yout, yerr := p.yamlStream(data); yerr == nil {
				return yout, p.entries, nil
			}
			return nil, nil, err
		}
		return out, p.entries, nil
	}
	out, err = p.yamlStream(data)
	if err != nil {
		return nil, nil, err
	}
	return out, p.entries, nil
}

// start makes the printer's caches and, with blocks, the blockReader.
// Without it every document is read by yaml.v3: only BenchmarkStream starts
// a Stream so, to measure what the blockReader saves.
func (s *Stream) start(blocks bool) {
	s.cache = newValueCache()
	s.emit = newEmitter(s.cache)
	if blocks {
		s.blocks = newBlockReader()
	}
}

type processor struct {
	s       *Stream
	name    string
	entries []Entry
	// Scratch reused from one document to the next: the JSON of a pod
	// template, the tokens of a patch operation's path, and where lines
	// start.
	buf        []byte
	tokens     []string
	lineStarts []int
}

func looksLikeJSON(data []byte) bool {
	t := bytes.TrimLeft(data, " \t\r\n")
	return len(t) > 0 && (t[0] == '{' || t[0] == '[')
}

// location names a document in errors.
func (p *processor) location(doc, line int) string {
	return fmt.Sprintf("%s: document %d (line %d)", p.name, doc, line)
}

func (p *processor) jsonStream(data []byte) ([]byte, error) {
	dec := json.NewDecoder(bytes.NewReader(data))
	var out bytes.Buffer
	out.Grow(p.outputSize(data, 6144))
	last := 0
	for doc := 1; ; doc++ {
		var raw json.RawMessage
		err := dec.Decode(&raw)
		if err == io.EOF {
			break
		}
		if err != nil {
			off := int(dec.InputOffset())
			var se *json.SyntaxError
			if errors.As(err, &se) {
				off = int(se.Offset)
			}
			return nil, fmt.Errorf("%s: %w", p.location(doc, lineAt(data, off)), err)
		}
		end := int(dec.InputOffset())
		start := end - len(raw)
		spans := map[*yaml.Node]span{}
		root, err := parseJSON(raw, spans)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", p.location(doc, lineAt(data, start)), err)
		}
		out.Write(data[last:start])
		if p.s.SeparateJSON && doc > 1 {
			if b := out.Bytes(); len(b) > 0 && b[len(b)-1] != '\n' {
				out.WriteByte('\n')
			}
			out.WriteString("---\n")
		}
		d := newDocument(raw, root)
		d.isJSON, d.jsonIndent, d.jspans = true, jsonIndent(raw), spans
		if err := p.document(&out, d); err != nil {
			return nil, fmt.Errorf("%s: %w", p.location(doc, lineAt(data, start)), err)
		}
		last = end
	}
	out.Write(data[last:])
	return out.Bytes(), nil
}

// outputSize guesses how long the output of data is, so that the output
// buffer is reserved once, and no larger than needed: it lives as long as
// the stream is processed, and the heap grows with what is live. Injecting
// adds about perTemplate bytes (the sidecar, as YAML or as indented JSON)
// to every pod template, and each has a "containers" key. A wrong guess
// costs a copy.
func (p *processor) outputSize(data []byte, perTemplate int) int {
	if p.s.Mode != ModeInject {
		return len(data)
	}
	return len(data) + perTemplate*bytes.Count(data, []byte("containers"))
}

func lineAt(data []byte, off int) int {
	return bytes.Count(data[:min(max(off, 0), len(data))], []byte("\n")) + 1
}

// jsonIndent is the indentation unit of a JSON text: the whitespace opening
// its second line.
func jsonIndent(raw []byte) string {
	i := bytes.IndexByte(raw, '\n')
	if i < 0 {
		return ""
	}
	rest := raw[i+1:]
	n := 0
	for n < len(rest) && (rest[n] == ' ' || rest[n] == '\t') {
		n++
	}
	if n == 0 {
		return ""
	}
	return string(rest[:n])
}

// splitYAML cuts a stream at document markers ("---" opening a line). Each
// chunk keeps its marker line, so the chunks concatenate back to the input.
func splitYAML(data []byte) (chunks [][]byte, firstLines []int) {
	start, line, startLine := 0, 1, 1
	for off := 0; off < len(data); {
		end := bytes.IndexByte(data[off:], '\n')
		next := len(data)
		if end >= 0 {
			next = off + end + 1
		}
		l := data[off:next]
		if off > start && bytes.HasPrefix(l, []byte("---")) && (len(l) == 3 || l[3] == ' ' || l[3] == '\t' || l[3] == '\n' || l[3] == '\r') {
			chunks = append(chunks, data[start:off])
			firstLines = append(firstLines, startLine)
			start, startLine = off, line
		}
		off = next
		line++
	}
	return append(chunks, data[start:]), append(firstLines, startLine)
}

var yamlLine = regexp.MustCompile(`^yaml: line (\d+): `)

func (p *processor) yamlStream(data []byte) ([]byte, error) {
	chunks, lines := splitYAML(data)
	var out bytes.Buffer
	out.Grow(p.outputSize(data, 2560))
	doc := 0
	for i, chunk := range chunks {
		root, err := p.parse(chunk)
		if err != nil {
			doc++
			msg := err.Error()
			line := lines[i]
			if m := yamlLine.FindStringSubmatch(msg); m != nil {
				l, _ := strconv.Atoi(m[1])
				line += l - 1
				msg = strings.TrimPrefix(msg, m[0])
			}
			return nil, fmt.Errorf("%s: %s", p.location(doc, line), msg)
		}
		if root == nil {
			out.Write(chunk) // comments only, or nothing
			continue
		}
		doc++
		src := chunk
		noNewline := len(src) > 0 && src[len(src)-1] != '\n'
		if noNewline {
			src = append(bytes.Clone(src), '\n')
		}
		d := newDocument(src, root)
		start := out.Len()
		if err := p.document(&out, d); err != nil {
			line := root.Line
			var al *atLine
			if errors.As(err, &al) {
				line = al.line
			}
			return nil, fmt.Errorf("%s: %w", p.location(doc, lines[i]+max(line-1, 0)), err)
		}
		// The newline added above is not the document's.
		if b := out.Bytes(); noNewline && len(b) > start && b[len(b)-1] == '\n' {
			out.Truncate(len(b) - 1)
		}
	}
	return out.Bytes(), nil
}

// parse reads one document of a YAML stream into its content node, nil
// when it has none. Most documents are plain block YAML, which the
// blockReader reads much faster than yaml.v3; yaml.v3 reads the rest, and
// reports errors.
func (p *processor) parse(chunk []byte) (*yaml.Node, error) {
	if p.s.blocks != nil {
		if root := p.s.blocks.read(chunk); root != nil {
			return root, nil
		}
	}
	var n yaml.Node
	if err := yaml.Unmarshal(chunk, &n); err != nil {
		return nil, err
	}
	if len(n.Content) == 0 {
		return nil, nil
	}
	return n.Content[0], nil
}

// document injects the workloads of one document and prints it to out.
func (p *processor) document(out *bytes.Buffer, d *document) error {
	root := d.root
	if isNull(root) {
		out.Write(d.src)
		return nil
	}
	if root.Kind != yaml.MappingNode {
		return errors.New("not a Kubernetes object: expected a mapping with apiVersion and kind")
	}
	var patch inject.Patch
	kind, apiVersion := scalarString(lookup(root, "kind")), scalarString(lookup(root, "apiVersion"))
	if kind == "" || apiVersion == "" {
		return errors.New("not a Kubernetes object: apiVersion and kind are required")
	}
	if kind == "List" || (strings.HasSuffix(kind, "List") && lookup(root, "items") != nil) {
		items := resolve(lookup(root, "items"))
		if items != nil && items.Kind == yaml.SequenceNode {
			for i, it := range items.Content {
				it = resolve(it)
				if it == nil || it.Kind != yaml.MappingNode {
					return fmt.Errorf("items[%d]: not a Kubernetes object", i)
				}
				ops, err := p.resource(it, fmt.Sprintf("/items/%d", i))
				if err != nil {
					return fmt.Errorf("items[%d]: %w", i, err)
				}
				patch = append(patch, ops...)
			}
		}
	} else {
		ops, err := p.resource(root, "")
		if err != nil {
			return err
		}
		patch = ops
	}
	if len(patch) == 0 {
		out.Write(d.src)
		return nil
	}
	d.prepare()
	d.cache = p.s.cache
	d.tokens, d.lineStarts = p.tokens[:0], p.lineStarts[:0]
	err := d.applyPatch(patch)
	if err == nil {
		err = d.print(out, p.s.emit)
	}
	p.tokens, p.lineStarts = d.tokens, d.lineStarts
	return err
}

// templatePath is where a workload kind keeps its pod template.
func templatePath(apiVersion, kind string) (string, bool) {
	group, _, found := strings.Cut(apiVersion, "/")
	if !found {
		group = ""
	}
	switch {
	case group == "" && kind == "Pod":
		return "", true
	case group == "" && kind == "ReplicationController":
		return "/spec/template", true
	case (group == "apps" || group == "extensions") && (kind == "Deployment" || kind == "DaemonSet" || kind == "ReplicaSet"):
		return "/spec/template", true
	case group == "apps" && kind == "StatefulSet":
		return "/spec/template", true
	case group == "batch" && kind == "Job":
		return "/spec/template", true
	case group == "batch" && kind == "CronJob":
		return "/spec/jobTemplate/spec/template", true
	}
	return "", false
}

// resource injects one object; prefix is its pointer in the document.
func (p *processor) resource(obj *yaml.Node, prefix string) (inject.Patch, error) {
	kind, apiVersion := scalarString(lookup(obj, "kind")), scalarString(lookup(obj, "apiVersion"))
	meta := lookup(obj, "metadata")
	name, ns := scalarString(lookup(meta, "name")), scalarString(lookup(meta, "namespace"))
	w := inject.Target{Kind: strings.ToLower(kind), Name: name, Namespace: ns}
	in := p.s.Injector
	tpl, ok := templatePath(apiVersion, kind)
	if !ok {
		if kind == "Namespace" && apiVersion == "v1" && p.s.EnrolNamespaces && p.s.Mode == ModeInject {
			var om metav1.ObjectMeta
			if err := p.decode(meta, &om); err != nil {
				return nil, fmt.Errorf("%s: metadata: %w", w, err)
			}
			r, err := in.EnrolNamespace(&om, p.s.Force)
			if err != nil {
				return nil, err // names the namespace and --force
			}
			p.entries = append(p.entries, Entry{w.String(), r})
			return r.Patch.Under(prefix), nil
		}
		p.entries = append(p.entries, Entry{w.String(), &inject.Result{Action: inject.Skipped, Skip: inject.SkipNotWorkload}})
		return nil, nil
	}
	tn := obj
	for _, tok := range inject.SplitPointer(tpl) {
		tn = lookup(tn, tok)
	}
	if !isNull(tn) {
		w.Template = &corev1.PodTemplateSpec{}
		if err := p.decode(tn, w.Template); err != nil {
			return nil, fmt.Errorf("%s: pod template: %w", w, err)
		}
		if m := resolve(lookup(tn, "metadata")); m != nil && m.Kind == yaml.MappingNode {
			w.HasMetadata = true
		}
	}
	var r *inject.Result
	var err error
	if p.s.Mode == ModeUninject {
		r, err = in.Uninject(w)
	} else {
		r, err = in.Inject(w)
	}
	if err != nil {
		var ae *proxyconfig.AnnotationError
		if errors.As(err, &ae) {
			if k := keyNode(lookup(lookup(tn, "metadata"), "annotations"), ae.Annotation); k != nil && k.Line > 0 {
				return nil, &atLine{line: k.Line, err: err}
			}
		}
		return nil, err
	}
	// The namespace a skip names may be a substring of the whole document
	// (see blockReader), which the report must not keep alive.
	r.Detail = strings.Clone(r.Detail)
	p.entries = append(p.entries, Entry{w.String(), r})
	return r.Patch.Under(prefix + tpl), nil
}

// atLine places an error on a line of the document, when it is known
// better than the document's first line.
type atLine struct {
	line int
	err  error
}

func (e *atLine) Error() string { return e.err.Error() }
func (e *atLine) Unwrap() error { return e.err }

// keyNode returns the key node named key in mapping m, or nil.
func keyNode(m *yaml.Node, key string) *yaml.Node {
	if m = resolve(m); m == nil || m.Kind != yaml.MappingNode {
		return nil
	}
	if i := keyIndex(m, key); i >= 0 {
		return m.Content[i]
	}
	return nil
}

// decode decodes a node tree into a Go value through its JSON form, as
// the API server reads it: field names are case-sensitive ("speC" is not
// "spec"), so the engine sees exactly the fields the patch will address.
// The JSON buffer is reused from one workload to the next.
func (p *processor) decode(n *yaml.Node, v any) error {
	budget := 1_000_000
	b, err := toJSON(p.buf[:0], n, &budget)
	if err != nil {
		return err
	}
	p.buf = b
	return sigsjson.UnmarshalCaseSensitivePreserveInts(b, v)
}
