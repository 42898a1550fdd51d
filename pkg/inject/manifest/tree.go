package manifest

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"slices"
	"strconv"
	"strings"
	"unicode/utf8"

	"go.yaml.in/yaml/v3"
)

// Node-tree helpers shared by the stream layer: lookups that follow aliases
// and merge keys, and conversions between yaml.Node trees and JSON.

const (
	tagStr   = "!!str"
	tagInt   = "!!int"
	tagFloat = "!!float"
	tagBool  = "!!bool"
	tagNull  = "!!null"
	tagMap   = "!!map"
	tagSeq   = "!!seq"
	mergeKey = "<<"
)

// resolve follows aliases.
func resolve(n *yaml.Node) *yaml.Node {
	for i := 0; n != nil && n.Kind == yaml.AliasNode && i < 100; i++ {
		n = n.Alias
	}
	return n
}

// lookup returns the value of key in mapping m, following aliases and merge
// keys (an explicit key wins over a merged one), or nil.
func lookup(m *yaml.Node, key string) *yaml.Node {
	budget := 1000
	return lookupDepth(resolve(m), key, 0, &budget)
}

// lookupDepth bounds both the depth of merges and the mappings visited,
// which nested merges of many sources would make exponential.
func lookupDepth(m *yaml.Node, key string, depth int, budget *int) *yaml.Node {
	*budget--
	if m == nil || m.Kind != yaml.MappingNode || depth > 10 || *budget < 0 {
		return nil
	}
	for i := 0; i+1 < len(m.Content); i += 2 {
		if k := m.Content[i]; k.Kind == yaml.ScalarNode && k.Value == key && !isMerge(k) {
			return m.Content[i+1]
		}
	}
	for i := 0; i+1 < len(m.Content); i += 2 {
		if !isMerge(m.Content[i]) {
			continue
		}
		for _, src := range mergeSources(m.Content[i+1]) {
			if v := lookupDepth(src, key, depth+1, budget); v != nil {
				return v
			}
		}
	}
	return nil
}

func isMerge(k *yaml.Node) bool {
	return k.Kind == yaml.ScalarNode && k.Value == mergeKey && (k.Tag == "!!merge" || k.Tag == "")
}

// mergeSources are the mappings a merge key's value names: one mapping or a
// sequence of them.
func mergeSources(v *yaml.Node) []*yaml.Node {
	v = resolve(v)
	if v == nil {
		return nil
	}
	if v.Kind == yaml.SequenceNode {
		var out []*yaml.Node
		for _, c := range v.Content {
			if c = resolve(c); c != nil && c.Kind == yaml.MappingNode {
				out = append(out, c)
			}
		}
		return out
	}
	if v.Kind == yaml.MappingNode {
		return []*yaml.Node{v}
	}
	return nil
}

// scalarString returns a scalar's value, or "" for anything else.
func scalarString(n *yaml.Node) string {
	if n = resolve(n); n != nil && n.Kind == yaml.ScalarNode && n.Tag != tagNull {
		return n.Value
	}
	return ""
}

// isNull reports whether n is absent or null.
func isNull(n *yaml.Node) bool {
	n = resolve(n)
	return n == nil || (n.Kind == yaml.ScalarNode && n.Tag == tagNull)
}

// errTooLarge stops alias expansion that would blow up ("billion laughs").
var errTooLarge = errors.New("document expands to too many nodes through aliases")

// toJSON renders n as JSON for decoding into Go types, expanding aliases
// and merge keys as a YAML decoder would. budget bounds the nodes visited.
func toJSON(buf []byte, n *yaml.Node, budget *int) ([]byte, error) {
	return toJSONDepth(buf, n, budget, 0)
}

// maxDepth bounds nesting; an alias inside its own anchor would otherwise
// recurse forever.
const maxDepth = 500

