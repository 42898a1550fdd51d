package auth

import (
	"context"
	"crypto"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"sync"
	"time"
)

// Refresh timings of a JWKS fetched from a URL.
const (
	// DefaultRefreshInterval is how often keys are fetched again, so a
	// rotated or revoked key takes effect without a restart.
	DefaultRefreshInterval = 5 * time.Minute
	// DefaultMinRefetchInterval rate-limits the extra fetch done when a
	// token names an unknown key (a key that was just rotated in), so
	// tokens with made-up kids cannot make the proxy hammer the issuer.
	DefaultMinRefetchInterval = 30 * time.Second
	// maxJWKSBytes bounds what is read from the URL.
	maxJWKSBytes = 1 << 20
)

// Keys holds the current verification keys: either a fixed set (inline
// JWKS) or one fetched from URL, cached and refreshed.
type Keys struct {
	// URL, when set, is fetched by Run and on unknown keys.
	URL string
	// Client fetches URL; http.DefaultClient's settings with a 10 s
	// timeout when nil.
	Client *http.Client
	// RefreshInterval and MinRefetchInterval are the defaults when zero.
	RefreshInterval    time.Duration
	MinRefetchInterval time.Duration
	// Log receives fetch failures; slog.Default() when nil.
	Log *slog.Logger

	mu        sync.Mutex
	set       *KeySet
	lastFetch time.Time
}

// StaticKeys are keys that never change, from an inline JWKS.
func StaticKeys(set *KeySet) *Keys { return &Keys{set: set} }

// Fetch fetches the JWKS from k.URL now and makes it current.
func (k *Keys) Fetch(ctx context.Context) error {
	k.mu.Lock()
	k.lastFetch = time.Now()
	k.mu.Unlock()
	client := k.Client
	if client == nil {
		client = &http.Client{Timeout: 10 * time.Second}
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, k.URL, nil)
	if err != nil {
		return fmt.Errorf("JWKS URL %q: %w", k.URL, err)
	}
	resp, err := client.Do(req)
	if err != nil {
		return fmt.Errorf("fetching the JWKS: %w", err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("fetching the JWKS from %s: HTTP %s", k.URL, resp.Status)
	}
	data, err := io.ReadAll(io.LimitReader(resp.Body, maxJWKSBytes))
	if err != nil {
		return fmt.Errorf("reading the JWKS from %s: %w", k.URL, err)
	}
	set, err := ParseJWKS(data)
	if err != nil {
		return fmt.Errorf("JWKS from %s: %w", k.URL, err)
	}
	k.mu.Lock()
	k.set = set
	k.mu.Unlock()
	return nil
}

// Run refreshes the keys from URL until ctx is done; a failed refresh
// keeps the keys it had. It returns at once for static keys.
func (k *Keys) Run(ctx context.Context) {
	if k.URL == "" {
		return
	}
	log := k.Log
	if log == nil {
		log = slog.Default()
	}
	every := k.RefreshInterval
	if every == 0 {
		every = DefaultRefreshInterval
	}
	t := time.NewTicker(every)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			if err := k.Fetch(ctx); err != nil {
				log.Warn("JWKS refresh failed; keeping the previous keys", "error", err)
			}
		}
	}
}

// Lookup returns the key for kid and alg. An unknown key makes it fetch
// again first (at most once per MinRefetchInterval), for rotations.
func (k *Keys) Lookup(ctx context.Context, kid, alg string) (crypto.PublicKey, error) {
	k.mu.Lock()
	set, last := k.set, k.lastFetch
	k.mu.Unlock()
	var err error = errors.New("the signing keys (JWKS) could not be fetched yet")
	if set != nil {
		var key crypto.PublicKey
		if key, err = set.lookup(kid, alg); err == nil {
			return key, nil
		}
	}
	min := k.MinRefetchInterval
	if min == 0 {
		min = DefaultMinRefetchInterval
	}
	if k.URL == "" || time.Since(last) < min {
		return nil, err
	}
	if ferr := k.Fetch(ctx); ferr != nil {
		return nil, errors.Join(err, ferr)
	}
	k.mu.Lock()
	set = k.set
	k.mu.Unlock()
	return set.lookup(kid, alg)
}
