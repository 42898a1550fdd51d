package check

import (
	"cmp"
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"math/big"
	"strings"
	"sync"
	"testing"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	discoveryv1 "k8s.io/api/discovery/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/util/wait"

	"github.com/meshctl/meshctl/internal/testenv"
	"github.com/meshctl/meshctl/pkg/identity"
	"github.com/meshctl/meshctl/pkg/identity/identitytest"
	"github.com/meshctl/meshctl/pkg/inject"
	"github.com/meshctl/meshctl/pkg/kube"
	"github.com/meshctl/meshctl/pkg/meshconfig"
	"github.com/meshctl/meshctl/pkg/proxyconfig"
	"github.com/meshctl/meshctl/pkg/version"
)

// env is the API server shared by this package's integration tests.
var env *testenv.Env

func TestMain(m *testing.M) { testenv.Main(m, &env) }

// mesh is one mesh of a test: a unique name and control-plane namespace, and
// the Env the checks see.
type mesh struct {
	name, ns string
	env      *Env
	// bundle is the trust bundle install stored, which enrol copies into
	// each new namespace as the controller does; nil before install.
	bundle []byte
}

// newMesh sets up the checks for a mesh of the test's own, not installed.
// Options change the Config before Setup.
func newMesh(t testing.TB, opts ...func(*Config)) *mesh {
	t.Helper()
	ensureCRDs(t)
	m := &mesh{name: testenv.UniqueName("m"), ns: env.Namespace(t, nil)}
	cfg := Config{Clients: env.Clients, MeshName: m.name, Namespace: m.ns}
	for _, o := range opts {
		o(&cfg)
	}
	m.name, m.ns = cfg.MeshName, cfg.Namespace
	e, err := Setup(cfg)
	if err != nil {
		t.Fatal(err)
	}
	m.env = e
	return m
}

// withClients makes the checks run as another user (or against another
// server).
func withClients(c *kube.Clients) func(*Config) { return func(cfg *Config) { cfg.Clients = c } }

// withRender changes what the chart renders.
func withRender(change func(*Chart)) func(*Config) {
	return func(cfg *Config) {
		cfg.Render = func(name, ns string) (*Chart, error) {
			ch, err := RenderEmbeddedChart(name, ns)
			if err == nil {
				change(ch)
			}
			return ch, err
		}
	}
}

var crdsOnce sync.Once

// ensureCRDs creates the chart's CRDs once for the package, as install does,
// and waits until they are established. They are shared by every mesh.
func ensureCRDs(t testing.TB) {
	t.Helper()
	crdsOnce.Do(func() {
		ch, err := RenderEmbeddedChart("mesh", "mesh-system")
		if err != nil {
			t.Fatal(err)
		}
		for _, crd := range ch.CRDs {
			createCRD(t, crd)
		}
	})
}

// createCRD creates a CRD (unless it exists) and waits until it is
// established.
func createCRD(t testing.TB, crd *unstructured.Unstructured) {
	t.Helper()
	ctx := testenv.Context(t)
	api := env.Clients.Dynamic.Resource(crdGVR())
	if _, err := api.Create(ctx, crd, metav1.CreateOptions{}); err != nil && !apierrors.IsAlreadyExists(err) {
		t.Fatalf("creating CRD %s: %v", crd.GetName(), err)
	}
	waitFor(t, "CRD "+crd.GetName()+" established", func() bool {
		got, err := api.Get(ctx, crd.GetName(), metav1.GetOptions{})
		if err != nil {
			return false
		}
		ok, _ := crdCondition(got, "Established")
		return ok
	})
}

func waitFor(t testing.TB, what string, cond func() bool) {
	t.Helper()
	err := wait.PollUntilContextTimeout(testenv.Context(t), 50*time.Millisecond, 30*time.Second, true, func(context.Context) (bool, error) { return cond(), nil })
	if err != nil {
		t.Fatalf("waiting for %s: %v", what, err)
	}
}

