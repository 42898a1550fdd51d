package install

import (
	"bytes"
	"context"
	"encoding/pem"
	"errors"
	"fmt"
	"os"
	"strings"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"

	"github.com/meshctl/meshctl/pkg/cli"
	"github.com/meshctl/meshctl/pkg/identity"
	"github.com/meshctl/meshctl/pkg/meshconfig"
)

// LabelManagedBy and ManagedByMeshctl mark the mesh CA's objects that
// meshctl itself created (meshconfig's, which the controller's bootstrap
// uses too).
const (
	LabelManagedBy   = meshconfig.LabelManagedBy
	ManagedByMeshctl = meshconfig.ManagedByMeshctl
)

// Keys of the anchor Secret. It has the kubernetes.io/tls shape, so that
// tools that read CA Secrets (cert-manager's CA issuer among them) can use
// it as is.
const (
	anchorCertKey = corev1.TLSCertKey
	anchorKeyKey  = corev1.TLSPrivateKeyKey
)

// IdentityOptions say where the mesh CA comes from. The zero value has
// meshctl generate a trust anchor and an issuer it signs, unless the issuer
// Secret exists already: an existing CA is never replaced.
type IdentityOptions struct {
	// ExternalIssuer says the issuer Secret is someone else's, typically
	// cert-manager's: meshctl generates nothing, requires the Secret, and
	// builds the trust bundle from its ca.crt when the bundle ConfigMap is
	// missing.
	ExternalIssuer bool
	// TrustAnchorsFile, IssuerCertificateFile and IssuerKeyFile are the
	// user's own PKI, all three or none: the anchor certificate(s), the
	// issuer certificate followed by any intermediates, and the issuer's
	// private key, in PEM.
	TrustAnchorsFile, IssuerCertificateFile, IssuerKeyFile string
}

func (o IdentityOptions) fromFiles() bool {
	return o.TrustAnchorsFile != "" || o.IssuerCertificateFile != "" || o.IssuerKeyFile != ""
}

// validate checks the combination of flags, without I/O.
func (o IdentityOptions) validate() error {
	if !o.fromFiles() {
		return nil
	}
	if o.ExternalIssuer {
		return cli.UsageErrorf("--identity-external-issuer and the --identity-*-file flags cannot be combined: an external issuer is read from its Secret")
	}
	if o.TrustAnchorsFile == "" || o.IssuerCertificateFile == "" || o.IssuerKeyFile == "" {
		return cli.UsageErrorf("--identity-trust-anchors-file, --identity-issuer-certificate-file and --identity-issuer-key-file go together: give all three, or none to have meshctl generate the CA")
	}
	return nil
}

// issuerFiles are the user's PKI read from the --identity-*-file flags.
type issuerFiles struct{ tlsCrt, tlsKey, caCrt []byte }

// readIssuerFiles reads and validates the user's PKI before anything is
// applied: a wrong file is named, with identity.LoadIssuer's reason.
func (d *Deps) readIssuerFiles(o IdentityOptions, now time.Time) (*issuerFiles, error) {
	if !o.fromFiles() {
		return nil, nil
	}
	readFile := d.ReadFile
	if readFile == nil {
		readFile = os.ReadFile
	}
	read := func(flag, path string) ([]byte, error) {
		b, err := readFile(path)
		if err != nil {
			return nil, fmt.Errorf("%s %s: %w", flag, path, err)
		}
		return b, nil
	}
	caCrt, err := read("--identity-trust-anchors-file", o.TrustAnchorsFile)
	if err != nil {
		return nil, err
	}
	tlsCrt, err := read("--identity-issuer-certificate-file", o.IssuerCertificateFile)
	if err != nil {
		return nil, err
	}
	tlsKey, err := read("--identity-issuer-key-file", o.IssuerKeyFile)
	if err != nil {
		return nil, err
	}
	is, err := identity.LoadIssuer(tlsCrt, tlsKey, caCrt, now)
	if err != nil {
		return nil, fmt.Errorf("the issuer of --identity-issuer-certificate-file %s, --identity-issuer-key-file %s and --identity-trust-anchors-file %s (as tls.crt, tls.key and ca.crt): %w",
			o.IssuerCertificateFile, o.IssuerKeyFile, o.TrustAnchorsFile, err)
	}
	// What is stored is the issuer as LoadIssuer understood it: the
	// anchors out of tls.crt, the key in PKCS #8.
	tlsCrt, tlsKey, caCrt, err = is.SecretData()
	if err != nil {
		return nil, err
	}
	return &issuerFiles{tlsCrt: tlsCrt, tlsKey: tlsKey, caCrt: caCrt}, nil
}

