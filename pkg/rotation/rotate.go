package rotation

import (
	"context"
	"errors"
	"fmt"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/cli-runtime/pkg/genericiooptions"

	"github.com/meshctl/meshctl/pkg/cli"
	"github.com/meshctl/meshctl/pkg/identity"
	"github.com/meshctl/meshctl/pkg/kube"
	"github.com/meshctl/meshctl/pkg/meshconfig"
	"github.com/meshctl/meshctl/pkg/proxyadmin"
)

// Defaults of Options.
const (
	// DefaultTimeout bounds each wait for the proxies. The kubelet
	// refreshes a mounted ConfigMap within about a minute and a half and
	// proxies read it every few seconds, so a bundle step takes a couple
	// of minutes at most in a healthy cluster.
	DefaultTimeout = 10 * time.Minute
	// DefaultPoll is how often the proxies are asked again.
	DefaultPoll = 2 * time.Second
)

// fieldManager names meshctl's writes in managedFields.
const fieldManager = "meshctl"

// Options are the inputs of `meshctl identity rotate`.
type Options struct {
	genericiooptions.IOStreams
	// Anchor rotates the trust anchor too (and finishes an anchor
	// rotation that was stopped).
	Anchor bool
	// Timeout bounds each wait for the proxies.
	Timeout time.Duration
	// Output is the format of the result on stdout.
	Output cli.Format
	// MeshName and MeshNamespace name the mesh.
	MeshName, MeshNamespace string
	// Clients reaches the cluster.
	Clients func() (*kube.Clients, error)
	// ReadStatus reads a proxy's status; a port-forward when nil.
	ReadStatus proxyadmin.StatusReader
	// Now is the clock; time.Now when nil.
	Now func() time.Time
	// Poll is DefaultPoll when zero.
	Poll time.Duration
}

// Complete takes the mesh and the clients from f.
func (o *Options) Complete(f cli.Factory, _ []string) error {
	s := f.Settings()
	o.MeshName, o.MeshNamespace = s.MeshName, s.MeshNamespace
	o.Clients = f.Clients
	return nil
}

// Validate checks the flags.
func (o *Options) Validate() error {
	if o.Timeout < 0 {
		return cli.UsageErrorf("--timeout %s: want a positive duration, such as 10m", o.Timeout)
	}
	return nil
}

// Run rotates the issuer, or with Anchor the anchor, waiting for the
// proxies at each step.
func (o *Options) Run(ctx context.Context) error {
	if o.Now == nil {
		o.Now = time.Now
	}
	if o.Timeout == 0 {
		o.Timeout = DefaultTimeout
	}
	if o.Poll == 0 {
		o.Poll = DefaultPoll
	}
	c, err := o.Clients()
	if err != nil {
		return err
	}
	if o.ReadStatus == nil {
		o.ReadStatus = (&proxyadmin.Client{Config: c.Config, Kube: c.Kube}).Status
	}
	mc, err := meshconfig.GetMesh(ctx, c.Dynamic, o.MeshName, o.MeshNamespace)
	if err != nil {
		return err
	}
	td := mc.Spec.Identity.TrustDomain
	if td == "" {
		td = meshconfig.DefaultTrustDomain
	}
	ctrl, err := meshconfig.ControllerID(td, o.MeshNamespace)
	if err != nil {
		return err
	}
	r := &run{o: o, clients: c, trustDomain: td, fleet: &fleet{controller: ctrl, kube: c.Kube, read: o.ReadStatus, poll: o.Poll, timeout: o.Timeout, progress: o.ErrOut}}
	res, err := r.rotate(ctx)
	if err != nil {
		return err
	}
	return cli.Write(o.Out, o.Output, res)
}

// run is one invocation.
type run struct {
	o           *Options
	clients     *kube.Clients
	trustDomain string
	fleet       *fleet
}

func (r *run) read(ctx context.Context) (*ca, error) {
	return readCA(ctx, r.clients.Kube, r.o.MeshNamespace, r.trustDomain, r.o.Now())
}

func (r *run) say(format string, args ...any) { fmt.Fprintf(r.o.ErrOut, format+"\n", args...) }

