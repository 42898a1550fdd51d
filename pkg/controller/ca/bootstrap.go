package ca

import (
	"context"
	"fmt"
	"log/slog"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"

	"github.com/meshctl/meshctl/pkg/identity"
	"github.com/meshctl/meshctl/pkg/meshconfig"
)

// Bootstrap makes the mesh CA when a control plane installed without
// meshctl (a plain `helm install` of the chart) finds none: a trust anchor
// and an issuer it signs, stored as `meshctl install` stores them (the
// anchor Secret, the trust bundle ConfigMap, the issuer Secret, labelled as
// meshctl's so that `meshctl uninstall` removes them). It never replaces
// anything: with an issuer Secret in place it does nothing, and with a
// trust bundle or an anchor but no issuer (a CA left half-made, or one
// being brought) it refuses and says why. The leader runs it, in
// meshctl install's order: anchor, bundle, issuer.
//
// The anchor's key exists in this process only while it is generated and
// written: the controller's role cannot read the anchor Secret back.
type Bootstrap struct {
	// Client reads the issuer Secret and the bundle, and creates all three.
	Client kubernetes.Interface
	// MeshName labels what is created; MeshNamespace is where.
	MeshName, MeshNamespace string
	// TrustDomain is the anchor's and the issuer's.
	TrustDomain string
	// Now is the clock; nil is time.Now.
	Now func() time.Time
	// Log says what was created or why not; nil discards.
	Log *slog.Logger
}

// CALabels are the labels of the CA objects meshctl (or this bootstrap)
// creates: the chart's ownership labels and managed-by meshctl.
func CALabels(mesh string) map[string]string {
	return map[string]string{
		meshconfig.LabelPartOf:    meshconfig.PartOfValue,
		meshconfig.LabelMeshName:  mesh,
		meshconfig.LabelManagedBy: meshconfig.ManagedByMeshctl,
	}
}

// Ensure creates the CA if there is none; created says whether it did.
func (b *Bootstrap) Ensure(ctx context.Context) (created bool, err error) {
	log := b.Log
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	now := time.Now()
	if b.Now != nil {
		now = b.Now()
	}
	secrets := b.Client.CoreV1().Secrets(b.MeshNamespace)
	issuerRef := "secret " + b.MeshNamespace + "/" + meshconfig.IssuerSecretName
	switch _, err := secrets.Get(ctx, meshconfig.IssuerSecretName, metav1.GetOptions{}); {
	case err == nil:
		return false, nil
	case !apierrors.IsNotFound(err):
		return false, fmt.Errorf("%s: %w", issuerRef, err)
	}
	bundleRef := "configmap " + b.MeshNamespace + "/" + meshconfig.TrustBundleName
	switch _, err := b.Client.CoreV1().ConfigMaps(b.MeshNamespace).Get(ctx, meshconfig.TrustBundleName, metav1.GetOptions{}); {
	case err == nil:
		return false, fmt.Errorf("%s exists but %s does not: not generating a CA beside a trust bundle; create the issuer Secret (cert-manager, say), or delete the ConfigMap and the Secret %s to have one generated",
			bundleRef, issuerRef, meshconfig.AnchorSecretName)
	case !apierrors.IsNotFound(err):
		return false, fmt.Errorf("%s: %w", bundleRef, err)
	}

	anchor, err := identity.GenerateAnchor(b.TrustDomain, identity.DefaultAnchorLifetime, now)
	if err != nil {
		return false, fmt.Errorf("generating the trust anchor in trust domain %q: %w", b.TrustDomain, err)
	}
	is, err := identity.GenerateIssuer(anchor, identity.DefaultIssuerLifetime, now)
	if err != nil {
		return false, fmt.Errorf("generating the issuer: %w", err)
	}
	anchorKey, err := anchor.KeyPEM()
	if err != nil {
		return false, err
	}
	tlsCrt, tlsKey, caCrt, err := is.SecretData()
	if err != nil {
		return false, err
	}
	labels := CALabels(b.MeshName)
	secret := func(name string, data map[string][]byte) *corev1.Secret {
		return &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Name: name, Labels: labels}, Type: corev1.SecretTypeTLS, Data: data}
	}
	// The anchor Secret first: the controller cannot read it, so creating
	// it is how it learns whether one is there (a CA left half-made, which
	// it must not pair with another issuer), and of two replicas racing
	// only one gets past it.
	anchorRef := "secret " + b.MeshNamespace + "/" + meshconfig.AnchorSecretName
	_, err = secrets.Create(ctx, secret(meshconfig.AnchorSecretName, map[string][]byte{
		corev1.TLSCertKey: anchor.CertificatePEM(), corev1.TLSPrivateKeyKey: anchorKey,
	}), metav1.CreateOptions{})
	switch {
	case apierrors.IsAlreadyExists(err):
		return false, fmt.Errorf("%s exists but %s does not: not generating a CA beside another's anchor; restore the issuer Secret, or delete %s to have one generated",
			anchorRef, issuerRef, anchorRef)
	case err != nil:
		return false, fmt.Errorf("creating %s: %w", anchorRef, err)
	}
	_, err = b.Client.CoreV1().ConfigMaps(b.MeshNamespace).Create(ctx, &corev1.ConfigMap{
		ObjectMeta: metav1.ObjectMeta{Name: meshconfig.TrustBundleName, Labels: labels},
		Data:       map[string]string{meshconfig.TrustBundleKey: string(anchor.CertificatePEM())},
	}, metav1.CreateOptions{})
	if err != nil {
		return false, fmt.Errorf("creating %s: %w (delete %s to have a CA generated again)", bundleRef, err, anchorRef)
	}
	_, err = secrets.Create(ctx, secret(meshconfig.IssuerSecretName, map[string][]byte{
		corev1.TLSCertKey: tlsCrt, corev1.TLSPrivateKeyKey: tlsKey, corev1.ServiceAccountRootCAKey: caCrt,
	}), metav1.CreateOptions{})
	if err != nil {
		return false, fmt.Errorf("creating %s: %w (delete %s and %s to have a CA generated again)", issuerRef, err, anchorRef, bundleRef)
	}
	log.Info("mesh CA generated: no issuer Secret was there", "secret", issuerRef, "trustDomain", b.TrustDomain,
		"anchorNotAfter", anchor.Certificate().NotAfter.UTC().Format(time.RFC3339))
	return true, nil
}