// install creates every object the chart renders for m, as Helm would, and
// makes the control plane healthy as a kubelet and the controller would:
// the Deployment's status (through the status subresource), the serving
// certificate in its Secret with the CA in the webhook's caBundle, and a
// ready endpoint behind the Service.
//
// The webhook's namespaceSelector is narrowed to a label no namespace has:
// nothing serves it in the test environment, and the data-plane tests create
// pods in enrolled namespaces that the API server would otherwise send to it.
func (m *mesh) install(t testing.TB) {
	t.Helper()
	ctx := testenv.Context(t)
	for _, obj := range m.env.Chart.Objects {
		obj = obj.DeepCopy()
		if obj.GetKind() == "MutatingWebhookConfiguration" {
			hooks, _, _ := unstructured.NestedSlice(obj.Object, "webhooks")
			for _, h := range hooks {
				h.(map[string]any)["namespaceSelector"] = map[string]any{"matchLabels": map[string]any{"meshctl.io/test-no-namespace": "true"}}
			}
			_ = unstructured.SetNestedSlice(obj.Object, hooks, "webhooks")
		}
		res, err := m.env.resourceFor(obj)
		if err != nil {
			t.Fatal(err)
		}
		api := env.Clients.Dynamic.Resource(res.GVR)
		if res.Namespaced {
			_, err = api.Namespace(m.ns).Create(ctx, obj, metav1.CreateOptions{})
		} else {
			_, err = api.Create(ctx, obj, metav1.CreateOptions{})
			name := obj.GetName()
			t.Cleanup(func() { _ = api.Delete(context.Background(), name, metav1.DeleteOptions{}) })
		}
		if err != nil {
			t.Fatalf("creating %s %s: %v", obj.GetKind(), obj.GetName(), err)
		}
	}
	m.setControllerAvailable(t, true)
	mca := identitytest.NewCA(t, time.Now())
	m.setIssuer(t, mca.Issuer)
	m.setBundle(t, m.ns, mca.Anchor.CertificatePEM())
	m.bundle = mca.Anchor.CertificatePEM()
	ca := newCA(t, "mesh CA", time.Now().Add(365*24*time.Hour))
	m.setCertificate(t, ca, ca.issue(t, m.dnsName(), time.Now().Add(365*24*time.Hour)))
	m.setEndpoint(t, true)
}

func (m *mesh) dnsName() string { return meshconfig.ControllerName + "." + m.ns + ".svc" }

// setControllerAvailable writes the controller Deployment's status.
func (m *mesh) setControllerAvailable(t testing.TB, available bool) {
	t.Helper()
	if err := m.writeControllerStatus(testenv.Context(t), available); err != nil {
		t.Fatal(err)
	}
}

// writeControllerStatus writes the status the Deployment controller would,
// through the status subresource.
func (m *mesh) writeControllerStatus(ctx context.Context, available bool) error {
	api := env.Clients.Kube.AppsV1().Deployments(m.ns)
	dep, err := api.Get(ctx, meshconfig.ControllerName, metav1.GetOptions{})
	if err != nil {
		return err
	}
	want := int32(1)
	if dep.Spec.Replicas != nil {
		want = *dep.Spec.Replicas
	}
	n := int32(0)
	cond := appsv1.DeploymentCondition{Type: appsv1.DeploymentAvailable, Status: corev1.ConditionFalse, Reason: "MinimumReplicasUnavailable", Message: "Deployment does not have minimum availability."}
	if available {
		n = want
		cond = appsv1.DeploymentCondition{Type: appsv1.DeploymentAvailable, Status: corev1.ConditionTrue, Reason: "MinimumReplicasAvailable"}
	}
	dep.Status = appsv1.DeploymentStatus{
		ObservedGeneration: dep.Generation, Replicas: want, UpdatedReplicas: want, ReadyReplicas: n, AvailableReplicas: n, UnavailableReplicas: want - n,
		Conditions: []appsv1.DeploymentCondition{cond},
	}
	_, err = api.UpdateStatus(ctx, dep, metav1.UpdateOptions{})
	return err
}

