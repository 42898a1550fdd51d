package check

import (
	"strings"
	"testing"
	"time"

	rbacv1 "k8s.io/api/rbac/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/meshctl/meshctl/internal/testenv"
	"github.com/meshctl/meshctl/pkg/identity"
	"github.com/meshctl/meshctl/pkg/meshconfig"
)

const day = 24 * time.Hour

// testCA is an anchor and an issuer it signed, made at a given time.
type testCA struct {
	anchor *identity.Anchor
	issuer *identity.Issuer
}

// makeCA makes an anchor at made, valid for anchorLife (zero: the default),
// and an issuer it signs at issued, valid for issuerLife.
func makeCA(t *testing.T, made time.Time, anchorLife time.Duration, issued time.Time, issuerLife time.Duration) testCA {
	t.Helper()
	a, err := identity.GenerateAnchor(meshconfig.DefaultTrustDomain, anchorLife, made)
	if err != nil {
		t.Fatal(err)
	}
	is, err := identity.GenerateIssuer(a, issuerLife, issued)
	if err != nil {
		t.Fatal(err)
	}
	return testCA{a, is}
}

// expectIdentity asserts that the identity check with hint reports status,
// with its link into the security document and an error saying every want.
func expectIdentity(t *testing.T, m *mesh, list []Check, hint string, status Status, want ...string) {
	t.Helper()
	r := m.run(t, list, hint)
	if r.Status != status {
		t.Errorf("check %s: status %s, want %s (error: %v)", hint, r.Status, status, r.Err)
		return
	}
	if status == StatusOK {
		return
	}
	if r.Hint != "docs/security.md#"+hint {
		t.Errorf("check %s: hint %q, want docs/security.md#%s", hint, r.Hint, hint)
	}
	for _, w := range want {
		if r.Err == nil || !strings.Contains(r.Err.Error(), w) {
			t.Errorf("check %s: error %q does not say %q", hint, r.Err, w)
		}
	}
}

func TestIdentityChecks(t *testing.T) {
	now := time.Now()
	type want struct {
		hint   string
		status Status
		says   []string
	}
	tests := []struct {
		name  string
		setup func(t *testing.T, m *mesh)
		want  []want
	}{
		{
			name:  "healthy",
			setup: func(t *testing.T, m *mesh) { m.enrol(t) },
			want: []want{
				{"identity-issuer", StatusOK, nil}, {"identity-trust-bundle", StatusOK, nil}, {"identity-issuer-chain", StatusOK, nil},
				{"identity-anchor-valid", StatusOK, nil}, {"identity-issuer-expiry", StatusOK, nil}, {"identity-anchor-expiry", StatusOK, nil},
				{"identity-bundle-copies", StatusOK, nil},
			},
		},
		{
			name: "expired issuer",
			setup: func(t *testing.T, m *mesh) {
				ca := makeCA(t, now.Add(-400*day), 0, now.Add(-400*day), 0)
				m.setIssuer(t, ca.issuer)
				m.setBundle(t, m.ns, ca.anchor.CertificatePEM())
			},
			want: []want{
				{"identity-issuer", StatusFail, []string{"secret " + "NS/" + meshconfig.IssuerSecretName, "tls.crt", "renew the issuer"}},
				{"identity-issuer-chain", StatusFail, []string{"renew the issuer"}},
			},
		},
		{
			name: "issuer from another anchor",
			setup: func(t *testing.T, m *mesh) {
				m.setIssuer(t, makeCA(t, now, 0, now, 0).issuer) // loads with its own ca.crt
			},
			want: []want{
				{"identity-issuer", StatusOK, nil},
				{"identity-issuer-chain", StatusFail, []string{"does not verify against the anchors of configmap NS/" + meshconfig.TrustBundleName, "put the issuer's anchor in the bundle"}},
			},
		},
		{
			name: "issuer expiring in 10 days",
			setup: func(t *testing.T, m *mesh) {
				ca := makeCA(t, now.Add(-355*day), 0, now.Add(-355*day), 0)
				m.setIssuer(t, ca.issuer)
				m.setBundle(t, m.ns, ca.anchor.CertificatePEM())
			},
			want: []want{
				{"identity-issuer", StatusOK, nil},
				{"identity-issuer-chain", StatusOK, nil},
				{"identity-issuer-expiry", StatusWarn, []string{"in 9d", "within the --cert-expiry-warning of 30d", "renew it"}},
				{"identity-anchor-expiry", StatusOK, nil},
			},
		},
		{
			name: "anchor expiring in 20 days caps the issuer",
			setup: func(t *testing.T, m *mesh) {
				ca := makeCA(t, now.Add(-day), 21*day, now, 0)
				m.setIssuer(t, ca.issuer)
				m.setBundle(t, m.ns, ca.anchor.CertificatePEM())
			},
			want: []want{
				{"identity-anchor-expiry", StatusWarn, []string{"expires on", "in 19d", "rotate to a new anchor"}},
				{"identity-issuer-expiry", StatusWarn, []string{"in 19d"}},
			},
		},
		{
			name: "expired anchor left in the bundle",
			setup: func(t *testing.T, m *mesh) {
				old := makeCA(t, now.Add(-40*day), 30*day, now.Add(-40*day), 0)
				m.setBundle(t, m.ns, append(append([]byte{}, m.bundle...), old.anchor.CertificatePEM()...))
			},
			want: []want{
				{"identity-issuer-chain", StatusOK, nil},
				{"identity-anchor-valid", StatusFail, []string{"expired on", "remove this one from the bundle"}},
			},
		},
		{
			name: "missing and stale bundle copies",
			setup: func(t *testing.T, m *mesh) {
				gone := m.enrol(t)
				if err := env.Clients.Kube.CoreV1().ConfigMaps(gone).Delete(testenv.Context(t), meshconfig.TrustBundleName, metav1.DeleteOptions{}); err != nil {
					t.Fatal(err)
				}
				stale := m.enrol(t)
				m.setBundle(t, stale, makeCA(t, now, 0, now, 0).anchor.CertificatePEM())
				m.enrol(t) // a good one, not named
			},
			want: []want{
				{"identity-bundle-copies", StatusFail, []string{"is missing in namespace ", "differs from configmap NS/" + meshconfig.TrustBundleName + " in namespace ", "the controller keeps these copies"}},
			},
		},
		{
			name: "missing issuer and garbage bundle",
			setup: func(t *testing.T, m *mesh) {
				if err := env.Clients.Kube.CoreV1().Secrets(m.ns).Delete(testenv.Context(t), meshconfig.IssuerSecretName, metav1.DeleteOptions{}); err != nil {
					t.Fatal(err)
				}
				m.setBundle(t, m.ns, []byte("not PEM"))
			},
			want: []want{
				{"identity-issuer", StatusFail, []string{"secret NS/" + meshconfig.IssuerSecretName + " is missing", "meshctl install"}},
				{"identity-trust-bundle", StatusFail, []string{"configmap NS/" + meshconfig.TrustBundleName + ", key " + meshconfig.TrustBundleKey, "no CERTIFICATE PEM block"}},
			},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			m := newMesh(t)
			m.install(t)
			tt.setup(t, m)
			for _, w := range tt.want {
				says := make([]string, len(w.says))
				for i, s := range w.says {
					says[i] = strings.ReplaceAll(s, "NS/", m.ns+"/")
				}
				expectIdentity(t, m, Checks(), w.hint, w.status, says...)
			}
		})
	}
}

