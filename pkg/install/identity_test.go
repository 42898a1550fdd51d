package install

import (
	"bytes"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/cli-runtime/pkg/genericiooptions"

	"github.com/meshctl/meshctl/internal/testenv"
	"github.com/meshctl/meshctl/pkg/identity"
	"github.com/meshctl/meshctl/pkg/meshconfig"
)

func TestIdentityOptionsValidate(t *testing.T) {
	tests := []struct {
		name string
		o    IdentityOptions
		want string // empty: valid
	}{
		{"generate", IdentityOptions{}, ""},
		{"external", IdentityOptions{ExternalIssuer: true}, ""},
		{"files", IdentityOptions{TrustAnchorsFile: "a", IssuerCertificateFile: "c", IssuerKeyFile: "k"}, ""},
		{"files without key", IdentityOptions{TrustAnchorsFile: "a", IssuerCertificateFile: "c"}, "go together"},
		{"key alone", IdentityOptions{IssuerKeyFile: "k"}, "go together"},
		{"external and files", IdentityOptions{ExternalIssuer: true, TrustAnchorsFile: "a", IssuerCertificateFile: "c", IssuerKeyFile: "k"}, "cannot be combined"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := tt.o.validate()
			if (err == nil) != (tt.want == "") || err != nil && !strings.Contains(err.Error(), tt.want) {
				t.Errorf("validate() = %v, want %q", err, tt.want)
			}
		})
	}
}

func TestTrustDomainOfValues(t *testing.T) {
	tests := []struct {
		values map[string]any
		want   string
	}{
		{nil, meshconfig.DefaultTrustDomain},
		{map[string]any{"meshConfig": map[string]any{}}, meshconfig.DefaultTrustDomain},
		{map[string]any{"meshConfig": map[string]any{"identity": map[string]any{"trustDomain": ""}}}, meshconfig.DefaultTrustDomain},
		{map[string]any{"meshConfig": map[string]any{"identity": map[string]any{"trustDomain": "prod.example"}}}, "prod.example"},
	}
	for _, tt := range tests {
		if got := trustDomain(tt.values); got != tt.want {
			t.Errorf("trustDomain(%v) = %q, want %q", tt.values, got, tt.want)
		}
	}
}

// caObjects reads the mesh CA of a control-plane namespace; a missing
// object is nil.
type caObjects struct {
	issuer, anchor *corev1.Secret
	bundle         *corev1.ConfigMap
}

func readCAObjects(t *testing.T, ns string) caObjects {
	t.Helper()
	ctx := testenv.Context(t)
	var c caObjects
	var err error
	if c.issuer, err = env.Clients.Kube.CoreV1().Secrets(ns).Get(ctx, meshconfig.IssuerSecretName, metav1.GetOptions{}); apierrors.IsNotFound(err) {
		c.issuer = nil
	} else if err != nil {
		t.Fatal(err)
	}
	if c.anchor, err = env.Clients.Kube.CoreV1().Secrets(ns).Get(ctx, meshconfig.AnchorSecretName, metav1.GetOptions{}); apierrors.IsNotFound(err) {
		c.anchor = nil
	} else if err != nil {
		t.Fatal(err)
	}
	if c.bundle, err = env.Clients.Kube.CoreV1().ConfigMaps(ns).Get(ctx, meshconfig.TrustBundleName, metav1.GetOptions{}); apierrors.IsNotFound(err) {
		c.bundle = nil
	} else if err != nil {
		t.Fatal(err)
	}
	return c
}

func (c caObjects) none() bool { return c.issuer == nil && c.anchor == nil && c.bundle == nil }

