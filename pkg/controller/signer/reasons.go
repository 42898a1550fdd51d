package signer

import (
	"fmt"

	"github.com/meshctl/meshctl/internal/refusal"
)

// Reason is why the signer refused a caller, or could not decide about it:
// a closed set, so that the handler, logs and metrics switch on the reason
// rather than parse messages. Every refusal of Authenticate wraps exactly
// one, so errors.Is(err, ReasonAudience) works through %w wrapping.
// Refusals of the request itself (the CSR) are identity.Reason values.
type Reason int

// The reasons. Their order is not part of the contract; their names are.
const (
	// ReasonNotAuthenticated: no token, or the API server does not accept
	// it (garbage, tampered, expired, or bound to an object that is gone).
	ReasonNotAuthenticated Reason = iota + 1
	// ReasonAudience: the token is valid, but not for Audience.
	ReasonAudience
	// ReasonNotServiceAccount: the token authenticates a user, a node or
	// anything else that is not exactly one ServiceAccount.
	ReasonNotServiceAccount
	// ReasonNotPodBound: a ServiceAccount token that is not bound to a pod
	// (a long-lived Secret token, or one minted without a pod reference).
	ReasonNotPodBound
	// ReasonReviewFailed: the TokenReview itself failed (the API server
	// was unreachable or refused the controller). Nothing is known about
	// the caller; asking again later may succeed.
	ReasonReviewFailed
	// ReasonNoIssuer: no issuer is loaded yet; asking again later may
	// succeed.
	ReasonNoIssuer
)

// Error is the reason's fixed text. It names no internals, so the handler
// sends it to the caller as it is.
func (r Reason) Error() string {
	switch r {
	case ReasonNotAuthenticated:
		return "token not authenticated"
	case ReasonAudience:
		return "token is not for the mesh's audience"
	case ReasonNotServiceAccount:
		return "token is not a service account's"
	case ReasonNotPodBound:
		return "token is not bound to a pod"
	case ReasonReviewFailed:
		return "token could not be reviewed, try again"
	case ReasonNoIssuer:
		return "no issuer loaded, try again"
	}
	return fmt.Sprintf("signer.Reason(%d)", int(r))
}

// refuse and refuseErr build a refusal.Error for r: the closed-set reason
// callers match with errors.Is, and the particulars of this case.
func refuse(r Reason, format string, args ...any) error { return refusal.New(r, format, args...) }

func refuseErr(r Reason, err error, format string, args ...any) error {
	return refusal.Wrap(r, err, format, args...)
}
