package ca

import (
	"bytes"
	"context"
	"crypto/tls"
	"encoding/pem"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/fields"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/client-go/informers"
	corev1informers "k8s.io/client-go/informers/core/v1"
	"k8s.io/client-go/kubernetes"
	corev1listers "k8s.io/client-go/listers/core/v1"
	"k8s.io/client-go/tools/cache"
	"k8s.io/client-go/tools/record"
	"k8s.io/client-go/util/workqueue"

	"github.com/meshctl/meshctl/pkg/identity"
	"github.com/meshctl/meshctl/pkg/meshconfig"
)

// DefaultResyncInterval is how often the CA is reconciled without any
// event: an issuer may become valid, or near its expiry, with no object
// changing.
const DefaultResyncInterval = time.Minute

// Reasons of the Events the CA records on the issuer Secret.
const (
	EventIssuerLoaded    = "IssuerLoaded"
	EventIssuerRefused   = "IssuerRefused"
	EventIssuerUntrusted = "IssuerNotInTrustBundle"
	EventIssuerExpiring  = "IssuerExpiring"
)

// ComponentTrustBundle is the component label of the bundle's copies.
const ComponentTrustBundle = "trust-bundle"

// Secret keys of the issuer, the kubernetes.io/tls shape.
const (
	secretTLSCrt = corev1.TLSCertKey
	secretTLSKey = corev1.TLSPrivateKeyKey
	secretCACrt  = "ca.crt"
)

// State is what the CA serves at one moment; it is immutable, replaced as a
// whole when anything changes.
type State struct {
	// TrustDomain and Lifetime are the MeshConfig's spec.identity.
	TrustDomain string
	Lifetime    time.Duration
	// Issuer signs; nil while there is none that chains to Bundle (Err
	// says why), and then signing answers 503.
	Issuer *identity.Issuer
	// Bundle is the trust bundle proxies are given, and BundlePEM its
	// anchors as PEM, as copied into the namespaces; nil while there
	// is none.
	Bundle    *identity.Bundle
	BundlePEM []byte
	// BundleSource names where Bundle came from: the ConfigMap, or the
	// issuer Secret's ca.crt when the ConfigMap is absent.
	BundleSource string
	// Certificate is the controller's own on the proxy API port, for
	// meshconfig.ControllerID; nil while there is none.
	Certificate *tls.Certificate
	// Err is why Issuer is nil; nil when the CA signs.
	Err error
	// Warning is what is wrong while the CA still signs: the Secret or the
	// ConfigMap was refused and the last good one is kept.
	Warning error
}

// Authority keeps the mesh CA's State from the cluster. Set the fields,
// then call Run; the accessors may be called before, and answer "none"
// until the first State.
type Authority struct {
	// Client reads the issuer Secret and the bundle, and writes the copies.
	Client kubernetes.Interface
	// MeshName is the mesh: enrolled namespaces carry
	// meshconfig.LabelMonitoredBy with it.
	MeshName string
	// MeshNamespace is the control-plane namespace, the Secret's and the
	// ConfigMap's.
	MeshNamespace string
	// Identity is the MeshConfig's spec.identity (MeshConfigWatcher's),
	// or why there is none yet. Call Resync when it changes.
	Identity func() (meshconfig.IdentitySpec, error)
	// Namespaces is a shared informer of namespaces; nil starts one.
	Namespaces corev1informers.NamespaceInformer
	// Events records Events on the issuer Secret; nil records none.
	Events record.EventRecorder
	// Metrics are updated when not nil.
	Metrics *Metrics
	// Log gets a line per change and per problem; nil discards.
	Log *slog.Logger
	// Now is the clock; nil is time.Now.
	Now func() time.Time
	// ResyncInterval is DefaultResyncInterval when zero.
	ResyncInterval time.Duration
	// OnState, when set, is called after each reconcile with the State.
	OnState func(*State)
	// Leading, when set, says whether this replica leads: only the leader
	// writes the bundle's copies (every replica signs and serves). Call
	// ResyncCopies when it starts to lead. Nil means always.
	Leading func() bool

	initOnce sync.Once
	queue    workqueue.TypedRateLimitingInterface[string]
	state    atomic.Pointer[State]

	// What follows is the reconciler's, under mu.
	mu         sync.Mutex
	secrets    corev1listers.SecretNamespaceLister
	configMaps corev1listers.ConfigMapLister
	namespaces corev1listers.NamespaceLister
	// good is the last issuer LoadIssuer accepted, goodBundle the last
	// bundle NewBundle accepted.
	good       *loadedIssuer
	goodBundle *identity.Bundle
	// The last problem reported, so that a resync does not repeat it.
	reportedIssuer, reportedBundle, reportedChain string
	reportedFallback                              bool
	cert                                          *certificate
	expiryWarnedSerial                            string
	expiryWarnedAt                                time.Time
	foreign                                       map[string]string // namespace -> resourceVersion of a ConfigMap not ours, reported
}

