package signer

import (
	"errors"
	"io"
	"log/slog"
	"mime"
	"net/http"
	"strings"

	"golang.org/x/time/rate"

	"github.com/meshctl/meshctl/pkg/identity"
	"github.com/meshctl/meshctl/pkg/issuance"
)

// Path is where the handler serves: issuance.Path.
const Path = issuance.Path

// Handler serves issuance over HTTP (the exchange is described in
// pkg/issuance): POST Path with a bearer token and a DER CSR in, the PEM
// chain out. Answers:
//
//   - 200 and the chain, leaf first;
//   - 400 a body that is not a certificate request, or a missing or
//     malformed Authorization header (401 if it is absent);
//   - 401 the caller is refused (the signer Reasons other than
//     ReasonReviewFailed and ReasonNoIssuer);
//   - 403 the request asks for anything but the caller's identity: another
//     ID, extra names, the CA bit, other extensions;
//   - 404 another path; 405 another method; 413 a body over
//     issuance.MaxCSRBytes; 415 another content type;
//   - 503 the token could not be reviewed, or no issuer is loaded, or the
//     issuer has expired: the proxy retries;
//   - 500 anything else.
//
// Bodies are the reason's fixed text and nothing more; the details
// (namespace, ServiceAccount, pod, cause) go to the log.
type Handler struct {
	// Signer authenticates and signs.
	Signer *Signer
	// Log gets one line per refusal and per certificate issued; nil
	// discards.
	Log *slog.Logger
	// Reviews, when not nil, bounds the TokenReviews the handler asks of
	// the API server: a request beyond it is answered 503 with
	// Retry-After before its token is reviewed. The proxy port is open to
	// the whole cluster, and every token, forged or not, costs the API
	// server a review; proxies retry a 503 with backoff.
	Reviews *rate.Limiter
}

// The reviews a controller replica asks for at most, by default
// (NewReviewLimiter): a rollout of a thousand pods is a thousand requests
// spread over minutes, and renewals of a fleet come a few per second at
// most, so only a flood meets the limit.
const (
	DefaultReviewsPerSecond = 50
	DefaultReviewBurst      = 200
)

// NewReviewLimiter is the default Reviews limiter.
func NewReviewLimiter() *rate.Limiter {
	return rate.NewLimiter(DefaultReviewsPerSecond, DefaultReviewBurst)
}

// ServeHTTP answers one request. The cheap checks that read nothing but
// headers and the body's size run before the TokenReview, so garbage costs
// the API server nothing; the body is interpreted only after the caller is
// authenticated.
func (h *Handler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	log := h.Log
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	log = log.With("remote", r.RemoteAddr)
	if r.URL.Path != Path {
		http.NotFound(w, r)
		return
	}
	if r.Method != http.MethodPost {
		w.Header().Set("Allow", http.MethodPost)
		reply(w, http.StatusMethodNotAllowed, "method not allowed")
		return
	}
	token, status := bearerToken(r.Header)
	if status != 0 {
		w.Header().Set("WWW-Authenticate", "Bearer")
		reply(w, status, "a bearer token is required")
		log.Info("certificate request refused", "status", status, "reason", "no bearer token")
		return
	}
	if mt, _, err := mime.ParseMediaType(r.Header.Get("Content-Type")); err != nil || mt != issuance.ContentTypeCSR {
		reply(w, http.StatusUnsupportedMediaType, "the body must be "+issuance.ContentTypeCSR)
		return
	}
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, issuance.MaxCSRBytes))
	if err != nil {
		if mbe := (*http.MaxBytesError)(nil); errors.As(err, &mbe) {
			reply(w, http.StatusRequestEntityTooLarge, "the certificate request is too large")
			return
		}
		reply(w, http.StatusBadRequest, "the body could not be read")
		return
	}

	if h.Reviews != nil && !h.Reviews.Allow() {
		w.Header().Set("Retry-After", "1")
		reply(w, http.StatusServiceUnavailable, "too many certificate requests; retry later")
		log.Warn("certificate request refused: too many token reviews", "status", http.StatusServiceUnavailable)
		return
	}
	caller, err := h.Signer.Authenticate(r.Context(), token)
	if err != nil {
		status, text := statusOf(err)
		if status == http.StatusUnauthorized {
			w.Header().Set("WWW-Authenticate", "Bearer")
		}
		reply(w, status, text)
		log.Warn("certificate request refused: caller", "status", status, "error", err)
		return
	}
	log = log.With("namespace", caller.Namespace, "serviceAccount", caller.ServiceAccount, "pod", caller.PodName, "podUID", caller.PodUID)
	chain, err := h.Signer.SignFor(caller, body)
	if err != nil {
		status, text := statusOf(err)
		reply(w, status, text)
		log.Warn("certificate request refused: request", "status", status, "error", err)
		return
	}
	w.Header().Set("Content-Type", issuance.ContentTypeChain)
	w.Header().Set("Cache-Control", "no-store")
	_, _ = w.Write(issuance.EncodeChain(chain))
	log.Info("certificate issued")
}

// bearerToken is the token of an "Authorization: Bearer <token>" header,
// or the status to refuse with: 401 when there is none, 400 when the header
// is there but malformed (several, another scheme, an empty token, spaces).
func bearerToken(h http.Header) (string, int) {
	values := h.Values(issuance.HeaderAuthorization)
	if len(values) == 0 {
		return "", http.StatusUnauthorized
	}
	if len(values) > 1 {
		return "", http.StatusBadRequest
	}
	scheme, token, ok := strings.Cut(values[0], " ")
	if !ok || !strings.EqualFold(scheme, strings.TrimSpace(issuance.BearerPrefix)) || token == "" || strings.ContainsAny(token, " \t") {
		return "", http.StatusBadRequest
	}
	return token, 0
}

// statusOf maps a refusal to its status and the reason's fixed text.
func statusOf(err error) (int, string) {
	var sr Reason
	if errors.As(err, &sr) {
		switch sr {
		case ReasonReviewFailed, ReasonNoIssuer:
			return http.StatusServiceUnavailable, sr.Error()
		default:
			return http.StatusUnauthorized, sr.Error()
		}
	}
	var ir identity.Reason
	if errors.As(err, &ir) {
		switch ir {
		case identity.ReasonCSRMalformed, identity.ReasonCSRSignature, identity.ReasonCSRKey:
			return http.StatusBadRequest, ir.Error()
		case identity.ReasonCSRDNSSAN, identity.ReasonCSRIPSAN, identity.ReasonCSREmailSAN, identity.ReasonCSROtherSAN,
			identity.ReasonCSRURICount, identity.ReasonCSRIdentity, identity.ReasonCSRCA, identity.ReasonCSRExtension:
			return http.StatusForbidden, ir.Error()
		case identity.ReasonIssuerExpired:
			return http.StatusServiceUnavailable, "the issuer is not valid now, try again"
		}
	}
	return http.StatusInternalServerError, "internal error"
}

func reply(w http.ResponseWriter, status int, text string) {
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	w.Header().Set("X-Content-Type-Options", "nosniff")
	w.WriteHeader(status)
	_, _ = io.WriteString(w, text+"\n")
}
