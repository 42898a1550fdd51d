package meshconfig

import (
	"encoding/json"
	"fmt"
	"reflect"
	"slices"
	"strconv"
	"strings"

	"k8s.io/apimachinery/pkg/api/resource"
)

// The field paths of `meshctl config get|set` are derived from the Go types by
// reflection on their JSON names, so that a field added to types.go is
// settable at once and the list of valid fields in an error is never stale.

// FieldKind says what a field holds, and so how a VALUE typed by the user
// becomes JSON.
type FieldKind string

// The kinds of fields.
const (
	KindObject   FieldKind = "object"   // a struct: a JSON object of known fields
	KindMap      FieldKind = "map"      // a map: a JSON object of any keys
	KindList     FieldKind = "list"     // a list of scalars
	KindBool     FieldKind = "boolean"  // true or false
	KindInteger  FieldKind = "integer"  // a whole number
	KindString   FieldKind = "string"   // text
	KindQuantity FieldKind = "quantity" // a resource quantity such as 100m or 64Mi
	KindJSON     FieldKind = "json"     // anything else, given as JSON
)

// MapKeyPlaceholder stands for a map key in the list of valid fields, as in
// sidecar.resources.limits.<name>.
const MapKeyPlaceholder = "<name>"

var quantityType = reflect.TypeFor[resource.Quantity]()

// Path is a parsed, known field path below a MeshConfig's spec, such as
// traffic.enablePermissiveTrafficPolicyMode.
//
// +kubebuilder:object:generate=false
type Path struct {
	segments []string
	typ      reflect.Type
}

// ParsePath parses a dotted path relative to spec. Every segment must name a
// field of the MeshConfig types (a map level accepts any key); an unknown
// field is an error that lists the valid ones.
func ParsePath(s string) (Path, error) {
	if s == "" {
		return Path{}, fmt.Errorf("empty field path: give a dotted path such as traffic.enableEgress; %s", validFields())
	}
	segs := strings.Split(s, ".")
	typ := reflect.TypeFor[MeshConfigSpec]()
	for i, seg := range segs {
		if seg == "" {
			return Path{}, fmt.Errorf("field %q: empty segment in the dotted path", s)
		}
		switch kindOf(typ) {
		case KindObject:
			f, ok := jsonFields(typ)[seg]
			if !ok {
				return Path{}, unknownField(s, strings.Join(segs[:i+1], "."))
			}
			typ = f
		case KindMap:
			typ = typ.Elem()
		default:
			return Path{}, fmt.Errorf("field %q: %s is a %s and has no field %q; %s",
				s, strings.Join(segs[:i], "."), kindOf(typ), seg, validFields())
		}
	}
	return Path{segments: segs, typ: typ}, nil
}

func unknownField(path, prefix string) error {
	msg := fmt.Sprintf("unknown field %q", path)
	if prefix != path {
		msg = fmt.Sprintf("unknown field %q (no %q)", path, prefix)
	}
	if s := suggest(path); s != "" {
		msg += fmt.Sprintf(" (did you mean %q?)", s)
	}
	return fmt.Errorf("%s; %s", msg, validFields())
}

// suggest returns the field path most likely meant: the same but for case,
// or else the only field whose last segment contains the last segment given.
func suggest(path string) string {
	last := strings.ToLower(path[strings.LastIndex(path, ".")+1:])
	var partial []string
	for _, f := range Fields() {
		if strings.EqualFold(f, path) {
			return f
		}
		fl := strings.ToLower(f[strings.LastIndex(f, ".")+1:])
		if len(last) >= 3 && strings.Contains(fl, last) {
			partial = append(partial, f)
		}
	}
	if len(partial) == 1 {
		return partial[0]
	}
	return ""
}

// validFields lists the fields one per line, for error messages.
func validFields() string {
	return "valid fields are:\n  " + strings.Join(Fields(), "\n  ")
}

// String returns the dotted path.
func (p Path) String() string { return strings.Join(p.segments, ".") }

// Segments returns the path's segments below spec.
func (p Path) Segments() []string { return slices.Clone(p.segments) }

// Kind says what the field holds.
func (p Path) Kind() FieldKind { return kindOf(p.typ) }

// Lookup returns the value at p in spec, a MeshConfig's spec as decoded JSON.
func (p Path) Lookup(spec map[string]any) (any, bool) {
	var cur any = spec
	for _, seg := range p.segments {
		m, ok := cur.(map[string]any)
		if !ok {
			return nil, false
		}
		if cur, ok = m[seg]; !ok {
			return nil, false
		}
	}
	return cur, true
}

// ParseValue turns what the user typed for p into a JSON value:
//   - null resets the field to its default (a merge patch deletes it);
//   - a text field takes the value as it is, even when it starts with { or [,
//     because some hold JSON documents as text (auth.jwt.jwks, for one);
//   - otherwise a value starting with [ or { is JSON;
//   - a list is comma-separated (an empty VALUE is an empty list);
//   - a boolean or integer field takes true/false or a number.
//
// A value that does not fit the field's type is passed on as a string, so that
// the API server's schema rejects it with the field named, rather than meshctl
// keeping a second copy of the rules.
func (p Path) ParseValue(raw string) (any, error) {
	if raw == "null" {
		return nil, nil
	}
	k := p.Kind()
	if k == KindString {
		return raw, nil
	}
	if strings.HasPrefix(raw, "[") || strings.HasPrefix(raw, "{") || k == KindObject || k == KindMap || k == KindJSON {
		var v any
		if err := json.Unmarshal([]byte(raw), &v); err != nil {
			return nil, fmt.Errorf("field %s: value %q is not valid JSON (a %s field takes a JSON value): %w", p, raw, k, err)
		}
		return v, nil
	}
	if k == KindList {
		if raw == "" {
			return []any{}, nil
		}
		parts := strings.Split(raw, ",")
		list := make([]any, len(parts))
		for i, s := range parts {
			list[i] = scalar(kindOf(p.typ.Elem()), strings.TrimSpace(s))
		}
		return list, nil
	}
	return scalar(k, raw), nil
}