// loadedIssuer is an issuer with the Secret it came from.
type loadedIssuer struct {
	issuer          *identity.Issuer
	caCrt           []byte
	resourceVersion string
	uid             string
}

// Queue keys: stateKey for the CA itself, nsPrefix+<namespace> for a copy.
const (
	stateKey = "state"
	nsPrefix = "ns/"
)

func (a *Authority) init() {
	a.initOnce.Do(func() {
		a.queue = workqueue.NewTypedRateLimitingQueueWithConfig(workqueue.DefaultTypedControllerRateLimiter[string](),
			workqueue.TypedRateLimitingQueueConfig[string]{Name: "mesh-ca"})
		a.foreign = map[string]string{}
	})
}

func (a *Authority) now() time.Time {
	if a.Now == nil {
		return time.Now()
	}
	return a.Now()
}

func (a *Authority) log() *slog.Logger {
	if a.Log == nil {
		return slog.New(slog.DiscardHandler)
	}
	return a.Log
}

// State is the current state, or nil before the first reconcile.
func (a *Authority) State() *State { return a.state.Load() }

// Issuer is the issuer to sign with, or nil while there is none that
// chains to the bundle; it fits signer.Signer's Issuer.
func (a *Authority) Issuer() *identity.Issuer {
	if st := a.state.Load(); st != nil {
		return st.Issuer
	}
	return nil
}

// Bundle is the current trust bundle, or nil; it fits identity.Sources.
func (a *Authority) Bundle() *identity.Bundle {
	if st := a.state.Load(); st != nil {
		return st.Bundle
	}
	return nil
}

// Certificate is the controller's current certificate, or nil; it fits
// identity.Sources.
func (a *Authority) Certificate() *tls.Certificate {
	if st := a.state.Load(); st != nil {
		return st.Certificate
	}
	return nil
}

// Sources are the controller's certificate, the bundle and the clock, as
// the TLS configuration of the proxy API port and identity.VerifyAPIPeer
// read them (per handshake and per request, so a renewal or a rotation
// applies at once).
func (a *Authority) Sources() identity.Sources {
	return identity.Sources{Certificate: a.Certificate, Bundle: a.Bundle, Now: a.Now}
}

// Resync asks for a reconcile of the CA, as after a MeshConfig change. It
// may be called before Run.
func (a *Authority) Resync() {
	a.init()
	a.queue.Add(stateKey)
}

// ResyncCopies asks for every namespace's copy to be checked, as when this
// replica starts to lead. Before the informers have synced it does nothing:
// the first State checks them all.
func (a *Authority) ResyncCopies() {
	a.init()
	a.mu.Lock()
	nsLister := a.namespaces
	a.mu.Unlock()
	if nsLister == nil {
		return
	}
	all, _ := nsLister.List(labels.Everything())
	for _, n := range all {
		a.queue.Add(nsPrefix + n.Name)
	}
}

// byName limits an informer to the objects called name.
func byName(name string) informers.SharedInformerOption {
	return informers.WithTweakListOptions(func(o *metav1.ListOptions) {
		o.FieldSelector = fields.OneTermEqualSelector("metadata.name", name).String()
	})
}