// trustDomain is the trust domain the mesh's values give, as the chart
// renders it into the MeshConfig.
func trustDomain(merged map[string]any) string {
	mc, _ := merged["meshConfig"].(map[string]any)
	id, _ := mc["identity"].(map[string]any)
	if td, _ := id["trustDomain"].(string); td != "" {
		return td
	}
	return meshconfig.DefaultTrustDomain
}

// caPlan is what an install or upgrade does to the mesh CA: the objects it
// creates (nil for one that exists and is kept), decided before any change.
type caPlan struct {
	anchor, issuer *corev1.Secret
	bundle         *corev1.ConfigMap
	// kept are the CA's objects that exist and stay as they are.
	kept []Change
	// warnings are problems of a kept CA that an upgrade reports rather
	// than refuses: it never touches the CA, so it cannot make them worse,
	// and it may be what fixes the controller.
	warnings []string
}

// caState is the mesh CA's objects as found in the control-plane namespace;
// nil for a missing one.
type caState struct {
	anchor, issuer *corev1.Secret
	bundle         *corev1.ConfigMap
}

func (d *Deps) readCA(ctx context.Context) (*caState, error) {
	s := &caState{}
	var err error
	if s.issuer, err = d.getSecret(ctx, meshconfig.IssuerSecretName); err != nil {
		return nil, err
	}
	if s.anchor, err = d.getSecret(ctx, meshconfig.AnchorSecretName); err != nil {
		return nil, err
	}
	cm, err := d.Clients.Kube.CoreV1().ConfigMaps(d.Namespace).Get(ctx, meshconfig.TrustBundleName, metav1.GetOptions{})
	switch {
	case apierrors.IsNotFound(err):
	case err != nil:
		return nil, fmt.Errorf("configmap %s/%s: %w", d.Namespace, meshconfig.TrustBundleName, err)
	default:
		s.bundle = cm
	}
	return s, nil
}

func (d *Deps) getSecret(ctx context.Context, name string) (*corev1.Secret, error) {
	sec, err := d.Clients.Kube.CoreV1().Secrets(d.Namespace).Get(ctx, name, metav1.GetOptions{})
	if apierrors.IsNotFound(err) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("secret %s/%s: %w", d.Namespace, name, err)
	}
	return sec, nil
}