func scalar(k FieldKind, raw string) any {
	switch k {
	case KindBool:
		if b, err := strconv.ParseBool(raw); err == nil {
			return b
		}
	case KindInteger:
		if n, err := strconv.ParseInt(raw, 10, 64); err == nil {
			return n
		}
	}
	return raw
}

// Assignment is one FIELD=VALUE of `meshctl config set`.
//
// +kubebuilder:object:generate=false
type Assignment struct {
	Path  Path
	Value any
}

// ParseAssignment parses FIELD=VALUE; see ParsePath and Path.ParseValue.
func ParseAssignment(s string) (Assignment, error) {
	name, raw, ok := strings.Cut(s, "=")
	if !ok {
		return Assignment{}, fmt.Errorf("%q is not FIELD=VALUE, such as traffic.enableEgress=false", s)
	}
	p, err := ParsePath(name)
	if err != nil {
		return Assignment{}, err
	}
	v, err := p.ParseValue(raw)
	if err != nil {
		return Assignment{}, err
	}
	return Assignment{Path: p, Value: v}, nil
}

// Fields lists every settable leaf path, sorted; map levels appear as
// MapKeyPlaceholder.
func Fields() []string {
	var out []string
	var walk func(prefix string, t reflect.Type)
	walk = func(prefix string, t reflect.Type) {
		switch kindOf(t) {
		case KindObject:
			for name, ft := range jsonFields(t) {
				walk(join(prefix, name), ft)
			}
		case KindMap:
			walk(join(prefix, MapKeyPlaceholder), t.Elem())
		default:
			out = append(out, prefix)
		}
	}
	walk("", reflect.TypeFor[MeshConfigSpec]())
	slices.Sort(out)
	return out
}

func join(prefix, name string) string {
	if prefix == "" {
		return name
	}
	return prefix + "." + name
}

func kindOf(t reflect.Type) FieldKind {
	if t == quantityType {
		return KindQuantity
	}
	switch t.Kind() {
	case reflect.Struct:
		return KindObject
	case reflect.Map:
		return KindMap
	case reflect.Slice:
		if kindOf(t.Elem()) == KindObject || t.Elem().Kind() == reflect.Slice {
			return KindJSON
		}
		return KindList
	case reflect.Bool:
		return KindBool
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64,
		reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64:
		return KindInteger
	case reflect.String:
		return KindString
	case reflect.Pointer:
		return kindOf(t.Elem())
	}
	return KindJSON
}

// jsonFields maps the JSON names of a struct's fields to their types,
// following inlined (embedded) structs as encoding/json does.
func jsonFields(t reflect.Type) map[string]reflect.Type {
	if t.Kind() == reflect.Pointer {
		t = t.Elem()
	}
	fields := map[string]reflect.Type{}
	for f := range t.Fields() {
		if !f.IsExported() {
			continue
		}
		name, _, _ := strings.Cut(f.Tag.Get("json"), ",")
		if name == "-" {
			continue
		}
		if name == "" && f.Anonymous {
			for n, ft := range jsonFields(f.Type) {
				fields[n] = ft
			}
			continue
		}
		if name == "" {
			name = f.Name
		}
		fields[name] = f.Type
	}
	return fields
}

// MergePatch returns the JSON merge patch (RFC 7386) of a MeshConfig that
// sets each assignment and nothing else, so that concurrent edits of other
// fields survive it. A nil value deletes the field, which lets the CRD's
// default take over again.
func MergePatch(assignments ...Assignment) ([]byte, error) {
	for i, a := range assignments {
		for _, b := range assignments[:i] {
			if overlaps(a.Path.segments, b.Path.segments) {
				if a.Path.String() == b.Path.String() {
					return nil, fmt.Errorf("field %s is given twice", a.Path)
				}
				return nil, fmt.Errorf("fields %s and %s overlap: set only one of them", b.Path, a.Path)
			}
		}
	}
	spec := map[string]any{}
	for _, a := range assignments {
		segs := a.Path.segments
		cur := spec
		for _, seg := range segs[:len(segs)-1] {
			next, ok := cur[seg].(map[string]any)
			if !ok {
				next = map[string]any{}
				cur[seg] = next
			}
			cur = next
		}
		cur[segs[len(segs)-1]] = a.Value
	}
	return json.Marshal(map[string]any{"spec": spec})
}

// overlaps reports whether one path is the other or lies below it.
func overlaps(a, b []string) bool {
	n := min(len(a), len(b))
	return slices.Equal(a[:n], b[:n])
}

// PermissivePatch is the merge patch that sets
// spec.traffic.enablePermissiveTrafficPolicyMode, and only it.
func PermissivePatch(enable bool) []byte {
	b, _ := json.Marshal(map[string]any{"spec": map[string]any{"traffic": map[string]any{"enablePermissiveTrafficPolicyMode": enable}}})
	return b
}