// Run watches the issuer Secret, the bundle ConfigMap and its copies, and
// the namespaces, and reconciles until ctx ends.
func (a *Authority) Run(ctx context.Context) error {
	a.init()
	a.publishNotYet("waiting for the informers of the issuer Secret and the trust bundle to sync")
	// Each informer sees only objects of one name: the issuer Secret in
	// the control-plane namespace (RBAC can grant exactly that one), and
	// the bundle's ConfigMaps in every namespace, which are the source
	// and its copies.
	secretFactory := informers.NewSharedInformerFactoryWithOptions(a.Client, 0, informers.WithNamespace(a.MeshNamespace), byName(meshconfig.IssuerSecretName))
	cmFactory := informers.NewSharedInformerFactoryWithOptions(a.Client, 0, byName(meshconfig.TrustBundleName))
	secrets := secretFactory.Core().V1().Secrets()
	cms := cmFactory.Core().V1().ConfigMaps()
	nsInformer := a.Namespaces
	var nsFactory informers.SharedInformerFactory
	if nsInformer == nil {
		nsFactory = informers.NewSharedInformerFactory(a.Client, 0)
		nsInformer = nsFactory.Core().V1().Namespaces()
	}
	state := func(any) { a.queue.Add(stateKey) }
	if _, err := secrets.Informer().AddEventHandler(cache.ResourceEventHandlerFuncs{
		AddFunc: state, UpdateFunc: func(_, o any) { state(o) }, DeleteFunc: state,
	}); err != nil {
		return err
	}
	cm := func(obj any) {
		if d, ok := obj.(cache.DeletedFinalStateUnknown); ok {
			obj = d.Obj
		}
		c, ok := obj.(*corev1.ConfigMap)
		switch {
		case !ok:
			a.queue.Add(stateKey)
		case c.Namespace == a.MeshNamespace:
			a.queue.Add(stateKey)
		default:
			// A copy was edited or deleted: put it back.
			a.queue.Add(nsPrefix + c.Namespace)
		}
	}
	if _, err := cms.Informer().AddEventHandler(cache.ResourceEventHandlerFuncs{
		AddFunc: cm, UpdateFunc: func(_, o any) { cm(o) }, DeleteFunc: cm,
	}); err != nil {
		return err
	}
	// Every namespace: syncCopy decides which get a copy.
	ns := func(obj any) {
		if n, ok := obj.(*corev1.Namespace); ok {
			a.queue.Add(nsPrefix + n.Name)
		}
	}
	if _, err := nsInformer.Informer().AddEventHandler(cache.ResourceEventHandlerFuncs{
		AddFunc: ns, UpdateFunc: func(_, o any) { ns(o) },
	}); err != nil {
		return err
	}
	secretFactory.Start(ctx.Done())
	cmFactory.Start(ctx.Done())
	if nsFactory != nil {
		nsFactory.Start(ctx.Done())
	}
	// The workers stop once the queue is shut down; Run returns after them.
	var wg sync.WaitGroup
	defer wg.Wait()
	defer a.queue.ShutDown()
	if !cache.WaitForCacheSync(ctx.Done(), secrets.Informer().HasSynced, cms.Informer().HasSynced, nsInformer.Informer().HasSynced) {
		return nil // ctx ended
	}
	a.mu.Lock()
	a.secrets = secrets.Lister().Secrets(a.MeshNamespace)
	a.configMaps = cms.Lister()
	a.namespaces = nsInformer.Lister()
	a.mu.Unlock()

	for range 2 {
		wg.Go(func() {
			for a.processNext(ctx) {
			}
		})
	}
	resync := a.ResyncInterval
	if resync == 0 {
		resync = DefaultResyncInterval
	}
	a.queue.Add(stateKey)
	t := time.NewTicker(resync)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return nil
		case <-t.C:
			a.queue.Add(stateKey)
		}
	}
}

// processNext reconciles one key; false once the queue is shut down.
func (a *Authority) processNext(ctx context.Context) bool {
	key, quit := a.queue.Get()
	if quit {
		return false
	}
	defer a.queue.Done(key)
	var err error
	if ns, ok := strings.CutPrefix(key, nsPrefix); ok {
		err = a.syncCopy(ctx, ns)
	} else {
		a.syncState()
	}
	if err != nil {
		a.queue.AddRateLimited(key)
	} else {
		a.queue.Forget(key)
	}
	return true
}

// publishNotYet records a State with no issuer, before the first reconcile.
func (a *Authority) publishNotYet(why string) {
	if a.state.Load() != nil {
		return
	}
	st := &State{Err: errors.New(why)}
	a.state.Store(st)
	if a.OnState != nil {
		a.OnState(st)
	}
}

func (a *Authority) secretRef() string {
	return "secret " + a.MeshNamespace + "/" + meshconfig.IssuerSecretName
}

