// Package auth owns bearer-token validation of inbound requests: JWTs
// signed with RS256 or ES256 by a key from a JWKS (inline, or fetched from
// a URL, cached and refreshed), with exp and nbf checked with a small
// leeway, and iss and aud required to match. Any other algorithm, "none"
// included, is rejected. Rejections are 401 with WWW-Authenticate and never
// echo the token. The app's own kubelet httpGet probes, exactly as the
// injector listed them, pass without a token (Validator.Exempt).
package auth

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/golang-jwt/jwt/v5"

	"github.com/meshctl/meshctl/pkg/proxyconfig/wire"
)

// DefaultLeeway absorbs clock skew between the issuer and the proxy.
const DefaultLeeway = 30 * time.Second

// Algorithms are the only signature algorithms accepted.
var algorithms = []string{"RS256", "ES256"}

// Bounds of the cache of verified tokens. A client sends the same token
// with each of its requests until it expires; verifying its RS256
// signature costs tens of microseconds every time, more than the rest of
// the proxy's work on a request. A token that passed is therefore trusted
// again, by its exact text, until its exp, but for no longer than
// VerifiedTTL, so that a key withdrawn from the JWKS stops being honoured
// soon after; at most MaxVerified tokens are held.
const (
	VerifiedTTL = 30 * time.Second
	MaxVerified = 1024
)

// Validator checks the bearer token of inbound requests.
type Validator struct {
	parser *jwt.Parser
	keys   *Keys
	now    func() time.Time
	exempt wire.ProbeSet

	mu       sync.Mutex
	verified map[string]time.Time // token -> trusted until
}

// Options configure a Validator.
type Options struct {
	// Issuer is the required iss.
	Issuer string
	// Audiences are the accepted aud values; a token must name at least
	// one. Empty means the aud claim is not checked.
	Audiences []string
	// Keys are the verification keys.
	Keys *Keys
	// Leeway is DefaultLeeway when zero.
	Leeway time.Duration
	// Now is the clock; time.Now when nil.
	Now func() time.Time
	// ExemptProbes are the app's kubelet httpGet probes, which pass
	// without a token (see Exempt).
	ExemptProbes []wire.Probe
}