func toJSONDepth(buf []byte, n *yaml.Node, budget *int, depth int) ([]byte, error) {
	*budget--
	if *budget < 0 {
		return nil, errTooLarge
	}
	if depth > maxDepth {
		return nil, fmt.Errorf("line %d: nested too deep (an alias inside its own anchor?)", n.Line)
	}
	n = resolve(n)
	if n == nil {
		return append(buf, "null"...), nil
	}
	switch n.Kind {
	case yaml.DocumentNode:
		if len(n.Content) == 0 {
			return append(buf, "null"...), nil
		}
		return toJSONDepth(buf, n.Content[0], budget, depth+1)
	case yaml.SequenceNode:
		buf = append(buf, '[')
		for i, c := range n.Content {
			if i > 0 {
				buf = append(buf, ',')
			}
			var err error
			if buf, err = toJSONDepth(buf, c, budget, depth+1); err != nil {
				return nil, err
			}
		}
		return append(buf, ']'), nil
	case yaml.MappingNode:
		buf = append(buf, '{')
		first := true
		var err error
		if buf, err = mappingJSON(buf, n, &first, nil, budget, depth, 0); err != nil {
			return nil, err
		}
		return append(buf, '}'), nil
	case yaml.ScalarNode:
		return scalarJSON(buf, n)
	}
	return nil, fmt.Errorf("line %d: unsupported YAML node", n.Line)
}

// mappingJSON writes m's members; seen holds keys already written, so an
// explicit key beats a merged one and the first merge source beats later
// ones.
func mappingJSON(buf []byte, m *yaml.Node, first *bool, seen map[string]bool, budget *int, depth, merges int) ([]byte, error) {
	if merges > 10 {
		return nil, errors.New("merge keys nested too deep")
	}
	hasMerge := false
	for i := 0; i+1 < len(m.Content); i += 2 {
		if isMerge(m.Content[i]) {
			hasMerge = true
			break
		}
	}
	if hasMerge && seen == nil {
		seen = map[string]bool{}
	}
	var err error
	for i := 0; i+1 < len(m.Content); i += 2 {
		k := resolve(m.Content[i])
		if isMerge(k) {
			continue
		}
		if k == nil || k.Kind != yaml.ScalarNode {
			return nil, fmt.Errorf("line %d: a key must be a string", m.Content[i].Line)
		}
		if seen != nil {
			if seen[k.Value] {
				continue
			}
			seen[k.Value] = true
		}
		if !*first {
			buf = append(buf, ',')
		}
		*first = false
		buf = appendJSONString(buf, k.Value)
		buf = append(buf, ':')
		if buf, err = toJSONDepth(buf, m.Content[i+1], budget, depth+1); err != nil {
			return nil, err
		}
	}
	for i := 0; i+1 < len(m.Content); i += 2 {
		if !isMerge(m.Content[i]) {
			continue
		}
		for _, src := range mergeSources(m.Content[i+1]) {
			*budget--
			if *budget < 0 {
				return nil, errTooLarge
			}
			if buf, err = mappingJSON(buf, src, first, seen, budget, depth, merges+1); err != nil {
				return nil, err
			}
		}
	}
	return buf, nil
}

func scalarJSON(buf []byte, n *yaml.Node) ([]byte, error) {
	switch n.Tag {
	case tagNull:
		return append(buf, "null"...), nil
	case tagBool:
		if b, err := strconv.ParseBool(strings.ToLower(n.Value)); err == nil {
			return strconv.AppendBool(buf, b), nil
		}
	case tagInt:
		v := strings.ReplaceAll(n.Value, "_", "")
		if i, err := strconv.ParseInt(v, 0, 64); err == nil {
			return strconv.AppendInt(buf, i, 10), nil
		}
		if u, err := strconv.ParseUint(v, 0, 64); err == nil {
			return strconv.AppendUint(buf, u, 10), nil
		}
	case tagFloat:
		v := strings.ReplaceAll(n.Value, "_", "")
		if f, err := strconv.ParseFloat(v, 64); err == nil {
			if math.IsInf(f, 0) || math.IsNaN(f) {
				return nil, fmt.Errorf("line %d: %s cannot be represented in JSON", n.Line, n.Value)
			}
			return strconv.AppendFloat(buf, f, 'g', -1, 64), nil
		}
	}
	return appendJSONString(buf, n.Value), nil
}

