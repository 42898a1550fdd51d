package check

import (
	"context"
	"errors"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	proxychannel "github.com/meshctl/meshctl/pkg/proxy/channel"
	"github.com/meshctl/meshctl/pkg/proxyconfig"

	corev1 "k8s.io/api/core/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"

	"github.com/meshctl/meshctl/internal/testenv"
	"github.com/meshctl/meshctl/pkg/identity"
	"github.com/meshctl/meshctl/pkg/meshconfig"
	"github.com/meshctl/meshctl/pkg/proxy/admin"
	"github.com/meshctl/meshctl/pkg/proxy/credentials"
)

// Every post-install check passes on a healthy mesh with a healthy data plane.
func TestHealthyMesh(t *testing.T) {
	m := newMesh(t)
	m.install(t)
	ns := m.enrol(t)
	m.createPod(t, ns, podSpec{name: "bookstore-1", injected: true})
	m.createPod(t, ns, podSpec{name: "finished", phase: corev1.PodSucceeded})
	var failed []string
	sum := (&Runner{}).Run(testenv.Context(t), m.env, Checks(), func(r Result) {
		if r.Status != StatusOK {
			failed = append(failed, r.Check+": "+r.Status.String()+": "+r.Err.Error())
		}
	})
	if len(failed) > 0 || sum.OK != len(Checks()) {
		t.Errorf("a healthy mesh failed checks:\n%s", strings.Join(failed, "\n"))
	}
}

func TestCRDChecks(t *testing.T) {
	m := newMesh(t)
	m.expectOK(t, Checks(), "crds-established")
	m.expectOK(t, Checks(), "crds-versions")

	// A CRD whose kind clashes with another CRD of its group is never
	// established: the API server refuses its names.
	group := testenv.UniqueName("g") + ".example.com"
	createCRD(t, testCRD(group, "Widget", "widgets", "v1"))
	clash := testCRD(group, "Widget", "gadgets", "v1")
	if _, err := env.Clients.Dynamic.Resource(crdGVR()).Create(testenv.Context(t), clash, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		for _, n := range []string{"widgets." + group, "gadgets." + group} {
			_ = env.Clients.Dynamic.Resource(crdGVR()).Delete(context.Background(), n, metav1.DeleteOptions{})
		}
	})
	waitFor(t, "the clash to be reported", func() bool {
		got, err := env.Clients.Dynamic.Resource(crdGVR()).Get(testenv.Context(t), clash.GetName(), metav1.GetOptions{})
		if err != nil {
			return false
		}
		_, why := crdCondition(got, "NamesAccepted")
		return strings.Contains(why, "KindConflict") || strings.Contains(why, "already in use")
	})
	withClash := newMesh(t, withRender(func(ch *Chart) { ch.CRDs = append(ch.CRDs, clash) }))
	withClash.expectProblem(t, Checks(), "crds-established", StatusFail, `customresourcedefinition "gadgets.`+group+`" is not established`)

	missing := newMesh(t, withRender(func(ch *Chart) {
		ch.CRDs = append(ch.CRDs, testCRD(testenv.UniqueName("g")+".example.com", "Widget", "widgets", "v1"))
	}))
	missing.expectProblem(t, Checks(), "crds-established", StatusFail, "is missing: run `meshctl install` or `meshctl upgrade`")

	// This meshctl would use a version the installed CRD does not serve.
	newer := newMesh(t, withRender(func(ch *Chart) {
		for _, crd := range ch.CRDs {
			if crd.GetName() == meshconfig.Resource+"."+meshconfig.GroupName {
				setVersionNames(crd, "v1beta1")
			}
		}
	}))
	newer.expectProblem(t, Checks(), "crds-versions", StatusFail,
		`customresourcedefinition "meshconfigs.config.meshctl.io" does not serve v1beta1 (it serves v1alpha1): run `+"`meshctl upgrade`")
}

