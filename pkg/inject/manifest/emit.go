package manifest

import (
	"bytes"
	"strings"

	"go.yaml.in/yaml/v3"
)

// emitter renders new or changed nodes as block YAML in the document's own
// style (indentation step, sequence indentation). It caches how strings are
// quoted, since the same sidecar values are rendered for every workload.
type emitter struct {
	step    int
	compact bool
	quoted  map[string]string
	// rendered caches the text of shared (cached) value trees.
	cache    *valueCache
	rendered map[renderKey]string
}

type renderKey struct {
	n       *yaml.Node
	key     string // the mapping key, for entries
	entry   bool
	ind     int
	first   bool
	step    int
	compact bool
}

// cached renders a shared tree once per position and style.
func (e *emitter) cached(b *bytes.Buffer, k renderKey, render func(*bytes.Buffer)) {
	text, ok := e.rendered[k]
	if !ok {
		var nb bytes.Buffer
		render(&nb)
		text = nb.String()
		if len(e.rendered) < maxCached {
			k.key = strings.Clone(k.key) // may be a substring of a whole document
			e.rendered[k] = text
		}
	}
	b.WriteString(text)
}

func newEmitter(c *valueCache) *emitter {
	return &emitter{step: 2, compact: true, quoted: map[string]string{}, cache: c, rendered: map[renderKey]string{}}
}

// forDocument adopts d's style.
func (e *emitter) forDocument(d *document) *emitter {
	e.step, e.compact = d.step, d.compact
	return e
}

func spaces(b *bytes.Buffer, n int) {
	for range n {
		b.WriteByte(' ')
	}
}

// entry writes a mapping entry "key: value" at indentation ind.
func (e *emitter) entry(b *bytes.Buffer, k, v *yaml.Node, ind int, indentFirst bool) {
	if e.cache != nil && e.cache.shared[v] && k.Kind == yaml.ScalarNode && k.Tag == tagStr && k.Style == 0 {
		e.cached(b, renderKey{n: v, key: k.Value, entry: true, ind: ind, first: indentFirst, step: e.step, compact: e.compact},
			func(nb *bytes.Buffer) { e.renderEntry(nb, k, v, ind, indentFirst) })
		return
	}
	e.renderEntry(b, k, v, ind, indentFirst)
}

func (e *emitter) renderEntry(b *bytes.Buffer, k, v *yaml.Node, ind int, indentFirst bool) {
	if indentFirst {
		spaces(b, ind)
	}
	b.WriteString(e.scalar(k, false))
	b.WriteByte(':')
	switch {
	case v.Kind == yaml.AliasNode:
		b.WriteString(" *" + v.Value + "\n")
	case isBlock(v) && v.Kind == yaml.MappingNode:
		e.props(b, v)
		b.WriteByte('\n')
		for i := 0; i+1 < len(v.Content); i += 2 {
			e.entry(b, v.Content[i], v.Content[i+1], ind+e.step, true)
		}
	case isBlock(v):
		e.props(b, v)
		b.WriteByte('\n')
		seqInd := ind
		if !e.compact {
			seqInd += e.step
		}
		for _, it := range v.Content {
			e.item(b, it, seqInd, true)
		}
	default:
		b.WriteByte(' ')
		b.WriteString(e.inline(v))
		b.WriteByte('\n')
	}
}

// item writes a sequence item "- value" at indentation ind.
func (e *emitter) item(b *bytes.Buffer, v *yaml.Node, ind int, indentFirst bool) {
	if e.cache != nil && e.cache.shared[v] {
		e.cached(b, renderKey{n: v, ind: ind, first: indentFirst, step: e.step, compact: e.compact},
			func(nb *bytes.Buffer) { e.renderItem(nb, v, ind, indentFirst) })
		return
	}
	e.renderItem(b, v, ind, indentFirst)
}

func (e *emitter) renderItem(b *bytes.Buffer, v *yaml.Node, ind int, indentFirst bool) {
	if indentFirst {
		spaces(b, ind)
	}
	b.WriteByte('-')
	switch {
	case v.Kind == yaml.AliasNode:
		b.WriteString(" *" + v.Value + "\n")
	case isBlock(v) && v.Anchor != "":
		e.props(b, v)
		b.WriteByte('\n')
		e.blockBody(b, v, ind+2, true)
	case isBlock(v):
		b.WriteByte(' ')
		e.blockBody(b, v, ind+2, false)
	default:
		b.WriteByte(' ')
		b.WriteString(e.inline(v))
		b.WriteByte('\n')
	}
}

func (e *emitter) blockBody(b *bytes.Buffer, v *yaml.Node, ind int, indentFirst bool) {
	if v.Kind == yaml.MappingNode {
		for i := 0; i+1 < len(v.Content); i += 2 {
			e.entry(b, v.Content[i], v.Content[i+1], ind, indentFirst || i > 0)
		}
		return
	}
	for i, it := range v.Content {
		e.item(b, it, ind, indentFirst || i > 0)
	}
}