// setCertificate stores the serving certificate in the controller's Secret
// and the CA in every webhook's caBundle, as the controller does.
func (m *mesh) setCertificate(t testing.TB, bundle *certAuthority, serving servingCert) {
	t.Helper()
	ctx := testenv.Context(t)
	name, err := m.env.Chart.tlsSecretName()
	if err != nil {
		t.Fatal(err)
	}
	secrets := env.Clients.Kube.CoreV1().Secrets(m.ns)
	sec := &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Name: name}, Type: corev1.SecretTypeTLS,
		Data: map[string][]byte{corev1.TLSCertKey: serving.cert, corev1.TLSPrivateKeyKey: serving.key}}
	if _, err := secrets.Update(ctx, sec, metav1.UpdateOptions{}); apierrors.IsNotFound(err) {
		_, err = secrets.Create(ctx, sec, metav1.CreateOptions{})
		if err != nil {
			t.Fatal(err)
		}
	} else if err != nil {
		t.Fatal(err)
	}
	m.setCABundle(t, bundle.pem)
}

func (m *mesh) setCABundle(t testing.TB, pemData []byte) {
	t.Helper()
	ctx := testenv.Context(t)
	api := env.Clients.Kube.AdmissionregistrationV1().MutatingWebhookConfigurations()
	wh, err := api.Get(ctx, m.env.Chart.Find("MutatingWebhookConfiguration").GetName(), metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	for i := range wh.Webhooks {
		wh.Webhooks[i].ClientConfig.CABundle = pemData
	}
	if _, err := api.Update(ctx, wh, metav1.UpdateOptions{}); err != nil {
		t.Fatal(err)
	}
}

// setEndpoint writes the EndpointSlice the endpoint controller would.
func (m *mesh) setEndpoint(t testing.TB, ready bool) {
	t.Helper()
	ctx := testenv.Context(t)
	api := env.Clients.Kube.DiscoveryV1().EndpointSlices(m.ns)
	slice := &discoveryv1.EndpointSlice{
		ObjectMeta:  metav1.ObjectMeta{Name: meshconfig.ControllerName + "-abcde", Labels: map[string]string{discoveryv1.LabelServiceName: meshconfig.ControllerName}},
		AddressType: discoveryv1.AddressTypeIPv4,
		Endpoints:   []discoveryv1.Endpoint{{Addresses: []string{"10.0.0.7"}, Conditions: discoveryv1.EndpointConditions{Ready: &ready}}},
	}
	_ = api.Delete(ctx, slice.Name, metav1.DeleteOptions{})
	if _, err := api.Create(ctx, slice, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
}

// certAuthority is a CA made for one test.
type certAuthority struct {
	cert *x509.Certificate
	key  *ecdsa.PrivateKey
	pem  []byte
}

func newCA(t testing.TB, cn string, notAfter time.Time) *certAuthority {
	t.Helper()
	key := newKey(t)
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: cn},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: notAfter,
		IsCA: true, BasicConstraintsValid: true, KeyUsage: x509.KeyUsageCertSign | x509.KeyUsageDigitalSignature,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	cert, err := x509.ParseCertificate(der)
	if err != nil {
		t.Fatal(err)
	}
	return &certAuthority{cert: cert, key: key, pem: pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der})}
}

// servingCert is a certificate and its key, PEM-encoded.
type servingCert struct{ cert, key []byte }

// issue signs a serving certificate for dnsName, valid until notAfter.
func (ca *certAuthority) issue(t testing.TB, dnsName string, notAfter time.Time) servingCert {
	t.Helper()
	key := newKey(t)
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(2), Subject: pkix.Name{CommonName: dnsName}, DNSNames: []string{dnsName},
		NotBefore: notAfter.Add(-365 * 24 * time.Hour), NotAfter: notAfter,
		KeyUsage: x509.KeyUsageDigitalSignature, ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, ca.cert, &key.PublicKey, ca.key)
	if err != nil {
		t.Fatal(err)
	}
	keyDER, err := x509.MarshalECPrivateKey(key)
	if err != nil {
		t.Fatal(err)
	}
	return servingCert{
		cert: pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}),
		key:  pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: keyDER}),
	}
}

func newKey(t testing.TB) *ecdsa.PrivateKey {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	return key
}

// enrol creates a namespace enrolled in m, with the copy of the trust
// bundle the controller keeps there once m is installed.
func (m *mesh) enrol(t testing.TB) string {
	t.Helper()
	ns := env.Namespace(t, map[string]string{meshconfig.LabelMonitoredBy: m.name})
	if m.bundle != nil {
		m.setBundle(t, ns, m.bundle)
	}
	return ns
}

