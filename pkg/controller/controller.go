package controller

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"strconv"
	"sync/atomic"
	"time"

	"golang.org/x/sync/errgroup"
	"k8s.io/client-go/dynamic"
	"k8s.io/client-go/informers"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/tools/cache"

	"github.com/meshctl/meshctl/pkg/meshconfig"
)

// DefaultResyncInterval is how often Run re-reads the TLS Secret (to pick up
// a certificate another replica renewed, or renew one that is due) and
// re-checks the caBundle (which a re-applied chart may have emptied).
const DefaultResyncInterval = time.Minute

// Options configure the controller process; cmd/mesh-controller binds its
// flags to them.
type Options struct {
	// MeshName is the mesh (the Helm release name).
	MeshName string
	// MeshNamespace is the control-plane namespace: the MeshConfig's and the
	// TLS Secret's.
	MeshNamespace string
	// WebhookConfiguration is the MutatingWebhookConfiguration to patch.
	WebhookConfiguration string
	// WebhookService is the Service in front of the webhook; the serving
	// certificate is issued for its DNS names.
	WebhookService string
	// TLSSecret is the Secret holding the serving certificate and the CA.
	TLSSecret string
	// WebhookAddr and HealthAddr are the listen addresses (":9443").
	WebhookAddr, HealthAddr string
	// ExtraIPs are IP SANs added to the serving certificate, for a webhook
	// reached by URL (the tests' 127.0.0.1).
	ExtraIPs []net.IP
	// ResyncInterval is DefaultResyncInterval when zero.
	ResyncInterval time.Duration
	// CertValidity is the serving certificate's lifetime; zero is the default.
	CertValidity time.Duration

	// Kube and Dynamic are the API clients.
	Kube    kubernetes.Interface
	Dynamic dynamic.Interface
	// Log is the process's logger.
	Log *slog.Logger

	// Ready tracks readiness; Run creates it when nil.
	Ready *Readiness
	// Metrics are served on /metrics; Run creates them when nil.
	Metrics *Metrics
	// Listening, when set, is called with the bound addresses once both
	// servers listen (tests listen on port 0).
	Listening func(webhook, health net.Addr)
}

// Validate checks the options that flags fill.
func (o *Options) Validate() error {
	var errs []error
	for _, f := range []struct{ flag, value string }{
		{"--mesh-name", o.MeshName}, {"--mesh-namespace", o.MeshNamespace}, {"--webhook-configuration", o.WebhookConfiguration},
		{"--webhook-service", o.WebhookService}, {"--tls-secret", o.TLSSecret},
	} {
		if f.value == "" {
			errs = append(errs, fmt.Errorf("%s is required", f.flag))
		}
	}
	return errors.Join(errs...)
}

// Run serves the webhook and the health endpoints until ctx ends. It is
// live at once and ready when the certificate is loaded, the caBundle is
// patched, and the MeshConfig and namespace informers have synced.
func (o *Options) Run(ctx context.Context) error {
	if err := o.Validate(); err != nil {
		return err
	}
	log := o.Log
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	if o.Ready == nil {
		o.Ready = NewReadiness(ReadyCertificate, ReadyCABundle, ReadyMeshConfig, ReadyNamespaces)
	}
	if o.Metrics == nil {
		o.Metrics = NewMetrics()
	}
	resync := o.ResyncInterval
	if resync == 0 {
		resync = DefaultResyncInterval
	}

	webhookLn, err := net.Listen("tcp", o.WebhookAddr)
	if err != nil {
		return fmt.Errorf("webhook: %w", err)
	}
	healthLn, err := net.Listen("tcp", o.HealthAddr)
	if err != nil {
		_ = webhookLn.Close()
		return fmt.Errorf("health: %w", err)
	}
	if o.Listening != nil {
		o.Listening(webhookLn.Addr(), healthLn.Addr())
	}

	certs := &Certs{
		Client: o.Kube, Namespace: o.MeshNamespace, SecretName: o.TLSSecret, MeshName: o.MeshName,
		DNSNames: ServiceDNSNames(o.WebhookService, o.MeshNamespace), IPs: o.ExtraIPs, Validity: o.CertValidity,
	}
	patcher := &CABundlePatcher{Client: o.Kube, Name: o.WebhookConfiguration}
	var current atomic.Pointer[tls.Certificate]
	watcher := &MeshConfigWatcher{
		MeshName: o.MeshName, MeshNamespace: o.MeshNamespace, Log: log.With("component", "meshconfig"),
		OnChange: func(err error) { o.Ready.Set(ReadyMeshConfig, err) },
	}
	nsFactory := informers.NewSharedInformerFactory(o.Kube, 0)
	nsInformer := nsFactory.Core().V1().Namespaces()
	handler := &Handler{
		MeshName: o.MeshName, Injectors: watcher, Log: log.With("component", "webhook"), Metrics: o.Metrics,
		Namespaces: &Namespaces{Lister: nsInformer.Lister(), Client: o.Kube, MeshName: o.MeshName},
	}
	mux := http.NewServeMux()
	mux.Handle(WebhookPath, handler)
	webhookSrv := &http.Server{
		Handler: mux,
		// Handshakes fail while the API server still trusts an older
		// caBundle, and scanners probe the port: debug, not errors.
		ErrorLog:          slog.NewLogLogger(log.Handler(), slog.LevelDebug),
		ReadHeaderTimeout: 10 * time.Second,
		TLSConfig: &tls.Config{
			MinVersion: tls.VersionTLS12,
			// The certificate is looked up per handshake, so a renewal
			// applies to the next connection without a restart.
			GetCertificate: func(*tls.ClientHelloInfo) (*tls.Certificate, error) {
				if c := current.Load(); c != nil {
					return c, nil
				}
				return nil, errors.New("no serving certificate yet")
			},
		},
	}
	healthSrv := &http.Server{Handler: HealthHandler(o.Ready, o.Metrics), ReadHeaderTimeout: 10 * time.Second,
		ErrorLog: slog.NewLogLogger(log.Handler(), slog.LevelWarn)}

	g, ctx := errgroup.WithContext(ctx)
	g.Go(func() error { return serve(healthSrv, healthLn, false) })
	g.Go(func() error { return serve(webhookSrv, webhookLn, true) })
	g.Go(func() error {
		<-ctx.Done()
		shutdown, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
		defer cancel()
		return errors.Join(webhookSrv.Shutdown(shutdown), healthSrv.Shutdown(shutdown))
	})
	g.Go(func() error {
		nsFactory.Start(ctx.Done())
		if !cache.WaitForCacheSync(ctx.Done(), nsInformer.Informer().HasSynced) {
			return nil // ctx ended
		}
		o.Ready.Set(ReadyNamespaces, nil)
		return nil
	})
	g.Go(func() error {
		if err := watcher.Start(ctx, o.Dynamic); err != nil && ctx.Err() == nil {
			return err
		}
		return nil
	})
	g.Go(func() error {
		tlsLoop(ctx, resync, log.With("component", "certs"), certs, patcher, &current, o.Ready)
		return nil
	})
	log.Info("mesh-controller started", "mesh", o.MeshName, "namespace", o.MeshNamespace, "webhook", webhookLn.Addr().String(), "health", healthLn.Addr().String())
	return g.Wait()
}

