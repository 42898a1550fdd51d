package check

import (
	"context"
	"crypto/x509"
	"errors"
	"fmt"
	"strings"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/meshctl/meshctl/pkg/identity"
	"github.com/meshctl/meshctl/pkg/install"
	"github.com/meshctl/meshctl/pkg/kube"
	"github.com/meshctl/meshctl/pkg/meshconfig"
)

// CategoryIdentity is the mesh CA: the issuer the controller signs with,
// the trust bundle proxies verify with, and its copies in the enrolled
// namespaces.
const CategoryIdentity = "identity"

// SecurityDoc is the document the identity checks' hints point into: the
// identity model, bringing an issuer, rotation.
const SecurityDoc = "docs/security.md"

func identityChecks() []Check {
	needs := []string{CategoryKubernetes}
	return []Check{
		{
			Category:    CategoryIdentity,
			Description: "the issuer Secret exists and holds a usable issuer",
			Hint:        "identity-issuer",
			Doc:         SecurityDoc,
			Severity:    Fatal,
			Needs:       needs,
			Run:         checkIssuerLoads,
		},
		{
			Category:    CategoryIdentity,
			Description: "the trust bundle ConfigMap exists and holds CA certificates",
			Hint:        "identity-trust-bundle",
			Doc:         SecurityDoc,
			Severity:    Fatal,
			Needs:       needs,
			Run:         checkBundleParses,
		},
		{
			Category:    CategoryIdentity,
			Description: "the issuer chains to an anchor of the trust bundle",
			Hint:        "identity-issuer-chain",
			Doc:         SecurityDoc,
			Severity:    Error,
			Needs:       needs,
			Run:         checkIssuerChain,
		},
		{
			Category:    CategoryIdentity,
			Description: "every trust anchor is valid now",
			Hint:        "identity-anchor-valid",
			Doc:         SecurityDoc,
			Severity:    Error,
			Needs:       needs,
			Run:         checkAnchorsValid,
		},
		{
			Category:    CategoryIdentity,
			Description: "the issuer is not about to expire",
			Hint:        "identity-issuer-expiry",
			Doc:         SecurityDoc,
			Severity:    Warning,
			Needs:       needs,
			Run:         checkIssuerExpiry,
		},
		{
			Category:    CategoryIdentity,
			Description: "no trust anchor is about to expire",
			Hint:        "identity-anchor-expiry",
			Doc:         SecurityDoc,
			Severity:    Warning,
			Needs:       needs,
			Run:         checkAnchorExpiry,
		},
		{
			Category:    CategoryIdentity,
			Description: "every enrolled namespace has the current trust bundle",
			Hint:        "identity-bundle-copies",
			Doc:         SecurityDoc,
			Severity:    Error,
			Needs:       needs,
			Run:         checkBundleCopies,
		},
	}
}

// meshCA is the mesh CA as read from the control-plane namespace, once
// per attempt. A missing object is nil.
type meshCA struct {
	issuer *corev1.Secret
	bundle *corev1.ConfigMap
}

func (e *Env) meshCA(ctx context.Context) (*meshCA, error) {
	return e.cache.meshCA.get(func() (*meshCA, error) {
		ca := &meshCA{}
		sec, err := e.Clients.Kube.CoreV1().Secrets(e.Namespace).Get(ctx, meshconfig.IssuerSecretName, metav1.GetOptions{})
		switch {
		case apierrors.IsNotFound(err):
		case err != nil:
			return nil, fmt.Errorf("%s: %w", issuerRef(e), kube.ExplainForbidden(err, "get", "secrets", e.Namespace))
		default:
			ca.issuer = sec
		}
		cm, err := e.Clients.Kube.CoreV1().ConfigMaps(e.Namespace).Get(ctx, meshconfig.TrustBundleName, metav1.GetOptions{})
		switch {
		case apierrors.IsNotFound(err):
		case err != nil:
			return nil, fmt.Errorf("%s: %w", bundleRef(e), kube.ExplainForbidden(err, "get", "configmaps", e.Namespace))
		default:
			ca.bundle = cm
		}
		return ca, nil
	})
}

func issuerRef(e *Env) string { return "secret " + e.Namespace + "/" + meshconfig.IssuerSecretName }
func bundleRef(e *Env) string { return "configmap " + e.Namespace + "/" + meshconfig.TrustBundleName }

// issuer loads the issuer against its own ca.crt, as LoadIssuer checks
// it: key, CA bits, validity now, chain.
func (e *Env) issuer(ctx context.Context) (*identity.Issuer, *corev1.Secret, error) {
	ca, err := e.meshCA(ctx)
	if err != nil {
		return nil, nil, err
	}
	if ca.issuer == nil {
		return nil, nil, fmt.Errorf("%s is missing: the controller has nothing to sign workload certificates with; run `meshctl install` (or `meshctl upgrade`) to generate it, or, with your own issuer, let cert-manager write it there", issuerRef(e))
	}
	d := ca.issuer.Data
	is, err := identity.LoadIssuer(d[corev1.TLSCertKey], d[corev1.TLSPrivateKeyKey], d[corev1.ServiceAccountRootCAKey], e.Clock.Now())
	if err != nil {
		return nil, nil, fmt.Errorf("%s: %w", issuerRef(e), err)
	}
	return is, ca.issuer, nil
}

