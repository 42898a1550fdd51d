package inject

import "strings"

// Operation is one RFC 6902 JSON patch operation. The engine emits only
// add, remove and replace.
type Operation struct {
	Op    string `json:"op"`
	Path  string `json:"path"`
	Value any    `json:"value,omitempty"`
}

// The operations the engine emits.
const (
	OpAdd     = "add"
	OpRemove  = "remove"
	OpReplace = "replace"
)

// Patch is an RFC 6902 JSON patch; it marshals to the JSON array an
// AdmissionResponse carries.
type Patch []Operation

// Under returns p with prefix (a JSON pointer, such as "/spec/template")
// before every path: the engine's paths are relative to the pod template.
func (p Patch) Under(prefix string) Patch {
	if prefix == "" {
		return p
	}
	out := make(Patch, len(p))
	for i, op := range p {
		op.Path = prefix + op.Path
		out[i] = op
	}
	return out
}

// pointerEscaper escapes a JSON pointer token (RFC 6901): "~" first, then "/".
var pointerEscaper = strings.NewReplacer("~", "~0", "/", "~1")

// PointerToken escapes s as one JSON pointer token.
func PointerToken(s string) string { return pointerEscaper.Replace(s) }

// SplitPointer splits a JSON pointer into unescaped tokens; "" is the root.
func SplitPointer(p string) []string { return AppendPointer(nil, p) }

// AppendPointer appends p's tokens to dst, which a caller splitting many
// pointers reuses.
func AppendPointer(dst []string, p string) []string {
	if p == "" {
		return dst
	}
	p = strings.TrimPrefix(p, "/")
	for {
		tok, rest, more := strings.Cut(p, "/")
		if strings.Contains(tok, "~") {
			tok = strings.ReplaceAll(strings.ReplaceAll(tok, "~1", "/"), "~0", "~")
		}
		dst = append(dst, tok)
		if !more {
			return dst
		}
		p = rest
	}
}