// fingerprint is the CA as bytes: every object's data and resourceVersion,
// so that a rewrite with the same data shows too.
func (c caObjects) fingerprint(t *testing.T) string {
	t.Helper()
	b, err := json.Marshal([]any{c.issuer, c.anchor, c.bundle})
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

func hasChange(res *Result, line string) bool {
	for _, c := range res.Changes {
		if c.String() == line {
			return true
		}
	}
	return false
}

func TestInstallGeneratesMeshCA(t *testing.T) {
	d, res := installMesh(t)
	ca := readCAObjects(t, d.Namespace)
	if ca.issuer == nil || ca.anchor == nil || ca.bundle == nil {
		t.Fatalf("install did not create the CA: %+v", ca)
	}
	if ca.issuer.Type != corev1.SecretTypeTLS || len(ca.issuer.Data) != 3 ||
		len(ca.issuer.Data["tls.crt"]) == 0 || len(ca.issuer.Data["tls.key"]) == 0 || len(ca.issuer.Data["ca.crt"]) == 0 {
		t.Errorf("issuer secret: type %s, keys %v; want kubernetes.io/tls with tls.crt, tls.key, ca.crt", ca.issuer.Type, keys(ca.issuer.Data))
	}
	if len(ca.anchor.Data["tls.crt"]) == 0 || len(ca.anchor.Data["tls.key"]) == 0 {
		t.Errorf("anchor secret keys %v, want its certificate and key", keys(ca.anchor.Data))
	}
	bundle := ca.bundle.Data[meshconfig.TrustBundleKey]
	if bundle != string(ca.anchor.Data["tls.crt"]) || bundle != string(ca.issuer.Data["ca.crt"]) {
		t.Errorf("the bundle is not the anchor:\nbundle %q\nanchor %q", bundle, ca.anchor.Data["tls.crt"])
	}
	if strings.Contains(bundle, "PRIVATE KEY") || bytes.Contains(ca.issuer.Data["ca.crt"], []byte("PRIVATE KEY")) {
		t.Error("a private key is in the bundle or ca.crt")
	}
	// The issuer verifies against the bundle, as the controller and the
	// proxies will use it.
	is, err := identity.LoadIssuer(ca.issuer.Data["tls.crt"], ca.issuer.Data["tls.key"], []byte(bundle), time.Now())
	if err != nil {
		t.Fatalf("the issuer does not load against the bundle: %v", err)
	}
	if left := time.Until(is.ChainNotAfter()); left < 364*24*time.Hour || left > 366*24*time.Hour {
		t.Errorf("issuer valid for %s, want a year", left)
	}
	b, err := identity.NewBundle(meshconfig.DefaultTrustDomain, []byte(bundle))
	if err != nil {
		t.Fatal(err)
	}
	anchor := b.Anchors()[0]
	if left := time.Until(anchor.NotAfter); left < 3649*24*time.Hour {
		t.Errorf("anchor valid for %s, want 10 years", left)
	}
	if !strings.Contains(anchor.Subject.CommonName, meshconfig.DefaultTrustDomain) {
		t.Errorf("anchor subject %q does not name the trust domain", anchor.Subject)
	}
	for _, o := range []metav1.Object{ca.issuer, ca.anchor, ca.bundle} {
		l := o.GetLabels()
		if l[meshconfig.LabelPartOf] != meshconfig.PartOfValue || l[meshconfig.LabelMeshName] != d.MeshName || l[LabelManagedBy] != ManagedByMeshctl {
			t.Errorf("%s labels %v", o.GetName(), l)
		}
	}
	for _, want := range []string{"secret/" + meshconfig.IssuerSecretName + " created", "secret/" + meshconfig.AnchorSecretName + " created", "configmap/" + meshconfig.TrustBundleName + " created"} {
		if !hasChange(res, want) {
			t.Errorf("changes lack %q: %v", want, res.Changes)
		}
	}
	// No key, and not the CA itself, goes into the Helm release.
	rel, err := d.Helm.Releases.Last(d.MeshName)
	if err != nil {
		t.Fatal(err)
	}
	stored, err := json.Marshal(rel)
	if err != nil {
		t.Fatal(err)
	}
	anchorKey := strings.TrimSpace(string(ca.anchor.Data["tls.key"]))
	for _, secret := range []string{"PRIVATE KEY", anchorKey[30:60], string(ca.issuer.Data["tls.key"][30:60])} {
		if bytes.Contains(stored, []byte(secret)) {
			t.Errorf("the Helm release holds %q", secret)
		}
	}
	// Uninstall deletes what install generated.
	if _, err := d.Uninstall(testenv.Context(t), &UninstallOptions{IOStreams: genericiooptions.NewTestIOStreamsDiscard()}); err != nil {
		t.Fatal(err)
	}
	if ca := readCAObjects(t, d.Namespace); !ca.none() {
		t.Errorf("uninstall left %+v", ca)
	}
}

// The anchor is made in the trust domain of the values.
func TestGeneratedCAInTrustDomain(t *testing.T) {
	d := newTestDeps(t, testenv.UniqueName("mesh"), env.Namespace(t, nil))
	user := map[string]any{"meshConfig": map[string]any{"identity": map[string]any{"trustDomain": "prod.example"}}}
	p, err := d.planCA(testenv.Context(t), IdentityOptions{}, nil, trustDomain(overlay(d.Chart.Values, user)), time.Now(), false)
	if err != nil {
		t.Fatal(err)
	}
	b, err := identity.NewBundle("prod.example", p.anchor.Data["tls.crt"])
	if err != nil {
		t.Fatal(err)
	}
	if cn := b.Anchors()[0].Subject.CommonName; !strings.HasSuffix(cn, " prod.example") {
		t.Errorf("anchor common name %q, want the trust domain prod.example", cn)
	}
	if ca := readCAObjects(t, d.Namespace); !ca.none() {
		t.Errorf("planning created %+v", ca)
	}
}

func keys[V any](m map[string]V) []string {
	var out []string
	for k := range m {
		out = append(out, k)
	}
	return out
}

// Neither a refused second install nor upgrades touch the CA: same bytes,
// same resourceVersions.
func TestUpgradeAndSecondInstallKeepMeshCA(t *testing.T) {
	d, _ := installMesh(t)
	before := readCAObjects(t, d.Namespace).fingerprint(t)
	if _, err := d.Install(testenv.Context(t), installOptions()); err == nil {
		t.Fatal("second install succeeded")
	}
	for i := range 2 {
		up := &UpgradeOptions{ReleaseOptions: ReleaseOptions{IOStreams: genericiooptions.NewTestIOStreamsDiscard(), Timeout: testTimeout, Atomic: true}}
		res, err := newTestDeps(t, d.MeshName, d.Namespace).Upgrade(testenv.Context(t), up)
		if err != nil {
			t.Fatalf("upgrade %d: %v", i+1, err)
		}
		if !hasChange(res, "secret/"+meshconfig.IssuerSecretName+" kept") || !hasChange(res, "configmap/"+meshconfig.TrustBundleName+" kept") {
			t.Errorf("upgrade %d changes: %v", i+1, res.Changes)
		}
	}
	if after := readCAObjects(t, d.Namespace).fingerprint(t); after != before {
		t.Errorf("the CA changed:\nbefore %s\nafter  %s", before, after)
	}
}

// A mesh installed before meshctl made a CA gets one on upgrade.
func TestUpgradeCreatesMissingMeshCA(t *testing.T) {
	d, _ := installMesh(t)
	ctx := testenv.Context(t)
	for _, n := range []string{meshconfig.IssuerSecretName, meshconfig.AnchorSecretName} {
		if err := env.Clients.Kube.CoreV1().Secrets(d.Namespace).Delete(ctx, n, metav1.DeleteOptions{}); err != nil {
			t.Fatal(err)
		}
	}
	if err := env.Clients.Kube.CoreV1().ConfigMaps(d.Namespace).Delete(ctx, meshconfig.TrustBundleName, metav1.DeleteOptions{}); err != nil {
		t.Fatal(err)
	}
	up := &UpgradeOptions{ReleaseOptions: ReleaseOptions{IOStreams: genericiooptions.NewTestIOStreamsDiscard(), Timeout: testTimeout, Atomic: true}}
	if _, err := newTestDeps(t, d.MeshName, d.Namespace).Upgrade(ctx, up); err != nil {
		t.Fatal(err)
	}
	ca := readCAObjects(t, d.Namespace)
	if ca.issuer == nil || ca.anchor == nil || ca.bundle == nil {
		t.Errorf("upgrade did not create the missing CA: %+v", ca)
	}
}

// A Helm install that fails leaves no CA behind, and spares what was
// there before it: here the user's own issuer.
func TestFailedInstallRemovesTheCAItCreated(t *testing.T) {
	t.Run("generated", func(t *testing.T) {
		ns := env.Namespace(t, nil)
		d := newTestDeps(t, testenv.UniqueName("mesh"), ns)
		t.Cleanup(func() { uninstallQuietly(t, d) })
		_, err := d.Install(testenv.Context(t), installOptions("controller.resources.limits.memory=lots"))
		if err == nil || !strings.Contains(err.Error(), "rolled back") {
			t.Fatalf("err = %v, want a rollback", err)
		}
		if ca := readCAObjects(t, ns); !ca.none() {
			t.Errorf("the failed install left %+v", ca)
		}
	})
	t.Run("external issuer kept", func(t *testing.T) {
		ns := env.Namespace(t, nil)
		d := newTestDeps(t, testenv.UniqueName("mesh"), ns)
		// Labelled as the mesh's, so that only the rollback's care spares it.
		issuer := createIssuerSecret(t, ns, newIssuer(t, time.Now()), map[string]string{meshconfig.LabelPartOf: meshconfig.PartOfValue, meshconfig.LabelMeshName: d.MeshName})
		t.Cleanup(func() { uninstallQuietly(t, d) })
		o := installOptions("controller.resources.limits.memory=lots")
		o.Identity.ExternalIssuer = true
		if _, err := d.Install(testenv.Context(t), o); err == nil || !strings.Contains(err.Error(), "rolled back") {
			t.Fatalf("err = %v, want a rollback", err)
		}
		ca := readCAObjects(t, ns)
		if ca.issuer == nil || ca.issuer.ResourceVersion != issuer.ResourceVersion {
			t.Errorf("the rollback touched the user's issuer: %v", ca.issuer)
		}
		if ca.bundle != nil || ca.anchor != nil {
			t.Errorf("the rollback left the bundle it created (%v) or an anchor (%v)", ca.bundle != nil, ca.anchor != nil)
		}
	})
}

// newIssuer is an issuer as cert-manager would keep it.
func newIssuer(t *testing.T, now time.Time) *identity.Issuer {
	t.Helper()
	a, err := identity.GenerateAnchor(meshconfig.DefaultTrustDomain, 0, now)
	if err != nil {
		t.Fatal(err)
	}
	is, err := identity.GenerateIssuer(a, 0, now)
	if err != nil {
		t.Fatal(err)
	}
	return is
}

func createIssuerSecret(t *testing.T, ns string, is *identity.Issuer, labels map[string]string) *corev1.Secret {
	t.Helper()
	crt, key, ca, err := is.SecretData()
	if err != nil {
		t.Fatal(err)
	}
	s := &corev1.Secret{
		ObjectMeta: metav1.ObjectMeta{Name: meshconfig.IssuerSecretName, Namespace: ns, Labels: labels, Annotations: map[string]string{"cert-manager.io/certificate-name": "mesh-identity-issuer"}},
		Type:       corev1.SecretTypeTLS,
		Data:       map[string][]byte{"tls.crt": crt, "tls.key": key, "ca.crt": ca},
	}
	got, err := env.Clients.Kube.CoreV1().Secrets(ns).Create(testenv.Context(t), s, metav1.CreateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	return got
}

func TestExternalIssuer(t *testing.T) {
	t.Run("missing secret is refused and nothing applied", func(t *testing.T) {
		ns := testenv.UniqueName("ext")
		d := newTestDeps(t, testenv.UniqueName("mesh"), ns)
		t.Cleanup(func() { uninstallQuietly(t, d) })
		o := installOptions()
		o.Identity.ExternalIssuer = true
		_, err := d.Install(testenv.Context(t), o)
		for _, want := range []string{"secret " + ns + "/" + meshconfig.IssuerSecretName + " is missing", "cert-manager Certificate", "secretName " + meshconfig.IssuerSecretName, "without --identity-external-issuer"} {
			if err == nil || !strings.Contains(err.Error(), want) {
				t.Errorf("err = %v, want %q", err, want)
			}
		}
		if _, err := env.Clients.Kube.CoreV1().Namespaces().Get(testenv.Context(t), ns, metav1.GetOptions{}); !apierrors.IsNotFound(err) {
			t.Errorf("namespace %s: %v, want not created", ns, err)
		}
		if got := releaseSecrets(t, d); len(got) > 0 {
			t.Errorf("release secrets %v", got)
		}
		if got := meshObjects(t, d.MeshName); len(got) > 0 {
			t.Errorf("created %v", got)
		}
	})
	t.Run("existing secret is used, never touched", func(t *testing.T) {
		ns := env.Namespace(t, nil)
		issuer := createIssuerSecret(t, ns, newIssuer(t, time.Now()), nil)
		d := newTestDeps(t, testenv.UniqueName("mesh"), ns)
		t.Cleanup(func() { uninstallQuietly(t, d) })
		o := installOptions()
		o.Identity.ExternalIssuer = true
		res, err := d.Install(testenv.Context(t), o)
		if err != nil {
			t.Fatal(err)
		}
		ca := readCAObjects(t, ns)
		if ca.issuer.ResourceVersion != issuer.ResourceVersion || ca.anchor != nil {
			t.Errorf("issuer rewritten (%v) or an anchor generated (%v)", ca.issuer.ResourceVersion != issuer.ResourceVersion, ca.anchor != nil)
		}
		if ca.bundle == nil || ca.bundle.Data[meshconfig.TrustBundleKey] != string(issuer.Data["ca.crt"]) {
			t.Errorf("the bundle is not built from ca.crt: %v", ca.bundle)
		}
		if !hasChange(res, "secret/"+meshconfig.IssuerSecretName+" kept") || !hasChange(res, "configmap/"+meshconfig.TrustBundleName+" created") {
			t.Errorf("changes %v", res.Changes)
		}
		// Uninstall deletes the bundle meshctl built, not the user's issuer.
		if _, err := d.Uninstall(testenv.Context(t), &UninstallOptions{IOStreams: genericiooptions.NewTestIOStreamsDiscard()}); err != nil {
			t.Fatal(err)
		}
		ca = readCAObjects(t, ns)
		if ca.issuer == nil || ca.bundle != nil {
			t.Errorf("after uninstall: issuer kept %v, bundle deleted %v", ca.issuer != nil, ca.bundle == nil)
		}
	})
	t.Run("bundle that does not trust it is refused", func(t *testing.T) {
		ns := env.Namespace(t, nil)
		createIssuerSecret(t, ns, newIssuer(t, time.Now()), nil)
		_, _, otherCA, err := newIssuer(t, time.Now()).SecretData()
		if err != nil {
			t.Fatal(err)
		}
		cm := &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Name: meshconfig.TrustBundleName}, Data: map[string]string{meshconfig.TrustBundleKey: string(otherCA)}}
		if _, err := env.Clients.Kube.CoreV1().ConfigMaps(ns).Create(testenv.Context(t), cm, metav1.CreateOptions{}); err != nil {
			t.Fatal(err)
		}
		d := newTestDeps(t, testenv.UniqueName("mesh"), ns)
		t.Cleanup(func() { uninstallQuietly(t, d) })
		o := installOptions()
		o.Identity.ExternalIssuer = true
		_, err = d.Install(testenv.Context(t), o)
		if err == nil || !strings.Contains(err.Error(), "does not trust the issuer") || !strings.Contains(err.Error(), "configmap "+ns+"/"+meshconfig.TrustBundleName) {
			t.Errorf("err = %v", err)
		}
		if got := releaseSecrets(t, d); len(got) > 0 {
			t.Errorf("release secrets %v", got)
		}
	})
	t.Run("expired issuer is refused", func(t *testing.T) {
		ns := env.Namespace(t, nil)
		createIssuerSecret(t, ns, newIssuer(t, time.Now().Add(-2*365*24*time.Hour)), nil)
		d := newTestDeps(t, testenv.UniqueName("mesh"), ns)
		t.Cleanup(func() { uninstallQuietly(t, d) })
		o := installOptions()
		o.Identity.ExternalIssuer = true
		_, err := d.Install(testenv.Context(t), o)
		if err == nil || !strings.Contains(err.Error(), "does not hold a usable issuer") || !strings.Contains(err.Error(), "renew") {
			t.Errorf("err = %v", err)
		}
		if ca := readCAObjects(t, ns); ca.bundle != nil {
			t.Error("a bundle was created")
		}
	})
}