// planCA decides what happens to the mesh CA, reading the cluster and
// changing nothing. It never plans to replace an existing object: an
// existing issuer is kept (and must load), a missing bundle is built from
// the issuer's anchors, and a CA left half-made is refused rather than
// guessed at. With upgrading, a kept CA that is broken is a warning.
func (d *Deps) planCA(ctx context.Context, o IdentityOptions, files *issuerFiles, td string, now time.Time, upgrading bool) (*caPlan, error) {
	st, err := d.readCA(ctx)
	if err != nil {
		return nil, err
	}
	issuerRef := fmt.Sprintf("secret %s/%s", d.Namespace, meshconfig.IssuerSecretName)
	p := &caPlan{}
	var anchorsPEM []byte // what a bundle built now holds
	broken := false       // the kept issuer does not load: said once
	switch {
	case st.issuer != nil:
		if files != nil && !sameFirstPEM(st.issuer.Data[corev1.TLSCertKey], files.tlsCrt) {
			return nil, fmt.Errorf("%s exists with another issuer than --identity-issuer-certificate-file: meshctl never replaces a mesh CA; "+
				"delete the Secret to install yours (every proxy then needs the new anchor in its trust bundle), or install without the --identity-*-file flags to keep it", issuerRef)
		}
		if _, err := loadIssuerSecret(st.issuer, now); err != nil {
			fix := "renew it (cert-manager: `cmctl renew`), or delete it to have meshctl generate a new CA"
			if !o.ExternalIssuer && st.issuer.Labels[LabelManagedBy] == ManagedByMeshctl {
				fix = "delete it and the trust anchor Secret to have meshctl generate a new CA"
			}
			err = fmt.Errorf("%s does not hold a usable issuer: %w\n%s", issuerRef, err, fix)
			if !upgrading {
				return nil, err
			}
			p.warnings = append(p.warnings, err.Error())
			broken = true
		}
		p.kept = append(p.kept, Change{Kind: "secret", Name: meshconfig.IssuerSecretName, Verb: "kept"})
		anchorsPEM = st.issuer.Data[corev1.ServiceAccountRootCAKey]
	case o.ExternalIssuer:
		return nil, fmt.Errorf("%s is missing: --identity-external-issuer needs the issuer there before install, as a kubernetes.io/tls Secret "+
			"(tls.crt, tls.key, ca.crt) such as cert-manager writes: create a cert-manager Certificate with isCA: true and secretName %s in namespace %q, "+
			"wait until it is Ready, and install again; or install without --identity-external-issuer to have meshctl generate the CA",
			issuerRef, meshconfig.IssuerSecretName, d.Namespace)
	case files != nil:
		p.issuer = d.issuerSecret(files.tlsCrt, files.tlsKey, files.caCrt)
		anchorsPEM = files.caCrt
	case st.anchor != nil || st.bundle != nil:
		var found []string
		if st.anchor != nil {
			found = append(found, "secret/"+meshconfig.AnchorSecretName)
		}
		if st.bundle != nil {
			found = append(found, "configmap/"+meshconfig.TrustBundleName)
		}
		return nil, fmt.Errorf("namespace %q holds part of a mesh CA (%s) but no %s: meshctl never replaces a mesh CA; "+
			"restore the issuer Secret, or delete %s to have meshctl generate a new one",
			d.Namespace, strings.Join(found, ", "), issuerRef, strings.Join(found, " and "))
	default:
		anchor, err := identity.GenerateAnchor(td, identity.DefaultAnchorLifetime, now)
		if err != nil {
			return nil, fmt.Errorf("generating the trust anchor in trust domain %q: %w", td, err)
		}
		is, err := identity.GenerateIssuer(anchor, identity.DefaultIssuerLifetime, now)
		if err != nil {
			return nil, fmt.Errorf("generating the issuer: %w", err)
		}
		anchorKey, err := anchor.KeyPEM()
		if err != nil {
			return nil, err
		}
		tlsCrt, tlsKey, caCrt, err := is.SecretData()
		if err != nil {
			return nil, err
		}
		p.anchor = d.caSecret(meshconfig.AnchorSecretName, corev1.SecretTypeTLS, map[string][]byte{anchorCertKey: anchor.CertificatePEM(), anchorKeyKey: anchorKey})
		p.issuer = d.issuerSecret(tlsCrt, tlsKey, caCrt)
		anchorsPEM = anchor.CertificatePEM()
	}
	if st.bundle == nil {
		p.bundle = d.bundleConfigMap(anchorsPEM)
		return p, nil
	}
	p.kept = append(p.kept, Change{Kind: "configmap", Name: meshconfig.TrustBundleName, Verb: "kept"})
	if broken {
		return p, nil
	}
	// The bundle is what proxies trust: the issuer must chain to it, or
	// every certificate it signs is refused.
	bundle := []byte(st.bundle.Data[meshconfig.TrustBundleKey])
	if _, err := identity.LoadIssuer(issuerTLS(p, st), issuerKey(p, st), bundle, now); err != nil {
		err = fmt.Errorf("configmap %s/%s (key %s), the trust bundle proxies use, does not trust the issuer of %s: %w\n"+
			"add the issuer's anchor (its ca.crt) to the bundle, or delete the ConfigMap to have meshctl build it from ca.crt",
			d.Namespace, meshconfig.TrustBundleName, meshconfig.TrustBundleKey, issuerRef, err)
		if !upgrading {
			return nil, err
		}
		p.warnings = append(p.warnings, err.Error())
	}
	return p, nil
}

