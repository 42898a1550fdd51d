package h1

import (
	"bufio"
	"strings"
)

type field struct{ name, value string }

// Header is the fields of a head in the order they came, with the changes
// the proxy makes. Names keep the case they were sent in and are matched
// case-insensitively, as HTTP/1.1 requires.
type Header struct {
	fields []field
}

// Field returns the value of the i-th field named key (case-insensitive),
// in the order received: policy.Headers, with no allocation.
func (h *Header) Field(key string, i int) (string, bool) {
	for j := range h.fields {
		if strings.EqualFold(h.fields[j].name, key) {
			if i == 0 {
				return h.fields[j].value, true
			}
			i--
		}
	}
	return "", false
}

// Get returns the value of the first field named key.
func (h *Header) Get(key string) string {
	for i := range h.fields {
		if strings.EqualFold(h.fields[i].name, key) {
			return h.fields[i].value
		}
	}
	return ""
}

// Has says whether a field named key is present, even empty.
func (h *Header) Has(key string) bool {
	for i := range h.fields {
		if strings.EqualFold(h.fields[i].name, key) {
			return true
		}
	}
	return false
}

// Count is how many fields are named key.
func (h *Header) Count(key string) int {
	n := 0
	for i := range h.fields {
		if strings.EqualFold(h.fields[i].name, key) {
			n++
		}
	}
	return n
}

// Set replaces the fields named key with one of value.
func (h *Header) Set(key, value string) {
	h.Del(key)
	h.fields = append(h.fields, field{key, value})
}

// Del removes the fields named key.
func (h *Header) Del(key string) {
	for i := range h.fields {
		if strings.EqualFold(h.fields[i].name, key) {
			h.fields[i].name = ""
		}
	}
}

// Len is the number of fields.
func (h *Header) Len() int {
	n := 0
	for _, f := range h.fields {
		if f.name != "" {
			n++
		}
	}
	return n
}

// write writes the fields and the blank line that ends the head.
func (h *Header) write(w *bufio.Writer) {
	for _, f := range h.fields {
		if f.name == "" {
			continue
		}
		w.WriteString(f.name)
		w.WriteString(": ")
		w.WriteString(f.value)
		w.WriteString("\r\n")
	}
	w.WriteString("\r\n")
}

// parseField splits "Name: value"; the name must be a token and the value
// free of control characters.
func parseField(line string) (field, bool) {
	name, value, ok := strings.Cut(line, ":")
	if !ok || name == "" {
		return field{}, false
	}
	for i := 0; i < len(name); i++ {
		if !isTokenChar(name[i]) {
			return field{}, false
		}
	}
	value = strings.Trim(value, " \t")
	for i := 0; i < len(value); i++ {
		if c := value[i]; (c < ' ' && c != '\t') || c == 0x7f {
			return field{}, false
		}
	}
	return field{name, value}, true
}

// connectionTokens calls each for the non-empty tokens of a Connection
// field's value.
func connectionTokens(v string, each func(token string)) {
	for v != "" {
		var t string
		t, v, _ = strings.Cut(v, ",")
		if t = strings.Trim(t, " \t"); t != "" {
			each(t)
		}
	}
}

// parseLength parses a Content-Length value: decimal digits only, as
// net/http requires. strconv would also take a sign ("+3", "-0"), which a
// server or client behind the proxy may read differently.
func parseLength(v string) (int64, bool) {
	// 18 digits cannot overflow an int64.
	if v == "" || len(v) > 18 {
		return 0, false
	}
	var n int64
	for i := 0; i < len(v); i++ {
		c := v[i]
		if c < '0' || c > '9' {
			return 0, false
		}
		n = n*10 + int64(c-'0')
	}
	return n, true
}

func isTokenChar(c byte) bool {
	switch {
	case c >= 'a' && c <= 'z', c >= 'A' && c <= 'Z', c >= '0' && c <= '9':
		return true
	}
	return strings.IndexByte("!#$%&'*+-.^_`|~", c) >= 0
}
