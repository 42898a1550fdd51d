package manifest

import (
	"strings"

	"go.yaml.in/yaml/v3"
)

// blockReader reads the YAML that most manifests are made of into the node
// tree yaml.v3 would build for it, at a fraction of yaml.v3's cost (which
// was two thirds of a stream's time, profiled, most of it allocating tokens
// and events). That YAML is: block mappings and sequences, one entry per
// line, spaces for indentation, comments, and values on one line: plain,
// single-quoted or double-quoted (without escapes) scalars, empty flow
// collections and flow sequences of such scalars.
//
// It never decides anything differently from yaml.v3, because it does not
// decide at all: at the first byte outside that subset (a quoted key, a flow
// mapping, an anchor, a tag, a block scalar, a tab, a non-ASCII byte, an
// empty value, a scalar continued on the next line, an odd indentation...)
// it gives up, and the caller parses the document with yaml.v3, which also
// reports its errors. TestBlockReader, TestBlockReaderRandom and
// FuzzBlockReader check that every document it reads, yaml.v3 reads into
// the same tree.
//
// The trees carry no comments: nothing in this package reads them, since
// printing copies comments from the source.
//
// A tree is valid until the next read, which reuses its nodes: the stream
// layer is done with a document, and keeps nothing of its tree, before it
// reads the next. Allocating the nodes afresh for every document was most
// of the bytes a stream allocated.
type blockReader struct {
	src  string // the document; scalar values are substrings of it
	line int    // 1-based number of the line being read
	// open collections, innermost last, and their children so far.
	open []openCollection
	kids []*yaml.Node
	// pending is set when the innermost mapping's last key has its value
	// on the lines that follow.
	pending bool

	// Nodes and Content slices are carved out of slabs, reused from one
	// document to the next; used counts what this document took.
	nodes     []yaml.Node
	ptrs      []*yaml.Node
	usedNodes int
	usedPtrs  int
	// tags caches the tag yaml.v3 resolves for plain scalars that are not
	// obviously strings or integers ("100m", "1.5", "2024-01-01").
	tags map[string]string
}

type openCollection struct {
	node   *yaml.Node
	indent int // column (0-based) of its keys or dashes
	first  int // index in kids of its first child
	// compact is set for a sequence at its key's column ("key:\n- a"),
	// which the next key at that column ends.
	compact bool
}

// Limits beyond which the reader leaves a document to yaml.v3: nesting, and
// the length of a key (yaml.v3 rejects simple keys over 1024 characters).
const (
	maxBlockDepth  = 100
	maxBlockKeyLen = 1000
)

func newBlockReader() *blockReader {
	return &blockReader{tags: map[string]string{}}
}

// read returns the root of the document in data, or nil when the document
// is not in the subset this reader handles (or has no content).
func (r *blockReader) read(data []byte) *yaml.Node {
	r.src = string(data)
	r.open, r.kids, r.pending = r.open[:0], r.kids[:0], false
	r.usedNodes, r.usedPtrs = 0, 0
	var root *yaml.Node
	for off, line := 0, 1; off < len(r.src); line++ {
		end := off
		for end < len(r.src) && r.src[end] != '\n' {
			if c := r.src[end]; c < 0x20 || c > 0x7e {
				return nil
			}
			end++
		}
		r.line = line
		text := r.src[off:end]
		off = end + 1
		if line == 1 && text == "---" {
			continue
		}
		if hasPrefix(text, "---") || hasPrefix(text, "...") {
			return nil
		}
		n := 0
		for n < len(text) && text[n] == ' ' {
			n++
		}
		if n == len(text) || text[n] == '#' {
			continue // blank or comment
		}
		switch {
		case root == nil && isKeyLine(text[n:]):
			root = r.openNode(yaml.MappingNode, n, false)
		case root == nil:
			return nil // a sequence or a scalar at the root: rare
		case !r.place(text, n) || len(r.open) > maxBlockDepth:
			return nil
		}
		if !r.lineBody(text, n) {
			return nil
		}
	}
	if root == nil || r.pending {
		return nil
	}
	for len(r.open) > 0 {
		r.closeTop()
	}
	return root
}

