package controller

import (
	"context"
	"crypto/x509"
	"net"
	"testing"
	"time"

	certutil "k8s.io/client-go/util/cert"

	admissionregistrationv1 "k8s.io/api/admissionregistration/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes/fake"

	"github.com/meshctl/meshctl/pkg/meshconfig"
)

type clock struct{ t time.Time }

func (c *clock) now() time.Time { return c.t }

func testCerts(client *fake.Clientset, c *clock) *Certs {
	return &Certs{
		Client: client, Namespace: "mesh-system", SecretName: "mesh-controller-tls", MeshName: testMesh,
		DNSNames: ServiceDNSNames(meshconfig.ControllerName, "mesh-system"), IPs: []net.IP{net.IPv4(127, 0, 0, 1)},
		Validity: 30 * 24 * time.Hour, CAValidity: 365 * 24 * time.Hour, Now: c.now,
	}
}

func verify(t *testing.T, b *Bundle, now time.Time) {
	t.Helper()
	roots := x509.NewCertPool()
	if !roots.AppendCertsFromPEM(b.CABundle) {
		t.Fatal("caBundle holds no certificate")
	}
	for _, name := range []string{"mesh-controller.mesh-system.svc", "127.0.0.1"} {
		if _, err := b.Leaf.Verify(x509.VerifyOptions{Roots: roots, DNSName: name, CurrentTime: now,
			KeyUsages: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}}); err != nil {
			t.Errorf("%s: %v", name, err)
		}
	}
}

