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
	corev1 "k8s.io/api/core/v1"
	"k8s.io/client-go/dynamic"
	"k8s.io/client-go/informers"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/kubernetes/scheme"
	typedcorev1 "k8s.io/client-go/kubernetes/typed/core/v1"
	"k8s.io/client-go/tools/cache"
	"k8s.io/client-go/tools/record"

	pkgchannel "github.com/meshctl/meshctl/pkg/channel"
	"github.com/meshctl/meshctl/pkg/controller/ca"
	"github.com/meshctl/meshctl/pkg/identity"
	"github.com/meshctl/meshctl/pkg/issuance"
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
	// ProxyAPIAddr is the listen address of the proxy API port, where
	// proxies get certificates (and the channel); empty is
	// ":<meshconfig.ProxyAPIPort>".
	ProxyAPIAddr string
	// ProxyAPIHandlers are more handlers for the proxy API port, by
	// path pattern (http.ServeMux's), beside certificate signing at
	// issuance.Path: the channel. A handler that needs the caller's
	// identity calls identity.VerifyAPIPeer(r.TLS, o.Authority.Sources()).
	ProxyAPIHandlers map[string]http.Handler
	// ExtraIPs are IP SANs added to the serving certificate, for a webhook
	// reached by URL (the tests' 127.0.0.1).
	ExtraIPs []net.IP
	// ResyncInterval is DefaultResyncInterval when zero.
	ResyncInterval time.Duration
	// CertValidity is the serving certificate's lifetime; zero is the default.
	CertValidity time.Duration
	// LeaderElection chooses the replica that does what must happen once;
	// its zero value makes this process the leader from the start.
	LeaderElection LeaderElection
	// GenerateCA has the leader create the mesh CA (ca.Bootstrap) when the
	// control-plane namespace holds none, as under a plain helm install;
	// meshctl install makes the CA itself and leaves it off.
	GenerateCA bool
	// ShutdownDelay is how long the process goes on serving, unready and
	// without the Lease, once ctx ends: long enough for the endpoints to
	// drop it, so that no admission is sent to a closed port. Zero stops at
	// once.
	ShutdownDelay time.Duration

	// Kube and Dynamic are the API clients.
	Kube    kubernetes.Interface
	Dynamic dynamic.Interface
	// Log is the process's logger.
	Log *slog.Logger

	// Authority is the mesh CA. Run creates it when nil, and sets its
	// Client, MeshName, MeshNamespace, Identity, Namespaces, Events,
	// Metrics and Log when unset, and wraps its OnState to keep the
	// readiness condition ReadyIssuer (a caller's OnState is still
	// called, after). A caller that needs its Sources or State before Run
	// (for ProxyAPIHandlers) sets it to &ca.Authority{} and leaves the
	// rest to Run.
	Authority *ca.Authority

	// Ready tracks readiness; Run creates it when nil.
	Ready *Readiness
	// Metrics are served on /metrics; Run creates them when nil.
	Metrics *Metrics
	// Listening, when set, is called with the bound addresses once every
	// server listens (tests listen on port 0).
	Listening func(Addrs)
}

