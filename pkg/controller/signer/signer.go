package signer

import (
	"context"
	"fmt"
	"time"

	"github.com/meshctl/meshctl/pkg/identity"
)

// Signer issues workload certificates to callers that prove, with a
// pod-bound ServiceAccount token for Audience, which ServiceAccount they
// run as. It is safe for concurrent use if Issuer and Now are.
type Signer struct {
	// Issuer gives the issuer to sign with, read on every request so that
	// a renewed issuer takes effect without a restart; nil from it (or a
	// nil Issuer) means none is loaded yet, and requests are refused with
	// ReasonNoIssuer.
	Issuer func() *identity.Issuer
	// TrustDomain is the mesh's; empty is identity.DefaultTrustDomain.
	TrustDomain string
	// Lifetime is the certificates'; zero is identity.DefaultLeafLifetime.
	Lifetime time.Duration
	// Now is the clock; nil is time.Now.
	Now func() time.Time
	// Reviewer checks tokens: AuthenticationV1().TokenReviews() of a
	// client allowed to create TokenReviews.
	Reviewer TokenReviewer
}

// Sign authenticates the caller by token (Authenticate), then signs csrDER
// for exactly the caller's identity, spiffe://<TrustDomain>/ns/<ns>/sa/<sa>,
// and returns the chain, leaf first, DER. The identity comes from the
// TokenReview alone: the CSR only carries the public key and must ask for
// that identity and nothing else (identity.Issuer.Sign refuses the rest,
// with an identity.Reason).
func (s *Signer) Sign(ctx context.Context, token string, csrDER []byte) ([][]byte, error) {
	caller, err := s.Authenticate(ctx, token)
	if err != nil {
		return nil, err
	}
	return s.SignFor(caller, csrDER)
}

// Authenticate is Authenticate with the Signer's reviewer.
func (s *Signer) Authenticate(ctx context.Context, token string) (Caller, error) {
	if s.Reviewer == nil {
		return Caller{}, refuse(ReasonReviewFailed, "no token reviewer configured")
	}
	return Authenticate(ctx, s.Reviewer, token)
}

// SignFor is the request's validation and signing for a caller that
// Authenticate returned: the identity is built from the caller alone.
func (s *Signer) SignFor(caller Caller, csrDER []byte) ([][]byte, error) {
	td := s.TrustDomain
	if td == "" {
		td = identity.DefaultTrustDomain
	}
	want, err := identity.NewID(td, caller.Namespace, caller.ServiceAccount)
	if err != nil {
		return nil, fmt.Errorf("the identity of %s/%s: %w", caller.Namespace, caller.ServiceAccount, err)
	}
	var is *identity.Issuer
	if s.Issuer != nil {
		is = s.Issuer()
	}
	if is == nil {
		return nil, refuse(ReasonNoIssuer, "signing for %s", want)
	}
	now := time.Now
	if s.Now != nil {
		now = s.Now
	}
	return is.Sign(csrDER, want, s.Lifetime, now())
}