func (a *Authority) configMapRef() string {
	return "configmap " + a.MeshNamespace + "/" + meshconfig.TrustBundleName
}

// syncState computes the State from the MeshConfig, the issuer Secret and
// the bundle ConfigMap, and publishes it.
func (a *Authority) syncState() {
	a.mu.Lock()
	defer a.mu.Unlock()
	now := a.now()
	log := a.log()

	var spec meshconfig.IdentitySpec
	if a.Identity != nil {
		var err error
		if spec, err = a.Identity(); err != nil {
			a.publish(&State{Err: fmt.Errorf("the trust domain is not known: %w", err)}, nil, now)
			return
		}
	}
	td := spec.TrustDomain
	if td == "" {
		td = meshconfig.DefaultTrustDomain
	}
	lifetime, err := meshconfig.ParseCertificateLifetime(spec.CertificateLifetime)
	if err != nil {
		// MeshConfigWatcher validates it; this is a caller that did not.
		a.publish(&State{Err: fmt.Errorf("spec.identity.certificateLifetime %q: %w", spec.CertificateLifetime, err)}, nil, now)
		return
	}

	sec, issuerErr := a.loadIssuer(now)
	bundle, source, bundleErr := a.loadBundle(td)

	st := &State{TrustDomain: td, Lifetime: lifetime, Bundle: bundle, BundleSource: source}
	if bundle != nil {
		st.BundlePEM = encodeAnchors(bundle)
	}
	var issuer *identity.Issuer
	if a.good != nil {
		issuer = a.good.issuer
	}
	switch {
	case issuer == nil:
		st.Err = issuerErr
	case bundle == nil:
		st.Err = bundleErr
		if st.Err == nil {
			st.Err = errors.New("no trust bundle")
		}
	default:
		id, err := meshconfig.ControllerID(td, a.MeshNamespace)
		if err != nil {
			st.Err = err
			break
		}
		c := a.cert
		if c == nil || c.issuer != issuer || c.bundle != bundle || c.cert.Leaf.URIs[0].String() != id.String() || !now.Before(c.renewAt) {
			c, err = issueCertificate(issuer, bundle, id, lifetime, now)
		}
		if err != nil {
			st.Err = fmt.Errorf("the issuer of %s (%s) is not used: %w", a.secretRef(), describe(issuer), err)
			if key := a.good.resourceVersion + "|" + source + "|" + string(st.BundlePEM); a.reportedChain != key {
				a.reportedChain = key
				log.Error("the issuer does not chain to an anchor of the trust bundle: not signing", "secret", a.secretRef(), "bundle", source, "error", err)
				a.event(sec, corev1.EventTypeWarning, EventIssuerUntrusted, "The issuer is not used: %v", err)
			}
			break
		}
		a.reportedChain = ""
		if c != a.cert {
			log.Info("controller certificate issued", "id", id.String(), "notAfter", c.cert.Leaf.NotAfter.UTC().Format(time.RFC3339), "renewAt", c.renewAt.UTC().Format(time.RFC3339))
			a.cert = c
		}
		st.Issuer, st.Certificate = issuer, c.cert
		st.Warning = errors.Join(issuerErr, bundleErr)
	}
	if st.Certificate == nil && a.cert != nil && now.Before(a.cert.cert.Leaf.NotAfter) {
		// Keep presenting the last good certificate: proxies that still
		// trust it can at least tell a refusal from an impostor.
		st.Certificate = a.cert.cert
	}
	a.publish(st, sec, now)
}