// Addrs are the addresses Run's servers listen on.
type Addrs struct {
	Webhook, Health, ProxyAPI net.Addr
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

// Run serves the webhook, the proxy API port (certificate signing, and
// ProxyAPIHandlers) and the health endpoints until ctx ends, then, after
// ShutdownDelay, drains them. It is live at once and ready when the
// webhook's certificate is loaded and the caBundle trusts it, the
// MeshConfig and namespace informers have synced, and the mesh CA has an
// issuer that chains to its trust bundle. It takes part in the leader
// election (LeaderElection) and does the leader's work while it leads.
func (o *Options) Run(ctx context.Context) error {
	if err := o.Validate(); err != nil {
		return err
	}
	log := o.Log
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	if o.Ready == nil {
		o.Ready = NewReadiness(ReadyCertificate, ReadyCABundle, ReadyMeshConfig, ReadyNamespaces, ReadyIssuer)
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
	proxyAPIAddr := o.ProxyAPIAddr
	if proxyAPIAddr == "" {
		proxyAPIAddr = ListenAddr(meshconfig.ProxyAPIPort)
	}
	proxyAPILn, err := net.Listen("tcp", proxyAPIAddr)
	if err != nil {
		_, _ = webhookLn.Close(), healthLn.Close()
		return fmt.Errorf("proxy API: %w", err)
	}
	if o.Listening != nil {
		o.Listening(Addrs{Webhook: webhookLn.Addr(), Health: healthLn.Addr(), ProxyAPI: proxyAPILn.Addr()})
	}

	dnsNames := ServiceDNSNames(o.WebhookService, o.MeshNamespace)
	certs := &Certs{
		Client: o.Kube, Namespace: o.MeshNamespace, SecretName: o.TLSSecret, MeshName: o.MeshName,
		DNSNames: dnsNames, IPs: o.ExtraIPs, Validity: o.CertValidity,
	}
	patcher := &CABundlePatcher{Client: o.Kube, Name: o.WebhookConfiguration}
	var current atomic.Pointer[tls.Certificate]
	lead := &leadership{}
	serving := &servingTLS{
		certs: certs, patcher: patcher, current: &current, ready: o.Ready, log: log.With("component", "certs"),
		leading: lead.Leading, serverName: dnsNames[2], // the API server's name: <service>.<namespace>.svc
	}
	tlsKick := lead.notify()
	auth := o.authority(log)
	if auth.Leading == nil {
		auth.Leading = lead.Leading
	}
	watcher := &MeshConfigWatcher{
		MeshName: o.MeshName, MeshNamespace: o.MeshNamespace, Log: log.With("component", "meshconfig"),
	}
	channel := &channelHandler{}
	watcher.OnChange = func(err error) {
		o.Ready.Set(ReadyMeshConfig, err)
		auth.Resync()        // the trust domain or the lifetime may have changed
		channel.invalidate() // permissive mode may have
	}
	if auth.Identity == nil {
		auth.Identity = watcher.Identity
	}
	nsFactory := informers.NewSharedInformerFactory(o.Kube, 0)
	nsInformer := nsFactory.Core().V1().Namespaces()
	if auth.Namespaces == nil {
		auth.Namespaces = nsInformer
	}
	events := record.NewBroadcaster(record.WithContext(ctx))
	defer events.Shutdown()
	events.StartRecordingToSink(&typedcorev1.EventSinkImpl{Interface: o.Kube.CoreV1().Events("")})
	recorder := events.NewRecorder(scheme.Scheme, corev1.EventSource{Component: meshconfig.ControllerName})
	if auth.Events == nil {
		auth.Events = leaderEvents{EventRecorder: recorder, leading: lead.Leading}
	}
	// Every snapshot names the issuer: a new one reaches the proxies,
	// which renew early.
	onState := auth.OnState
	auth.OnState = func(st *ca.State) {
		onState(st)
		channel.invalidate()
	}
	proxyAPISrv := o.proxyAPIServer(auth, channel, log)
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

	// The servers and informers run until runCtx ends, which is
	// ShutdownDelay after ctx: meanwhile this replica is unready and has
	// given up the Lease, but still answers whatever reaches it.
	parent := ctx
	runCtx, stop := context.WithCancel(context.WithoutCancel(ctx))
	defer stop()
	electionCtx, stopElection := context.WithCancel(runCtx)
	defer stopElection()
	g, ctx2 := errgroup.WithContext(runCtx)
	g.Go(func() error {
		select {
		case <-parent.Done():
		case <-ctx2.Done():
			return nil
		}
		o.Ready.Set(ReadyShutdown, errors.New("shutting down"))
		stopElection()
		if o.ShutdownDelay > 0 {
			log.Info("shutting down: serving until the endpoints drop this replica", "delay", o.ShutdownDelay.String())
			t := time.NewTimer(o.ShutdownDelay)
			select {
			case <-t.C:
			case <-ctx2.Done():
				t.Stop()
			}
		}
		stop()
		return nil
	})
	ctx = ctx2
	g.Go(func() error {
		return o.runElection(electionCtx, lead, recorder, log.With("component", "leader"), o.Metrics.setLeader, func(ctx context.Context) {
			// Copies made or missed while another replica led are
			// checked again.
			auth.ResyncCopies()
			if o.GenerateCA {
				o.bootstrapCA(ctx, watcher, auth, resync, log.With("component", "ca"))
			}
			<-ctx.Done()
		})
	})
	g.Go(func() error { return serve(healthSrv, healthLn, false) })
	g.Go(func() error { return serve(webhookSrv, webhookLn, true) })
	g.Go(func() error {
		<-ctx.Done()
		shutdown, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
		defer cancel()
		return errors.Join(webhookSrv.Shutdown(shutdown), healthSrv.Shutdown(shutdown), proxyAPISrv.Shutdown(shutdown))
	})
	g.Go(func() error { return serve(proxyAPISrv, proxyAPILn, true) })
	g.Go(func() error { return auth.Run(ctx) })
	g.Go(func() error {
		return runChannel(ctx, o, watcher, auth, channel, log.With("component", "channel"))
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
		serving.loop(ctx, resync, tlsKick)
		return nil
	})
	log.Info("mesh-controller started", "mesh", o.MeshName, "namespace", o.MeshNamespace, "webhook", webhookLn.Addr().String(),
		"health", healthLn.Addr().String(), "proxyAPI", proxyAPILn.Addr().String())
	return g.Wait()
}

// bootstrapCA runs ca.Bootstrap until it has nothing left to do, while this
// replica leads: once the MeshConfig has given the trust domain, then again
// every interval while it fails (a half-made CA waits for the operator).
func (o *Options) bootstrapCA(ctx context.Context, mc *MeshConfigWatcher, auth *ca.Authority, interval time.Duration, log *slog.Logger) {
	reported := ""
	for {
		if spec, err := mc.Identity(); err == nil {
			td := spec.TrustDomain
			if td == "" {
				td = meshconfig.DefaultTrustDomain
			}
			b := &ca.Bootstrap{Client: o.Kube, MeshName: o.MeshName, MeshNamespace: o.MeshNamespace, TrustDomain: td, Log: log}
			created, err := b.Ensure(ctx)
			if created {
				auth.Resync()
			}
			if err == nil || created {
				return
			}
			if err.Error() != reported {
				reported = err.Error()
				log.Error("mesh CA not generated", "error", err)
			}
		}
		t := time.NewTimer(min(interval, time.Second))
		if reported != "" {
			t.Reset(interval)
		}
		select {
		case <-ctx.Done():
			t.Stop()
			return
		case <-t.C:
		}
	}
}

// authority is o.Authority with what Run knows filled in.
func (o *Options) authority(log *slog.Logger) *ca.Authority {
	if o.Authority == nil {
		o.Authority = &ca.Authority{}
	}
	a := o.Authority
	if a.Client == nil {
		a.Client = o.Kube
	}
	if a.MeshName == "" {
		a.MeshName = o.MeshName
	}
	if a.MeshNamespace == "" {
		a.MeshNamespace = o.MeshNamespace
	}
	if a.Metrics == nil {
		a.Metrics = o.Metrics.CA
	}
	if a.Log == nil {
		a.Log = log.With("component", "ca")
	}
	// Readiness follows the CA whatever else the caller watches it for.
	user := a.OnState
	a.OnState = func(st *ca.State) {
		o.Ready.Set(ReadyIssuer, st.Err)
		o.Ready.Warn(ReadyIssuer, st.Warning)
		if user != nil {
			user(st)
		}
	}
	return a
}

// proxyAPIServer is the server of the proxy API port: TLS 1.3 with the
// controller's mesh certificate (identity.APIServerConfig), HTTP/1.1 only
// (the ALPN proxies offer), certificate signing at issuance.Path, the
// channel at channel.Path, and the extra handlers. It has no
// WriteTimeout: channel streams are long-lived and bound their own writes.
func (o *Options) proxyAPIServer(auth *ca.Authority, channel http.Handler, log *slog.Logger) *http.Server {
	mux := http.NewServeMux()
	mux.Handle(issuance.Path, auth.SigningHandler(o.Kube.AuthenticationV1().TokenReviews(), log.With("component", "signer")))
	mux.Handle(pkgchannel.Path, channel)
	for pattern, h := range o.ProxyAPIHandlers {
		mux.Handle(pattern, h)
	}
	var protocols http.Protocols
	protocols.SetHTTP1(true)
	return &http.Server{
		Handler:   mux,
		TLSConfig: identity.APIServerConfig(auth.Sources()),
		Protocols: &protocols,
		// Proxies without a certificate yet, and scanners, fail
		// handshakes: debug, not errors.
		ErrorLog:          slog.NewLogLogger(log.Handler(), slog.LevelDebug),
		ReadHeaderTimeout: 10 * time.Second,
	}
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

// servingTLS keeps the webhook's serving certificate and the caBundle in
// place. Every replica serves the certificate of the shared TLS Secret;
// only the leader writes: it creates or renews the Secret (Certs.Ensure) and
// patches the caBundle. A replica switches to a new certificate only once
// the webhook configuration's caBundle trusts it, so that during a renewal
// or a CA rotation no replica presents a certificate the API server would
// refuse, whichever replica wrote it and however late the others look.
type servingTLS struct {
	certs   *Certs
	patcher *CABundlePatcher
	current *atomic.Pointer[tls.Certificate]
	ready   *Readiness
	log     *slog.Logger
	// leading reports whether this replica leads now.
	leading func() bool
	// serverName is the name the API server verifies: <service>.<namespace>.svc.
	serverName string
}

// loop syncs at once, then every interval, and at once when this replica
// starts to lead (kick). A failure is retried sooner, after 1s doubling up
// to the interval: at install the webhook configuration may be created a
// moment after the controller starts, and a follower waits for the leader
// to create the Secret. Errors make the replica unready rather than exit:
// the API server or RBAC may recover, and a restart would not help.
func (s *servingTLS) loop(ctx context.Context, interval time.Duration, kick <-chan struct{}) {
	retry := time.Second
	for {
		wait := interval
		if err := s.sync(ctx); err != nil {
			wait, retry = min(retry, interval), min(2*retry, interval)
		} else {
			retry = time.Second
		}
		t := time.NewTimer(wait)
		select {
		case <-ctx.Done():
			t.Stop()
			return
		case <-kick:
			t.Stop()
		case <-t.C:
		}
	}
}

// sync is one pass of loop.
func (s *servingTLS) sync(ctx context.Context) error {
	leading := s.leading()
	var b *Bundle
	var err error
	if leading {
		b, err = s.certs.Ensure(ctx)
	} else {
		b, err = s.certs.Load(ctx)
	}
	if err != nil {
		s.log.Error("serving certificate", "error", err, "leading", leading)
	}
	var patchErr error
	if leading && b != nil {
		changed, err := s.patcher.Patch(ctx, b.CABundle)
		switch {
		case err != nil:
			patchErr = err
			s.log.Error("caBundle", "error", err)
		case changed:
			s.log.Info("caBundle patched", "mutatingwebhookconfiguration", s.patcher.Name)
		}
	}
	now := s.certs.now()
	cur := s.current.Load()
	if b != nil && (cur == nil || cur.Leaf.SerialNumber.Cmp(b.Leaf.SerialNumber) != 0) {
		trust := s.patcher.Trusts(ctx, b.Leaf, s.serverName, now)
		// With nothing valid to serve, the new one is better than none.
		if trust == nil || cur == nil || !now.Before(cur.Leaf.NotAfter) {
			s.current.Store(&b.Certificate)
			cur = &b.Certificate
			s.log.Info("serving certificate loaded", "notAfter", b.Leaf.NotAfter.UTC().Format(time.RFC3339), "serial", b.Leaf.SerialNumber.Text(16))
		} else {
			s.log.Info("a new serving certificate waits for the caBundle to trust it", "serial", b.Leaf.SerialNumber.Text(16), "reason", trust)
		}
	}
	if cur == nil {
		if err == nil {
			err = errors.New("no serving certificate yet")
		}
		s.ready.Set(ReadyCertificate, err)
		s.ready.Set(ReadyCABundle, errors.New("no serving certificate yet"))
		return err
	}
	s.ready.Set(ReadyCertificate, nil)
	trust := s.patcher.Trusts(ctx, cur.Leaf, s.serverName, now)
	s.ready.Set(ReadyCABundle, trust)
	return errors.Join(err, patchErr, trust)
}

// ListenAddr is ":port", for the flags that take a port.
func ListenAddr(port int) string { return ":" + strconv.Itoa(port) }

// ownerLabels are the labels of objects the controller creates.
func ownerLabels(mesh string) map[string]string {
	return map[string]string{meshconfig.LabelPartOf: meshconfig.PartOfValue, meshconfig.LabelMeshName: mesh, meshconfig.LabelComponent: meshconfig.ComponentController}
}