// place places a content line indented by n among the open collections:
// it closes those it ends, or opens the value of a pending key.
func (r *blockReader) place(text string, n int) bool {
	item := isItem(text[n:])
	if r.pending {
		r.pending = false
		top := r.open[len(r.open)-1]
		switch {
		case item && n >= top.indent:
			r.openNode(yaml.SequenceNode, n, n == top.indent)
		case !item && n > top.indent && isKeyLine(text[n:]):
			r.openNode(yaml.MappingNode, n, false)
		default:
			return false // an empty value, or a scalar on the next line
		}
		return true
	}
	for len(r.open) > 0 && r.open[len(r.open)-1].indent > n {
		r.closeTop()
	}
	if len(r.open) == 0 {
		return false // content after the root mapping
	}
	if top := r.open[len(r.open)-1]; top.compact && top.indent == n && !item {
		r.closeTop()
	}
	top := r.open[len(r.open)-1]
	return top.indent == n && item == (top.node.Kind == yaml.SequenceNode)
}

// lineBody reads what follows the indentation n of a line, into the
// innermost open collection: an entry of a mapping, or an item of a
// sequence.
func (r *blockReader) lineBody(text string, n int) bool {
	top := r.open[len(r.open)-1]
	if top.node.Kind == yaml.MappingNode {
		return r.entry(text, n)
	}
	// "- " and what follows it: a scalar, or the first entry of a mapping.
	c := n + 1
	if c == len(text) || text[c] != ' ' {
		return false
	}
	for c < len(text) && text[c] == ' ' {
		c++
	}
	rest := text[c:]
	switch {
	case rest == "" || rest[0] == '#' || isItem(rest):
		return false
	case isKeyLine(rest):
		r.openNode(yaml.MappingNode, c, false)
		return r.entry(text, c)
	}
	v := r.scalar(text, c)
	if v == nil {
		return false
	}
	r.kids = append(r.kids, v)
	return true
}

// entry reads "key: value" or "key:" starting at column c.
func (r *blockReader) entry(text string, c int) bool {
	k := c
	for k < len(text) && isKeyChar(text[k]) {
		k++
	}
	if k == c || k-c > maxBlockKeyLen || k == len(text) || text[k] != ':' || text[c] == '-' {
		return false
	}
	key := r.plain(text, c, k)
	if key == nil {
		return false
	}
	r.kids = append(r.kids, key)
	v := k + 1
	if v < len(text) && text[v] != ' ' {
		return false
	}
	for v < len(text) && text[v] == ' ' {
		v++
	}
	if v == len(text) || text[v] == '#' {
		r.pending = true
		return true
	}
	val := r.scalar(text, v)
	if val == nil {
		return false
	}
	r.kids = append(r.kids, val)
	return true
}

// scalar reads the value that runs from column c to the end of the line or
// to a comment: a quoted scalar, a flow collection or a plain scalar.
func (r *blockReader) scalar(text string, c int) *yaml.Node {
	first := text[c]
	if first == '\'' || first == '"' {
		return r.quoted(text, c)
	}
	if first == '[' || first == '{' {
		return r.flow(text, c)
	}
	if first == '-' {
		if c+1 == len(text) || text[c+1] == ' ' {
			return nil
		}
	} else if !isScalarStart(first) {
		return nil
	}
	end := c
	for i := c; i < len(text); i++ {
		ch := text[i]
		switch {
		case ch == ' ':
			if i+1 < len(text) && text[i+1] == '#' {
				return r.plain(text, c, end)
			}
			continue
		case ch == ':':
			// ": " or a final ":" would make it a key.
			if i+1 == len(text) || !isScalarChar(text[i+1]) {
				return nil
			}
		case !isScalarChar(ch):
			return nil
		}
		end = i + 1
	}
	return r.plain(text, c, end)
}

// quoted reads a quoted scalar that opens at column c and closes on the
// same line: single-quoted, or double-quoted without escapes. Only spaces
// or a comment may follow it.
func (r *blockReader) quoted(text string, c int) *yaml.Node {
	n, end := r.quotedScalar(text, c)
	if n == nil || !endsLine(text, end) {
		return nil
	}
	return n
}