// loadIssuer reads the Secret and, when it holds a good issuer, makes it
// a.good; otherwise a.good stays and the error says why it was refused.
// The Secret is returned for Events, nil when it is absent.
func (a *Authority) loadIssuer(now time.Time) (*corev1.Secret, error) {
	sec, err := a.secrets.Get(meshconfig.IssuerSecretName)
	var refused error
	key := "absent"
	switch {
	case apierrors.IsNotFound(err):
		sec = nil
		refused = fmt.Errorf("%s not found: create it (meshctl install does) or bring an issuer as a kubernetes.io/tls Secret", a.secretRef())
	case err != nil:
		sec = nil
		refused = fmt.Errorf("%s: %w", a.secretRef(), err)
	case a.good != nil && a.good.uid == string(sec.UID) && a.good.resourceVersion == sec.ResourceVersion:
		// Unchanged and accepted before; Sign itself refuses once the
		// chain has expired.
	default:
		key = string(sec.UID) + "/" + sec.ResourceVersion
		is, err := identity.LoadIssuer(sec.Data[secretTLSCrt], sec.Data[secretTLSKey], sec.Data[secretCACrt], now)
		if err != nil {
			refused = fmt.Errorf("%s: %w", a.secretRef(), err)
			break
		}
		a.good = &loadedIssuer{issuer: is, caCrt: sec.Data[secretCACrt], resourceVersion: sec.ResourceVersion, uid: string(sec.UID)}
		a.reportedIssuer = ""
		a.log().Info("issuer loaded", "secret", a.secretRef(), "issuer", describe(is), "chainNotAfter", is.ChainNotAfter().UTC().Format(time.RFC3339))
		a.event(sec, corev1.EventTypeNormal, EventIssuerLoaded, "Issuer loaded: %s, issuing until %s", describe(is), is.ChainNotAfter().UTC().Format(time.RFC3339))
	}
	if a.Metrics != nil {
		a.Metrics.issuerRefused.Set(b2f(refused != nil))
	}
	if refused != nil && a.reportedIssuer != key {
		a.reportedIssuer = key
		if a.good != nil {
			a.log().Error("issuer Secret refused; keeping the last good issuer", "secret", a.secretRef(), "kept", describe(a.good.issuer), "error", refused)
			a.event(sec, corev1.EventTypeWarning, EventIssuerRefused, "Refused, keeping the last good issuer (%s): %v", describe(a.good.issuer), refused)
		} else {
			a.log().Error("issuer Secret refused; not signing", "secret", a.secretRef(), "error", refused)
			a.event(sec, corev1.EventTypeWarning, EventIssuerRefused, "Refused, no issuer to sign with: %v", refused)
		}
	}
	return sec, refused
}

// loadBundle is the trust bundle: the ConfigMap's, or the issuer Secret's
// ca.crt when there is no ConfigMap. A ConfigMap that does not make a
// bundle is refused and the last good bundle kept.
func (a *Authority) loadBundle(td string) (*identity.Bundle, string, error) {
	cm, err := a.configMaps.ConfigMaps(a.MeshNamespace).Get(meshconfig.TrustBundleName)
	switch {
	case apierrors.IsNotFound(err):
		source := a.secretRef() + " " + secretCACrt
		if !a.reportedFallback {
			a.reportedFallback = true
			a.log().Warn("trust bundle ConfigMap absent; using the issuer Secret's ca.crt", "configmap", a.configMapRef(), "secret", a.secretRef())
		}
		if a.good == nil {
			return a.keptBundle(source, errors.New("no trust bundle: the ConfigMap is absent and no issuer Secret was accepted"))
		}
		b, err := identity.NewBundle(td, a.good.caCrt)
		if err != nil {
			return a.keptBundle(source, fmt.Errorf("%s %s: %w", a.secretRef(), secretCACrt, err))
		}
		a.goodBundle, a.reportedBundle = b, ""
		if a.Metrics != nil {
			a.Metrics.bundleRefused.Set(0)
		}
		return b, source, nil
	case err != nil:
		return a.keptBundle(a.configMapRef(), fmt.Errorf("%s: %w", a.configMapRef(), err))
	}
	a.reportedFallback = false
	source := a.configMapRef()
	data, ok := cm.Data[meshconfig.TrustBundleKey]
	if !ok {
		return a.keptBundle(source, fmt.Errorf("%s has no key %q", source, meshconfig.TrustBundleKey))
	}
	b, err := identity.NewBundle(td, []byte(data))
	if err != nil {
		return a.keptBundle(source, fmt.Errorf("%s: %w", source, err))
	}
	if a.goodBundle == nil || !bytes.Equal(encodeAnchors(a.goodBundle), encodeAnchors(b)) {
		a.log().Info("trust bundle loaded", "source", source, "anchors", len(b.Anchors()))
		a.goodBundle = b
	}
	a.reportedBundle = ""
	if a.Metrics != nil {
		a.Metrics.bundleRefused.Set(0)
	}
	return a.goodBundle, source, nil
}