// rotate decides from the cluster's state where to start, and goes on to
// the end.
func (r *run) rotate(ctx context.Context) (*Result, error) {
	c, err := r.read(ctx)
	if err != nil {
		return nil, err
	}
	res := &Result{Mesh: r.o.MeshName, Namespace: r.o.MeshNamespace}
	retiring := c.retiring()
	switch {
	case retiring == "" && !r.o.Anchor:
		if !c.issuedByAnchor() {
			return nil, fmt.Errorf("the issuer of %s is not signed by the anchor of %s: the CA was changed by hand; "+
				"run `meshctl identity rotate --anchor` to replace both", c.issuerRef(), c.anchorRef())
		}
		if !c.inBundle(c.anchorFP()) {
			return nil, fmt.Errorf("the anchor of %s is not in %s: proxies would refuse a new issuer; "+
				"run `meshctl identity rotate --anchor`, which adds an anchor before it is used", c.anchorRef(), c.bundleRef())
		}
		return res, r.rotateIssuer(ctx, c, res, "")
	case retiring != "" && !r.o.Anchor:
		return nil, fmt.Errorf("an anchor rotation was started and not finished (%s has annotation %s): "+
			"run `meshctl identity rotate --anchor` to finish it", c.anchorRef(), AnnotationRetiringAnchor)
	case retiring == "":
		if c, err = r.newAnchor(ctx, c, res); err != nil {
			return nil, err
		}
	default:
		r.say("Finishing the anchor rotation that was started earlier (it retires anchor %s).", short(retiring))
		res.Anchor = &Change{Old: retiring, New: c.anchorFP()}
	}
	return res, r.finishAnchor(ctx, c, res)
}

// newAnchor generates the new anchor and stores it in the anchor Secret,
// with the old one's fingerprint as the rotation's mark: from here on,
// running the command again finishes this rotation.
func (r *run) newAnchor(ctx context.Context, c *ca, res *Result) (*ca, error) {
	old := c.anchorFP()
	a, err := identity.GenerateAnchor(r.trustDomain, identity.DefaultAnchorLifetime, r.o.Now())
	if err != nil {
		return nil, fmt.Errorf("generating the new trust anchor: %w", err)
	}
	key, err := a.KeyPEM()
	if err != nil {
		return nil, err
	}
	sec := c.anchor.DeepCopy()
	if sec.Annotations == nil {
		sec.Annotations = map[string]string{}
	}
	sec.Annotations[AnnotationRetiringAnchor] = old
	sec.Data[corev1.TLSCertKey], sec.Data[corev1.TLSPrivateKeyKey] = a.CertificatePEM(), key
	// Update carries the resourceVersion read: a concurrent rotation
	// fails here instead of overwriting this one's anchor.
	if _, err := r.clients.Kube.CoreV1().Secrets(c.namespace).Update(ctx, sec, metav1.UpdateOptions{FieldManager: fieldManager}); err != nil {
		return nil, fmt.Errorf("storing the new anchor in %s: %w", c.anchorRef(), err)
	}
	res.Anchor = &Change{Old: old, New: identity.FingerprintOf(a.Certificate())}
	r.say("Step 1/3: new trust anchor %s stored in %s; it retires %s.", short(res.Anchor.New), c.anchorRef(), short(old))
	return r.read(ctx)
}