// New builds a Validator.
func New(o Options) (*Validator, error) {
	if o.Issuer == "" {
		return nil, errors.New("JWT validation needs an issuer")
	}
	if o.Keys == nil {
		return nil, errors.New("JWT validation needs keys (a JWKS or a JWKS URL)")
	}
	if o.Leeway == 0 {
		o.Leeway = DefaultLeeway
	}
	opts := []jwt.ParserOption{
		jwt.WithValidMethods(algorithms),
		jwt.WithIssuer(o.Issuer),
		jwt.WithLeeway(o.Leeway),
		jwt.WithExpirationRequired(),
	}
	if len(o.Audiences) > 0 {
		opts = append(opts, jwt.WithAudience(o.Audiences...))
	}
	if o.Now != nil {
		opts = append(opts, jwt.WithTimeFunc(o.Now))
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	return &Validator{parser: jwt.NewParser(opts...), keys: o.Keys, now: o.Now, exempt: wire.NewProbeSet(o.ExemptProbes), verified: map[string]time.Time{}}, nil
}

// ErrNoToken is a request without a bearer token.
var ErrNoToken = errors.New("no bearer token")

// ParseBearer extracts the token of an Authorization header value of the
// form "Bearer <token>" (the scheme is case-insensitive, RFC 9110 §11.1).
func ParseBearer(header string) (string, error) {
	if header == "" {
		return "", ErrNoToken
	}
	scheme, token, ok := strings.Cut(header, " ")
	if !ok || !strings.EqualFold(scheme, "Bearer") {
		return "", errors.New("the Authorization header is not a bearer token")
	}
	token = strings.TrimLeft(token, " ")
	if token == "" || strings.ContainsAny(token, " \t") || strings.Count(token, ".") != 2 {
		return "", errors.New("the bearer token is not a JWT")
	}
	return token, nil
}

// ErrAlgorithm is a token signed with an algorithm other than RS256 or
// ES256 ("none" and HMAC included).
var ErrAlgorithm = errors.New("the token's algorithm is not accepted")

// Header is the part of a JOSE header the proxy reads.
type Header struct {
	Alg string `json:"alg"`
	Kid string `json:"kid"`
}

// ParseHeader decodes the header of a compact JWS and checks its algorithm
// before anything else is looked at, so a token with an unexpected
// algorithm is refused whatever its other parts hold.
func ParseHeader(token string) (Header, error) {
	var h Header
	seg, _, ok := strings.Cut(token, ".")
	if !ok {
		return h, fmt.Errorf("%w: not a compact JWS", jwt.ErrTokenMalformed)
	}
	raw, err := base64.RawURLEncoding.DecodeString(seg)
	if err != nil {
		return h, fmt.Errorf("%w: header is not base64url", jwt.ErrTokenMalformed)
	}
	if err := json.Unmarshal(raw, &h); err != nil {
		return h, fmt.Errorf("%w: header is not a JSON object", jwt.ErrTokenMalformed)
	}
	if !slices.Contains(algorithms, h.Alg) {
		return h, ErrAlgorithm
	}
	return h, nil
}

// Validate checks token and returns its claims.
func (v *Validator) Validate(ctx context.Context, token string) (*jwt.RegisteredClaims, error) {
	if _, err := ParseHeader(token); err != nil {
		return nil, err
	}
	claims := &jwt.RegisteredClaims{}
	_, err := v.parser.ParseWithClaims(token, claims, func(t *jwt.Token) (any, error) {
		// The parser has already refused algorithms outside the list; the
		// key is looked up by alg too, so an RSA key can never verify an
		// ES256 token or the other way round.
		kid, _ := t.Header["kid"].(string)
		return v.keys.Lookup(ctx, kid, t.Method.Alg())
	})
	if err != nil {
		return nil, err
	}
	return claims, nil
}

// ErrManyAuthorizations refuses a request with more than one Authorization
// field: only one can be checked, and an app behind the proxy might read
// another, unchecked one.
var ErrManyAuthorizations = errors.New("more than one Authorization header")

// Check validates the bearer token of r.
func (v *Validator) Check(r *http.Request) error {
	if len(r.Header.Values("Authorization")) > 1 {
		return ErrManyAuthorizations
	}
	return v.CheckAuthorization(r.Context(), r.Header.Get("Authorization"))
}

// CheckAuthorization validates the bearer token of an Authorization
// header value.
func (v *Validator) CheckAuthorization(ctx context.Context, authorization string) error {
	token, err := ParseBearer(authorization)
	if err != nil {
		return err
	}
	now := v.now()
	if v.trusted(token, now) {
		return nil
	}
	claims, err := v.Validate(ctx, token)
	if err != nil {
		return err
	}
	until := now.Add(VerifiedTTL)
	if claims.ExpiresAt != nil && claims.ExpiresAt.Before(until) {
		until = claims.ExpiresAt.Time
	}
	v.trust(token, until, now)
	return nil
}

func (v *Validator) trusted(token string, now time.Time) bool {
	v.mu.Lock()
	defer v.mu.Unlock()
	until, ok := v.verified[token]
	if ok && !now.Before(until) {
		delete(v.verified, token)
		return false
	}
	return ok
}

func (v *Validator) trust(token string, until, now time.Time) {
	v.mu.Lock()
	defer v.mu.Unlock()
	if len(v.verified) >= MaxVerified {
		for t, u := range v.verified {
			if !now.Before(u) {
				delete(v.verified, t)
			}
		}
		// Still full: make room by dropping any (the map's order is
		// random), rather than growing.
		for t := range v.verified {
			if len(v.verified) < MaxVerified {
				break
			}
			delete(v.verified, t)
		}
	}
	// The token may be a slice of a whole request head; keep only itself.
	v.verified[strings.Clone(token)] = until
}

// Reject answers 401 with a WWW-Authenticate challenge (RFC 6750 §3). The
// description names the kind of failure only: nothing of the token, which
// could be replayed from a log or a response, is echoed.
func (v *Validator) Reject(w http.ResponseWriter, err error) { Reject(w, err) }

// Reject is Validator.Reject, which needs no validator: a request may be
// rejected by one that has been replaced since.
func Reject(w http.ResponseWriter, err error) {
	challenge := `Bearer realm="mesh"`
	desc := Describe(err)
	if !errors.Is(err, ErrNoToken) {
		challenge += fmt.Sprintf(`, error="invalid_token", error_description=%q`, desc)
	}
	w.Header().Set("WWW-Authenticate", challenge)
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	w.Header().Set("X-Content-Type-Options", "nosniff")
	w.WriteHeader(http.StatusUnauthorized)
	fmt.Fprintf(w, "unauthorized: %s\n", desc)
}

// Describe turns a validation error into a fixed description.
func Describe(err error) string {
	switch {
	case errors.Is(err, ErrNoToken):
		return "a bearer token is required"
	case errors.Is(err, ErrAlgorithm):
		return "the token's algorithm is not accepted"
	case errors.Is(err, jwt.ErrTokenExpired):
		return "the token has expired"
	case errors.Is(err, jwt.ErrTokenNotValidYet):
		return "the token is not valid yet"
	case errors.Is(err, jwt.ErrTokenInvalidIssuer):
		return "the token's issuer is not accepted"
	case errors.Is(err, jwt.ErrTokenInvalidAudience):
		return "the token's audience is not accepted"
	case errors.Is(err, jwt.ErrTokenRequiredClaimMissing):
		return "the token lacks a required claim"
	case errors.Is(err, jwt.ErrTokenSignatureInvalid):
		return "the token's signature is invalid"
	case errors.Is(err, jwt.ErrTokenUnverifiable):
		return "the token's signing key is not known"
	case errors.Is(err, jwt.ErrTokenMalformed):
		return "the token is malformed"
	default:
		return "the token is invalid"
	}
}
