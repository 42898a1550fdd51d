package manifest

import (
	"bytes"
	"encoding/json"
	"slices"
	"strings"

	"go.yaml.in/yaml/v3"
)

// A document of the input stream: its source text and its node tree. After
// a patch, printing copies the source of everything that did not change and
// reprints only the collections that did; a document nobody touched prints
// as its source, byte for byte.
type document struct {
	src  []byte
	root *yaml.Node // the content node; nil for an empty document
	// isJSON documents print as JSON, indented with jsonIndent ("" is
	// compact).
	isJSON     bool
	jsonIndent string
	jspans     map[*yaml.Node]span // where each JSON value and key is in src

	tokens     []string // scratch for the operation being applied
	dirty      map[*yaml.Node]bool
	hasAliases bool
	cache      *valueCache
	// orig holds the source children of each collection changed so far,
	// snapshotted before its first change (see touch).
	orig map[*yaml.Node][]*yaml.Node

	// Source positions and style, computed when a changed document prints.
	lineStarts []int
	step       int  // indentation of nested mappings
	compact    bool // block sequences at their key's column (kubectl style)
}

// span is a byte range [start, end) of a document's source.
type span struct{ start, end int }

func newDocument(src []byte, root *yaml.Node) *document {
	return &document{src: src, root: root}
}

// prepare readies the document for its first change. Most documents never
// change (a Service, say): they get no maps.
func (d *document) prepare() {
	d.hasAliases = containsAlias(d.root)
	d.dirty, d.orig = map[*yaml.Node]bool{}, map[*yaml.Node][]*yaml.Node{}
}

// touch snapshots n's children before they first change: printing lays out
// the source from them.
func (d *document) touch(n *yaml.Node) {
	if _, ok := d.orig[n]; !ok {
		d.orig[n] = slices.Clone(n.Content)
	}
}

// source returns n's children as they were in the source.
func (d *document) source(n *yaml.Node) []*yaml.Node {
	if c, ok := d.orig[n]; ok {
		return c
	}
	return n.Content
}

// isSource reports whether n comes from the source, rather than from a
// patch or a copy.
func isSource(n *yaml.Node) bool { return n.Line > 0 }

// wasBlock reports whether n was a non-empty block collection in the source.
func (d *document) wasBlock(n *yaml.Node) bool {
	return isSource(n) && (n.Kind == yaml.MappingNode || n.Kind == yaml.SequenceNode) &&
		n.Style&yaml.FlowStyle == 0 && len(d.source(n)) > 0
}

// layout is where a block collection's source entries are.
type layout struct {
	span
	src    []*yaml.Node // the collection's children in the source
	stride int          // 2 for a mapping's keys and values, 1 for items
	spans  []span       // of each entry
}

// key is the i-th mapping key or sequence item; val is its value in the
// source (the item itself, for sequences).
func (l *layout) key(i int) *yaml.Node { return l.src[i*l.stride] }
func (l *layout) val(i int) *yaml.Node { return l.src[i*l.stride+l.stride-1] }

func (l *layout) find(key *yaml.Node) (int, bool) {
	for i := range l.spans {
		if l.key(i) == key {
			return i, true
		}
	}
	return 0, false
}

// layoutOf lays out the source block collection n, whose text ends at end.
// Each entry runs from its line (or its first token, for the first key of a
// mapping in a sequence item) to the next entry; the last one stops before
// trailing blank lines and comments that belong to what follows.
func (d *document) layoutOf(n *yaml.Node, end int) layout {
	l := layout{src: d.source(n), stride: 1}
	if n.Kind == yaml.MappingNode {
		l.stride = 2
	}
	// Each entry's start first; its end is where the next one starts.
	l.spans = make([]span, len(l.src)/l.stride)
	for i := range l.spans {
		if n.Kind == yaml.MappingNode {
			l.spans[i].start = d.entryStart(d.offset(l.key(i)))
		} else {
			l.spans[i].start = d.entryStart(d.dash(l.key(i)))
		}
	}
	first := d.offset(l.key(0))
	if n.Kind == yaml.SequenceNode {
		first = d.dash(l.key(0))
	}
	col := first - d.lineStart(first) + 1
	for i := range l.spans {
		if i+1 < len(l.spans) {
			l.spans[i].end = l.spans[i+1].start
		} else {
			l.spans[i].end = d.trimEnd(l.spans[i].start, end, col)
		}
	}
	l.span = span{l.spans[0].start, l.spans[len(l.spans)-1].end}
	return l
}

