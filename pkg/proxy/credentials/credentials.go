// Package credentials owns the proxy's own identity: its private key, made
// in memory at start-up and never written anywhere nor sent; its
// certificate, asked of the controller with the pod's projected
// ServiceAccount token and renewed well before it expires; and the trust
// bundle, read from the file the kubelet keeps current. The mesh's TLS
// configurations read both through Sources, at every handshake.
package credentials

import (
	"context"
	"crypto/ecdsa"
	"crypto/tls"
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"net"
	"net/http"
	"os"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/meshctl/meshctl/pkg/identity"
	"github.com/meshctl/meshctl/pkg/issuance"
)

// Defaults of Options.
const (
	// DefaultBundlePoll is how often the bundle file is read again. The
	// kubelet updates a projected ConfigMap within about a minute of a
	// change; reading a few kilobytes every few seconds costs nothing next
	// to that.
	DefaultBundlePoll = 5 * time.Second
	// DefaultMinBackoff and DefaultMaxBackoff bound the wait between
	// failed requests for a certificate; it doubles from the first to the
	// second, with jitter, so that proxies restarted together do not
	// retry together.
	DefaultMinBackoff = time.Second
	DefaultMaxBackoff = time.Minute
	// DefaultRequestTimeout bounds one certificate request.
	DefaultRequestTimeout = 10 * time.Second
)

// RenewAt is the fraction of a certificate's lifetime after which it is
// renewed, before jitter of up to RenewJitter of the lifetime earlier: a
// 24 h certificate is renewed after 14.4 to 16 hours, which leaves a
// third of its life to ride out a controller that is down.
const (
	RenewAt     = 2.0 / 3
	RenewJitter = 0.1
)

// RotationSpread bounds the random delay before a proxy renews a
// certificate whose issuer is no longer the controller's: the fleet's
// requests spread over it instead of arriving at once (the controller
// answers 503 beyond its TokenReview rate, and proxies back off).
const RotationSpread = 10 * time.Second

// Options configure Credentials.
type Options struct {
	// ControllerAddress is the controller's proxy API, host:port.
	ControllerAddress string
	// ControllerID is who the controller must prove to be; its trust
	// domain is the mesh's.
	ControllerID identity.ID
	// Namespace and ServiceAccount are the pod's: the certificate is for
	// spiffe://<trust domain>/ns/<Namespace>/sa/<ServiceAccount>.
	Namespace, ServiceAccount string
	// TokenPath and BundlePath are the projected files (wire.TokenPath,
	// wire.TrustBundlePath).
	TokenPath, BundlePath string

	// ReadFile reads them; os.ReadFile when nil.
	ReadFile func(string) ([]byte, error)
	// Dial connects to the controller; a net.Dialer when nil.
	Dial func(ctx context.Context, network, addr string) (net.Conn, error)
	// Now is the clock; time.Now when nil.
	Now func() time.Time
	// After waits, as time.After (the default) does; tests replace it to
	// see and drive the schedule.
	After func(time.Duration) <-chan time.Time
	// Jitter returns a number in [0, 1); rand.Float64 when nil.
	Jitter func() float64
	// Log gets issuance and bundle events; discarded when nil.
	Log *slog.Logger
	// BundlePoll, MinBackoff, MaxBackoff and RequestTimeout take their
	// defaults when zero.
	BundlePoll, MinBackoff, MaxBackoff, RequestTimeout time.Duration
}

// Credentials are a proxy's key, certificate and trust bundle. Run keeps
// them current; everything else only reads.
type Credentials struct {
	o      Options
	id     identity.ID
	key    *ecdsa.PrivateKey
	csr    []byte
	client *http.Client

	cert   atomic.Pointer[tls.Certificate]
	bundle atomic.Pointer[identity.Bundle]
	ready  chan struct{}
	once   sync.Once
	// kick wakes Run to look at nextRenew again.
	kick chan struct{}

	mu        sync.Mutex
	bundlePEM []byte
	lastErr   string
	lastErrAt time.Time
	renewals  int
	nextRenew time.Time
	// announced is the issuer the controller last said it signs with,
	// and earlyLeft how many early renewals may still chase it.
	announced string
	earlyLeft int
	// budgetAt is when earlyLeft was last filled.
	budgetAt   time.Time
	bundleErr  string
	bundleRead time.Time
}

