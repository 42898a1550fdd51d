package identity

import (
	"net/url"
	"strings"
)

// DefaultTrustDomain is the trust domain of a mesh installed with the
// chart's defaults.
const DefaultTrustDomain = "cluster.local"

// Limits the ID parser holds names to. The SPIFFE ID standard caps a trust
// domain at 255 bytes; Kubernetes caps a namespace (a DNS-1123 label) at 63
// and a ServiceAccount name (a DNS-1123 subdomain) at 253.
const (
	maxTrustDomainLen    = 255
	maxNamespaceLen      = 63
	maxServiceAccountLen = 253
)

const (
	spiffeScheme = "spiffe://"
	nsSegment    = "/ns/"
	saSegment    = "/sa/"
)

// ID is a workload's identity: its ServiceAccount written as the SPIFFE ID
// spiffe://<trust-domain>/ns/<namespace>/sa/<serviceaccount>. It owns the
// one spelling of that name: the issuer signs it, a certificate's only URI
// SAN carries it, peers and policy compare it.
//
// An ID is only ever built by ParseID or NewID, so every non-zero ID is
// valid and canonical, and two IDs are the same workload exactly when they
// are == (ID is comparable, usable as a map key). The zero ID is no
// identity.
type ID struct {
	// s is the whole ID; td, ns and sa are substrings of it, so the
	// accessors and String allocate nothing.
	s, td, ns, sa string
}

// NewID builds the ID of ServiceAccount sa in namespace ns of trustDomain,
// validating each part: the trust domain as the SPIFFE ID standard allows
// (lowercase letters, digits, '.', '-', '_'), the namespace as a DNS-1123
// label and the ServiceAccount as a DNS-1123 subdomain, as Kubernetes
// requires of those names. Refusals wrap ReasonInvalidID.
func NewID(trustDomain, ns, sa string) (ID, error) {
	if err := validateTrustDomain(trustDomain); err != nil {
		return ID{}, err
	}
	if !isDNS1123Label(ns) {
		return ID{}, refuse(ReasonInvalidID, "namespace %q is not a DNS-1123 label (lowercase letters, digits and '-', at most 63, starting and ending alphanumeric)", ns)
	}
	if !isDNS1123Subdomain(sa) {
		return ID{}, refuse(ReasonInvalidID, "service account %q is not a DNS-1123 subdomain (lowercase labels of letters, digits and '-' joined by '.', at most 253)", sa)
	}
	s := spiffeScheme + trustDomain + nsSegment + ns + saSegment + sa
	tdEnd := len(spiffeScheme) + len(trustDomain)
	nsStart := tdEnd + len(nsSegment)
	saStart := nsStart + len(ns) + len(saSegment)
	return ID{s: s, td: s[len(spiffeScheme):tdEnd], ns: s[nsStart : nsStart+len(ns)], sa: s[saStart:]}, nil
}

// ParseID parses the string form of a workload ID. It is strict on purpose,
// stricter than the SPIFFE ID standard: it accepts only the exact spelling
// NewID produces. No uppercase anywhere (scheme, trust domain or path), no
// userinfo, port, query, fragment or percent-encoding, no empty or dot
// segments, no trailing slash, and a path of exactly /ns/<ns>/sa/<sa>.
// Anything else would be a second spelling of some identity, and a second
// spelling is where authorization bypasses come from (STYLE 29).
func ParseID(s string) (ID, error) {
	rest, ok := strings.CutPrefix(s, spiffeScheme)
	if !ok {
		return ID{}, refuse(ReasonInvalidID, "%q does not start with %q", s, spiffeScheme)
	}
	td, path, ok := strings.Cut(rest, "/")
	if !ok {
		return ID{}, refuse(ReasonInvalidID, "%q has no path: a workload ID ends in /ns/<namespace>/sa/<serviceaccount>", s)
	}
	nsAndSA, ok := strings.CutPrefix("/"+path, nsSegment)
	if !ok {
		return ID{}, refuse(ReasonInvalidID, "%q: path must start with %q", s, nsSegment)
	}
	ns, sa, ok := strings.Cut(nsAndSA, saSegment)
	if !ok {
		return ID{}, refuse(ReasonInvalidID, "%q: path must be /ns/<namespace>/sa/<serviceaccount>", s)
	}
	id, err := NewID(td, ns, sa)
	if err != nil {
		return ID{}, err
	}
	// This does not fire today: the cuts above split s exactly into
	// "spiffe://" td "/ns/" ns "/sa/" sa, and NewID refused any part
	// holding '/' (so /ns/a/sa/b/sa/c fails there, its sa being
	// "b/sa/c"), hence NewID rebuilds s byte for byte. It stays as the one
	// line that states the parser's contract, the only spelling accepted
	// is NewID's, should the cutting above ever change.
	if id.s != s {
		return ID{}, refuse(ReasonInvalidID, "%q is not in canonical form", s)
	}
	return id, nil
}