// TestCertsLifecycle: the first Ensure creates the Secret (a kubernetes.io/tls
// Secret with the CA, labelled as the mesh's); later ones reuse it, as another
// replica would; a certificate with a third of its life left is renewed from
// the same CA; Rotate renews at once; a CA near expiry is replaced and the
// old one stays in the bundle.
func TestCertsLifecycle(t *testing.T) {
	ctx := context.Background()
	client := fake.NewClientset()
	c := &clock{t: time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)}
	first, err := testCerts(client, c).Ensure(ctx)
	if err != nil {
		t.Fatal(err)
	}
	verify(t, first, c.t)
	sec, err := client.CoreV1().Secrets("mesh-system").Get(ctx, "mesh-controller-tls", metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if sec.Type != corev1.SecretTypeTLS || sec.Labels[meshconfig.LabelPartOf] != meshconfig.PartOfValue || sec.Labels[meshconfig.LabelMeshName] != testMesh {
		t.Errorf("secret type %s labels %v", sec.Type, sec.Labels)
	}
	for _, k := range []string{corev1.TLSCertKey, corev1.TLSPrivateKeyKey, SecretCAKey, SecretCAKeyKey} {
		if len(sec.Data[k]) == 0 {
			t.Errorf("secret lacks %s", k)
		}
	}

	c.t = c.t.Add(10 * 24 * time.Hour)
	again, err := testCerts(client, c).Ensure(ctx) // another replica, or a restart
	if err != nil {
		t.Fatal(err)
	}
	if again.Leaf.SerialNumber.Cmp(first.Leaf.SerialNumber) != 0 {
		t.Error("a certificate with two thirds of its life left was replaced")
	}

	c.t = c.t.Add(11 * 24 * time.Hour) // 21 of 30 days gone
	renewed, err := testCerts(client, c).Ensure(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if renewed.Leaf.SerialNumber.Cmp(first.Leaf.SerialNumber) == 0 {
		t.Error("a certificate due for renewal was kept")
	}
	if string(renewed.CABundle) != string(first.CABundle) {
		t.Error("renewing the serving certificate changed the CA")
	}
	verify(t, renewed, c.t)

	rotated, err := testCerts(client, c).Rotate(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if rotated.Leaf.SerialNumber.Cmp(renewed.Leaf.SerialNumber) == 0 {
		t.Error("Rotate kept the certificate")
	}

	// The CA is due while the serving certificate is not: the new CA is
	// published in the bundle first, and the serving certificate kept.
	long := testCerts(client, c)
	long.Validity = 400 * 24 * time.Hour // capped at the CA's expiry, day 365
	kept, err := long.Rotate(ctx)
	if err != nil {
		t.Fatal(err)
	}
	c.t = c.t.Add(224 * 24 * time.Hour) // day 245: the CA has 120 of 365 days left, the serving certificate 120 of 344
	published, err := long.Ensure(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if published.Leaf.SerialNumber.Cmp(kept.Leaf.SerialNumber) != 0 {
		t.Error("the serving certificate was replaced when only the CA was due")
	}
	verify(t, published, c.t)
	cas, err := certutil.ParseCertsPEM(published.CABundle)
	if err != nil {
		t.Fatal(err)
	}
	oldCAs, err := certutil.ParseCertsPEM(first.CABundle)
	if err != nil {
		t.Fatal(err)
	}
	if len(cas) != 2 || !cas[1].Equal(oldCAs[0]) || cas[0].Equal(oldCAs[0]) {
		t.Fatalf("bundle of %d CAs after CA renewal, want the new and the old", len(cas))
	}

	c.t = c.t.Add(60 * 24 * time.Hour) // now the serving certificate is due
	next, err := long.Ensure(ctx)
	if err != nil {
		t.Fatal(err)
	}
	verify(t, next, c.t)
	if err := next.Leaf.CheckSignatureFrom(cas[0]); err != nil {
		t.Errorf("the renewed serving certificate is not from the new CA: %v", err)
	}
}

// TestCertsRepairs: a Secret with garbage, or a certificate for other names,
// is replaced.
func TestCertsRepairs(t *testing.T) {
	ctx := context.Background()
	c := &clock{t: time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)}
	client := fake.NewClientset(&corev1.Secret{
		ObjectMeta: metav1.ObjectMeta{Name: "mesh-controller-tls", Namespace: "mesh-system"},
		Type:       corev1.SecretTypeTLS,
		Data:       map[string][]byte{corev1.TLSCertKey: []byte("junk"), SecretCAKey: []byte("junk")},
	})
	b, err := testCerts(client, c).Ensure(ctx)
	if err != nil {
		t.Fatal(err)
	}
	verify(t, b, c.t)

	other := testCerts(client, c)
	other.DNSNames = ServiceDNSNames("renamed", "mesh-system")
	b2, err := other.Ensure(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if err := b2.Leaf.VerifyHostname("renamed.mesh-system.svc"); err != nil {
		t.Errorf("not reissued for the new service name: %v", err)
	}
}

// TestCABundlePatch: every webhook gets the bundle; a second call changes
// nothing.
func TestCABundlePatch(t *testing.T) {
	ctx := context.Background()
	client := fake.NewClientset(&admissionregistrationv1.MutatingWebhookConfiguration{
		ObjectMeta: metav1.ObjectMeta{Name: "meshctl-mesh-sidecar-injector"},
		Webhooks:   []admissionregistrationv1.MutatingWebhook{{Name: "a.meshctl.io"}, {Name: "b.meshctl.io"}},
	})
	p := &CABundlePatcher{Client: client, Name: "meshctl-mesh-sidecar-injector"}
	changed, err := p.Patch(ctx, []byte("PEM"))
	if err != nil || !changed {
		t.Fatalf("changed %v, err %v", changed, err)
	}
	got, _ := client.AdmissionregistrationV1().MutatingWebhookConfigurations().Get(ctx, p.Name, metav1.GetOptions{})
	for _, w := range got.Webhooks {
		if string(w.ClientConfig.CABundle) != "PEM" {
			t.Errorf("%s: caBundle %q", w.Name, w.ClientConfig.CABundle)
		}
	}
	if changed, err := p.Patch(ctx, []byte("PEM")); err != nil || changed {
		t.Errorf("second patch: changed %v, err %v", changed, err)
	}
	if _, err := (&CABundlePatcher{Client: client, Name: "missing"}).Patch(ctx, []byte("PEM")); err == nil {
		t.Error("a missing configuration patched")
	}
}
