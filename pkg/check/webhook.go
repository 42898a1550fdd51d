package check

import (
	"context"
	"crypto/x509"
	"errors"
	"fmt"
	"strings"
	"time"

	certutil "k8s.io/client-go/util/cert"

	admissionregistrationv1 "k8s.io/api/admissionregistration/v1"
	corev1 "k8s.io/api/core/v1"
	discoveryv1 "k8s.io/api/discovery/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"

	"github.com/meshctl/meshctl/pkg/kube"
	"github.com/meshctl/meshctl/pkg/meshconfig"
)

// webhookConfiguration reads the MutatingWebhookConfiguration the chart
// renders for this mesh.
func webhookConfiguration(ctx context.Context, env *Env) (*admissionregistrationv1.MutatingWebhookConfiguration, error) {
	want := env.Chart.Find("MutatingWebhookConfiguration")
	if want == nil {
		return nil, errors.New("the embedded chart renders no MutatingWebhookConfiguration")
	}
	wh, err := env.Clients.Kube.AdmissionregistrationV1().MutatingWebhookConfigurations().Get(ctx, want.GetName(), metav1.GetOptions{})
	if apierrors.IsNotFound(err) {
		return nil, fmt.Errorf("mutatingwebhookconfiguration %q is missing: run `meshctl upgrade` to restore it", want.GetName())
	}
	if err != nil {
		return nil, fmt.Errorf("mutatingwebhookconfiguration %q: %w", want.GetName(), kube.ExplainForbidden(err, "get", "mutatingwebhookconfigurations.admissionregistration.k8s.io", ""))
	}
	return wh, nil
}

func checkWebhookExists(ctx context.Context, env *Env) error {
	wh, err := webhookConfiguration(ctx, env)
	if err != nil {
		return err
	}
	if len(wh.Webhooks) == 0 {
		return fmt.Errorf("mutatingwebhookconfiguration %q has no webhooks: run `meshctl upgrade` to restore it", wh.Name)
	}
	for _, w := range wh.Webhooks {
		svc := w.ClientConfig.Service
		if svc == nil || svc.Namespace != env.Namespace || svc.Name != meshconfig.ControllerName {
			return fmt.Errorf("mutatingwebhookconfiguration %q: webhook %q does not call service %s/%s: run `meshctl upgrade` to restore it",
				wh.Name, w.Name, env.Namespace, meshconfig.ControllerName)
		}
	}
	return nil
}

// tlsSecretName is the Secret where the controller keeps its serving
// certificate, as the chart passes it to the controller.
func (c *Chart) tlsSecretName() (string, error) {
	dep := c.Find("Deployment")
	if dep == nil {
		return "", errors.New("the embedded chart renders no Deployment")
	}
	containers, _, _ := unstructured.NestedSlice(dep.Object, "spec", "template", "spec", "containers")
	for _, c := range containers {
		m, _ := c.(map[string]any)
		args, _ := m["args"].([]any)
		for _, a := range args {
			if s, ok := a.(string); ok && strings.HasPrefix(s, "--tls-secret=") {
				return strings.TrimPrefix(s, "--tls-secret="), nil
			}
		}
	}
	return "", errors.New("the embedded chart's controller has no --tls-secret argument")
}

// servingCertificate reads the controller's serving certificate chain from
// its TLS Secret: the leaf first.
func servingCertificate(ctx context.Context, env *Env) ([]*x509.Certificate, error) {
	name, err := env.Chart.tlsSecretName()
	if err != nil {
		return nil, err
	}
	sec, err := env.Clients.Kube.CoreV1().Secrets(env.Namespace).Get(ctx, name, metav1.GetOptions{})
	if apierrors.IsNotFound(err) {
		return nil, fmt.Errorf("secret %s/%s, which holds the serving certificate, is missing: the controller creates it at start-up; see its logs", env.Namespace, name)
	}
	if err != nil {
		return nil, fmt.Errorf("secret %s/%s: %w", env.Namespace, name, kube.ExplainForbidden(err, "get", "secrets", env.Namespace))
	}
	certs, err := parseCertificates(sec.Data[corev1.TLSCertKey])
	if err != nil {
		return nil, fmt.Errorf("secret %s/%s, key %s: %w", env.Namespace, name, corev1.TLSCertKey, err)
	}
	return certs, nil
}

