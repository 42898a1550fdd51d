package rotation_test

import (
	"bytes"
	"context"
	"crypto/x509"
	"encoding/json"
	"encoding/pem"
	"fmt"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/cli-runtime/pkg/genericiooptions"
	"k8s.io/utils/ptr"

	_ "github.com/meshctl/meshctl/internal/golden"
	"github.com/meshctl/meshctl/internal/testenv"
	"github.com/meshctl/meshctl/pkg/cli"
	"github.com/meshctl/meshctl/pkg/identity"
	"github.com/meshctl/meshctl/pkg/install"
	"github.com/meshctl/meshctl/pkg/kube"
	"github.com/meshctl/meshctl/pkg/meshconfig"
	"github.com/meshctl/meshctl/pkg/meshconfig/meshconfigtest"
	"github.com/meshctl/meshctl/pkg/proxy/admin"
	"github.com/meshctl/meshctl/pkg/proxy/credentials"
	"github.com/meshctl/meshctl/pkg/proxyconfig"
	"github.com/meshctl/meshctl/pkg/proxyconfig/wire"
	"github.com/meshctl/meshctl/pkg/rotation"
)

var env *testenv.Env

func TestMain(m *testing.M) { testenv.Main(m, &env) }

// mesh is a mesh CA as meshctl install makes it, in a namespace of its
// own, with proxies whose status the test computes from the cluster.
type mesh struct {
	name, ns string
	proxies  *proxies
}