// detectStyle finds the document's indentation step and sequence style from
// its first nested mapping and its first block sequence under a key.
func (d *document) detectStyle() {
	d.step, d.compact = 0, true
	seqSeen := false
	var visit func(n *yaml.Node) bool
	visit = func(n *yaml.Node) bool {
		if n.Kind != yaml.MappingNode && n.Kind != yaml.SequenceNode {
			return false
		}
		src := d.source(n)
		for i, c := range src {
			if n.Kind == yaml.MappingNode && i%2 == 1 && isSource(c) && d.wasBlock(c) {
				k := src[i-1]
				cs := d.source(c)
				if c.Kind == yaml.MappingNode && d.step == 0 {
					d.step = cs[0].Column - k.Column
				}
				if c.Kind == yaml.SequenceNode && !seqSeen {
					seqSeen = true
					dash := d.dash(cs[0])
					d.compact = dash-d.lineStart(dash)+1 == k.Column
				}
			}
			if d.step != 0 && seqSeen {
				return true
			}
			if isSource(c) && visit(c) {
				return true
			}
		}
		return false
	}
	visit(d.root)
	if d.step <= 0 {
		d.step = 2
	}
}

func containsAlias(n *yaml.Node) bool {
	if n.Kind == yaml.AliasNode {
		return true
	}
	for _, c := range n.Content {
		if containsAlias(c) {
			return true
		}
	}
	return false
}

// offset is the byte offset of a node's position.
func (d *document) offset(n *yaml.Node) int {
	if n.Line < 1 || n.Line > len(d.lineStarts) {
		return len(d.src)
	}
	off := d.lineStarts[n.Line-1]
	for col := 1; col < n.Column && off < len(d.src) && d.src[off] != '\n'; col++ {
		_, size := decodeRune(d.src[off:])
		off += size
	}
	return off
}

func decodeRune(b []byte) (rune, int) {
	if b[0] < 0x80 {
		return rune(b[0]), 1
	}
	r := []rune(string(b[:min(len(b), 4)]))
	if len(r) == 0 {
		return 0, 1
	}
	return r[0], len(string(r[0]))
}

func (d *document) lineStart(off int) int {
	return bytes.LastIndexByte(d.src[:off], '\n') + 1
}

// entryStart is where an entry whose first token is at off begins: its
// line when the token opens the line, else the token itself (the first key
// of a mapping in a sequence item, after "- ").
func (d *document) entryStart(off int) int {
	ls := d.lineStart(off)
	for _, c := range d.src[ls:off] {
		if c != ' ' {
			return off
		}
	}
	return ls
}

// dash finds the "-" that introduces a sequence item. Comments may come
// between them: on the dash's line ("- # note") and on lines of their own.
func (d *document) dash(item *yaml.Node) int {
	off := d.offset(item)
	for i := off - 1; i >= 0; i-- {
		switch d.src[i] {
		case ' ', '\t', '\r', '\n':
			continue
		case '-':
			return i
		}
		ls := d.lineStart(i)
		t := bytes.TrimLeft(d.src[ls:i+1], " \t")
		if t[0] == '#' {
			i = ls // a comment line: go on before it
			continue
		}
		if t[0] == '-' && len(t) > 1 && (t[1] == ' ' || t[1] == '\t') {
			if rest := bytes.TrimLeft(t[1:], " \t"); rest[0] == '#' {
				return i + 1 - len(t)
			}
		}
		break
	}
	return off
}