// bundlePEM is the trust bundle's anchors, as proxies read them.
func (e *Env) bundlePEM(ctx context.Context) ([]byte, error) {
	ca, err := e.meshCA(ctx)
	if err != nil {
		return nil, err
	}
	if ca.bundle == nil {
		return nil, fmt.Errorf("%s is missing: proxies have no anchors to verify peers with; run `meshctl upgrade` to build it from the issuer's ca.crt", bundleRef(e))
	}
	data, ok := ca.bundle.Data[meshconfig.TrustBundleKey]
	if !ok || strings.TrimSpace(data) == "" {
		return nil, fmt.Errorf("%s has no key %q, or it is empty: put the trust anchors there, in PEM", bundleRef(e), meshconfig.TrustBundleKey)
	}
	return []byte(data), nil
}

// bundle parses the trust bundle with the rules proxies apply. The trust
// domain only has to be valid for that; the MeshConfig's is used when it
// can be read.
func (e *Env) bundle(ctx context.Context) (*identity.Bundle, error) {
	data, err := e.bundlePEM(ctx)
	if err != nil {
		return nil, err
	}
	td := meshconfig.DefaultTrustDomain
	if mc, err := e.MeshConfig(ctx); err == nil && mc.Spec.Identity.TrustDomain != "" {
		td = mc.Spec.Identity.TrustDomain
	}
	b, err := identity.NewBundle(td, data)
	if err != nil {
		return nil, fmt.Errorf("%s, key %s: %w", bundleRef(e), meshconfig.TrustBundleKey, err)
	}
	return b, nil
}

func checkIssuerLoads(ctx context.Context, env *Env) error {
	_, _, err := env.issuer(ctx)
	return err
}

func checkBundleParses(ctx context.Context, env *Env) error {
	_, err := env.bundle(ctx)
	return err
}

// chainedIssuer loads the issuer against the trust bundle rather than its
// own ca.crt: what the proxies will hold its certificates to.
func (e *Env) chainedIssuer(ctx context.Context) (*identity.Issuer, error) {
	_, sec, err := e.issuer(ctx)
	if err != nil {
		return nil, err
	}
	bundle, err := e.bundlePEM(ctx)
	if err != nil {
		return nil, err
	}
	is, err := identity.LoadIssuer(sec.Data[corev1.TLSCertKey], sec.Data[corev1.TLSPrivateKeyKey], bundle, e.Clock.Now())
	if err != nil {
		return nil, fmt.Errorf("the issuer of %s does not verify against the anchors of %s, so proxies would refuse every certificate it signs: %w\n"+
			"put the issuer's anchor in the bundle (keep the old one too while proxies move over), or an issuer signed by one of the bundle's anchors in the Secret",
			issuerRef(e), bundleRef(e), err)
	}
	return is, nil
}

func checkIssuerChain(ctx context.Context, env *Env) error {
	_, err := env.chainedIssuer(ctx)
	return err
}

func describeAnchor(c *x509.Certificate) string {
	return fmt.Sprintf("anchor %q (serial %x)", c.Subject.String(), c.SerialNumber)
}

func checkAnchorsValid(ctx context.Context, env *Env) error {
	b, err := env.bundle(ctx)
	if err != nil {
		return err
	}
	now := env.Clock.Now()
	var errs []error
	for _, a := range b.Anchors() {
		switch {
		case now.Before(a.NotBefore):
			errs = append(errs, fmt.Errorf("%s in %s is not valid before %s: check the clocks, or the anchor's dates", describeAnchor(a), bundleRef(env), a.NotBefore.UTC().Format(time.RFC3339)))
		case !now.Before(a.NotAfter):
			errs = append(errs, fmt.Errorf("%s in %s expired on %s: nothing it signed verifies any more; rotate to a new anchor and remove this one from the bundle", describeAnchor(a), bundleRef(env), a.NotAfter.UTC().Format(time.RFC3339)))
		}
	}
	return errors.Join(errs...)
}