// appendJSONString quotes s as a JSON string, without HTML escaping.
func appendJSONString(buf []byte, s string) []byte {
	const hex = "0123456789abcdef"
	buf = append(buf, '"')
	for i := 0; i < len(s); {
		c := s[i]
		if c < utf8.RuneSelf {
			switch {
			case c == '"' || c == '\\':
				buf = append(buf, '\\', c)
			case c == '\n':
				buf = append(buf, '\\', 'n')
			case c == '\r':
				buf = append(buf, '\\', 'r')
			case c == '\t':
				buf = append(buf, '\\', 't')
			case c < 0x20 || c == 0x7f:
				buf = append(buf, '\\', 'u', '0', '0', hex[c>>4], hex[c&0xf])
			default:
				buf = append(buf, c)
			}
			i++
			continue
		}
		r, size := utf8.DecodeRuneInString(s[i:])
		if r == utf8.RuneError && size == 1 {
			buf = append(buf, `\ufffd`...)
		} else {
			buf = append(buf, s[i:i+size]...)
		}
		i += size
	}
	return append(buf, '"')
}

// fromJSON parses one JSON value into a node tree, keeping key order and
// the literal text of numbers.
func fromJSON(data []byte) (*yaml.Node, error) {
	return parseJSON(data, nil)
}

// parseJSON is fromJSON that also records, when spans is not nil, where each
// value (and each object key) is in data.
func parseJSON(data []byte, spans map[*yaml.Node]span) (*yaml.Node, error) {
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.UseNumber()
	p := &jsonParser{dec: dec, data: data, spans: spans}
	n, err := p.node(0)
	if err != nil {
		return nil, err
	}
	if _, err := dec.Token(); err != io.EOF {
		return nil, errors.New("unexpected data after the JSON value")
	}
	return n, nil
}

type jsonParser struct {
	dec   *json.Decoder
	data  []byte
	spans map[*yaml.Node]span
}

// token reads a token and where it is.
func (p *jsonParser) token() (json.Token, span, error) {
	start := int(p.dec.InputOffset())
	tok, err := p.dec.Token()
	if err != nil {
		return nil, span{}, err
	}
	end := int(p.dec.InputOffset())
	for start < end && strings.IndexByte(" \t\r\n,:", p.data[start]) >= 0 {
		start++
	}
	return tok, span{start, end}, nil
}

func (p *jsonParser) record(n *yaml.Node, s span) *yaml.Node {
	if p.spans != nil {
		p.spans[n] = s
	}
	return n
}

func (p *jsonParser) node(depth int) (*yaml.Node, error) {
	if depth > 1000 {
		return nil, errors.New("JSON nested too deep")
	}
	tok, sp, err := p.token()
	if err != nil {
		return nil, err
	}
	switch t := tok.(type) {
	case json.Delim:
		n := &yaml.Node{Kind: yaml.MappingNode, Tag: tagMap}
		if t == '[' {
			n.Kind, n.Tag = yaml.SequenceNode, tagSeq
		}
		for p.dec.More() {
			if n.Kind == yaml.MappingNode {
				k, ksp, err := p.token()
				if err != nil {
					return nil, err
				}
				ks, _ := k.(string)
				n.Content = append(n.Content, p.record(&yaml.Node{Kind: yaml.ScalarNode, Tag: tagStr, Value: ks}, ksp))
			}
			c, err := p.node(depth + 1)
			if err != nil {
				return nil, err
			}
			n.Content = append(n.Content, c)
		}
		_, closing, err := p.token()
		if err != nil {
			return nil, err
		}
		return p.record(n, span{sp.start, closing.end}), nil
	case string:
		return p.record(&yaml.Node{Kind: yaml.ScalarNode, Tag: tagStr, Value: t}, sp), nil
	case json.Number:
		tag := tagInt
		if strings.ContainsAny(string(t), ".eE") {
			tag = tagFloat
		}
		return p.record(&yaml.Node{Kind: yaml.ScalarNode, Tag: tag, Value: string(t)}, sp), nil
	case bool:
		return p.record(&yaml.Node{Kind: yaml.ScalarNode, Tag: tagBool, Value: strconv.FormatBool(t)}, sp), nil
	case nil:
		return p.record(&yaml.Node{Kind: yaml.ScalarNode, Tag: tagNull, Value: "null"}, sp), nil
	}
	return nil, fmt.Errorf("unexpected JSON token %v", tok)
}