func issuerTLS(p *caPlan, st *caState) []byte {
	if p.issuer != nil {
		return p.issuer.Data[corev1.TLSCertKey]
	}
	return st.issuer.Data[corev1.TLSCertKey]
}

func issuerKey(p *caPlan, st *caState) []byte {
	if p.issuer != nil {
		return p.issuer.Data[corev1.TLSPrivateKeyKey]
	}
	return st.issuer.Data[corev1.TLSPrivateKeyKey]
}

// loadIssuerSecret loads the issuer of a kubernetes.io/tls Secret against
// its own ca.crt, as the controller will.
func loadIssuerSecret(s *corev1.Secret, now time.Time) (*identity.Issuer, error) {
	return identity.LoadIssuer(s.Data[corev1.TLSCertKey], s.Data[corev1.TLSPrivateKeyKey], s.Data[corev1.ServiceAccountRootCAKey], now)
}

// sameFirstPEM reports whether a and b start with the same PEM block: the
// same issuer certificate, whatever follows it.
func sameFirstPEM(a, b []byte) bool {
	ba, _ := pem.Decode(a)
	bb, _ := pem.Decode(b)
	return ba != nil && bb != nil && ba.Type == bb.Type && bytes.Equal(ba.Bytes, bb.Bytes)
}

// caLabels are the chart's ownership labels and the mark of an object
// meshctl made.
func (d *Deps) caLabels() map[string]string {
	return map[string]string{
		meshconfig.LabelPartOf:   meshconfig.PartOfValue,
		meshconfig.LabelMeshName: d.MeshName,
		LabelManagedBy:           ManagedByMeshctl,
	}
}

func (d *Deps) caSecret(name string, typ corev1.SecretType, data map[string][]byte) *corev1.Secret {
	return &corev1.Secret{
		ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: d.Namespace, Labels: d.caLabels()},
		Type:       typ,
		Data:       data,
	}
}

func (d *Deps) issuerSecret(tlsCrt, tlsKey, caCrt []byte) *corev1.Secret {
	return d.caSecret(meshconfig.IssuerSecretName, corev1.SecretTypeTLS, map[string][]byte{
		corev1.TLSCertKey: tlsCrt, corev1.TLSPrivateKeyKey: tlsKey, corev1.ServiceAccountRootCAKey: caCrt,
	})
}

func (d *Deps) bundleConfigMap(anchorsPEM []byte) *corev1.ConfigMap {
	return &corev1.ConfigMap{
		ObjectMeta: metav1.ObjectMeta{Name: meshconfig.TrustBundleName, Namespace: d.Namespace, Labels: d.caLabels()},
		Data:       map[string]string{meshconfig.TrustBundleKey: string(anchorsPEM)},
	}
}

// createdObject is an object this run created, for the undo.
type createdObject struct {
	kind, name string
	uid        types.UID
}

// report adds the plan's changes to res: what will be (or was) created
// and what is kept.
func (p *caPlan) report(res *Result) {
	if p.anchor != nil {
		res.add("secret", p.anchor.Name, "created")
	}
	if p.bundle != nil {
		res.add("configmap", p.bundle.Name, "created")
	}
	if p.issuer != nil {
		res.add("secret", p.issuer.Name, "created")
	}
	res.Warnings = append(res.Warnings, p.warnings...)
	for _, k := range p.kept {
		if res.DryRun != DryRunNone {
			k.Verb += " (dry run)"
		}
		res.Changes = append(res.Changes, k)
	}
}

