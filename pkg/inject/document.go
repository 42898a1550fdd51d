package inject

import (
	"bytes"
	"encoding/json"
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

	dirty      map[*yaml.Node]bool
	hasAliases bool
	cache      *valueCache

	// Source positions, filled by index before the first change.
	lineStarts []int
	entries    map[*yaml.Node]span       // mapping key or sequence item -> its entry's text
	colls      map[*yaml.Node]span       // block collection -> its entries' text
	values     map[*yaml.Node]*yaml.Node // mapping key -> its value in the source
	step       int                       // indentation of nested mappings
	compact    bool                      // block sequences at their key's column (kubectl style)
}

// span is a byte range [start, end) of a document's source.
type span struct{ start, end int }

func newDocument(src []byte, root *yaml.Node) *document {
	return &document{src: src, root: root, dirty: map[*yaml.Node]bool{}}
}

// prepare indexes the source before the first change.
func (d *document) prepare() {
	if d.lineStarts != nil || d.isJSON {
		return
	}
	d.lineStarts = []int{0}
	for i, c := range d.src {
		if c == '\n' {
			d.lineStarts = append(d.lineStarts, i+1)
		}
	}
	d.entries = map[*yaml.Node]span{}
	d.colls = map[*yaml.Node]span{}
	d.values = map[*yaml.Node]*yaml.Node{}
	d.step, d.compact = 0, true
	seqSeen := false
	d.indexNode(d.root, len(d.src), &seqSeen)
	if d.step <= 0 {
		d.step = 2
	}
	d.hasAliases = containsAlias(d.root)
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

// dash finds the "-" that introduces a sequence item.
func (d *document) dash(item *yaml.Node) int {
	off := d.offset(item)
	for i := off - 1; i >= 0; i-- {
		switch d.src[i] {
		case ' ', '\t', '\r', '\n':
			continue
		case '-':
			return i
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

// indexNode records the spans of n's entries; end is where n's text ends.
func (d *document) indexNode(n *yaml.Node, end int, seqSeen *bool) {
	if !isBlock(n) {
		return
	}
	var keys, vals []*yaml.Node
	if n.Kind == yaml.MappingNode {
		for i := 0; i+1 < len(n.Content); i += 2 {
			keys = append(keys, n.Content[i])
			vals = append(vals, n.Content[i+1])
		}
	} else {
		keys, vals = n.Content, n.Content
	}
	starts := make([]int, len(keys))
	for i, k := range keys {
		if n.Kind == yaml.MappingNode {
			starts[i] = d.entryStart(d.offset(k))
		} else {
			starts[i] = d.entryStart(d.dash(k))
		}
	}
	first := d.offset(keys[0])
	if n.Kind == yaml.SequenceNode {
		first = d.dash(keys[0])
	}
	col := first - d.lineStart(first) + 1
	for i := range keys {
		e := end
		if i+1 < len(keys) {
			e = starts[i+1]
		} else {
			e = d.trimEnd(starts[i], end, col)
		}
		d.entries[keys[i]] = span{starts[i], e}
		if n.Kind == yaml.MappingNode {
			d.values[keys[i]] = vals[i]
			v := vals[i]
			if isBlock(v) && v.Kind == yaml.MappingNode && d.step == 0 && len(v.Content) > 0 {
				d.step = v.Content[0].Column - keys[i].Column
			}
			if isBlock(v) && v.Kind == yaml.SequenceNode && !*seqSeen {
				*seqSeen = true
				dash := d.dash(v.Content[0])
				d.compact = dash-d.lineStart(dash)+1 == keys[i].Column
			}
		}
		d.indexNode(vals[i], e, seqSeen)
	}
	d.colls[n] = span{starts[0], d.entries[keys[len(keys)-1]].end}
}

// print returns the document's text.
func (d *document) print(e *emitter) ([]byte, error) {
	if d.root == nil || !d.dirty[d.root] {
		return d.src, nil
	}
	if d.isJSON || !isBlock(d.root) {
		return d.printJSON(d.root)
	}
	s := d.colls[d.root]
	var b bytes.Buffer
	b.Grow(len(d.src) + 2048)
	b.Write(d.src[:s.start])
	d.reprint(&b, e, d.root)
	b.Write(d.src[s.end:])
	return b.Bytes(), nil
}

// printJSON prints n as JSON, indented like the source.
func (d *document) printJSON(n *yaml.Node) ([]byte, error) {
	budget := 10_000_000
	compact, err := toJSON(nil, n, &budget)
	if err != nil {
		return nil, err
	}
	if d.jsonIndent == "" {
		return compact, nil
	}
	var b bytes.Buffer
	if err := json.Indent(&b, compact, "", d.jsonIndent); err != nil {
		return nil, err
	}
	return b.Bytes(), nil
}

// reprint writes the dirty block collection c: the source of its unchanged
// entries, reprinted changed ones and rendered new ones.
func (d *document) reprint(b *bytes.Buffer, e *emitter, c *yaml.Node) {
	orig := d.colls[c]
	inline := orig.start > 0 && d.src[orig.start-1] != '\n'
	p := orig.start
	for p < len(d.src) && d.src[p] == ' ' {
		p++
	}
	indent := p - d.lineStart(orig.start)
	n := len(c.Content)
	stride := 1
	if c.Kind == yaml.MappingNode {
		n, stride = n/2, 2
	}
	for j := range n {
		key := c.Content[j*stride]
		val := c.Content[j*stride+stride-1]
		sp, ok := d.entries[key]
		fresh := !ok || (c.Kind == yaml.MappingNode && d.values[key] != val)
		if !fresh && d.dirty[val] {
			if _, block := d.colls[val]; !block || len(val.Content) == 0 {
				fresh = true
			}
		}
		indentFirst := !(inline && j == 0)
		if fresh {
			if c.Kind == yaml.MappingNode {
				e.entry(b, key, val, indent, indentFirst)
			} else {
				e.item(b, val, indent, indentFirst)
			}
			continue
		}
		text := d.src[sp.start:sp.end]
		startsLine := sp.start == 0 || d.src[sp.start-1] == '\n'
		if startsLine && !indentFirst {
			text = bytes.TrimLeft(text, " ")
		} else if !startsLine && indentFirst {
			b.WriteString(strings.Repeat(" ", indent))
		}
		if !d.dirty[val] {
			b.Write(text)
			continue
		}
		vs := d.colls[val]
		skip := len(d.src[sp.start:sp.end]) - len(text) // leading spaces trimmed above
		b.Write(d.src[sp.start+skip : vs.start])
		d.reprint(b, e, val)
		b.Write(d.src[vs.end:sp.end])
	}
}
