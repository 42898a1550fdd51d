package signer

import (
	"context"
	"slices"
	"strings"

	authenticationv1 "k8s.io/api/authentication/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/meshctl/meshctl/pkg/issuance"
)

// Audience is the mesh's own token audience, the only one the signer
// accepts (issuance.Audience, which the proxy's side reads). It is not the
// API server's: a token the API server accepts is refused here, and a
// token minted for the mesh cannot be used against the API server.
const Audience = issuance.Audience

// The Extra keys the API server sets on the user of a pod-bound
// ServiceAccount token.
const (
	ExtraPodName = "authentication.kubernetes.io/pod-name"
	ExtraPodUID  = "authentication.kubernetes.io/pod-uid"
)

// serviceAccountPrefix starts the username of every ServiceAccount:
// system:serviceaccount:<namespace>:<name>.
const serviceAccountPrefix = "system:serviceaccount:"

// TokenReviewer creates TokenReviews; the typed client's
// AuthenticationV1().TokenReviews() is one.
type TokenReviewer interface {
	Create(ctx context.Context, review *authenticationv1.TokenReview, opts metav1.CreateOptions) (*authenticationv1.TokenReview, error)
}

// Caller is who a token proves the caller is: a ServiceAccount, and the pod
// the token is bound to.
type Caller struct {
	// Namespace and ServiceAccount are the identity, from the
	// authenticated username alone.
	Namespace, ServiceAccount string
	// PodName and PodUID are the pod the token is bound to, for logs.
	PodName, PodUID string
}

// Authenticate is the caller's validation (STYLE 25): it asks the API
// server, with a TokenReview naming exactly Audience, who token belongs to,
// and returns that ServiceAccount and pod. Nothing else about the caller is
// trusted. It refuses, with a Reason:
//
//   - ReasonNotAuthenticated: an empty token, or one the API server does
//     not authenticate;
//   - ReasonAudience: the review does not confirm Audience;
//   - ReasonNotServiceAccount: the username is not exactly
//     system:serviceaccount:<namespace>:<name> with both parts valid names;
//   - ReasonNotPodBound: no pod name and UID in the user's extra;
//   - ReasonReviewFailed: the review could not be made.
func Authenticate(ctx context.Context, reviewer TokenReviewer, token string) (Caller, error) {
	if token == "" {
		return Caller{}, refuse(ReasonNotAuthenticated, "no token")
	}
	review, err := reviewer.Create(ctx, &authenticationv1.TokenReview{
		Spec: authenticationv1.TokenReviewSpec{Token: token, Audiences: []string{Audience}},
	}, metav1.CreateOptions{})
	if err != nil {
		return Caller{}, refuseErr(ReasonReviewFailed, err, "TokenReview")
	}
	st := review.Status
	if !st.Authenticated {
		return Caller{}, refuse(ReasonNotAuthenticated, "the API server says: %q", st.Error)
	}
	// An API server that ignores Spec.Audiences would authenticate a token
	// for any audience; only an explicit confirmation counts.
	if !slices.Contains(st.Audiences, Audience) {
		return Caller{}, refuse(ReasonAudience, "the review confirms audiences %q, not %q", st.Audiences, Audience)
	}
	ns, sa, ok := ParseServiceAccountUsername(st.User.Username)
	if !ok {
		return Caller{}, refuse(ReasonNotServiceAccount, "user %q", st.User.Username)
	}
	c := Caller{Namespace: ns, ServiceAccount: sa, PodName: only(st.User.Extra[ExtraPodName]), PodUID: only(st.User.Extra[ExtraPodUID])}
	if c.PodName == "" || c.PodUID == "" {
		return Caller{}, refuse(ReasonNotPodBound, "service account %s/%s", ns, sa)
	}
	return c, nil
}

// only is the single value of an extra, or "" when there is none or several.
func only(v authenticationv1.ExtraValue) string {
	if len(v) != 1 {
		return ""
	}
	return v[0]
}

// ParseServiceAccountUsername splits a ServiceAccount's username,
// system:serviceaccount:<namespace>:<name>, strictly: exactly that prefix
// and two more fields, the namespace a DNS-1123 label and the name a
// DNS-1123 subdomain, as the API server requires of those objects. Anything
// else (a user, a node, system:serviceaccount:a:b:c, an empty or uppercase
// part) is not a ServiceAccount.
func ParseServiceAccountUsername(username string) (ns, sa string, ok bool) {
	rest, found := strings.CutPrefix(username, serviceAccountPrefix)
	if !found {
		return "", "", false
	}
	ns, sa, found = strings.Cut(rest, ":")
	if !found || !isDNS1123Label(ns) || !isDNS1123Subdomain(sa) {
		return "", "", false
	}
	return ns, sa, true
}

// isDNS1123Label: 1 to 63 of [a-z0-9-], starting and ending alphanumeric.
func isDNS1123Label(s string) bool {
	if len(s) == 0 || len(s) > 63 || s[0] == '-' || s[len(s)-1] == '-' {
		return false
	}
	for i := 0; i < len(s); i++ {
		if c := s[i]; !(c >= 'a' && c <= 'z' || c >= '0' && c <= '9' || c == '-') {
			return false
		}
	}
	return true
}

// isDNS1123Subdomain: at most 253, DNS-1123 labels joined by '.'.
func isDNS1123Subdomain(s string) bool {
	if len(s) == 0 || len(s) > 253 {
		return false
	}
	for label := range strings.SplitSeq(s, ".") {
		if !isDNS1123Label(label) {
			return false
		}
	}
	return true
}