func checkIssuerExpiry(ctx context.Context, env *Env) error {
	is, err := env.chainedIssuer(ctx)
	if err != nil {
		// Against its own ca.crt then: that failure is another check's.
		if is, _, err = env.issuer(ctx); err != nil {
			return err
		}
	}
	end := is.ChainNotAfter()
	if left := end.Sub(env.Clock.Now()); left < env.CertExpiryWarning {
		return fmt.Errorf("the issuer of %s (subject %q) stops issuing on %s, in %s, within the --cert-expiry-warning of %s: after that every workload certificate expires within a day; renew it (cert-manager does so by itself before renewBefore), or rotate it as docs/security.md#rotation says",
			issuerRef(env), is.Certificate().Subject.String(), end.UTC().Format(time.RFC3339), roundDuration(left), roundDuration(env.CertExpiryWarning))
	}
	return nil
}

func checkAnchorExpiry(ctx context.Context, env *Env) error {
	b, err := env.bundle(ctx)
	if err != nil {
		return err
	}
	now := env.Clock.Now()
	var errs []error
	for _, a := range b.Anchors() {
		left := a.NotAfter.Sub(now)
		if left > 0 && left < env.CertExpiryWarning {
			errs = append(errs, fmt.Errorf("%s in %s expires on %s, in %s, within the --cert-expiry-warning of %s: rotate to a new anchor with overlap before then, as docs/security.md#rotation says",
				describeAnchor(a), bundleRef(env), a.NotAfter.UTC().Format(time.RFC3339), roundDuration(left), roundDuration(env.CertExpiryWarning)))
		}
	}
	return errors.Join(errs...)
}

func checkBundleCopies(ctx context.Context, env *Env) error {
	want, err := env.bundlePEM(ctx)
	if err != nil {
		return err
	}
	dp, err := env.dataPlane(ctx)
	if err != nil {
		return err
	}
	copies, err := env.bundleCopies(ctx, dp.namespaces)
	if err != nil {
		return err
	}
	var missing, stale []string
	for _, ns := range dp.namespaces {
		cm, ok := copies[ns.Name]
		switch {
		case !ok:
			missing = append(missing, ns.Name)
		case cm.Data[meshconfig.TrustBundleKey] != string(want):
			stale = append(stale, ns.Name)
		}
	}
	var problems []string
	if len(missing) > 0 {
		problems = append(problems, fmt.Sprintf("configmap %s is missing in %s %s: their new pods cannot start",
			meshconfig.TrustBundleName, plural(len(missing), "namespace", "namespaces"), listSome(missing)))
	}
	if len(stale) > 0 {
		problems = append(problems, fmt.Sprintf("configmap %s differs from %s in %s %s: their proxies trust other anchors than the mesh's",
			meshconfig.TrustBundleName, bundleRef(env), plural(len(stale), "namespace", "namespaces"), listSome(stale)))
	}
	if len(problems) == 0 {
		return nil
	}
	return fmt.Errorf("%s\nthe controller keeps these copies: check that it runs and read its logs", strings.Join(problems, "\n"))
}

// bundleCopies reads the bundle's copies in nss, by namespace: with one
// list across the cluster, so that the requests do not grow with the
// namespaces, or, when that is forbidden, one read per namespace.
func (e *Env) bundleCopies(ctx context.Context, nss []corev1.Namespace) (map[string]*corev1.ConfigMap, error) {
	out := map[string]*corev1.ConfigMap{}
	list, err := e.Clients.Kube.CoreV1().ConfigMaps(metav1.NamespaceAll).List(ctx, metav1.ListOptions{FieldSelector: "metadata.name=" + meshconfig.TrustBundleName})
	if err == nil {
		for i := range list.Items {
			out[list.Items[i].Namespace] = &list.Items[i]
		}
		return out, nil
	}
	if !apierrors.IsForbidden(err) {
		return nil, fmt.Errorf("listing configmaps named %s: %w", meshconfig.TrustBundleName, err)
	}
	for _, ns := range nss {
		cm, err := e.Clients.Kube.CoreV1().ConfigMaps(ns.Name).Get(ctx, meshconfig.TrustBundleName, metav1.GetOptions{})
		switch {
		case apierrors.IsNotFound(err):
		case err != nil:
			return nil, fmt.Errorf("configmap %s/%s: %w", ns.Name, meshconfig.TrustBundleName, kube.ExplainForbidden(err, "get", "configmaps", ns.Name))
		default:
			out[ns.Name] = cm
		}
	}
	return out, nil
}

// listSome names up to maxListed items and counts the rest.
func listSome(items []string) string {
	if len(items) <= maxListed {
		return strings.Join(items, ", ")
	}
	return fmt.Sprintf("%s and %d more", strings.Join(items[:maxListed], ", "), len(items)-maxListed)
}

// checkCAPossible is the preflight of the mesh CA: the answer `meshctl
// install` would give, with or without --identity-external-issuer.
func checkCAPossible(ctx context.Context, env *Env) error {
	d := &install.Deps{MeshName: env.MeshName, Namespace: env.Namespace, Clients: env.Clients}
	return d.PreflightCA(ctx, install.IdentityOptions{ExternalIssuer: env.ExternalIssuer}, env.Clock.Now())
}