// trimEnd moves end back over trailing blank lines, document-end markers and
// comments no deeper than col (1-based), which belong to what follows.
func (d *document) trimEnd(start, end, col int) int {
	for end > start {
		le := end
		if d.src[le-1] == '\n' {
			le--
		}
		ls := d.lineStart(le)
		if ls <= start {
			break
		}
		line := strings.TrimRight(string(d.src[ls:le]), "\r")
		t := strings.TrimLeft(line, " ")
		indent := len(line) - len(t)
		if t == "" || (t[0] == '#' && indent <= col-1) || line == "..." || strings.HasPrefix(line, "... ") {
			end = ls
			continue
		}
		break
	}
	return end
}

func isBlock(n *yaml.Node) bool {
	return (n.Kind == yaml.MappingNode || n.Kind == yaml.SequenceNode) && n.Style&yaml.FlowStyle == 0 && len(n.Content) > 0
}

// print writes the document's text to b.
func (d *document) print(b *bytes.Buffer, e *emitter) error {
	if d.root == nil || !d.dirty[d.root] {
		b.Write(d.src)
		return nil
	}
	if d.isJSON {
		return d.printJSONDoc(b)
	}
	if !d.wasBlock(d.root) || len(d.root.Content) == 0 {
		return d.printJSON(b, d.root)
	}
	d.lineStarts = append(d.lineStarts[:0], 0)
	for i, c := range d.src {
		if c == '\n' {
			d.lineStarts = append(d.lineStarts, i+1)
		}
	}
	d.detectStyle()
	e.forDocument(d)
	l := d.layoutOf(d.root, len(d.src))
	b.Write(d.src[:l.start])
	d.reprint(b, e, d.root, l)
	b.Write(d.src[l.end:])
	return nil
}

// printJSON writes n as JSON, indented like the source.
func (d *document) printJSON(b *bytes.Buffer, n *yaml.Node) error {
	budget := 10_000_000
	compact, err := toJSON(nil, n, &budget)
	if err != nil {
		return err
	}
	if d.jsonIndent == "" {
		b.Write(compact)
		return nil
	}
	return json.Indent(b, compact, "", d.jsonIndent)
}

// reprint writes the dirty block collection c, laid out by l: the source of
// its unchanged entries, reprinted changed ones and rendered new ones.
func (d *document) reprint(b *bytes.Buffer, e *emitter, c *yaml.Node, l layout) {
	p := l.start
	for p < len(d.src) && d.src[p] == ' ' {
		p++
	}
	inline := l.start > 0 && d.src[l.start-1] != '\n'
	indent := p - d.lineStart(l.start)
	n, stride := len(c.Content), 1
	if c.Kind == yaml.MappingNode {
		n, stride = n/2, 2
	}
	for j := range n {
		key := c.Content[j*stride]
		val := c.Content[j*stride+stride-1]
		i, ok := l.find(key)
		fresh := !ok || (c.Kind == yaml.MappingNode && l.val(i) != val)
		if !fresh && d.dirty[val] && (!d.wasBlock(val) || len(val.Content) == 0) {
			fresh = true
		}
		indentFirst := !inline || j > 0
		if fresh {
			if c.Kind == yaml.MappingNode {
				e.entry(b, key, val, indent, indentFirst)
			} else {
				e.item(b, val, indent, indentFirst)
			}
			continue
		}
		sp := l.spans[i]
		text := d.src[sp.start:sp.end]
		startsLine := sp.start == 0 || d.src[sp.start-1] == '\n'
		if startsLine && !indentFirst {
			text = bytes.TrimLeft(text, " ")
		} else if !startsLine && indentFirst {
			spaces(b, indent)
		}
		if !d.dirty[val] {
			b.Write(text)
			continue
		}
		vl := d.layoutOf(val, sp.end)
		skip := sp.end - sp.start - len(text) // leading spaces trimmed above
		b.Write(d.src[sp.start+skip : vl.start])
		d.reprint(b, e, val, vl)
		b.Write(d.src[vl.end:sp.end])
	}
}