// valueCache converts patch values into node trees once per distinct
// value: every workload of a stream gets the same sidecar containers. The
// trees it returns are shared, so nothing may change them in place; walk
// copies a shared tree before descending into it, and the emitter caches
// their rendering.
type valueCache struct {
	nodes  map[string]*yaml.Node
	shared map[*yaml.Node]bool
}

// maxCached bounds the cache; values past it are converted every time.
const maxCached = 4096

func newValueCache() *valueCache {
	return &valueCache{nodes: map[string]*yaml.Node{}, shared: map[*yaml.Node]bool{}}
}

// node converts a patch operation's value into a node tree.
func (c *valueCache) node(v any) (*yaml.Node, error) {
	switch v := v.(type) {
	case string:
		return &yaml.Node{Kind: yaml.ScalarNode, Tag: tagStr, Value: v}, nil
	case map[string]string:
		// Labels and annotations: small, and different for every workload.
		// All their nodes are allocated at once.
		keys := make([]string, 0, len(v))
		for k := range v {
			keys = append(keys, k)
		}
		slices.Sort(keys)
		nodes := make([]yaml.Node, 1+2*len(keys))
		n := &nodes[0]
		*n = yaml.Node{Kind: yaml.MappingNode, Tag: tagMap, Content: make([]*yaml.Node, 0, 2*len(keys))}
		for i, k := range keys {
			key, val := &nodes[1+2*i], &nodes[2+2*i]
			*key = yaml.Node{Kind: yaml.ScalarNode, Tag: tagStr, Value: k}
			*val = yaml.Node{Kind: yaml.ScalarNode, Tag: tagStr, Value: v[k]}
			n.Content = append(n.Content, key, val)
		}
		return n, nil
	case []string:
		// A proxy's arguments: different for every workload, so not
		// worth a round trip through JSON and the cache.
		nodes := make([]yaml.Node, 1+len(v))
		n := &nodes[0]
		*n = yaml.Node{Kind: yaml.SequenceNode, Tag: tagSeq, Content: make([]*yaml.Node, len(v))}
		for i, x := range v {
			nodes[1+i] = yaml.Node{Kind: yaml.ScalarNode, Tag: tagStr, Value: x}
			n.Content[i] = &nodes[1+i]
		}
		return n, nil
	case []any:
		n := &yaml.Node{Kind: yaml.SequenceNode, Tag: tagSeq}
		for _, x := range v {
			item, err := c.node(x)
			if err != nil {
				return nil, err
			}
			n.Content = append(n.Content, item)
		}
		return n, nil
	}
	b, ok := v.(json.RawMessage)
	if !ok {
		var err error
		if b, err = json.Marshal(v); err != nil {
			return nil, err
		}
	}
	if n, ok := c.nodes[string(b)]; ok {
		return n, nil
	}
	n, err := fromJSON(b)
	if err != nil {
		return nil, err
	}
	if len(c.nodes) < maxCached {
		c.nodes[string(b)] = n
		c.shared[n] = true
	}
	return n, nil
}

// copyShared copies n, a shared tree, for a change below it: the node
// alone, with its own list of the same children, which it marks shared in
// turn, so that a change further down copies them too (walk) and the
// emitter renders the untouched ones from its cache. A workload's proxy
// arguments are such a change: copying the whole container for them, and
// rendering it anew, cost most of a workload's time.
func (c *valueCache) copyShared(n *yaml.Node) *yaml.Node {
	cp := *n
	cp.Anchor = ""
	cp.HeadComment, cp.LineComment, cp.FootComment = "", "", ""
	cp.Line, cp.Column = 0, 0
	cp.Content = slices.Clone(n.Content)
	for _, x := range n.Content {
		c.shared[x] = true
	}
	return &cp
}

// deepCopy copies n without anchors (a copy that kept them would redefine
// them), keeping aliases inside it, which still refer to earlier anchors.
func deepCopy(n *yaml.Node) *yaml.Node {
	if n == nil {
		return nil
	}
	c := *n
	c.Anchor = ""
	c.HeadComment, c.LineComment, c.FootComment = "", "", ""
	c.Line, c.Column = 0, 0
	if n.Content != nil {
		c.Content = make([]*yaml.Node, len(n.Content))
		for i, x := range n.Content {
			c.Content[i] = deepCopy(x)
		}
	}
	return &c
}
