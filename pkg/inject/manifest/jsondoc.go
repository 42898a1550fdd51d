package manifest

import (
	"bytes"
	"encoding/json"
	"strings"

	"go.yaml.in/yaml/v3"
)

// Printing JSON documents the way YAML ones are printed: the source of every
// member that did not change is copied, and only new or changed members are
// rendered, indented like their neighbours. A JSON document injected and
// uninjected comes back byte for byte, however it was formatted.

// jsonMember is a member of a source object, or an element of a source
// array (key is nil), and where it is.
type jsonMember struct {
	key, val   *yaml.Node
	start, end int
}

// printJSONDoc writes a changed JSON document to b.
func (d *document) printJSONDoc(b *bytes.Buffer) error {
	sp, ok := d.jspans[d.root]
	if !ok {
		return d.printJSON(b, d.root)
	}
	b.Write(d.src[:sp.start])
	if err := d.jsonReprint(b, d.root); err != nil {
		return err
	}
	b.Write(d.src[sp.end:])
	return nil
}

func (d *document) jsonMembers(n *yaml.Node) []jsonMember {
	src := d.source(n)
	var ms []jsonMember
	if n.Kind == yaml.MappingNode {
		for i := 0; i+1 < len(src); i += 2 {
			ms = append(ms, jsonMember{key: src[i], val: src[i+1], start: d.jspans[src[i]].start, end: d.jspans[src[i+1]].end})
		}
		return ms
	}
	for _, v := range src {
		ms = append(ms, jsonMember{val: v, start: d.jspans[v].start, end: d.jspans[v].end})
	}
	return ms
}

// lineIndent is the whitespace that opens the line holding off.
func (d *document) lineIndent(off int) string {
	ls := bytes.LastIndexByte(d.src[:off], '\n') + 1
	e := ls
	for e < len(d.src) && (d.src[e] == ' ' || d.src[e] == '\t') {
		e++
	}
	return string(d.src[ls:e])
}

// jsonReprint writes the changed source object or array n.
func (d *document) jsonReprint(b *bytes.Buffer, n *yaml.Node) error {
	sp := d.jspans[n]
	obj := n.Kind == yaml.MappingNode
	stride := 1
	if obj {
		stride = 2
	}
	members := d.jsonMembers(n)
	cur := len(n.Content) / stride
	openB, closeB := byte('['), byte(']')
	if obj {
		openB, closeB = '{', '}'
	}
	if cur == 0 {
		if len(members) == 0 {
			b.Write(d.src[sp.start:sp.end])
		} else {
			b.WriteByte(openB)
			b.WriteByte(closeB)
		}
		return nil
	}
	colon, sep := d.jsonStyle()
	var ind string
	if len(members) == 0 {
		// An empty source object ({}) grows: lay it out like the document.
		outer := d.lineIndent(sp.start)
		ind = outer + d.jsonIndent
		b.WriteByte(openB)
		if d.jsonIndent != "" {
			b.WriteString("\n" + ind)
			sep = ",\n" + ind
		}
		for j := range cur {
			if j > 0 {
				b.WriteString(sep)
			}
			if err := d.jsonMember(b, n, j, stride, colon, ind); err != nil {
				return err
			}
		}
		if d.jsonIndent != "" {
			b.WriteString("\n" + outer)
		}
		b.WriteByte(closeB)
		return nil
	}
	open := string(d.src[sp.start+1 : members[0].start])
	if i := strings.LastIndexByte(open, '\n'); i >= 0 {
		ind = open[i+1:]
	}
	switch {
	case len(members) >= 2:
		k := len(members) - 1
		sep = string(d.src[members[k-1].end:members[k].start])
	case strings.Contains(open, "\n"):
		sep = "," + open
	}
	if obj {
		colon = string(d.src[d.jspans[members[0].key].end:d.jspans[members[0].val].start])
	}
	b.Write(d.src[sp.start:members[0].start])
	prev := -1
	for j := range cur {
		key, val := n.Content[j*stride], n.Content[j*stride+stride-1]
		i := -1
		for x, m := range members {
			if (obj && m.key == key) || (!obj && m.val == val) {
				i = x
				break
			}
		}
		if j > 0 {
			if i >= 0 && prev >= 0 && i == prev+1 {
				b.Write(d.src[members[prev].end:members[i].start])
			} else {
				b.WriteString(sep)
			}
		}
		prev = i
		if i < 0 {
			if err := d.jsonMember(b, n, j, stride, colon, ind); err != nil {
				return err
			}
			continue
		}
		m := members[i]
		switch {
		case val == m.val && !d.dirty[val]:
			b.Write(d.src[m.start:m.end])
		case val == m.val && (val.Kind == yaml.MappingNode || val.Kind == yaml.SequenceNode):
			b.Write(d.src[m.start:d.jspans[val].start])
			if err := d.jsonReprint(b, val); err != nil {
				return err
			}
		default:
			b.Write(d.src[m.start:d.jspans[m.val].start])
			if err := d.jsonValue(b, val, ind); err != nil {
				return err
			}
		}
	}
	b.Write(d.src[members[len(members)-1].end:sp.end])
	return nil
}

// jsonStyle guesses the document's separators for members that have no
// neighbour to copy them from: indented JSON has ": ", compact JSON may
// have ": " and ", " (as people write it) or neither (as encoders do).
func (d *document) jsonStyle() (colon, sep string) {
	if d.jsonIndent != "" {
		return ": ", ","
	}
	colon, sep = ":", ","
	if bytes.Contains(d.src, []byte(`": `)) {
		colon = ": "
	}
	if bytes.Contains(d.src, []byte(`, "`)) {
		sep = ", "
	}
	return colon, sep
}

// jsonMember renders the j-th member of n, new, at indentation ind.
func (d *document) jsonMember(b *bytes.Buffer, n *yaml.Node, j, stride int, colon, ind string) error {
	if stride == 2 {
		b.Write(appendJSONString(nil, n.Content[2*j].Value))
		b.WriteString(colon)
	}
	return d.jsonValue(b, n.Content[j*stride+stride-1], ind)
}

// jsonValue renders a value whose line is indented by ind.
func (d *document) jsonValue(b *bytes.Buffer, v *yaml.Node, ind string) error {
	budget := 10_000_000
	compact, err := toJSON(nil, v, &budget)
	if err != nil {
		return err
	}
	if d.jsonIndent == "" {
		b.Write(compact)
		return nil
	}
	return json.Indent(b, compact, ind, d.jsonIndent)
}