// quotedScalar reads the quoted scalar that opens at column c, and returns
// the column after it.
func (r *blockReader) quotedScalar(text string, c int) (*yaml.Node, int) {
	q := text[c]
	end := c + 1
	escaped := false // a single-quoted scalar has "''" for "'"
	for ; end < len(text); end++ {
		if text[end] == '\\' && q == '"' {
			return nil, 0
		}
		if text[end] == q {
			if q == '\'' && end+1 < len(text) && text[end+1] == '\'' {
				escaped = true
				end++
				continue
			}
			break
		}
	}
	if end == len(text) {
		return nil, 0 // continued on the next line
	}
	n := r.node()
	n.Kind, n.Tag, n.Value, n.Line, n.Column = yaml.ScalarNode, tagStr, text[c+1:end], r.line, c+1
	n.Style = yaml.DoubleQuotedStyle
	if q == '\'' {
		n.Style = yaml.SingleQuotedStyle
		if escaped {
			n.Value = strings.ReplaceAll(n.Value, "''", "'")
		}
	}
	return n, end + 1
}

// endsLine reports whether only spaces, or spaces and a comment, follow
// column c.
func endsLine(text string, c int) bool {
	i := c
	for i < len(text) && text[i] == ' ' {
		i++
	}
	return i == len(text) || (text[i] == '#' && i > c)
}

// flow reads a flow collection that opens at column c and closes on the
// same line: an empty mapping or sequence ("{}", "[]"), or a sequence of
// scalars (["run", '--x', y]). Only spaces or a comment may follow it.
func (r *blockReader) flow(text string, c int) *yaml.Node {
	n := r.node()
	n.Line, n.Column, n.Style = r.line, c+1, yaml.FlowStyle
	i := c + 1
	if text[c] == '{' {
		n.Kind, n.Tag = yaml.MappingNode, tagMap
		if i == len(text) || text[i] != '}' {
			return nil
		}
		if !endsLine(text, i+1) {
			return nil
		}
		return n
	}
	n.Kind, n.Tag = yaml.SequenceNode, tagSeq
	first := len(r.kids)
	defer func() { r.kids = r.kids[:first] }()
	i = skipSpaces(text, i)
	for i < len(text) && text[i] != ']' {
		var item *yaml.Node
		if text[i] == '\'' || text[i] == '"' {
			item, i = r.quotedScalar(text, i)
		} else {
			item, i = r.flowPlain(text, i)
		}
		if item == nil {
			return nil
		}
		r.kids = append(r.kids, item)
		i = skipSpaces(text, i)
		if i < len(text) && text[i] == ',' {
			// Another item must follow: "[a,]" is left to yaml.v3.
			if i = skipSpaces(text, i+1); i == len(text) || text[i] == ']' {
				return nil
			}
		} else if i == len(text) || text[i] != ']' {
			return nil
		}
	}
	if i == len(text) || !endsLine(text, i+1) {
		return nil
	}
	if kids := r.kids[first:]; len(kids) > 0 {
		n.Content = r.content(kids)
	}
	return n
}

// flowPlain reads a plain scalar in a flow sequence, of the characters
// that cannot end it or make it a key, and returns the column after it.
func (r *blockReader) flowPlain(text string, c int) (*yaml.Node, int) {
	if c == len(text) || !(isScalarStart(text[c]) || (text[c] == '-' && c+1 < len(text) && isFlowChar(text[c+1]))) {
		return nil, 0
	}
	end := c + 1
	for end < len(text) && isFlowChar(text[end]) {
		end++
	}
	return r.plain(text, c, end), end
}

func skipSpaces(text string, i int) int {
	for i < len(text) && text[i] == ' ' {
		i++
	}
	return i
}

// plain makes the scalar node of text[c:end].
func (r *blockReader) plain(text string, c, end int) *yaml.Node {
	v := text[c:end]
	tag := r.tag(v)
	if tag == "" {
		return nil
	}
	n := r.node()
	n.Kind, n.Tag, n.Value, n.Line, n.Column = yaml.ScalarNode, tag, v, r.line, c+1
	return n
}

// tag is the tag yaml.v3 resolves for the plain scalar v, or "" when it
// cannot be told.
func (r *blockReader) tag(v string) string {
	switch v {
	case "true", "True", "TRUE", "false", "False", "FALSE":
		return tagBool
	case "~", "null", "Null", "NULL":
		return tagNull
	}
	switch c := v[0]; {
	case c == '0' && len(v) == 1:
		return tagInt
	case '1' <= c && c <= '9' && len(v) <= 18 && allDigits(v):
		return tagInt
	case c != '+' && c != '-' && c != '.' && (c < '0' || c > '9'):
		// yaml.v3 resolves by the first character: nothing but the words
		// above and numbers (and timestamps, which start with a digit)
		// resolves to anything but a string.
		return tagStr
	}
	// Numbers in other forms, quantities ("100m"), versions, dates: ask
	// yaml.v3, once per value.
	if t, ok := r.tags[v]; ok {
		return t
	}
	var doc yaml.Node
	t := ""
	if yaml.Unmarshal([]byte(v), &doc) == nil && len(doc.Content) == 1 {
		if s := doc.Content[0]; s.Kind == yaml.ScalarNode && s.Style == 0 && s.Value == v {
			t = s.Tag
		}
	}
	if len(r.tags) < maxCached {
		r.tags[strings.Clone(v)] = t // v would pin its whole document
	}
	return t
}