func newMesh(t *testing.T, pods int) *mesh {
	t.Helper()
	ctx := testenv.Context(t)
	meshconfigtest.InstallCRDs(t, env.Config)
	m := &mesh{name: testenv.UniqueName("mesh"), ns: env.Namespace(t, nil)}
	meshconfigtest.InstallMesh(t, env.Clients.Dynamic, m.name, m.ns)
	a, err := identity.GenerateAnchor(identity.DefaultTrustDomain, 0, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	is, err := identity.GenerateIssuer(a, 0, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	key, err := a.KeyPEM()
	if err != nil {
		t.Fatal(err)
	}
	crt, isKey, caCrt, err := is.SecretData()
	if err != nil {
		t.Fatal(err)
	}
	labels := map[string]string{install.LabelManagedBy: install.ManagedByMeshctl}
	for _, s := range []*corev1.Secret{
		{ObjectMeta: metav1.ObjectMeta{Name: meshconfig.AnchorSecretName, Labels: labels}, Type: corev1.SecretTypeTLS,
			Data: map[string][]byte{corev1.TLSCertKey: a.CertificatePEM(), corev1.TLSPrivateKeyKey: key}},
		{ObjectMeta: metav1.ObjectMeta{Name: meshconfig.IssuerSecretName, Labels: labels}, Type: corev1.SecretTypeTLS,
			Data: map[string][]byte{corev1.TLSCertKey: crt, corev1.TLSPrivateKeyKey: isKey, corev1.ServiceAccountRootCAKey: caCrt}},
	} {
		if _, err := env.Clients.Kube.CoreV1().Secrets(m.ns).Create(ctx, s, metav1.CreateOptions{}); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := env.Clients.Kube.CoreV1().ConfigMaps(m.ns).Create(ctx, &corev1.ConfigMap{
		ObjectMeta: metav1.ObjectMeta{Name: meshconfig.TrustBundleName, Labels: labels},
		Data:       map[string]string{meshconfig.TrustBundleKey: string(a.CertificatePEM())},
	}, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	m.proxies = &proxies{t: t, ns: m.ns}
	app := env.Namespace(t, nil)
	for i := range pods {
		m.proxyPod(t, app, fmt.Sprintf("app-%d", i), m.ns)
	}
	// A proxy of another mesh is not waited for: it never changes.
	m.proxyPod(t, app, "other-mesh", "other-mesh-system")
	return m
}

// proxyPod creates a ready pod whose proxy talks to the controller of
// namespace ctrlNS.
func (m *mesh) proxyPod(t *testing.T, ns, name, ctrlNS string) {
	t.Helper()
	ctx := testenv.Context(t)
	pc, err := proxyconfig.New(meshconfig.DefaultSpec())
	if err != nil {
		t.Fatal(err)
	}
	c, err := pc.ForWorkload("pod/"+name, nil)
	if err != nil {
		t.Fatal(err)
	}
	proxy := c.NativeSidecarContainer()
	run := c.Run()
	ctrl, err := meshconfig.ControllerID(identity.DefaultTrustDomain, ctrlNS)
	if err != nil {
		t.Fatal(err)
	}
	run.Identity = &wire.Identity{ControllerAddress: meshconfig.ControllerAddress(ctrlNS), ControllerID: ctrl}
	proxy.Args = run.Args()
	p, err := env.Clients.Kube.CoreV1().Pods(ns).Create(ctx, &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Name: name},
		Spec: corev1.PodSpec{
			ServiceAccountName: "default", AutomountServiceAccountToken: ptr.To(false),
			InitContainers: []corev1.Container{c.InitContainer(), proxy},
			Containers:     []corev1.Container{{Name: "app", Image: "app:1"}},
		},
	}, metav1.CreateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	p.Status.Phase = corev1.PodRunning
	p.Status.InitContainerStatuses = []corev1.ContainerStatus{{Name: proxy.Name, Image: proxy.Image, Ready: true, State: corev1.ContainerState{Running: &corev1.ContainerStateRunning{}}}}
	if _, err := env.Clients.Kube.CoreV1().Pods(ns).UpdateStatus(ctx, p, metav1.UpdateOptions{}); err != nil {
		t.Fatal(err)
	}
}

// proxies answer for every proxy as a healthy one would: it trusts the
// bundle ConfigMap's anchors and holds a certificate of the issuer
// Secret's issuer, read from the API server at each question. Each answer
// also checks what no step may ever do: let a proxy hold a certificate
// that some proxy's bundle does not trust.
type proxies struct {
	t  *testing.T
	ns string
	// frozen, while set, keeps answering with the state of that moment: a
	// fleet whose kubelets have not refreshed the bundle yet.
	frozen atomic.Pointer[credentials.Status]
	// asked counts the answers.
	asked atomic.Int32

	mu        sync.Mutex
	violation string
}

func (p *proxies) read(ctx context.Context, _, _ string) (admin.Status, error) {
	p.asked.Add(1)
	if f := p.frozen.Load(); f != nil {
		return admin.Status{Identity: f}, nil
	}
	st := p.now(ctx)
	return admin.Status{Identity: st}, nil
}

func (p *proxies) now(ctx context.Context) *credentials.Status {
	sec, err := env.Clients.Kube.CoreV1().Secrets(p.ns).Get(ctx, meshconfig.IssuerSecretName, metav1.GetOptions{})
	if err != nil {
		p.fail(err.Error())
		return nil
	}
	cm, err := env.Clients.Kube.CoreV1().ConfigMaps(p.ns).Get(ctx, meshconfig.TrustBundleName, metav1.GetOptions{})
	if err != nil {
		p.fail(err.Error())
		return nil
	}
	bundle := []byte(cm.Data[meshconfig.TrustBundleKey])
	if _, err := identity.LoadIssuer(sec.Data[corev1.TLSCertKey], sec.Data[corev1.TLSPrivateKeyKey], bundle, time.Now()); err != nil {
		p.fail("the issuer does not chain to the bundle: " + err.Error())
	}
	st := &credentials.Status{Certificate: &credentials.CertificateStatus{Issuer: firstFP(p.t, sec.Data[corev1.TLSCertKey])}}
	for rest := bundle; ; {
		var b *pem.Block
		if b, rest = pem.Decode(rest); b == nil {
			break
		}
		st.Anchors = append(st.Anchors, credentials.AnchorStatus{Fingerprint: identity.Fingerprint(b.Bytes)})
	}
	return st
}

func (p *proxies) fail(s string) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.violation == "" {
		p.violation = s
	}
}

func (p *proxies) check(t *testing.T) {
	t.Helper()
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.violation != "" {
		t.Fatal(p.violation)
	}
}

func firstFP(t testing.TB, pemData []byte) string {
	t.Helper()
	b, _ := pem.Decode(pemData)
	if b == nil {
		t.Fatal("no PEM block")
	}
	return identity.Fingerprint(b.Bytes)
}

// rotate runs `meshctl identity rotate` against m.
func (m *mesh) rotate(t *testing.T, anchor bool, timeout time.Duration) (*rotation.Result, string, error) {
	t.Helper()
	var out, errOut bytes.Buffer
	o := &rotation.Options{
		IOStreams: genericiooptions.IOStreams{Out: &out, ErrOut: &errOut},
		Anchor:    anchor, Timeout: timeout, Output: cli.FormatJSON, MeshName: m.name, MeshNamespace: m.ns,
		Clients:    func() (*kube.Clients, error) { return env.Clients, nil },
		ReadStatus: m.proxies.read, Poll: 20 * time.Millisecond,
	}
	if err := o.Validate(); err != nil {
		t.Fatal(err)
	}
	err := o.Run(testenv.Context(t))
	if err != nil {
		if out.Len() != 0 {
			t.Errorf("a failed rotation printed on stdout: %q", out.String())
		}
		return nil, errOut.String(), err
	}
	var res rotation.Result
	if err := json.Unmarshal(out.Bytes(), &res); err != nil {
		t.Fatalf("stdout %q: %v", out.String(), err)
	}
	return &res, errOut.String(), nil
}

// state is the mesh CA as stored.
type state struct {
	anchor, issuer string   // fingerprints
	issuerSignedBy string   // fingerprint of the anchor that signed the issuer, if it is the anchor Secret's
	bundle         []string // fingerprints
	retiring       string
}

func (m *mesh) state(t *testing.T) state {
	t.Helper()
	ctx := testenv.Context(t)
	a, err := env.Clients.Kube.CoreV1().Secrets(m.ns).Get(ctx, meshconfig.AnchorSecretName, metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	is, err := env.Clients.Kube.CoreV1().Secrets(m.ns).Get(ctx, meshconfig.IssuerSecretName, metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	st := state{anchor: firstFP(t, a.Data[corev1.TLSCertKey]), issuer: firstFP(t, is.Data[corev1.TLSCertKey]), retiring: a.Annotations[rotation.AnnotationRetiringAnchor]}
	parse := func(pemData []byte) *x509.Certificate {
		b, _ := pem.Decode(pemData)
		c, err := x509.ParseCertificate(b.Bytes)
		if err != nil {
			t.Fatal(err)
		}
		return c
	}
	if parse(is.Data[corev1.TLSCertKey]).CheckSignatureFrom(parse(a.Data[corev1.TLSCertKey])) == nil {
		st.issuerSignedBy = st.anchor
	}
	for _, a := range m.proxies.now(ctx).Anchors {
		st.bundle = append(st.bundle, a.Fingerprint)
	}
	return st
}

// TestRotateIssuer: a new issuer signed by the same anchor, the bundle
// untouched, every proxy of the mesh waited for.
func TestRotateIssuer(t *testing.T) {
	m := newMesh(t, 3)
	before := m.state(t)
	res, progress, err := m.rotate(t, false, time.Minute)
	if err != nil {
		t.Fatal(err)
	}
	after := m.state(t)
	m.proxies.check(t)
	if after.issuer == before.issuer || after.issuerSignedBy != before.anchor || after.anchor != before.anchor {
		t.Errorf("before %+v, after %+v: want a new issuer signed by the same anchor", before, after)
	}
	if strings.Join(after.bundle, ",") != strings.Join(before.bundle, ",") {
		t.Errorf("the bundle changed: %v -> %v", before.bundle, after.bundle)
	}
	if res.Issuer == nil || res.Issuer.Old != before.issuer || res.Issuer.New != after.issuer || res.Anchor != nil || res.Proxies != 3 {
		t.Errorf("result %+v: want issuer %s -> %s for 3 proxies", res, before.issuer, after.issuer)
	}
	if !strings.Contains(progress, "holding a certificate of the new issuer: 3/3 proxies") {
		t.Errorf("progress does not say every proxy was waited for:\n%s", progress)
	}
}

// TestRotateAnchor: the three steps end with one new anchor in the
// bundle, an issuer it signed, and no mark left; at no moment does the
// issuer fall outside the bundle (proxies.check).
func TestRotateAnchor(t *testing.T) {
	m := newMesh(t, 2)
	before := m.state(t)
	res, progress, err := m.rotate(t, true, time.Minute)
	if err != nil {
		t.Fatal(err)
	}
	m.proxies.check(t)
	after := m.state(t)
	if after.anchor == before.anchor || after.issuerSignedBy != after.anchor || after.retiring != "" ||
		len(after.bundle) != 1 || after.bundle[0] != after.anchor {
		t.Errorf("after %+v: want a new anchor alone in the bundle, an issuer it signed, no mark", after)
	}
	if res.Anchor == nil || res.Anchor.Old != before.anchor || res.Anchor.New != after.anchor || res.Issuer == nil || res.Issuer.New != after.issuer {
		t.Errorf("result %+v", res)
	}
	for _, step := range []string{"Step 1/3", "Step 2/3", "Step 3/3", "trusting the new anchor: 2/2", "no longer trusting the old anchor: 2/2"} {
		if !strings.Contains(progress, step) {
			t.Errorf("progress lacks %q:\n%s", step, progress)
		}
	}
}

// TestAnchorRotationResumes: proxies that do not pick up the new bundle
// stop the rotation at its first wait, with both anchors trusted and the
// way on said; an issuer rotation is then refused, and the anchor
// rotation run again finishes with the same new anchor.
func TestAnchorRotationResumes(t *testing.T) {
	m := newMesh(t, 2)
	before := m.state(t)
	m.proxies.frozen.Store(m.proxies.now(testenv.Context(t)))
	_, _, err := m.rotate(t, true, 300*time.Millisecond)
	if err == nil || !strings.Contains(err.Error(), "trusting the new anchor: 2 of 2 proxies not there") ||
		!strings.Contains(err.Error(), "meshctl identity rotate --anchor` again") {
		t.Fatalf("err %v: want a timeout at the first step that says how to go on", err)
	}
	mid := m.state(t)
	if mid.retiring != before.anchor || len(mid.bundle) != 2 || mid.issuer != before.issuer {
		t.Fatalf("stopped in state %+v: want both anchors in the bundle, the old issuer, the mark", mid)
	}
	if _, _, err := m.rotate(t, false, time.Minute); err == nil || !strings.Contains(err.Error(), "an anchor rotation was started and not finished") {
		t.Fatalf("an issuer rotation in the middle of an anchor rotation: %v", err)
	}
	m.proxies.frozen.Store(nil)
	res, progress, err := m.rotate(t, true, time.Minute)
	if err != nil {
		t.Fatal(err)
	}
	m.proxies.check(t)
	after := m.state(t)
	if after.anchor != mid.anchor || after.retiring != "" || len(after.bundle) != 1 || after.bundle[0] != mid.anchor || after.issuerSignedBy != mid.anchor {
		t.Errorf("after %+v: want the anchor of the first run alone, an issuer it signed", after)
	}
	if !strings.Contains(progress, "Finishing the anchor rotation") || res.Anchor == nil || res.Anchor.Old != before.anchor {
		t.Errorf("result %+v, progress:\n%s", res, progress)
	}
}

// TestRefusesACAItDidNotMake: an issuer someone else brought is not
// replaced, and nothing is changed.
func TestRefusesACAItDidNotMake(t *testing.T) {
	m := newMesh(t, 1)
	ctx := testenv.Context(t)
	before := m.state(t)
	sec, err := env.Clients.Kube.CoreV1().Secrets(m.ns).Get(ctx, meshconfig.IssuerSecretName, metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	sec.Labels = map[string]string{install.LabelManagedBy: "cert-manager"}
	if _, err := env.Clients.Kube.CoreV1().Secrets(m.ns).Update(ctx, sec, metav1.UpdateOptions{}); err != nil {
		t.Fatal(err)
	}
	for _, anchor := range []bool{false, true} {
		if _, _, err := m.rotate(t, anchor, time.Minute); err == nil || !strings.Contains(err.Error(), "was not generated by meshctl") {
			t.Errorf("anchor %v: err %v, want a refusal", anchor, err)
		}
	}
	if after := m.state(t); fmt.Sprint(after) != fmt.Sprint(before) {
		t.Errorf("the CA changed: %+v -> %+v", before, after)
	}

	if err := env.Clients.Kube.CoreV1().Secrets(m.ns).Delete(ctx, meshconfig.AnchorSecretName, metav1.DeleteOptions{}); err != nil {
		t.Fatal(err)
	}
	sec.Labels = map[string]string{install.LabelManagedBy: install.ManagedByMeshctl}
	sec.ResourceVersion = ""
	if _, err := env.Clients.Kube.CoreV1().Secrets(m.ns).Update(ctx, sec, metav1.UpdateOptions{}); err != nil {
		t.Fatal(err)
	}
	if _, _, err := m.rotate(t, false, time.Minute); err == nil || !strings.Contains(err.Error(), "the trust anchor's key is not in the cluster") {
		t.Errorf("without the anchor Secret: %v", err)
	}
}