// String is the ID's one spelling, spiffe://<td>/ns/<ns>/sa/<sa>; "" for the
// zero ID.
func (id ID) String() string { return id.s }

// TrustDomain is the ID's trust domain, cluster.local by default.
func (id ID) TrustDomain() string { return id.td }

// Namespace is the workload's namespace.
func (id ID) Namespace() string { return id.ns }

// ServiceAccount is the workload's ServiceAccount name.
func (id ID) ServiceAccount() string { return id.sa }

// Short is the ns/sa form used as the peer in access logs and as the peer
// label of metrics: short, and unambiguous within one trust domain because
// a namespace never holds '/'. "" for the zero ID.
func (id ID) Short() string {
	if id.IsZero() {
		return ""
	}
	// s ends with "<ns>/sa/<sa>"; the short form is a new string anyway.
	return id.ns + "/" + id.sa
}

// IsZero reports whether id is the zero ID, which names no workload.
func (id ID) IsZero() bool { return id.s == "" }

// MarshalText writes the ID as its string, so that JSON and YAML show
// "spiffe://..." (the zero ID as "").
func (id ID) MarshalText() ([]byte, error) { return []byte(id.s), nil }

// UnmarshalText reads an ID with ParseID; "" is the zero ID.
func (id *ID) UnmarshalText(b []byte) error {
	if len(b) == 0 {
		*id = ID{}
		return nil
	}
	p, err := ParseID(string(b))
	if err != nil {
		return err
	}
	*id = p
	return nil
}

// url is the ID as the URI SAN certificates carry.
func (id ID) url() *url.URL {
	return &url.URL{Scheme: "spiffe", Host: id.td, Path: id.s[len(spiffeScheme)+len(id.td):]}
}

// validateTrustDomain holds a trust domain name to the SPIFFE ID standard's
// charset and length.
func validateTrustDomain(td string) error {
	if td == "" || len(td) > maxTrustDomainLen {
		return refuse(ReasonInvalidID, "trust domain %q must be 1 to %d characters", td, maxTrustDomainLen)
	}
	for i := 0; i < len(td); i++ {
		c := td[i]
		if !(isLowerAlnum(c) || c == '.' || c == '-' || c == '_') {
			return refuse(ReasonInvalidID, "trust domain %q may hold only lowercase letters, digits, '.', '-' and '_'", td)
		}
	}
	return nil
}

// isDNS1123Label is Kubernetes' rule for namespace names:
// [a-z0-9]([-a-z0-9]*[a-z0-9])?, at most 63 characters.
func isDNS1123Label(s string) bool {
	if s == "" || len(s) > maxNamespaceLen {
		return false
	}
	return isLabelChars(s)
}

// isDNS1123Subdomain is Kubernetes' rule for ServiceAccount names: labels
// as above joined by '.', at most 253 characters in all (Kubernetes puts no
// 63-character limit on each label here, and neither do we).
func isDNS1123Subdomain(s string) bool {
	if s == "" || len(s) > maxServiceAccountLen {
		return false
	}
	for label := range strings.SplitSeq(s, ".") {
		if label == "" || !isLabelChars(label) {
			return false
		}
	}
	return true
}

// isLabelChars: lowercase alphanumerics and '-', starting and ending with
// an alphanumeric.
func isLabelChars(s string) bool {
	if !isLowerAlnum(s[0]) || !isLowerAlnum(s[len(s)-1]) {
		return false
	}
	for i := 0; i < len(s); i++ {
		if !isLowerAlnum(s[i]) && s[i] != '-' {
			return false
		}
	}
	return true
}

func isLowerAlnum(c byte) bool { return c >= 'a' && c <= 'z' || c >= '0' && c <= '9' }
