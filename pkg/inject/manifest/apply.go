package manifest

import (
	"fmt"
	"slices"
	"strconv"

	"go.yaml.in/yaml/v3"

	"github.com/meshctl/meshctl/pkg/inject"
)

// Applying JSON patch operations to a document's node tree. The tree is
// changed in place; every collection whose children change, and each of its
// ancestors, is marked dirty, so that printing reprints only those and
// copies every other byte of the source.

// applyPatch applies p to d's tree.
func (d *document) applyPatch(p inject.Patch) error {
	for _, op := range p {
		if err := d.applyOp(op); err != nil {
			return fmt.Errorf("applying %s %s: %w", op.Op, op.Path, err)
		}
	}
	return nil
}

func (d *document) applyOp(op inject.Operation) error {
	d.tokens = inject.AppendPointer(d.tokens[:0], op.Path)
	tokens := d.tokens
	if len(tokens) == 0 {
		return fmt.Errorf("cannot %s the whole document", op.Op)
	}
	var value *yaml.Node
	if op.Op != inject.OpRemove {
		var err error
		if value, err = d.cache.node(op.Value); err != nil {
			return err
		}
	}
	path, err := d.walk(tokens[:len(tokens)-1], op.Op == inject.OpAdd)
	if err != nil {
		return err
	}
	parent := path[len(path)-1]
	last := tokens[len(tokens)-1]
	wasEmpty := len(parent.Content) == 0
	d.touch(parent)
	// The change is visible through every alias of an anchored node on the
	// path, and through none once it is made; expand those aliases first.
	d.unshare(path)
	switch parent.Kind {
	case yaml.MappingNode:
		i := keyIndex(parent, last)
		switch {
		case op.Op == inject.OpAdd && i < 0:
			key := &yaml.Node{Kind: yaml.ScalarNode, Tag: tagStr, Value: last}
			parent.Content = append(parent.Content, key, value)
		case i < 0:
			return fmt.Errorf("no member %q", last)
		case op.Op == inject.OpRemove:
			d.unshareSubtree(parent.Content[i+1])
			parent.Content = slices.Delete(parent.Content, i, i+2)
		default:
			d.unshareSubtree(parent.Content[i+1])
			parent.Content[i+1] = value
		}
	case yaml.SequenceNode:
		if op.Op == inject.OpAdd && last == "-" {
			parent.Content = append(parent.Content, value)
			break
		}
		i, err := strconv.Atoi(last)
		if err != nil || i < 0 || i > len(parent.Content) || (i == len(parent.Content) && op.Op != inject.OpAdd) {
			return fmt.Errorf("no element %q", last)
		}
		switch op.Op {
		case inject.OpAdd:
			parent.Content = slices.Insert(parent.Content, i, value)
		case inject.OpRemove:
			d.unshareSubtree(parent.Content[i])
			parent.Content = slices.Delete(parent.Content, i, i+1)
		default:
			d.unshareSubtree(parent.Content[i])
			parent.Content[i] = value
		}
	default:
		return fmt.Errorf("%q is not an object or array", op.Path)
	}
	if len(parent.Content) > 0 && parent.Style&yaml.FlowStyle != 0 && wasEmpty {
		// `annotations: {}` grows into a block mapping, the usual style;
		// emptied again it prints as {} and round-trips.
		parent.Style &^= yaml.FlowStyle
	}
	for _, n := range path {
		d.dirty[n] = true
	}
	return nil
}

// walk returns the nodes from the root down to tokens' target, each a
// mapping or sequence. Aliases on the way are replaced by copies, and
// members reached only through a merge key are copied into the mapping,
// so that a change never leaks into what other nodes share. With create,
// missing or null members become empty mappings (a Job template without
// metadata, say).
func (d *document) walk(tokens []string, create bool) ([]*yaml.Node, error) {
	n := d.root
	path := make([]*yaml.Node, 1, len(tokens)+1)
	path[0] = n
	for _, tok := range tokens {
		var slot **yaml.Node
		switch n.Kind {
		case yaml.MappingNode:
			i := keyIndex(n, tok)
			if i < 0 {
				v := lookup(n, tok)
				switch {
				case v != nil:
					v = deepCopy(resolve(v))
				case create:
					v = &yaml.Node{Kind: yaml.MappingNode, Tag: tagMap}
				default:
					return nil, fmt.Errorf("no member %q", tok)
				}
				d.touch(n)
				n.Content = append(n.Content, &yaml.Node{Kind: yaml.ScalarNode, Tag: tagStr, Value: tok}, v)
				d.dirty[n] = true
				i = len(n.Content) - 2
			}
			slot = &n.Content[i+1]
		case yaml.SequenceNode:
			i, err := strconv.Atoi(tok)
			if err != nil || i < 0 || i >= len(n.Content) {
				return nil, fmt.Errorf("no element %q", tok)
			}
			slot = &n.Content[i]
		default:
			return nil, fmt.Errorf("%q is not an object or array", tok)
		}
		child := *slot
		if d.cache.shared[child] {
			d.touch(n)
			child = d.cache.copyShared(child)
			*slot = child
			d.dirty[n] = true
		}
		if child.Kind == yaml.AliasNode {
			d.touch(n)
			child = deepCopy(resolve(child))
			*slot = child
			d.dirty[n] = true
		}
		if create && isNull(child) {
			d.touch(n)
			child = &yaml.Node{Kind: yaml.MappingNode, Tag: tagMap}
			*slot = child
			d.dirty[n] = true
		}
		n = child
		path = append(path, n)
	}
	return path, nil
}

// keyIndex is the index in m.Content of the explicit key named key, or -1.
func keyIndex(m *yaml.Node, key string) int {
	for i := 0; i+1 < len(m.Content); i += 2 {
		if k := m.Content[i]; k.Kind == yaml.ScalarNode && k.Value == key && !isMerge(k) {
			return i
		}
	}
	return -1
}

// unshare expands every alias of an anchored node on path, since the
// change about to be made below that node must not reach its aliases.
func (d *document) unshare(path []*yaml.Node) {
	if !d.hasAliases {
		return
	}
	for _, n := range path {
		if n.Anchor != "" {
			d.expandAliasesOf(map[*yaml.Node]bool{n: true})
		}
	}
}

// unshareSubtree expands aliases of anchored nodes inside n, which is about
// to be removed or replaced, so that no alias is left without its anchor.
func (d *document) unshareSubtree(n *yaml.Node) {
	if !d.hasAliases {
		return
	}
	anchored := map[*yaml.Node]bool{}
	var visit func(*yaml.Node)
	visit = func(x *yaml.Node) {
		if x.Anchor != "" {
			anchored[x] = true
		}
		for _, c := range x.Content {
			visit(c)
		}
	}
	visit(n)
	if len(anchored) > 0 {
		d.expandAliasesOf(anchored)
	}
}

// expandAliasesOf replaces each alias of a node in targets with a copy of
// it, marking the alias's ancestors dirty.
func (d *document) expandAliasesOf(targets map[*yaml.Node]bool) {
	var visit func(n *yaml.Node, ancestors []*yaml.Node)
	visit = func(n *yaml.Node, ancestors []*yaml.Node) {
		ancestors = append(ancestors, n)
		for i, c := range n.Content {
			if c.Kind == yaml.AliasNode && targets[c.Alias] {
				d.touch(n)
				n.Content[i] = deepCopy(c.Alias)
				for _, a := range ancestors {
					d.dirty[a] = true
				}
				continue
			}
			visit(c, ancestors)
		}
	}
	visit(d.root, nil)
}