// parseCertificates parses every PEM certificate in data; there must be one.
// An empty value gets its own message, as it is the usual case of a caBundle
// the controller has not patched yet.
func parseCertificates(data []byte) ([]*x509.Certificate, error) {
	if len(strings.TrimSpace(string(data))) == 0 {
		return nil, errors.New("empty")
	}
	return certutil.ParseCertsPEM(data)
}

func checkWebhookCABundle(ctx context.Context, env *Env) error {
	wh, err := webhookConfiguration(ctx, env)
	if err != nil {
		return err
	}
	chain, err := servingCertificate(ctx, env)
	if err != nil {
		return err
	}
	leaf := chain[0]
	intermediates := x509.NewCertPool()
	for _, c := range chain[1:] {
		intermediates.AddCert(c)
	}
	dnsName := meshconfig.ControllerName + "." + env.Namespace + ".svc"
	var errs []error
	for _, w := range wh.Webhooks {
		cas, err := parseCertificates(w.ClientConfig.CABundle)
		if err != nil {
			errs = append(errs, fmt.Errorf("mutatingwebhookconfiguration %q, webhook %q: caBundle: %w", wh.Name, w.Name, err))
			continue
		}
		roots := x509.NewCertPool()
		for _, c := range cas {
			roots.AddCert(c)
		}
		_, err = leaf.Verify(x509.VerifyOptions{
			Roots: roots, Intermediates: intermediates, DNSName: dnsName,
			CurrentTime: env.Clock.Now(), KeyUsages: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
		})
		if err != nil {
			errs = append(errs, fmt.Errorf("mutatingwebhookconfiguration %q, webhook %q: the caBundle (%s) does not verify the serving certificate (subject %q, issuer %q) for %s: %w",
				wh.Name, w.Name, subjects(cas), leaf.Subject.String(), leaf.Issuer.String(), dnsName, err))
		}
	}
	return errors.Join(errs...)
}

func subjects(certs []*x509.Certificate) string {
	names := make([]string, len(certs))
	for i, c := range certs {
		names[i] = fmt.Sprintf("%q", c.Subject.String())
	}
	return strings.Join(names, ", ")
}

func checkWebhookCertExpiry(ctx context.Context, env *Env) error {
	chain, err := servingCertificate(ctx, env)
	if err != nil {
		return err
	}
	leaf := chain[0]
	now := env.Clock.Now()
	left := leaf.NotAfter.Sub(now)
	switch {
	case left <= 0:
		return fmt.Errorf("the serving certificate (subject %q) expired on %s", leaf.Subject.String(), leaf.NotAfter.UTC().Format(time.RFC3339))
	case left < env.CertExpiryWarning:
		return fmt.Errorf("the serving certificate (subject %q) expires on %s, in %s, within the --cert-expiry-warning of %s",
			leaf.Subject.String(), leaf.NotAfter.UTC().Format(time.RFC3339), roundDuration(left), roundDuration(env.CertExpiryWarning))
	}
	return nil
}

// roundDuration prints a duration in days when it is that long.
func roundDuration(d time.Duration) string {
	if d >= 48*time.Hour {
		return fmt.Sprintf("%dd", int(d.Hours()/24))
	}
	return d.Round(time.Minute).String()
}

func checkWebhookEndpoints(ctx context.Context, env *Env) error {
	ns, name := env.Namespace, meshconfig.ControllerName
	if _, err := env.Clients.Kube.CoreV1().Services(ns).Get(ctx, name, metav1.GetOptions{}); err != nil {
		if apierrors.IsNotFound(err) {
			return fmt.Errorf("service %s/%s is missing: run `meshctl upgrade` to restore it", ns, name)
		}
		return fmt.Errorf("service %s/%s: %w", ns, name, kube.ExplainForbidden(err, "get", "services", ns))
	}
	slices, err := env.Clients.Kube.DiscoveryV1().EndpointSlices(ns).List(ctx, metav1.ListOptions{LabelSelector: discoveryv1.LabelServiceName + "=" + name})
	if err != nil {
		return fmt.Errorf("listing endpoint slices of service %s/%s: %w", ns, name, kube.ExplainForbidden(err, "list", "endpointslices.discovery.k8s.io", ns))
	}
	total := 0
	for _, s := range slices.Items {
		for _, ep := range s.Endpoints {
			total++
			if ep.Conditions.Ready == nil || *ep.Conditions.Ready {
				return nil
			}
		}
	}
	return fmt.Errorf("service %s/%s has no ready endpoints (%d not ready): the API server cannot reach the sidecar injector; see the control-plane checks", ns, name, total)
}