// props writes a collection's anchor and explicit tag.
func (e *emitter) props(b *bytes.Buffer, v *yaml.Node) {
	if v.Anchor != "" {
		b.WriteString(" &" + v.Anchor)
	}
	if t := explicitTag(v); t != "" {
		b.WriteString(" " + t)
	}
}

// explicitTag is a tag that must be written: one YAML would not infer.
func explicitTag(v *yaml.Node) string {
	if v.Tag == "" || strings.HasPrefix(v.Tag, "!!") {
		return ""
	}
	return v.Tag
}

// inline renders a scalar, an alias, an empty collection or a flow
// collection on one line.
func (e *emitter) inline(v *yaml.Node) string {
	var b strings.Builder
	if v.Anchor != "" {
		b.WriteString("&" + v.Anchor + " ")
	}
	if t := explicitTag(v); t != "" {
		b.WriteString(t + " ")
	}
	e.flow(&b, v, false)
	return b.String()
}

func (e *emitter) flow(b *strings.Builder, v *yaml.Node, inFlow bool) {
	switch v.Kind {
	case yaml.AliasNode:
		b.WriteString("*" + v.Value)
	case yaml.MappingNode:
		b.WriteByte('{')
		for i := 0; i+1 < len(v.Content); i += 2 {
			if i > 0 {
				b.WriteString(", ")
			}
			e.flow(b, v.Content[i], true)
			b.WriteString(": ")
			e.flow(b, v.Content[i+1], true)
		}
		b.WriteByte('}')
	case yaml.SequenceNode:
		b.WriteByte('[')
		for i, c := range v.Content {
			if i > 0 {
				b.WriteString(", ")
			}
			e.flow(b, c, true)
		}
		b.WriteByte(']')
	default:
		b.WriteString(e.scalar(v, inFlow))
	}
}

// scalar renders a scalar: numbers, booleans and nulls as they are, strings
// plain where YAML reads them back as the same string, quoted otherwise.
func (e *emitter) scalar(v *yaml.Node, inFlow bool) string {
	switch v.Tag {
	case tagInt, tagFloat, tagBool:
		return v.Value
	case tagNull:
		if v.Value == "" {
			return "null"
		}
		return v.Value
	}
	s := v.Value
	switch {
	case v.Style&yaml.DoubleQuotedStyle != 0 || v.Style&(yaml.LiteralStyle|yaml.FoldedStyle) != 0:
		return string(appendJSONString(nil, s))
	case v.Style&yaml.SingleQuotedStyle != 0 && !strings.ContainsAny(s, "\n\r\t"):
		return "'" + strings.ReplaceAll(s, "'", "''") + "'"
	}
	if flagPlain(s) {
		return s
	}
	q, ok := e.quoted[s]
	if !ok {
		q = quote(s)
		// A copy: a value read by the blockReader is a substring of its
		// whole document, which the key would keep alive.
		e.quoted[strings.Clone(s)] = q
	}
	if inFlow && !strings.HasPrefix(q, `"`) && !strings.HasPrefix(q, "'") && strings.ContainsAny(q, ",[]{}") {
		return "'" + strings.ReplaceAll(s, "'", "''") + "'"
	}
	return q
}

// flagPlain says s is a command-line flag that YAML writes plain, as quote
// would, without asking the encoder: "--" and a letter, then letters,
// digits and "-_.=/". Such a string is no number, boolean, null, document
// marker or comment, and holds no indicator. A workload's proxy flags
// (--workload-name=NAME) differ for every workload, so the cache by value
// would not spare them the encoder. TestFlagPlainAgreesWithTheEncoder
// holds the two to each other.
func flagPlain(s string) bool {
	if len(s) < 3 || s[0] != '-' || s[1] != '-' || !isLetter(s[2]) {
		return false
	}
	for i := 3; i < len(s); i++ {
		c := s[i]
		if !isLetter(c) && !('0' <= c && c <= '9') && c != '-' && c != '_' && c != '.' && c != '=' && c != '/' {
			return false
		}
	}
	return true
}

func isLetter(c byte) bool { return 'a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' }

// quote asks the YAML encoder how it writes s on one line, and falls back
// to a JSON string (valid YAML double-quoted) for what it would write as a
// block scalar.
func quote(s string) string {
	out, err := yaml.Marshal(&yaml.Node{Kind: yaml.ScalarNode, Tag: tagStr, Value: s})
	if err == nil {
		if t := strings.TrimSuffix(string(out), "\n"); !strings.Contains(t, "\n") && !strings.HasPrefix(t, "|") && !strings.HasPrefix(t, ">") {
			return t
		}
	}
	return string(appendJSONString(nil, s))
}