// New makes the proxy's key and certificate request; nothing is asked of
// the controller until Run.
func New(o Options) (*Credentials, error) {
	if o.ReadFile == nil {
		o.ReadFile = os.ReadFile
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	if o.Jitter == nil {
		o.Jitter = rand.Float64
	}
	if o.After == nil {
		o.After = time.After
	}
	if o.Log == nil {
		o.Log = slog.New(slog.DiscardHandler)
	}
	if o.Dial == nil {
		o.Dial = (&net.Dialer{Timeout: 5 * time.Second}).DialContext
	}
	o.BundlePoll = orDefault(o.BundlePoll, DefaultBundlePoll)
	o.MinBackoff = orDefault(o.MinBackoff, DefaultMinBackoff)
	o.MaxBackoff = orDefault(o.MaxBackoff, DefaultMaxBackoff)
	o.RequestTimeout = orDefault(o.RequestTimeout, DefaultRequestTimeout)
	if o.ControllerID.IsZero() {
		return nil, errors.New("credentials: no controller identity")
	}
	id, err := identity.NewID(o.ControllerID.TrustDomain(), o.Namespace, o.ServiceAccount)
	if err != nil {
		return nil, fmt.Errorf("credentials: the pod's identity: %w", err)
	}
	key, err := identity.NewKey()
	if err != nil {
		return nil, fmt.Errorf("credentials: %w", err)
	}
	csr, err := identity.NewCSR(key, id)
	if err != nil {
		return nil, fmt.Errorf("credentials: %w", err)
	}
	c := &Credentials{o: o, id: id, key: key, csr: csr, ready: make(chan struct{}), kick: make(chan struct{}, 1)}
	c.client = &http.Client{
		Timeout: o.RequestTimeout,
		Transport: &http.Transport{
			DialContext:     o.Dial,
			TLSClientConfig: identity.APIClientConfig(c.Sources(), o.ControllerID),
			// One request a day: no connection is worth keeping.
			DisableKeepAlives: true,
		},
	}
	return c, nil
}

func orDefault(d, def time.Duration) time.Duration {
	if d == 0 {
		return def
	}
	return d
}

// ID is the identity the proxy's certificates are for.
func (c *Credentials) ID() identity.ID { return c.id }

// Sources are what mesh TLS reads at every handshake: the current
// certificate and bundle, nil until there are some.
func (c *Credentials) Sources() identity.Sources {
	return identity.Sources{Certificate: c.cert.Load, Bundle: c.bundle.Load, Now: c.o.Now}
}

// Ready is closed once the proxy holds both a certificate and a bundle:
// before then it cannot take part in the mesh, and the proxy stays
// not-ready so that the app does not start without identity.
func (c *Credentials) Ready() <-chan struct{} { return c.ready }

func (c *Credentials) checkReady() {
	if c.cert.Load() != nil && c.bundle.Load() != nil {
		c.once.Do(func() { close(c.ready) })
	}
}

// Run keeps the bundle and the certificate current until ctx ends. It
// returns only then: every failure is retried, and the proxy keeps serving
// on what it holds.
func (c *Credentials) Run(ctx context.Context) {
	c.loadBundle()
	go c.watchBundle(ctx)
	backoff := c.o.MinBackoff
	retrying := false
	for {
		if wait := c.untilRenewal(); wait > 0 && !retrying {
			select {
			case <-ctx.Done():
				return
			case <-c.kick:
				continue
			case <-c.o.After(wait):
			}
		}
		if err := c.renew(ctx); err != nil {
			if ctx.Err() != nil {
				return
			}
			c.fail(err)
			// Jitter over the upper half, so a fleet spreads out.
			sleep := backoff/2 + time.Duration(c.o.Jitter()*float64(backoff/2))
			c.o.Log.Warn("certificate request failed; retrying", "identity", c.id.String(), "retry_in", sleep.String(), "error", err)
			select {
			case <-ctx.Done():
				return
			case <-c.o.After(sleep):
			}
			backoff = min(2*backoff, c.o.MaxBackoff)
			retrying = true
			continue
		}
		backoff, retrying = c.o.MinBackoff, false
	}
}

// untilRenewal is how long the current certificate may still be used
// before it is renewed; zero when there is none.
func (c *Credentials) untilRenewal() time.Duration {
	cert := c.cert.Load()
	if cert == nil {
		return 0
	}
	c.mu.Lock()
	next := c.nextRenew
	c.mu.Unlock()
	return next.Sub(c.o.Now())
}

// renew asks the controller for a certificate and installs it.
func (c *Credentials) renew(ctx context.Context) error {
	if c.bundle.Load() == nil {
		// Without a bundle the controller cannot be authenticated, and the
		// token must not go to whoever answers.
		return errors.New("no trust bundle yet: cannot authenticate the controller")
	}
	token, err := c.o.ReadFile(c.o.TokenPath)
	if err != nil {
		return fmt.Errorf("service account token: %w", err)
	}
	ctx, cancel := context.WithTimeout(ctx, c.o.RequestTimeout)
	defer cancel()
	chain, err := issuance.Request(ctx, c.client, "https://"+c.o.ControllerAddress, strings.TrimSpace(string(token)), c.csr)
	if err != nil {
		return err
	}
	// The certificate must be what a peer would accept: verified against
	// the bundle, for this identity, before it is used.
	got, err := identity.Verify(chain, c.bundle.Load(), c.o.Now())
	if err != nil {
		return fmt.Errorf("the issued certificate: %w", err)
	}
	if got != c.id {
		return fmt.Errorf("the issued certificate is for %s, not %s", got, c.id)
	}
	cert, err := identity.TLSCertificate(chain, c.key)
	if err != nil {
		return err
	}
	leaf := cert.Leaf
	life := leaf.NotAfter.Sub(leaf.NotBefore)
	renewAt := leaf.NotBefore.Add(time.Duration(float64(life) * (RenewAt - RenewJitter*c.o.Jitter())))
	c.cert.Store(cert)
	c.mu.Lock()
	c.renewals++
	c.nextRenew = renewAt
	c.lastErr = ""
	// A replica that still signs with the old issuer may have answered.
	c.chaseLocked(cert)
	c.mu.Unlock()
	c.checkReady()
	c.o.Log.Info("certificate issued", "identity", c.id.String(), "serial", leaf.SerialNumber.Text(16),
		"not_after", leaf.NotAfter.UTC().Format(time.RFC3339), "renew_at", renewAt.UTC().Format(time.RFC3339))
	return nil
}

// IssuerAnnounced tells the credentials which issuer the controller signs
// with now (identity.Fingerprint of its certificate; the channel's
// snapshot carries it). When the current certificate comes from another,
// it is renewed within RotationSpread rather than at its usual time, so
// that an issuer rotation completes in seconds and the old issuer can be
// retired. Each announcement is acted on once: a controller replica that
// still signs with the old issuer does not make the proxy renew in a loop.
func (c *Credentials) IssuerAnnounced(fingerprint string) {
	cert := c.cert.Load()
	c.mu.Lock()
	defer c.mu.Unlock()
	if fingerprint == "" || fingerprint == c.announced {
		return
	}
	c.announced = fingerprint
	// The budget is per EarlyRenewalPeriod, not per announcement: two
	// replicas announcing two issuers in turn (one refused the new
	// Secret) must not buy the proxy a new budget at every reconnect.
	if now := c.o.Now(); c.budgetAt.IsZero() || now.Sub(c.budgetAt) >= EarlyRenewalPeriod {
		c.earlyLeft, c.budgetAt = MaxEarlyRenewals, now
	}
	if cert == nil {
		return
	}
	c.chaseLocked(cert)
}

// MaxEarlyRenewals bounds the early renewals one announcement causes.
// While controller replicas disagree (one has loaded the new issuer, the
// other not yet) a renewal may land on the old one; the proxy tries
// again, but a replica that never loads the issuer must not make every
// proxy renew forever.
const MaxEarlyRenewals = 5

// EarlyRenewalPeriod is how often the early-renewal budget is filled
// again: a proxy makes at most MaxEarlyRenewals early requests in it,
// however often the announced issuer changes.
const EarlyRenewalPeriod = 10 * time.Minute

// chaseLocked schedules an early renewal when cert is not from the
// announced issuer and the announcement still allows one. c.mu is held.
func (c *Credentials) chaseLocked(cert *tls.Certificate) {
	if c.announced == "" || c.earlyLeft == 0 || len(cert.Certificate) < 2 || identity.Fingerprint(cert.Certificate[1]) == c.announced {
		return
	}
	at := c.o.Now().Add(time.Duration(c.o.Jitter() * float64(RotationSpread)))
	if !at.Before(c.nextRenew) {
		return
	}
	c.earlyLeft--
	c.nextRenew = at
	c.o.Log.Info("the controller signs with another issuer: renewing early", "identity", c.id.String(),
		"issuer", c.announced, "renew_at", at.UTC().Format(time.RFC3339))
	select {
	case c.kick <- struct{}{}:
	default:
	}
}

func (c *Credentials) fail(err error) {
	c.mu.Lock()
	c.lastErr = err.Error()
	c.lastErrAt = c.o.Now()
	c.mu.Unlock()
}

// watchBundle reads the bundle file every BundlePoll until ctx ends.
func (c *Credentials) watchBundle(ctx context.Context) {
	t := time.NewTicker(c.o.BundlePoll)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			c.loadBundle()
		}
	}
}

