package integration_test

import (
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/meshctl/meshctl/internal/testenv"
	"github.com/meshctl/meshctl/pkg/controller"
	"github.com/meshctl/meshctl/pkg/identity"
	"github.com/meshctl/meshctl/pkg/meshconfig"
	"github.com/meshctl/meshctl/pkg/meshconfig/meshconfigtest"
)

func generateCA(o *controller.Options) { o.GenerateCA = true }

// caMesh is a mesh's CRDs and MeshConfig with the chart's RBAC, and no CA,
// as a plain helm install leaves it.
func caMesh(t *testing.T) (*mesh, func(*testing.T, string) bool) {
	t.Helper()
	meshconfigtest.InstallCRDs(t, env.Config)
	m := &mesh{Name: testenv.UniqueName("mesh"), Namespace: env.Namespace(t, nil), Secret: testSecret}
	m.Webhook = "meshctl-" + m.Name + "-sidecar-injector"
	meshconfigtest.InstallMesh(t, env.Clients.Dynamic, m.Name, m.Namespace)
	exists := func(t *testing.T, kindName string) bool {
		t.Helper()
		kind, name, _ := strings.Cut(kindName, "/")
		var err error
		if kind == "secret" {
			_, err = env.Clients.Kube.CoreV1().Secrets(m.Namespace).Get(testenv.Context(t), name, metav1.GetOptions{})
		} else {
			_, err = env.Clients.Kube.CoreV1().ConfigMaps(m.Namespace).Get(testenv.Context(t), name, metav1.GetOptions{})
		}
		if err != nil && !apierrors.IsNotFound(err) {
			t.Fatal(err)
		}
		return err == nil
	}
	return m, exists
}

// Under a plain helm install (no CA in the namespace), the leader generates
// one with the chart's RBAC, as meshctl install would have: anchor, bundle
// and issuer, labelled as meshctl's, and the controller then signs.
func TestGenerateCAWhenThereIsNone(t *testing.T) {
	m, exists := caMesh(t)
	r := startReplica(t, m, asControllerServiceAccount(t, m), "replica-a", generateCA)
	eventually(t, "the issuer loaded", func() bool {
		_, body := r.get(t, "/readyz")
		return !contains(body, controller.ReadyIssuer+": ")
	})
	for _, obj := range []string{"secret/" + meshconfig.IssuerSecretName, "secret/" + meshconfig.AnchorSecretName, "configmap/" + meshconfig.TrustBundleName} {
		if !exists(t, obj) {
			t.Errorf("%s was not created", obj)
		}
	}
	sec, err := env.Clients.Kube.CoreV1().Secrets(m.Namespace).Get(testenv.Context(t), meshconfig.IssuerSecretName, metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if sec.Labels[meshconfig.LabelManagedBy] != meshconfig.ManagedByMeshctl || sec.Labels[meshconfig.LabelMeshName] != m.Name {
		t.Errorf("issuer Secret labels %v: meshctl uninstall would not remove it", sec.Labels)
	}
	is, err := identity.LoadIssuer(sec.Data["tls.crt"], sec.Data["tls.key"], []byte(m.bundleData(t)), time.Now())
	if err != nil {
		t.Errorf("the generated issuer does not chain to the generated bundle: %v", err)
	} else if is.Certificate().NotAfter.Before(time.Now().Add(300 * 24 * time.Hour)) {
		t.Errorf("the generated issuer expires %v", is.Certificate().NotAfter)
	}
}

// It never makes a CA beside part of another: with a trust bundle (or an
// anchor) but no issuer Secret it generates nothing and the controller
// says the issuer is missing; with an issuer it adds nothing; and with
// GenerateCA off (meshctl install's way) it generates nothing either.
func TestGenerateCANeverReplaces(t *testing.T) {
	t.Run("bundle without issuer", func(t *testing.T) {
		m, exists := caMesh(t)
		m.putBundle(t, newAnchor(t).CertificatePEM())
		r := startReplica(t, m, asControllerServiceAccount(t, m), "replica-a", generateCA)
		assertNoIssuerFor(t, r, exists)
		if exists(t, "secret/"+meshconfig.AnchorSecretName) {
			t.Error("an anchor was generated beside another's trust bundle")
		}
	})
	t.Run("anchor without issuer", func(t *testing.T) {
		m, exists := caMesh(t)
		a := newAnchor(t)
		key, err := a.KeyPEM()
		if err != nil {
			t.Fatal(err)
		}
		m.putSecretNamed(t, meshconfig.AnchorSecretName, map[string][]byte{"tls.crt": a.CertificatePEM(), "tls.key": key})
		r := startReplica(t, m, asControllerServiceAccount(t, m), "replica-a", generateCA)
		assertNoIssuerFor(t, r, exists)
		if exists(t, "configmap/"+meshconfig.TrustBundleName) {
			t.Error("a trust bundle was generated beside another's anchor")
		}
	})
	t.Run("issuer present", func(t *testing.T) {
		m, exists := caMesh(t)
		m.Anchor = newAnchor(t)
		m.putIssuer(t, newIssuer(t, m.Anchor))
		r := startReplica(t, m, asControllerServiceAccount(t, m), "replica-a", generateCA)
		eventually(t, "the issuer loaded", func() bool {
			_, body := r.get(t, "/readyz")
			return !contains(body, controller.ReadyIssuer+": ")
		})
		if exists(t, "secret/"+meshconfig.AnchorSecretName) || exists(t, "configmap/"+meshconfig.TrustBundleName) {
			t.Error("a CA was generated beside an existing issuer")
		}
	})
	t.Run("off", func(t *testing.T) {
		m, exists := caMesh(t)
		r := startReplica(t, m, asControllerServiceAccount(t, m), "replica-a")
		assertNoIssuerFor(t, r, exists)
	})
}

// assertNoIssuerFor watches r for two seconds: no issuer Secret appears and
// its readiness names the missing issuer.
func assertNoIssuerFor(t *testing.T, r *replica, exists func(*testing.T, string) bool) {
	t.Helper()
	eventually(t, "the controller names the missing issuer", func() bool {
		_, body := r.get(t, "/readyz")
		return contains(body, controller.ReadyIssuer+": ")
	})
	for deadline := time.Now().Add(2 * time.Second); time.Now().Before(deadline); time.Sleep(200 * time.Millisecond) {
		if exists(t, "secret/"+meshconfig.IssuerSecretName) {
			t.Fatal("an issuer was generated")
		}
	}
}

// putSecretNamed creates a kubernetes.io/tls Secret of m's namespace.
func (m *mesh) putSecretNamed(t testing.TB, name string, data map[string][]byte) {
	t.Helper()
	_, err := env.Clients.Kube.CoreV1().Secrets(m.Namespace).Create(testenv.Context(t), &corev1.Secret{
		ObjectMeta: metav1.ObjectMeta{Name: name}, Type: corev1.SecretTypeTLS, Data: data,
	}, metav1.CreateOptions{})
	if err != nil {
		t.Fatal(err)
	}
}

// bundleData is the trust bundle ConfigMap's anchors.
func (m *mesh) bundleData(t testing.TB) string {
	t.Helper()
	cm, err := env.Clients.Kube.CoreV1().ConfigMaps(m.Namespace).Get(testenv.Context(t), meshconfig.TrustBundleName, metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	return cm.Data[meshconfig.TrustBundleKey]
}