// The copies are found with one list across the cluster (so the requests
// do not grow with the namespaces, see TestRequestsDoNotGrowWithPods), or,
// for a user who may only read ConfigMaps by name, one read each.
func TestBundleCopiesWithoutClusterWideList(t *testing.T) {
	m := newMesh(t)
	m.install(t)
	ns := m.enrol(t)
	cfg, _ := env.User(t,
		rbacv1.PolicyRule{APIGroups: []string{""}, Resources: []string{"configmaps", "secrets"}, Verbs: []string{"get"}},
		rbacv1.PolicyRule{APIGroups: []string{""}, Resources: []string{"namespaces", "pods"}, Verbs: []string{"get", "list"}},
	)
	m2 := newMesh(t, withClients(clientsFor(t, cfg)), func(c *Config) { c.MeshName, c.Namespace = m.name, m.ns })
	expectIdentity(t, m2, Checks(), "identity-bundle-copies", StatusOK)
	if err := env.Clients.Kube.CoreV1().ConfigMaps(ns).Delete(testenv.Context(t), meshconfig.TrustBundleName, metav1.DeleteOptions{}); err != nil {
		t.Fatal(err)
	}
	expectIdentity(t, m2, Checks(), "identity-bundle-copies", StatusFail, "is missing in namespace "+ns)
}

func TestIdentityPreflight(t *testing.T) {
	external := func(c *Config) { c.ExternalIssuer = true }
	t.Run("generated: nothing there", func(t *testing.T) {
		m := newMesh(t)
		expectIdentity(t, m, PreInstallChecks(), "identity-preflight", StatusOK)
	})
	t.Run("generated: a CA left half-made", func(t *testing.T) {
		m := newMesh(t)
		m.setBundle(t, m.ns, makeCA(t, now(), 0, now(), 0).anchor.CertificatePEM())
		expectIdentity(t, m, PreInstallChecks(), "identity-preflight", StatusFail, "holds part of a mesh CA", "never replaces")
	})
	t.Run("external: missing", func(t *testing.T) {
		m := newMesh(t, external)
		expectIdentity(t, m, PreInstallChecks(), "identity-preflight", StatusFail,
			"secret "+m.ns+"/"+meshconfig.IssuerSecretName+" is missing", "--identity-external-issuer", "cert-manager Certificate")
	})
	t.Run("external: present", func(t *testing.T) {
		m := newMesh(t, external)
		m.setIssuer(t, makeCA(t, now(), 0, now(), 0).issuer)
		expectIdentity(t, m, PreInstallChecks(), "identity-preflight", StatusOK)
	})
	t.Run("external: expired", func(t *testing.T) {
		m := newMesh(t, external)
		m.setIssuer(t, makeCA(t, now().Add(-400*day), 0, now().Add(-400*day), 0).issuer)
		expectIdentity(t, m, PreInstallChecks(), "identity-preflight", StatusFail, "does not hold a usable issuer", "renew")
	})
}

func now() time.Time { return time.Now() }