// loadBundle reads the bundle file and installs it when it changed. A
// file that does not parse keeps the bundle in use: trust is never
// dropped because of a bad edit.
func (c *Credentials) loadBundle() {
	pem, err := c.o.ReadFile(c.o.BundlePath)
	c.mu.Lock()
	defer c.mu.Unlock()
	c.bundleRead = c.o.Now()
	if err == nil && c.bundle.Load() != nil && string(pem) == string(c.bundlePEM) {
		return
	}
	var b *identity.Bundle
	if err == nil {
		b, err = identity.NewBundle(c.o.ControllerID.TrustDomain(), pem)
	}
	if err != nil {
		msg := fmt.Sprintf("trust bundle %s: %v", c.o.BundlePath, err)
		if msg != c.bundleErr {
			c.o.Log.Error("trust bundle not loaded; keeping the one in use", "path", c.o.BundlePath, "error", err)
		}
		c.bundleErr = msg
		return
	}
	c.bundleErr = ""
	c.bundlePEM = pem
	c.bundle.Store(b)
	c.o.Log.Info("trust bundle loaded", "path", c.o.BundlePath, "anchors", len(b.Anchors()))
	c.checkReady()
}

// Status is what the admin port shows of the proxy's identity.
type Status struct {
	// ID is the proxy's identity.
	ID string `json:"id"`
	// Certificate is the current one; nil before the first.
	Certificate *CertificateStatus `json:"certificate,omitempty"`
	// RenewAt is when the certificate is next renewed.
	RenewAt *time.Time `json:"renewAt,omitempty"`
	// Renewals counts certificates issued since start-up.
	Renewals int `json:"renewals"`
	// LastError is the last failed request's, until one succeeds.
	LastError   string     `json:"lastError,omitempty"`
	LastErrorAt *time.Time `json:"lastErrorAt,omitempty"`
	// Anchors are the bundle's, by SHA-256 fingerprint of their DER.
	Anchors []AnchorStatus `json:"anchors"`
	// BundleError is why the bundle file was last refused, if it was.
	BundleError string `json:"bundleError,omitempty"`
}