// A CA left half-made (an anchor, or a bundle, without the issuer) is
// refused rather than replaced.
func TestHalfMadeCARefused(t *testing.T) {
	ns := env.Namespace(t, nil)
	cm := &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Name: meshconfig.TrustBundleName}, Data: map[string]string{meshconfig.TrustBundleKey: "x"}}
	if _, err := env.Clients.Kube.CoreV1().ConfigMaps(ns).Create(testenv.Context(t), cm, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	d := newTestDeps(t, testenv.UniqueName("mesh"), ns)
	t.Cleanup(func() { uninstallQuietly(t, d) })
	_, err := d.Install(testenv.Context(t), installOptions())
	if err == nil || !strings.Contains(err.Error(), "holds part of a mesh CA") || !strings.Contains(err.Error(), "never replaces") {
		t.Errorf("err = %v", err)
	}
	if ca := readCAObjects(t, ns); ca.issuer != nil || ca.anchor != nil || ca.bundle.Data[meshconfig.TrustBundleKey] != "x" {
		t.Errorf("the CA was touched: %+v", ca)
	}
}

func writePKI(t *testing.T, is *identity.Issuer) IdentityOptions {
	t.Helper()
	dir := t.TempDir()
	crt, key, ca, err := is.SecretData()
	if err != nil {
		t.Fatal(err)
	}
	o := IdentityOptions{TrustAnchorsFile: filepath.Join(dir, "ca.crt"), IssuerCertificateFile: filepath.Join(dir, "issuer.crt"), IssuerKeyFile: filepath.Join(dir, "issuer.key")}
	for path, data := range map[string][]byte{o.TrustAnchorsFile: ca, o.IssuerCertificateFile: crt, o.IssuerKeyFile: key} {
		if err := os.WriteFile(path, data, 0o600); err != nil {
			t.Fatal(err)
		}
	}
	return o
}