// keptBundle reports a refused bundle once and returns the last good one.
func (a *Authority) keptBundle(source string, refused error) (*identity.Bundle, string, error) {
	if a.Metrics != nil {
		a.Metrics.bundleRefused.Set(1)
	}
	if key := refused.Error(); a.reportedBundle != key {
		a.reportedBundle = key
		if a.goodBundle != nil {
			a.log().Error("trust bundle refused; keeping the last good one", "source", source, "error", refused)
		} else {
			a.log().Error("trust bundle refused; no bundle", "source", source, "error", refused)
		}
	}
	if a.goodBundle != nil {
		return a.goodBundle, source + " (last good)", refused
	}
	return nil, source, refused
}

// publish stores st, updates the metrics, warns of expiry, and copies a
// changed bundle.
func (a *Authority) publish(st *State, sec *corev1.Secret, now time.Time) {
	old := a.state.Swap(st)
	if m := a.Metrics; m != nil {
		m.issuerReady.Set(b2f(st.Issuer != nil))
		m.issuerExpiry.Set(0)
		if st.Issuer != nil {
			m.issuerExpiry.Set(float64(st.Issuer.ChainNotAfter().Unix()))
		}
		m.certExpiry.Set(0)
		if st.Certificate != nil {
			m.certExpiry.Set(float64(st.Certificate.Leaf.NotAfter.Unix()))
		}
		m.anchorExpiry.Reset()
		if st.Bundle != nil {
			for _, x := range st.Bundle.Anchors() {
				m.anchorExpiry.WithLabelValues(x.SerialNumber.Text(16)).Set(float64(x.NotAfter.Unix()))
			}
		}
	}
	if st.Issuer != nil {
		a.warnExpiry(st.Issuer, sec, now)
	}
	if a.OnState != nil {
		a.OnState(st)
	}
	if a.cert != nil && st.Issuer != nil {
		a.queue.AddAfter(stateKey, a.cert.renewAt.Sub(now))
	}
	if (old == nil || !bytes.Equal(old.BundlePEM, st.BundlePEM)) && st.BundlePEM != nil && a.namespaces != nil {
		// Every namespace; syncCopy decides.
		all, _ := a.namespaces.List(labels.Everything())
		for _, n := range all {
			a.queue.Add(nsPrefix + n.Name)
		}
	}
}

// warnExpiry logs and records an Event when is nears the end of its chain
// (WarnBefore), once, then every ExpiryWarningRepeat.
func (a *Authority) warnExpiry(is *identity.Issuer, sec *corev1.Secret, now time.Time) {
	c := is.Certificate()
	left := is.ChainNotAfter().Sub(now)
	if left >= WarnBefore(c.NotAfter.Sub(c.NotBefore)) {
		return
	}
	serial := c.SerialNumber.Text(16)
	if serial == a.expiryWarnedSerial && now.Sub(a.expiryWarnedAt) < ExpiryWarningRepeat {
		return
	}
	a.expiryWarnedSerial, a.expiryWarnedAt = serial, now
	until := is.ChainNotAfter().UTC().Format(time.RFC3339)
	a.log().Warn("the issuer is nearing expiry: renew it", "secret", a.secretRef(), "issuer", describe(is), "chainNotAfter", until, "left", left.Round(time.Minute).String())
	a.event(sec, corev1.EventTypeWarning, EventIssuerExpiring, "The issuer (%s) stops issuing at %s, in %s: renew it", describe(is), until, left.Round(time.Minute))
}

// event records an Event on the issuer Secret, when there is one.
func (a *Authority) event(sec *corev1.Secret, typ, reason, format string, args ...any) {
	if a.Events == nil || sec == nil {
		return
	}
	a.Events.Eventf(sec, typ, reason, format, args...)
}

// describe names an issuer in messages.
func describe(is *identity.Issuer) string {
	c := is.Certificate()
	return fmt.Sprintf("subject %q, serial %x", c.Subject.String(), c.SerialNumber)
}

// encodeAnchors is the bundle as PEM, as the copies hold it: re-encoded
// from the parsed anchors, so nothing but certificates is ever copied.
func encodeAnchors(b *identity.Bundle) []byte {
	var buf bytes.Buffer
	for _, x := range b.Anchors() {
		_ = pem.Encode(&buf, &pem.Block{Type: "CERTIFICATE", Bytes: x.Raw})
	}
	return buf.Bytes()
}

func b2f(b bool) float64 {
	if b {
		return 1
	}
	return 0
}
