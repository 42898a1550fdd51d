package wire

import (
	"cmp"
	"fmt"
	"slices"
	"strconv"
	"strings"
)

// Probe is one of the app's own kubelet httpGet probes: a GET to Port
// whose request target, without its query, is exactly Path, as the
// kubelet writes it (percent-encoded). With JWT validation on, the inbound
// proxy lets such requests through without a token, because the kubelet
// cannot present one; see JWT.ExemptProbes.
type Probe struct {
	// Port is the app's port, as the probe's destination port.
	Port int32
	// Path is the raw request path: it starts with "/", holds only visible
	// ASCII and has no query ("?") or fragment ("#").
	Path string
}

// String renders p as the argument's value, "8080/healthz": the port
// followed by the path, which starts with "/". ParseProbe reads it back.
func (p Probe) String() string { return itoa(p.Port) + p.Path }

// ParseProbe reads what Probe.String wrote. Only that canonical form is
// accepted (no sign or leading zeros in the port, no spaces), so a parsed
// probe always renders back to the same text.
func ParseProbe(s string) (Probe, error) {
	port, path, ok := strings.Cut(s, "/")
	if !ok {
		return Probe{}, fmt.Errorf("%q is not a probe such as 8080/healthz", s)
	}
	n, err := strconv.ParseUint(port, 10, 16)
	if err != nil || n == 0 || strconv.FormatUint(n, 10) != port {
		return Probe{}, fmt.Errorf("%q: %q is not a port (1-65535)", s, port)
	}
	p := Probe{Port: int32(n), Path: "/" + path}
	if err := CheckProbePath(p.Path); err != nil {
		return Probe{}, fmt.Errorf("%q: %w", s, err)
	}
	return p, nil
}

// CheckProbePath says whether path can be a Probe's Path: a raw request
// path as it appears on the wire, with no query or fragment.
func CheckProbePath(path string) error {
	if !strings.HasPrefix(path, "/") {
		return fmt.Errorf("path %q does not start with /", path)
	}
	for i := 0; i < len(path); i++ {
		if b := path[i]; b <= ' ' || b >= 0x7f || b == '?' || b == '#' {
			return fmt.Errorf("path %q has a byte (%q) that a raw request path without a query cannot hold", path, b)
		}
	}
	return nil
}

// CompareProbes orders probes by port, then path: the canonical order of
// the arguments.
func CompareProbes(a, b Probe) int {
	return cmp.Or(cmp.Compare(a.Port, b.Port), strings.Compare(a.Path, b.Path))
}

// SortProbes sorts p in place into the canonical order and drops
// duplicates.
func SortProbes(p []Probe) []Probe {
	slices.SortFunc(p, CompareProbes)
	return slices.Compact(p)
}

// probesValue collects repeated --jwt-exempt-probe flags; ParseRunArgs
// then requires them sorted and distinct, as Run.Args writes them.
type probesValue struct{ p *[]Probe }

func (v probesValue) String() string {
	if v.p == nil {
		return ""
	}
	s := make([]string, len(*v.p))
	for i, p := range *v.p {
		s[i] = p.String()
	}
	return strings.Join(s, " ")
}

func (v probesValue) Set(s string) error {
	p, err := ParseProbe(s)
	if err != nil {
		return err
	}
	*v.p = append(*v.p, p)
	return nil
}

// ProbeSet is a set of the app's own kubelet httpGet probes, and the one
// rule by which a request is one of them: a GET or HEAD (what a probe
// sends; nothing that changes state) to the probe's port, with a raw
// request path (the target as sent, without its query) exactly equal to
// the probe's: no prefix, no decoding or cleaning, so "/healthz/x",
// "/healthz/" or "/%68ealthz" are not. JWT validation and authorization
// both let such a request through, as the kubelet can carry neither a
// token nor a mesh identity.
type ProbeSet map[Probe]struct{}

// NewProbeSet is the set of probes; nil when there are none.
func NewProbeSet(probes []Probe) ProbeSet {
	if len(probes) == 0 {
		return nil
	}
	s := make(ProbeSet, len(probes))
	for _, p := range probes {
		s[p] = struct{}{}
	}
	return s
}

// Matches reports whether a request with method, to port, with the raw
// path is one of the probes. It allocates nothing.
func (s ProbeSet) Matches(method string, port uint16, path string) bool {
	if len(s) == 0 || (method != "GET" && method != "HEAD") {
		return false
	}
	_, ok := s[Probe{Port: int32(port), Path: path}]
	return ok
}

// HasPort reports whether some probe is on port: a plain-text connection
// to it may carry one.
func (s ProbeSet) HasPort(port uint16) bool {
	for p := range s {
		if p.Port == int32(port) {
			return true
		}
	}
	return false
}