// setIssuer stores is in the issuer Secret, as meshctl install does.
func (m *mesh) setIssuer(t testing.TB, is *identity.Issuer) {
	t.Helper()
	crt, key, ca, err := is.SecretData()
	if err != nil {
		t.Fatal(err)
	}
	m.setIssuerData(t, map[string][]byte{corev1.TLSCertKey: crt, corev1.TLSPrivateKeyKey: key, corev1.ServiceAccountRootCAKey: ca})
}

func (m *mesh) setIssuerData(t testing.TB, data map[string][]byte) {
	t.Helper()
	ctx := testenv.Context(t)
	api := env.Clients.Kube.CoreV1().Secrets(m.ns)
	sec := &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Name: meshconfig.IssuerSecretName}, Type: corev1.SecretTypeTLS, Data: data}
	if _, err := api.Update(ctx, sec, metav1.UpdateOptions{}); apierrors.IsNotFound(err) {
		if _, err := api.Create(ctx, sec, metav1.CreateOptions{}); err != nil {
			t.Fatal(err)
		}
	} else if err != nil {
		t.Fatal(err)
	}
}

// setBundle writes the trust bundle ConfigMap in ns: m's own in m.ns, a
// copy elsewhere.
func (m *mesh) setBundle(t testing.TB, ns string, pemData []byte) {
	t.Helper()
	ctx := testenv.Context(t)
	api := env.Clients.Kube.CoreV1().ConfigMaps(ns)
	cm := &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Name: meshconfig.TrustBundleName, Labels: map[string]string{meshconfig.LabelPartOf: meshconfig.PartOfValue, meshconfig.LabelMeshName: m.name}},
		Data: map[string]string{meshconfig.TrustBundleKey: string(pemData)}}
	if _, err := api.Update(ctx, cm, metav1.UpdateOptions{}); apierrors.IsNotFound(err) {
		if _, err := api.Create(ctx, cm, metav1.CreateOptions{}); err != nil {
			t.Fatal(err)
		}
	} else if err != nil {
		t.Fatal(err)
	}
}

// podSpec says how a test pod looks.
type podSpec struct {
	name       string
	injected   bool   // carries the sidecar, as the webhook adds it
	image      string // the proxy image; empty means the MeshConfig's
	notReady   string // a waiting reason for the proxy container
	owner      string // a ReplicaSet name; empty means a bare pod
	dropProxy  bool   // marked injected but without the proxy container
	native     bool   // the proxy as a native sidecar (a Job's pod)
	statusless bool   // no status written
	identity   bool   // the proxy injected with identity (--controller-id)
	meshNS     string // with identity: the mesh's namespace; empty means the default
	phase      corev1.PodPhase
}