func TestMeshConfigChecks(t *testing.T) {
	bare := newMesh(t)
	bare.expectProblem(t, Checks(), "meshconfig-exists", StatusFail, `no mesh "`+bare.name+`" installed in namespace "`+bare.ns+`"`)

	m := newMesh(t)
	m.install(t)
	m.expectOK(t, Checks(), "meshconfig-exists")
	m.expectOK(t, Checks(), "meshconfig-valid")

	// The CRD's schema takes any string as the image; injection cannot.
	patch := []byte(`{"spec":{"sidecar":{"image":"ghcr.io/MeshCtl/Proxy:v1"}}}`)
	if _, err := env.Clients.Dynamic.Resource(meshconfig.GroupVersionResource).Namespace(m.ns).Patch(testenv.Context(t), meshconfig.ObjectName, types.MergePatchType, patch, metav1.PatchOptions{}); err != nil {
		t.Fatal(err)
	}
	m.expectProblem(t, Checks(), "meshconfig-valid", StatusFail,
		"meshconfig "+m.ns+"/mesh-config", `spec.sidecar.image: Invalid value: "ghcr.io/MeshCtl/Proxy:v1": not an image reference`)
}

func TestControlPlaneChecks(t *testing.T) {
	bare := newMesh(t)
	bare.expectProblem(t, Checks(), "control-plane-exists", StatusFail, "deployment "+bare.ns+"/mesh-controller is missing")

	m := newMesh(t)
	m.install(t)
	m.expectOK(t, Checks(), "control-plane-exists")
	m.expectOK(t, Checks(), "control-plane-available")

	// The controller's pod cannot pull its image.
	m.setControllerAvailable(t, false)
	ctx := testenv.Context(t)
	dep, err := env.Clients.Kube.AppsV1().Deployments(m.ns).Get(ctx, meshconfig.ControllerName, metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	pod := &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Name: "mesh-controller-7d9f-x2x", Labels: dep.Spec.Selector.MatchLabels},
		Spec:       dep.Spec.Template.Spec,
	}
	pod, err = env.Clients.Kube.CoreV1().Pods(m.ns).Create(ctx, pod, metav1.CreateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	pod.Status = corev1.PodStatus{Phase: corev1.PodPending, ContainerStatuses: []corev1.ContainerStatus{{
		Name: "controller", Image: pod.Spec.Containers[0].Image,
		State: corev1.ContainerState{Waiting: &corev1.ContainerStateWaiting{Reason: "ImagePullBackOff", Message: `Back-off pulling image "ghcr.io/meshctl/mesh-controller"`}},
	}}}
	if _, err := env.Clients.Kube.CoreV1().Pods(m.ns).UpdateStatus(ctx, pod, metav1.UpdateOptions{}); err != nil {
		t.Fatal(err)
	}
	ev := &corev1.Event{
		ObjectMeta:     metav1.ObjectMeta{Name: pod.Name + ".1"},
		InvolvedObject: corev1.ObjectReference{Kind: "Pod", Name: pod.Name, Namespace: m.ns},
		Type:           corev1.EventTypeWarning, Reason: "Failed", Message: "Error: ErrImagePull",
		LastTimestamp: metav1.Now(),
	}
	if _, err := env.Clients.Kube.CoreV1().Events(m.ns).Create(ctx, ev, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	m.expectProblem(t, Checks(), "control-plane-available", StatusFail,
		"deployment "+m.ns+"/mesh-controller is not available: 0/2 replicas available",
		"pod mesh-controller-7d9f-x2x: container controller is waiting: ImagePullBackOff",
		"latest events of pod mesh-controller-7d9f-x2x:", "Warning Failed: Error: ErrImagePull")
}

func TestWebhookChecks(t *testing.T) {
	bare := newMesh(t)
	bare.expectProblem(t, Checks(), "webhook-exists", StatusFail, `mutatingwebhookconfiguration "`+bare.webhookName()+`" is missing`)

	m := newMesh(t)
	m.install(t)
	for _, hint := range []string{"webhook-exists", "webhook-ca-bundle", "webhook-cert-expiry", "webhook-endpoints"} {
		m.expectOK(t, Checks(), hint)
	}
	year := time.Now().Add(365 * 24 * time.Hour)
	ca := newCA(t, "mesh CA", year)

	// A caBundle from another CA than the one that signed the certificate.
	other := newCA(t, "another CA", year)
	m.setCertificate(t, other, ca.issue(t, m.dnsName(), year))
	m.expectProblem(t, Checks(), "webhook-ca-bundle", StatusFail,
		`the caBundle ("CN=another CA") does not verify the serving certificate (subject "CN=`+m.dnsName()+`", issuer "CN=mesh CA")`,
		"certificate signed by unknown authority")

	// An expired certificate: the caBundle no longer verifies it, and it is
	// reported as expired.
	m.setCertificate(t, ca, ca.issue(t, m.dnsName(), time.Now().Add(-time.Hour)))
	m.expectProblem(t, Checks(), "webhook-ca-bundle", StatusFail, "certificate has expired or is not yet valid")
	m.expectProblem(t, Checks(), "webhook-cert-expiry", StatusWarn, "the serving certificate (subject \"CN="+m.dnsName()+"\") expired on")

	// Valid, for the wrong name.
	m.setCertificate(t, ca, ca.issue(t, "somewhere-else.svc", year))
	m.expectProblem(t, Checks(), "webhook-ca-bundle", StatusFail, "for "+m.dnsName(), "certificate is valid for somewhere-else.svc")

	// Valid for ten more days.
	m.setCertificate(t, ca, ca.issue(t, m.dnsName(), time.Now().Add(10*24*time.Hour+time.Hour)))
	m.expectOK(t, Checks(), "webhook-ca-bundle")
	m.expectProblem(t, Checks(), "webhook-cert-expiry", StatusWarn, ", in 10d, within the --cert-expiry-warning of 30d")

	// An empty caBundle: the controller has not patched it.
	m.setCABundle(t, nil)
	m.expectProblem(t, Checks(), "webhook-ca-bundle", StatusFail, "caBundle: empty")

	m.setEndpoint(t, false)
	m.expectProblem(t, Checks(), "webhook-endpoints", StatusFail, "service "+m.ns+"/mesh-controller has no ready endpoints (1 not ready)")
}

func TestControlPlaneVersionCheck(t *testing.T) {
	m := newMesh(t)
	m.install(t)
	m.expectOK(t, Checks(), "control-plane-version")

	patch := []byte(`{"metadata":{"labels":{"` + meshconfig.LabelVersion + `":"v0.0.9"}}}`)
	if _, err := env.Clients.Kube.AppsV1().Deployments(m.ns).Patch(testenv.Context(t), meshconfig.ControllerName, types.MergePatchType, patch, metav1.PatchOptions{}); err != nil {
		t.Fatal(err)
	}
	m.expectProblem(t, Checks(), "control-plane-version", StatusWarn, "the control plane runs v0.0.9 and this meshctl is "+m.env.CLIVersion)
}

func TestDataPlaneChecks(t *testing.T) {
	m := newMesh(t)
	m.install(t)
	ns := m.enrol(t)
	m.createPod(t, ns, podSpec{name: "good", injected: true, owner: "bookstore-5f7c9"})
	m.createPod(t, ns, podSpec{name: "good-job", injected: true, native: true})
	for _, hint := range []string{"data-plane-sidecar", "data-plane-proxy-image", "data-plane-proxy-ready", "data-plane-not-injected"} {
		m.expectOK(t, Checks(), hint)
	}

	m.createPod(t, ns, podSpec{name: "no-proxy", injected: true, dropProxy: true})
	m.createPod(t, ns, podSpec{name: "old-image", injected: true, image: "ghcr.io/meshctl/mesh-proxy:v0.0.9"})
	m.createPod(t, ns, podSpec{name: "pulling", injected: true, notReady: "ImagePullBackOff"})
	m.createPod(t, ns, podSpec{name: "pulling-job", injected: true, native: true, notReady: "ImagePullBackOff"})
	m.createPod(t, ns, podSpec{name: "bookbuyer-5f7c9-abcde", owner: "bookbuyer-5f7c9"})
	m.createPod(t, ns, podSpec{name: "bare"})

	m.expectProblem(t, Checks(), "data-plane-sidecar", StatusFail,
		"1 pod(s) marked as injected lack the sidecar: "+ns+"/no-proxy (no container mesh-proxy)")
	m.expectProblem(t, Checks(), "data-plane-proxy-image", StatusFail,
		"2 proxy container(s) do not run ghcr.io/meshctl/mesh-proxy:", ns+"/old-image (mesh-proxy: ghcr.io/meshctl/mesh-proxy:v0.0.9)",
		ns+"/old-image (mesh-proxy-init: ghcr.io/meshctl/mesh-proxy:v0.0.9)")
	m.expectProblem(t, Checks(), "data-plane-proxy-ready", StatusFail,
		"2 proxy container(s) are not ready: "+ns+"/pulling (container mesh-proxy is waiting: ImagePullBackOff: back-off pulling image)",
		ns+"/pulling-job (container mesh-proxy is waiting")
	m.expectProblem(t, Checks(), "data-plane-not-injected", StatusWarn,
		"namespace "+ns+": pod/bare, deployment/bookbuyer, pod/no-proxy",
		"meshctl namespace add "+ns+" --restart   # or: kubectl rollout restart -n "+ns+" deployment/bookbuyer")

	// --namespace scopes the data plane: an enrolled namespace without
	// problems passes, one that is not enrolled is an error.
	clean := m.enrol(t)
	m.createPod(t, clean, podSpec{name: "good", injected: true})
	scoped := *m.env
	scoped.DataPlaneNamespace = clean
	scopedMesh := &mesh{name: m.name, ns: m.ns, env: &scoped}
	scopedMesh.expectOK(t, Checks(), "data-plane-proxy-image")
	outside := env.Namespace(t, nil)
	scoped.DataPlaneNamespace = outside
	scopedMesh.expectProblem(t, Checks(), "data-plane-sidecar", StatusFail, `namespace "`+outside+`" is not enrolled in mesh "`+m.name+`"`)
}

// TestDataPlaneInjectOnly: a namespace meshed by `meshctl inject` alone
// (not enrolled) is part of the data plane: its proxies are checked, its
// pods without a sidecar are not missing one, and --namespace accepts it.
func TestDataPlaneInjectOnly(t *testing.T) {
	m := newMesh(t)
	m.install(t)
	ns := env.Namespace(t, nil)
	m.createPod(t, ns, podSpec{name: "books", injected: true, native: true, identity: true, meshNS: m.ns, image: "ghcr.io/meshctl/mesh-proxy:v0.0.9"})
	m.createPod(t, ns, podSpec{name: "plain"})
	// Another mesh's injected pods are not this mesh's.
	other := env.Namespace(t, nil)
	m.createPod(t, other, podSpec{name: "theirs", injected: true, native: true, identity: true, meshNS: "elsewhere", image: "ghcr.io/meshctl/mesh-proxy:v0.0.9"})

	m.expectProblem(t, Checks(), "data-plane-proxy-image", StatusFail, ns+"/books (mesh-proxy: ghcr.io/meshctl/mesh-proxy:v0.0.9)")
	if r := m.run(t, Checks(), "data-plane-proxy-image"); strings.Contains(r.Err.Error(), other) {
		t.Errorf("another mesh's pod is checked: %v", r.Err)
	}
	m.expectOK(t, Checks(), "data-plane-not-injected")

	scoped := *m.env
	scoped.DataPlaneNamespace = ns
	scopedMesh := &mesh{name: m.name, ns: m.ns, env: &scoped}
	scopedMesh.expectProblem(t, Checks(), "data-plane-proxy-image", StatusFail, ns+"/books")
	scoped.DataPlaneNamespace = other
	scopedMesh.expectProblem(t, Checks(), "data-plane-proxy-image", StatusFail, `namespace "`+other+`" is not enrolled in mesh "`+m.name+`"`)
}

// Images are compared as references: the MeshConfig may name the proxy by a
// digest, and pods must run exactly that.
func TestDataPlaneImageDigest(t *testing.T) {
	m := newMesh(t)
	m.install(t)
	const digest = "sha256:0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef"
	pinned := "ghcr.io/meshctl/mesh-proxy@" + digest
	patch := []byte(`{"spec":{"sidecar":{"image":"` + pinned + `"}}}`)
	if _, err := env.Clients.Dynamic.Resource(meshconfig.GroupVersionResource).Namespace(m.ns).Patch(testenv.Context(t), meshconfig.ObjectName, types.MergePatchType, patch, metav1.PatchOptions{}); err != nil {
		t.Fatal(err)
	}
	ns := m.enrol(t)
	m.createPod(t, ns, podSpec{name: "pinned", injected: true, image: "ghcr.io/meshctl/mesh-proxy:v1@" + digest})
	m.expectOK(t, Checks(), "data-plane-proxy-image")
	m.createPod(t, ns, podSpec{name: "tagged", injected: true, image: "ghcr.io/meshctl/mesh-proxy:v1"})
	m.expectProblem(t, Checks(), "data-plane-proxy-image", StatusFail, "do not run "+pinned, ns+"/tagged")
}

// A user who may not read what a check needs is told which permission is
// missing.
func TestPostInstallForbidden(t *testing.T) {
	m := newMesh(t)
	m.install(t)
	cfg, _ := env.User(t, rbacv1.PolicyRule{APIGroups: []string{""}, Resources: []string{"namespaces"}, Verbs: []string{"get", "list"}})
	limited := newMesh(t, withClients(clientsFor(t, cfg)), func(c *Config) { c.MeshName, c.Namespace = m.name, m.ns })
	limited.expectProblem(t, Checks(), "control-plane-exists", StatusFail,
		"forbidden: you may not get deployments.apps in namespace \""+m.ns+"\"")
	limited.expectProblem(t, Checks(), "webhook-ca-bundle", StatusFail,
		"forbidden: you may not get mutatingwebhookconfigurations.admissionregistration.k8s.io cluster-wide")
}

// TestProxyIdentityCheck: every ready proxy injected with identity is
// asked for its status (here by a reader standing in for the port-forward,
// which needs a kubelet; the e2e journey runs the real one): no
// certificate, an expired one, a disconnected channel or an unreadable
// status fail, naming the pod; proxies without identity and proxies not
// ready are not asked.
func TestProxyIdentityCheck(t *testing.T) {
	m := newMesh(t)
	m.install(t)
	ns := m.enrol(t)
	now := m.env.Clock.Now()
	good := admin.Status{
		Identity: &credentials.Status{ID: "spiffe://cluster.local/ns/" + ns + "/sa/default", Certificate: &credentials.CertificateStatus{NotAfter: now.Add(time.Hour)}},
		Channel:  &proxychannel.Status{Connected: true},
	}
	statuses := map[string]admin.Status{}
	var asked []string
	var mu sync.Mutex
	env := *m.env
	env.ProxyStatus = func(_ context.Context, namespace, pod string) (admin.Status, error) {
		mu.Lock()
		defer mu.Unlock()
		asked = append(asked, pod)
		st, ok := statuses[pod]
		if !ok {
			return st, errors.New("connection refused")
		}
		return st, nil
	}
	mm := &mesh{name: m.name, ns: m.ns, env: &env}
	for _, name := range []string{"good", "no-cert", "expired", "disconnected", "unreadable", "pulling"} {
		mm.createPod(t, ns, podSpec{name: name, injected: true, native: true, identity: true, notReady: map[bool]string{true: "ImagePullBackOff"}[name == "pulling"]})
	}
	mm.createPod(t, ns, podSpec{name: "old-proxy", injected: true, native: true})
	statuses["good"] = good
	statuses["no-cert"] = admin.Status{Identity: &credentials.Status{}, Channel: good.Channel}
	expired := good
	expired.Identity = &credentials.Status{Certificate: &credentials.CertificateStatus{NotAfter: now.Add(-time.Minute)}}
	statuses["expired"] = expired
	statuses["disconnected"] = admin.Status{Identity: good.Identity, Channel: &proxychannel.Status{LastError: "controller: 403 Forbidden"}}

	mm.expectProblem(t, Checks(), "data-plane-proxy-identity", StatusFail, "4 of 5 proxies",
		ns+"/no-cert (no certificate)", ns+"/expired (certificate expired at", ns+"/disconnected (channel not connected: controller: 403 Forbidden)",
		ns+"/unreadable (status unreadable: connection refused)")
	slices.Sort(asked)
	if want := []string{"disconnected", "expired", "good", "no-cert", "unreadable"}; !slices.Equal(asked, want) {
		t.Errorf("asked %v, want %v (neither the proxy without identity nor the one not ready)", asked, want)
	}
	for _, name := range []string{"no-cert", "expired", "disconnected", "unreadable"} {
		statuses[name] = good
	}
	mm.expectOK(t, Checks(), "data-plane-proxy-identity")
}

// TestProxyChainCheck: a proxy whose certificate comes from another issuer
// than the Secret's, or that trusts other anchors than the bundle's, is
// named in a warning (a rotation not finished); proxies on the current
// chain, and proxies whose status cannot be read (the identity check's
// to report), are not.
func TestProxyChainCheck(t *testing.T) {
	m := newMesh(t)
	m.install(t)
	ns := m.enrol(t)
	ctx := testenv.Context(t)
	env := m.env.fresh()
	is, _, err := env.issuer(ctx)
	if err != nil {
		t.Fatal(err)
	}
	b, err := env.bundle(ctx)
	if err != nil {
		t.Fatal(err)
	}
	anchors := func(fps ...string) []credentials.AnchorStatus {
		var out []credentials.AnchorStatus
		for _, fp := range fps {
			out = append(out, credentials.AnchorStatus{Fingerprint: fp})
		}
		return out
	}
	current := identity.FingerprintOf(b.Anchors()[0])
	status := func(issuer string, anchors []credentials.AnchorStatus) admin.Status {
		return admin.Status{Identity: &credentials.Status{Certificate: &credentials.CertificateStatus{Issuer: issuer}, Anchors: anchors}}
	}
	statuses := map[string]admin.Status{
		"current":     status(identity.FingerprintOf(is.Certificate()), anchors(current)),
		"old-issuer":  status(strings.Repeat("ab", 32), anchors(current)),
		"two-anchors": status(identity.FingerprintOf(is.Certificate()), anchors(current, strings.Repeat("cd", 32))),
	}
	e := *m.env
	e.ProxyStatus = func(_ context.Context, _, pod string) (admin.Status, error) {
		st, ok := statuses[pod]
		if !ok {
			return st, errors.New("connection refused")
		}
		return st, nil
	}
	mm := &mesh{name: m.name, ns: m.ns, env: &e}
	for _, name := range []string{"current", "old-issuer", "two-anchors", "unreadable"} {
		mm.createPod(t, ns, podSpec{name: name, injected: true, native: true, identity: true})
	}
	mm.expectProblem(t, Checks(), "data-plane-proxy-chain", StatusWarn, "2 of 4 proxies do not hold the current chain",
		ns+"/old-issuer (certificate from issuer abababababab, not the current", ns+"/two-anchors (trusts 2 anchors, not the bundle's 1)")
	statuses["old-issuer"], statuses["two-anchors"] = statuses["current"], statuses["current"]
	mm.expectOK(t, Checks(), "data-plane-proxy-chain")
}

// TestProxySettingsCheck: a proxy whose live settings are not the
// MeshConfig's (an older digest, refused settings, none reported) is
// named, and a change of the MeshConfig makes the current ones lag.
func TestProxySettingsCheck(t *testing.T) {
	m := newMesh(t)
	m.install(t)
	ns := m.enrol(t)
	ctx := testenv.Context(t)
	mc, err := m.env.fresh().MeshConfig(ctx)
	if err != nil {
		t.Fatal(err)
	}
	want, err := proxyconfig.LiveSettings(mc.Spec)
	if err != nil {
		t.Fatal(err)
	}
	old := want
	old.EnableEgress = !want.EnableEgress
	settings := func(s *admin.SettingsStatus) admin.Status {
		return admin.Status{Identity: &credentials.Status{Certificate: &credentials.CertificateStatus{}}, Settings: s}
	}
	statuses := map[string]admin.Status{
		"current": settings(&admin.SettingsStatus{Digest: want.Digest()}),
		"older":   settings(&admin.SettingsStatus{Digest: old.Digest()}),
		"refused": settings(&admin.SettingsStatus{Digest: want.Digest(), Error: "jwt: jwks: no keys"}),
		"silent":  settings(nil),
	}
	e := *m.env
	e.ProxyStatus = func(_ context.Context, _, pod string) (admin.Status, error) { return statuses[pod], nil }
	mm := &mesh{name: m.name, ns: m.ns, env: &e}
	for name := range statuses {
		mm.createPod(t, ns, podSpec{name: name, injected: true, native: true, identity: true})
	}
	mm.expectProblem(t, Checks(), "data-plane-proxy-settings", StatusWarn, "3 of 4 proxies do not follow the MeshConfig's live settings",
		ns+"/older (follows older settings)", ns+"/refused (refused them: jwt: jwks: no keys)", ns+"/silent (reports no live settings")
	statuses["older"], statuses["refused"], statuses["silent"] = statuses["current"], statuses["current"], statuses["current"]
	mm.expectOK(t, Checks(), "data-plane-proxy-settings")
}