// CertificateStatus describes one certificate chain.
type CertificateStatus struct {
	Serial    string    `json:"serial"`
	NotBefore time.Time `json:"notBefore"`
	NotAfter  time.Time `json:"notAfter"`
	// Issuer is the SHA-256 fingerprint of the issuer's certificate, the
	// chain's second: what an issuer rotation waits to see change on every proxy.
	Issuer string `json:"issuer"`
}

// AnchorStatus describes one trust anchor.
type AnchorStatus struct {
	Subject     string    `json:"subject"`
	Fingerprint string    `json:"fingerprint"`
	NotAfter    time.Time `json:"notAfter"`
}

// Status reports the credentials.
func (c *Credentials) Status() Status {
	s := Status{ID: c.id.String(), Anchors: []AnchorStatus{}}
	if cert := c.cert.Load(); cert != nil {
		cs := &CertificateStatus{Serial: cert.Leaf.SerialNumber.Text(16), NotBefore: cert.Leaf.NotBefore.UTC(), NotAfter: cert.Leaf.NotAfter.UTC()}
		if len(cert.Certificate) > 1 {
			cs.Issuer = identity.Fingerprint(cert.Certificate[1])
		}
		s.Certificate = cs
	}
	if b := c.bundle.Load(); b != nil {
		for _, a := range b.Anchors() {
			s.Anchors = append(s.Anchors, AnchorStatus{Subject: a.Subject.String(), Fingerprint: identity.Fingerprint(a.Raw), NotAfter: a.NotAfter.UTC()})
		}
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if s.Certificate != nil {
		r := c.nextRenew.UTC()
		s.RenewAt = &r
	}
	s.Renewals = c.renewals
	if c.lastErr != "" {
		s.LastError = c.lastErr
		at := c.lastErrAt.UTC()
		s.LastErrorAt = &at
	}
	s.BundleError = c.bundleErr
	return s
}