// finishAnchor takes an anchor rotation from wherever it is to its end:
// the new anchor in the bundle, an issuer it signed, the old anchor out.
func (r *run) finishAnchor(ctx context.Context, c *ca, res *Result) error {
	newFP, retiring := c.anchorFP(), c.retiring()
	if !c.inBundle(newFP) {
		cm := c.bundle.DeepCopy()
		cm.Data[meshconfig.TrustBundleKey] = string(c.bundleWith(c.anchorKey.Certificate(), ""))
		if _, err := r.clients.Kube.CoreV1().ConfigMaps(c.namespace).Update(ctx, cm, metav1.UpdateOptions{FieldManager: fieldManager}); err != nil {
			return fmt.Errorf("adding the new anchor to %s: %w", c.bundleRef(), err)
		}
		r.say("Step 1/3: new anchor %s added to %s beside the old one.", short(newFP), c.bundleRef())
	}
	n, err := r.fleet.wait(ctx, "trusting the new anchor", func(st proxyStatus) bool { return st.trusts(newFP) })
	res.Proxies = n
	if err != nil {
		return r.stopped(err, "the new anchor is trusted by some proxies only; both anchors stay in the bundle")
	}
	var err2 error
	if c, err2 = r.read(ctx); err2 != nil {
		return err2
	}
	if err := r.rotateIssuer(ctx, c, res, "Step 2/3: "); err != nil {
		return err
	}
	if c, err = r.read(ctx); err != nil {
		return err
	}
	if c.inBundle(retiring) {
		cm := c.bundle.DeepCopy()
		cm.Data[meshconfig.TrustBundleKey] = string(c.bundleWith(nil, retiring))
		if _, err := r.clients.Kube.CoreV1().ConfigMaps(c.namespace).Update(ctx, cm, metav1.UpdateOptions{FieldManager: fieldManager}); err != nil {
			return fmt.Errorf("removing the old anchor from %s: %w", c.bundleRef(), err)
		}
		r.say("Step 3/3: old anchor %s removed from %s.", short(retiring), c.bundleRef())
	}
	if res.Proxies, err = r.fleet.wait(ctx, "no longer trusting the old anchor", func(st proxyStatus) bool { return !st.trusts(retiring) }); err != nil {
		return r.stopped(err, "the old anchor is out of the bundle; proxies that still trust it are harmless and follow within minutes")
	}
	sec := c.anchor.DeepCopy()
	delete(sec.Annotations, AnnotationRetiringAnchor)
	if _, err := r.clients.Kube.CoreV1().Secrets(c.namespace).Update(ctx, sec, metav1.UpdateOptions{FieldManager: fieldManager}); err != nil {
		return fmt.Errorf("clearing annotation %s of %s: %w", AnnotationRetiringAnchor, c.anchorRef(), err)
	}
	return nil
}

// rotateIssuer writes a new issuer signed by the anchor Secret's anchor,
// unless an anchor rotation resumed finds it there already, and waits
// until every proxy holds a certificate from it.
func (r *run) rotateIssuer(ctx context.Context, c *ca, res *Result, step string) error {
	fp := identity.FingerprintOf(c.issuerCert)
	if c.retiring() == "" || !c.issuedByAnchor() {
		is, err := identity.GenerateIssuer(c.anchorKey, identity.DefaultIssuerLifetime, r.o.Now())
		if err != nil {
			return fmt.Errorf("generating the new issuer: %w", err)
		}
		tlsCrt, tlsKey, caCrt, err := is.SecretData()
		if err != nil {
			return err
		}
		sec := c.issuer.DeepCopy()
		sec.Data[corev1.TLSCertKey], sec.Data[corev1.TLSPrivateKeyKey], sec.Data[corev1.ServiceAccountRootCAKey] = tlsCrt, tlsKey, caCrt
		if _, err := r.clients.Kube.CoreV1().Secrets(c.namespace).Update(ctx, sec, metav1.UpdateOptions{FieldManager: fieldManager}); err != nil {
			return fmt.Errorf("storing the new issuer in %s: %w", c.issuerRef(), err)
		}
		old := fp
		fp = identity.FingerprintOf(is.Certificate())
		res.Issuer = &Change{Old: old, New: fp}
		r.say("%sNew issuer %s stored in %s; proxies renew from it within seconds.", step, short(fp), c.issuerRef())
	} else if res.Issuer == nil {
		res.Issuer = &Change{New: fp}
	}
	n, err := r.fleet.wait(ctx, "holding a certificate of the new issuer", func(st proxyStatus) bool { return st.issuer == fp })
	res.Proxies = n
	if err != nil {
		return r.stopped(err, "proxies that lag keep their certificate of the old issuer, which stays trusted, and renew from the new one at their usual time")
	}
	return nil
}

// stopped is a wait that did not finish: what is true now, and how to go on.
func (r *run) stopped(err error, state string) error {
	if errors.Is(err, context.Canceled) {
		return err
	}
	again := "meshctl identity rotate"
	if r.o.Anchor {
		again += " --anchor"
	}
	return fmt.Errorf("%w\nnothing was rolled back and the mesh works in this state: %s; see why with `meshctl check`, then run `%s` again to continue", err, state, again)
}

func short(fp string) string {
	if len(fp) > 12 {
		return fp[:12]
	}
	return fp
}
