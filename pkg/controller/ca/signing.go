package ca

import (
	"log/slog"
	"net/http"

	"github.com/meshctl/meshctl/pkg/controller/signer"
	"github.com/meshctl/meshctl/pkg/identity"
)

// SigningHandler is pkg/controller/signer's Handler (serve it at
// issuance.Path) fed with the State of the moment: its issuer, trust
// domain and certificate lifetime. Until there is an issuer that chains to
// the bundle, requests of authenticated callers are answered 503
// (signer.ReasonNoIssuer), which proxies retry.
func (a *Authority) SigningHandler(reviewer signer.TokenReviewer, log *slog.Logger) http.Handler {
	// One limiter for the replica's whole life: it bounds what this
	// replica asks of the API server.
	reviews := signer.NewReviewLimiter()
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		// One State for the whole request: the issuer, trust domain and
		// lifetime it signs with belong together.
		st := a.state.Load()
		s := &signer.Signer{Issuer: func() *identity.Issuer { return nil }, Now: a.Now, Reviewer: reviewer}
		if st != nil {
			s.Issuer = func() *identity.Issuer { return st.Issuer }
			s.TrustDomain, s.Lifetime = st.TrustDomain, st.Lifetime
		}
		(&signer.Handler{Signer: s, Log: log, Reviews: reviews}).ServeHTTP(w, r)
	})
}