// openNode opens a collection whose first key or dash is at column c of
// the current line, as the value of the pending key or item.
func (r *blockReader) openNode(kind yaml.Kind, c int, compact bool) *yaml.Node {
	n := r.node()
	n.Kind, n.Line, n.Column = kind, r.line, c+1
	n.Tag = tagMap
	if kind == yaml.SequenceNode {
		n.Tag = tagSeq
	}
	if len(r.open) > 0 {
		r.kids = append(r.kids, n)
	}
	r.open = append(r.open, openCollection{node: n, indent: c, first: len(r.kids), compact: compact})
	return n
}

// closeTop closes the innermost collection: its children become its
// Content.
func (r *blockReader) closeTop() {
	o := r.open[len(r.open)-1]
	r.open = r.open[:len(r.open)-1]
	o.node.Content = r.content(r.kids[o.first:])
	r.kids = r.kids[:o.first]
}

// content copies kids into a Content slice of their own capacity, so that
// appending to one never writes into another.
func (r *blockReader) content(kids []*yaml.Node) []*yaml.Node {
	if len(r.ptrs)-r.usedPtrs < len(kids) {
		// A new slab; the old one lives on as long as this tree does.
		r.ptrs = make([]*yaml.Node, max(256, 2*len(r.ptrs), len(kids)))
		r.usedPtrs = 0
	}
	c := r.ptrs[r.usedPtrs : r.usedPtrs+len(kids) : r.usedPtrs+len(kids)]
	r.usedPtrs += len(kids)
	copy(c, kids)
	return c
}

func (r *blockReader) node() *yaml.Node {
	if r.usedNodes == len(r.nodes) {
		r.nodes = make([]yaml.Node, max(64, 2*len(r.nodes)))
		r.usedNodes = 0
	}
	n := &r.nodes[r.usedNodes]
	r.usedNodes++
	*n = yaml.Node{}
	return n
}

func hasPrefix(s, p string) bool { return len(s) >= len(p) && s[:len(p)] == p }

// isItem reports whether s opens a sequence item: "-" then a space or the
// end of the line.
func isItem(s string) bool { return s[0] == '-' && (len(s) == 1 || s[1] == ' ') }

// isKeyLine reports whether s starts with a key and its colon.
func isKeyLine(s string) bool {
	k := 0
	for k < len(s) && isKeyChar(s[k]) {
		k++
	}
	return k > 0 && k < len(s) && s[k] == ':' && (k+1 == len(s) || s[k+1] == ' ')
}

func allDigits(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return false
		}
	}
	return true
}

func isAlnum(c byte) bool {
	return ('a' <= c && c <= 'z') || ('A' <= c && c <= 'Z') || ('0' <= c && c <= '9')
}

// isKeyChar: the characters of the keys Kubernetes objects use, labels and
// annotations included.
func isKeyChar(c byte) bool {
	return isAlnum(c) || c == '-' || c == '_' || c == '.' || c == '/'
}

// isScalarStart: what a plain scalar may start with ("-" is checked apart).
// Every YAML indicator is left out.
func isScalarStart(c byte) bool {
	return isAlnum(c) || c == '_' || c == '.' || c == '/' || c == '~'
}

// isFlowChar: what a plain scalar in a flow sequence may go on with, a
// safe subset of what YAML allows.
func isFlowChar(c byte) bool {
	return isAlnum(c) || c == '-' || c == '_' || c == '.' || c == '/' || c == '~' || c == '@' || c == '+' || c == '=' || c == '%'
}

// isScalarChar: what a plain scalar may go on with, a safe subset of what
// YAML allows.
func isScalarChar(c byte) bool {
	return isAlnum(c) || c == '-' || c == '_' || c == '.' || c == '/' || c == '~' ||
		c == ':' || c == '@' || c == '+' || c == '=' || c == '%' || c == ','
}