func serve(srv *http.Server, ln net.Listener, tls bool) error {
	var err error
	if tls {
		err = srv.ServeTLS(ln, "", "")
	} else {
		err = srv.Serve(ln)
	}
	if errors.Is(err, http.ErrServerClosed) {
		return nil
	}
	return err
}

// tlsLoop keeps the serving certificate and the caBundle in place: at once,
// then every interval. A failure is retried sooner, after 1s doubling up to
// the interval: at install the webhook configuration may be created a moment
// after the controller starts. Errors make the controller unready rather
// than exit: the API server or RBAC may recover, and a restart would not help.
func tlsLoop(ctx context.Context, interval time.Duration, log *slog.Logger, certs *Certs, patcher *CABundlePatcher,
	current *atomic.Pointer[tls.Certificate], ready *Readiness) {
	retry := time.Second
	for {
		wait := interval
		if err := syncTLS(ctx, log, certs, patcher, current, ready); err != nil {
			wait, retry = min(retry, interval), min(2*retry, interval)
		} else {
			retry = time.Second
		}
		t := time.NewTimer(wait)
		select {
		case <-ctx.Done():
			t.Stop()
			return
		case <-t.C:
		}
	}
}

// syncTLS is one pass of tlsLoop.
func syncTLS(ctx context.Context, log *slog.Logger, certs *Certs, patcher *CABundlePatcher,
	current *atomic.Pointer[tls.Certificate], ready *Readiness) error {
	b, err := certs.Ensure(ctx)
	ready.Set(ReadyCertificate, err)
	if err != nil {
		log.Error("serving certificate", "error", err)
		return err
	}
	if old := current.Load(); old == nil || old.Leaf.SerialNumber.Cmp(b.Leaf.SerialNumber) != 0 {
		current.Store(&b.Certificate)
		log.Info("serving certificate loaded", "notAfter", b.Leaf.NotAfter.UTC().Format(time.RFC3339), "serial", b.Leaf.SerialNumber.Text(16))
	}
	changed, err := patcher.Patch(ctx, b.CABundle)
	ready.Set(ReadyCABundle, err)
	switch {
	case err != nil:
		log.Error("caBundle", "error", err)
	case changed:
		log.Info("caBundle patched", "mutatingwebhookconfiguration", patcher.Name)
	}
	return err
}

// ListenAddr is ":port", for the flags that take a port.
func ListenAddr(port int) string { return ":" + strconv.Itoa(port) }

// ownerLabels are the labels of objects the controller creates.
func ownerLabels(mesh string) map[string]string {
	return map[string]string{meshconfig.LabelPartOf: meshconfig.PartOfValue, meshconfig.LabelMeshName: mesh, meshconfig.LabelComponent: meshconfig.ComponentController}
}