func TestIssuerFromFiles(t *testing.T) {
	is := newIssuer(t, time.Now())
	o := installOptions()
	o.Identity = writePKI(t, is)
	t.Run("stored", func(t *testing.T) {
		ns := env.Namespace(t, nil)
		d := newTestDeps(t, testenv.UniqueName("mesh"), ns)
		t.Cleanup(func() { uninstallQuietly(t, d) })
		if _, err := d.Install(testenv.Context(t), o); err != nil {
			t.Fatal(err)
		}
		ca := readCAObjects(t, ns)
		crt, _, anchors, _ := is.SecretData()
		if ca.issuer == nil || !bytes.Equal(ca.issuer.Data["tls.crt"], crt) || ca.anchor != nil || ca.bundle == nil || ca.bundle.Data[meshconfig.TrustBundleKey] != string(anchors) {
			t.Errorf("the CA does not hold the files: %+v", ca)
		}
	})
	t.Run("key of another issuer is refused before any change", func(t *testing.T) {
		bad := writePKI(t, is)
		other := writePKI(t, newIssuer(t, time.Now()))
		bad.IssuerKeyFile = other.IssuerKeyFile
		ns := testenv.UniqueName("files")
		d := newTestDeps(t, testenv.UniqueName("mesh"), ns)
		o := installOptions()
		o.Identity = bad
		for _, mode := range []DryRun{DryRunClient, DryRunNone} {
			o.DryRun = mode
			_, err := d.Install(testenv.Context(t), o)
			if err == nil || !strings.Contains(err.Error(), "--identity-issuer-key-file "+bad.IssuerKeyFile) || !strings.Contains(err.Error(), "tls.key is not the key") {
				t.Errorf("%s: err = %v", mode, err)
			}
		}
		if _, err := env.Clients.Kube.CoreV1().Namespaces().Get(testenv.Context(t), ns, metav1.GetOptions{}); !apierrors.IsNotFound(err) {
			t.Errorf("namespace %s: %v, want not created", ns, err)
		}
	})
	t.Run("existing bundle is kept if it trusts the files, refused if not", func(t *testing.T) {
		_, _, anchors, err := is.SecretData()
		if err != nil {
			t.Fatal(err)
		}
		_, _, other, err := newIssuer(t, time.Now()).SecretData()
		if err != nil {
			t.Fatal(err)
		}
		for _, tc := range []struct {
			bundle []byte
			ok     bool
		}{{append(append([]byte{}, other...), anchors...), true}, {other, false}} {
			ns := env.Namespace(t, nil)
			cm := &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Name: meshconfig.TrustBundleName}, Data: map[string]string{meshconfig.TrustBundleKey: string(tc.bundle)}}
			before, err := env.Clients.Kube.CoreV1().ConfigMaps(ns).Create(testenv.Context(t), cm, metav1.CreateOptions{})
			if err != nil {
				t.Fatal(err)
			}
			d := newTestDeps(t, testenv.UniqueName("mesh"), ns)
			t.Cleanup(func() { uninstallQuietly(t, d) })
			_, err = d.Install(testenv.Context(t), o)
			if tc.ok != (err == nil) || err != nil && !strings.Contains(err.Error(), "does not trust the issuer") {
				t.Errorf("bundle trusts the files %v: err = %v", tc.ok, err)
			}
			ca := readCAObjects(t, ns)
			if ca.bundle.ResourceVersion != before.ResourceVersion || (ca.issuer != nil) != tc.ok {
				t.Errorf("bundle trusts the files %v: bundle rewritten %v, issuer created %v", tc.ok, ca.bundle.ResourceVersion != before.ResourceVersion, ca.issuer != nil)
			}
		}
	})
	t.Run("existing other issuer is not replaced", func(t *testing.T) {
		ns := env.Namespace(t, nil)
		before := createIssuerSecret(t, ns, newIssuer(t, time.Now()), nil)
		d := newTestDeps(t, testenv.UniqueName("mesh"), ns)
		t.Cleanup(func() { uninstallQuietly(t, d) })
		_, err := d.Install(testenv.Context(t), o)
		if err == nil || !strings.Contains(err.Error(), "exists with another issuer") {
			t.Errorf("err = %v", err)
		}
		if ca := readCAObjects(t, ns); ca.issuer.ResourceVersion != before.ResourceVersion || ca.bundle != nil {
			t.Errorf("the CA was touched: %+v", ca)
		}
	})
}

// Dry runs plan the CA and create nothing.
func TestInstallDryRunPlansCA(t *testing.T) {
	ns := env.Namespace(t, nil)
	d := newTestDeps(t, testenv.UniqueName("mesh"), ns)
	o := installOptions()
	o.DryRun = DryRunServer
	res, err := d.Install(testenv.Context(t), o)
	if err != nil {
		t.Fatal(err)
	}
	if !hasChange(res, "secret/"+meshconfig.IssuerSecretName+" created (dry run)") {
		t.Errorf("changes %v", res.Changes)
	}
	if ca := readCAObjects(t, ns); !ca.none() {
		t.Errorf("the dry run created %+v", ca)
	}
}