// keeps reports whether the plan keeps an existing object of kind (as
// Kubernetes spells it) and name: a rollback must spare it.
func (p *caPlan) keeps(kind, name string) bool {
	for _, k := range p.kept {
		if strings.EqualFold(k.Kind, kind) && k.Name == name {
			return true
		}
	}
	return false
}

// applyCA creates the plan's objects: the anchor, then the bundle, then
// the issuer, so that a controller never signs with an issuer the bundle
// does not trust yet. Create never overwrites: an object that appeared
// since the plan fails the run. On failure what this run created is
// deleted again.
func (d *Deps) applyCA(ctx context.Context, p *caPlan) ([]createdObject, error) {
	var created []createdObject
	fail := func(err error) ([]createdObject, error) {
		if uerr := d.deleteCreated(ctx, created); uerr != nil {
			return nil, fmt.Errorf("%w\nremoving what was created failed too: %w", err, uerr)
		}
		return nil, err
	}
	secrets := d.Clients.Kube.CoreV1().Secrets(d.Namespace)
	createSecret := func(s *corev1.Secret) error {
		if s == nil {
			return nil
		}
		got, err := secrets.Create(ctx, s, metav1.CreateOptions{FieldManager: fieldManager})
		if err != nil {
			return fmt.Errorf("creating secret %s/%s: %w", d.Namespace, s.Name, err)
		}
		created = append(created, createdObject{"secret", got.Name, got.UID})
		return nil
	}
	if err := createSecret(p.anchor); err != nil {
		return fail(err)
	}
	if p.bundle != nil {
		got, err := d.Clients.Kube.CoreV1().ConfigMaps(d.Namespace).Create(ctx, p.bundle, metav1.CreateOptions{FieldManager: fieldManager})
		if err != nil {
			return fail(fmt.Errorf("creating configmap %s/%s: %w", d.Namespace, p.bundle.Name, err))
		}
		created = append(created, createdObject{"configmap", got.Name, got.UID})
	}
	if err := createSecret(p.issuer); err != nil {
		return fail(err)
	}
	return created, nil
}

// deleteCreated deletes what applyCA created, and only that: the UID
// precondition spares an object someone replaced meanwhile. It must run
// even when the failure was the user's Ctrl-C.
func (d *Deps) deleteCreated(ctx context.Context, created []createdObject) error {
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), rollbackTimeout)
	defer cancel()
	var errs []error
	for _, c := range created {
		opts := metav1.DeleteOptions{Preconditions: &metav1.Preconditions{UID: &c.uid}}
		var err error
		switch c.kind {
		case "secret":
			err = d.Clients.Kube.CoreV1().Secrets(d.Namespace).Delete(ctx, c.name, opts)
		case "configmap":
			err = d.Clients.Kube.CoreV1().ConfigMaps(d.Namespace).Delete(ctx, c.name, opts)
		}
		if err != nil && !apierrors.IsNotFound(err) {
			errs = append(errs, fmt.Errorf("deleting %s %s/%s: %w", c.kind, d.Namespace, c.name, err))
		}
	}
	return errors.Join(errs...)
}

// PreflightCA says whether an install with o could set up the mesh CA in
// the cluster as it is now, changing nothing: the answer install itself
// gives before its first change (`meshctl check --pre` asks it). Only
// MeshName, Namespace and Clients of d are used. The trust domain is the
// default, as no values are known before install.
func (d *Deps) PreflightCA(ctx context.Context, o IdentityOptions, now time.Time) error {
	if err := o.validate(); err != nil {
		return err
	}
	files, err := d.readIssuerFiles(o, now)
	if err != nil {
		return err
	}
	_, err = d.planCA(ctx, o, files, meshconfig.DefaultTrustDomain, now, false)
	return err
}