// createPod creates a pod as the webhook and the kubelet would leave it.
func (m *mesh) createPod(t testing.TB, ns string, p podSpec) {
	t.Helper()
	ctx := context.Background()
	pod := &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Name: p.name, Namespace: ns, Labels: map[string]string{"app": "books"}},
		Spec:       corev1.PodSpec{Containers: []corev1.Container{{Name: "app", Image: "bookstore:v1"}}},
	}
	if p.owner != "" {
		hash := p.owner[strings.LastIndex(p.owner, "-")+1:]
		pod.Labels["pod-template-hash"] = hash
		ctrl := true
		pod.OwnerReferences = []metav1.OwnerReference{{APIVersion: "apps/v1", Kind: "ReplicaSet", Name: p.owner, UID: "1234", Controller: &ctrl}}
	}
	if p.injected {
		pc, err := proxyconfig.New(meshconfig.DefaultSpec())
		if err != nil {
			t.Fatal(err)
		}
		if p.image != "" {
			pc.Image = p.image
		}
		if p.identity {
			if pc, err = pc.WithIdentity(cmp.Or(p.meshNS, meshconfig.DefaultMeshNamespace), ""); err != nil {
				t.Fatal(err)
			}
			pod.Spec.ServiceAccountName = "default"
			pod.Spec.Volumes = []corev1.Volume{proxyconfig.IdentityVolume()}
		}
		marker := &inject.Marker{Version: version.Version(), Hash: "h", InitContainers: []string{proxyconfig.InitContainerName}, Containers: []string{proxyconfig.ProxyContainerName}}
		pod.Annotations = map[string]string{meshconfig.AnnotationInjected: marker.String()}
		pod.Labels[meshconfig.LabelProxyVersion] = version.Version()
		pod.Spec.InitContainers = []corev1.Container{pc.InitContainer()}
		switch {
		case p.dropProxy:
		case p.native:
			pod.Spec.InitContainers = append(pod.Spec.InitContainers, pc.NativeSidecarContainer())
		default:
			pod.Spec.Containers = append(pod.Spec.Containers, pc.ProxyContainer())
		}
	}
	created, err := env.Clients.Kube.CoreV1().Pods(ns).Create(ctx, pod, metav1.CreateOptions{})
	if err != nil {
		t.Fatalf("creating pod %s/%s: %v", ns, p.name, err)
	}
	if p.statusless {
		return
	}
	created.Status.Phase = corev1.PodRunning
	if p.phase != "" {
		created.Status.Phase = p.phase
	}
	status := func(c corev1.Container) corev1.ContainerStatus {
		cs := corev1.ContainerStatus{Name: c.Name, Image: c.Image, Ready: true, State: corev1.ContainerState{Running: &corev1.ContainerStateRunning{}}}
		if c.Name == proxyconfig.ProxyContainerName && p.notReady != "" {
			cs.Ready = false
			cs.State = corev1.ContainerState{Waiting: &corev1.ContainerStateWaiting{Reason: p.notReady, Message: "back-off pulling image"}}
		}
		return cs
	}
	for _, c := range created.Spec.Containers {
		created.Status.ContainerStatuses = append(created.Status.ContainerStatuses, status(c))
	}
	for _, c := range created.Spec.InitContainers {
		if c.RestartPolicy != nil { // a native sidecar runs; the other init containers have finished
			created.Status.InitContainerStatuses = append(created.Status.InitContainerStatuses, status(c))
		}
	}
	if _, err := env.Clients.Kube.CoreV1().Pods(ns).UpdateStatus(ctx, created, metav1.UpdateOptions{}); err != nil {
		t.Fatalf("writing the status of pod %s/%s: %v", ns, p.name, err)
	}
}

// run runs the one check with the given hint against m and returns its
// result; the checks it needs are not run.
func (m *mesh) run(t testing.TB, list []Check, hint string) Result {
	t.Helper()
	for _, c := range list {
		if c.Hint == hint {
			var got Result
			(&Runner{}).Run(testenv.Context(t), m.env, []Check{c}, func(r Result) { got = r })
			return got
		}
	}
	t.Fatalf("no check has hint %q", hint)
	return Result{}
}

// expectOK asserts that the check with hint passes.
func (m *mesh) expectOK(t testing.TB, list []Check, hint string) {
	t.Helper()
	if r := m.run(t, list, hint); r.Status != StatusOK {
		t.Errorf("check %s: %s: %v", hint, r.Status, r.Err)
	}
}

// expectProblem asserts that the check with hint reports status, with its
// hint, and an error containing every want.
func (m *mesh) expectProblem(t testing.TB, list []Check, hint string, status Status, want ...string) {
	t.Helper()
	r := m.run(t, list, hint)
	if r.Status != status {
		t.Errorf("check %s: status %s, want %s (error: %v)", hint, r.Status, status, r.Err)
		return
	}
	if r.Hint != "docs/troubleshooting.md#"+hint && r.Hint != SecurityDoc+"#"+hint {
		t.Errorf("check %s: hint %q", hint, r.Hint)
	}
	for _, w := range want {
		if r.Err == nil || !strings.Contains(r.Err.Error(), w) {
			t.Errorf("check %s: error %q does not contain %q", hint, r.Err, w)
		}
	}
}

// webhookName is the name of m's MutatingWebhookConfiguration.
func (m *mesh) webhookName() string {
	return m.env.Chart.Find("MutatingWebhookConfiguration").GetName()
}
