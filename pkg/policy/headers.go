package policy

// Headers gives the evaluator a request's header fields where they are,
// without copying them into a map first. The lean HTTP/1.1 path and
// net/http each implement it over their own representation.
type Headers interface {
	// Field returns the value of the i-th field (from 0) named name,
	// which is in canonical form (Content-Type) and is compared without
	// regard to case, and false when there are not that many.
	Field(name string, i int) (string, bool)
}

// HeaderMap is Headers over net/http's map of canonical names
// (http.Header converts to it: policy.HeaderMap(r.Header)); looking a
// field up allocates nothing.
type HeaderMap map[string][]string

// Field is the i-th value of m[name].
func (m HeaderMap) Field(name string, i int) (string, bool) {
	vs := m[name]
	if i < len(vs) {
		return vs[i], true
	}
	return "", false
}
