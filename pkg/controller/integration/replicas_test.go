package integration_test

import (
	"context"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"

	admissionregistrationv1 "k8s.io/api/admissionregistration/v1"
	coordinationv1 "k8s.io/api/coordination/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/utils/ptr"

	"github.com/meshctl/meshctl/internal/testenv"
	"github.com/meshctl/meshctl/pkg/controller"
	"github.com/meshctl/meshctl/pkg/kube"
	"github.com/meshctl/meshctl/pkg/meshconfig"
	"github.com/meshctl/meshctl/pkg/meshconfig/meshconfigtest"
)

// replica is one of several controllers of a mesh, each a mesh value of
// its own (its addresses) over the shared mesh's names.
type replica struct {
	*mesh
	id   string
	stop func()
}

// newReplicatedMesh is a mesh's CRDs, MeshConfig and CA, with the chart's
// RBAC for its ServiceAccount, and no controller yet.
func newReplicatedMesh(t *testing.T) (*mesh, *kube.Clients) {
	t.Helper()
	meshconfigtest.InstallCRDs(t, env.Config)
	m := &mesh{Name: testenv.UniqueName("mesh"), Namespace: env.Namespace(t, nil), Secret: testSecret}
	m.Webhook = "meshctl-" + m.Name + "-sidecar-injector"
	meshconfigtest.InstallMesh(t, env.Clients.Dynamic, m.Name, m.Namespace)
	m.Anchor = newAnchor(t)
	m.putIssuer(t, newIssuer(t, m.Anchor))
	m.putBundle(t, m.Anchor.CertificatePEM())
	return m, asControllerServiceAccount(t, m)
}

// startReplica runs one controller of m as the chart's ServiceAccount, in
// the election of the chart's Lease under identity id, with timings short
// enough for a test.
func startReplica(t *testing.T, m *mesh, clients *kube.Clients, id string, opts ...func(*controller.Options)) *replica {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	listening := make(chan controller.Addrs, 1)
	o := &controller.Options{
		MeshName: m.Name, MeshNamespace: m.Namespace, WebhookConfiguration: m.Webhook,
		WebhookService: meshconfig.ControllerName, TLSSecret: m.Secret,
		WebhookAddr: "127.0.0.1:0", HealthAddr: "127.0.0.1:0", ProxyAPIAddr: "127.0.0.1:0", ExtraIPs: []net.IP{net.IPv4(127, 0, 0, 1)},
		ResyncInterval: 200 * time.Millisecond,
		LeaderElection: controller.LeaderElection{
			LeaseName: meshconfig.LeaderLeaseName, Identity: id,
			LeaseDuration: 2 * time.Second, RenewDeadline: 1500 * time.Millisecond, RetryPeriod: 300 * time.Millisecond,
		},
		ShutdownDelay: 300 * time.Millisecond,
		Kube:          clients.Kube, Dynamic: clients.Dynamic,
		Listening: func(a controller.Addrs) { listening <- a },
	}
	for _, opt := range opts {
		opt(o)
	}
	done := make(chan error, 1)
	go func() { done <- o.Run(ctx) }()
	var once bool
	stop := func() {
		if once {
			return
		}
		once = true
		cancel()
		if err := <-done; err != nil {
			t.Errorf("controller %s: %v", id, err)
		}
	}
	t.Cleanup(stop)
	r := &replica{mesh: &mesh{Name: m.Name, Namespace: m.Namespace, Webhook: m.Webhook, Secret: m.Secret, Options: o, Anchor: m.Anchor}, id: id, stop: stop}
	select {
	case a := <-listening:
		r.WebhookAddr, r.HealthAddr, r.ProxyAPIAddr = a.Webhook.String(), a.Health.String(), a.ProxyAPI.String()
	case err := <-done:
		t.Fatalf("controller %s stopped: %v", id, err)
	}
	return r
}

// webhookPerReplica is the chart's webhook, once per replica, each
// reaching one replica by URL: every pod creation is then admitted by
// every replica, and fails (failurePolicy Fail) if any presents a
// certificate the caBundle does not trust.
func webhookPerReplica(m *mesh, rs ...*replica) []admissionregistrationv1.MutatingWebhook {
	var hooks []admissionregistrationv1.MutatingWebhook
	for _, r := range rs {
		hooks = append(hooks, admissionregistrationv1.MutatingWebhook{
			Name:                    r.id + ".sidecar-injector." + m.Name + ".meshctl.io",
			AdmissionReviewVersions: []string{"v1"},
			SideEffects:             ptr.To(admissionregistrationv1.SideEffectClassNone),
			FailurePolicy:           ptr.To(admissionregistrationv1.Fail),
			TimeoutSeconds:          ptr.To[int32](5),
			ClientConfig:            admissionregistrationv1.WebhookClientConfig{URL: ptr.To("https://" + r.WebhookAddr + controller.WebhookPath)},
			NamespaceSelector:       &metav1.LabelSelector{MatchLabels: map[string]string{meshconfig.LabelMonitoredBy: m.Name}},
			Rules: []admissionregistrationv1.RuleWithOperations{{
				Operations: []admissionregistrationv1.OperationType{admissionregistrationv1.Create},
				Rule:       admissionregistrationv1.Rule{APIGroups: []string{""}, APIVersions: []string{"v1"}, Resources: []string{"pods"}, Scope: ptr.To(admissionregistrationv1.NamespacedScope)},
			}},
		})
	}
	return hooks
}

// registerReplicas registers (or replaces) m's webhook configuration with
// one webhook per replica, with caBundle or else the one already patched
// in, and waits until a pod is admitted through all of them.
func registerReplicas(t *testing.T, m *mesh, ns string, caBundle []byte, rs ...*replica) {
	t.Helper()
	ctx := testenv.Context(t)
	api := env.Clients.Kube.AdmissionregistrationV1().MutatingWebhookConfigurations()
	hooks := webhookPerReplica(m, rs...)
	for i := range hooks {
		hooks[i].ClientConfig.CABundle = caBundle
	}
	cur, err := api.Get(ctx, m.Webhook, metav1.GetOptions{})
	if err != nil {
		env.RegisterMutatingWebhook(t, &admissionregistrationv1.MutatingWebhookConfiguration{ObjectMeta: metav1.ObjectMeta{Name: m.Webhook}, Webhooks: hooks}, func() bool { return true })
	} else {
		for i := range hooks {
			if caBundle == nil {
				hooks[i].ClientConfig.CABundle = cur.Webhooks[0].ClientConfig.CABundle
			}
		}
		cur.Webhooks = hooks
		if _, err := api.Update(ctx, cur, metav1.UpdateOptions{}); err != nil {
			t.Fatal(err)
		}
	}
	eventually(t, "a pod admitted by every replica's webhook", func() bool {
		p, err := m.createPod(t, ns, appPod(), true)
		return err == nil && hasSidecar(p)
	})
}

// leader is the holder of the Lease, or "".
func leader(t *testing.T, m *mesh) string {
	t.Helper()
	l, err := env.Clients.Kube.CoordinationV1().Leases(m.Namespace).Get(testenv.Context(t), meshconfig.LeaderLeaseName, metav1.GetOptions{})
	if err != nil || l.Spec.HolderIdentity == nil {
		return ""
	}
	return *l.Spec.HolderIdentity
}

// leaderMetric is the replica's meshctl_controller_leader.
func (r *replica) leaderMetric(t *testing.T) string {
	t.Helper()
	_, body := r.get(t, "/metrics")
	for line := range strings.Lines(body) {
		if v, ok := strings.CutPrefix(strings.TrimSpace(line), controller.MetricLeader+" "); ok {
			return v
		}
	}
	return "absent"
}

func (r *replica) ready(t *testing.T) bool {
	code, _ := r.get(t, "/readyz")
	return code == http.StatusOK
}

// admitAll creates n pods in ns for real and asserts that every one was
// admitted, by every replica's webhook, and injected.
func admitAll(t *testing.T, m *mesh, ns string, n int) {
	t.Helper()
	for i := range n {
		p, err := m.createPod(t, ns, appPod(), false)
		if err != nil {
			t.Fatalf("pod %d of %d: %v", i+1, n, err)
		}
		if !hasSidecar(p) {
			t.Fatalf("pod %s was not injected", p.Name)
		}
	}
}

// Two replicas elect one leader through the chart's Lease, with the
// chart's RBAC (its Role's lease rules are exercised here). Both serve the one certificate the leader keeps in the
// shared Secret, and the caBundle the leader patched trusts it, so pods are
// admitted by each. When the leader stops it releases the Lease, the other
// takes over within the retry period, and a replica that replaces the
// stopped one follows.
func TestReplicasElectOneLeader(t *testing.T) {
	m, clients := newReplicatedMesh(t)
	ns := m.enrolledNamespace(t)
	a := startReplica(t, m, clients, "replica-a")
	b := startReplica(t, m, clients, "replica-b")
	registerReplicas(t, m, ns, nil, a, b)
	eventually(t, "both replicas ready", func() bool { return a.ready(t) && b.ready(t) })

	first := leader(t, m)
	lead, follow := a, b
	if first == b.id {
		lead, follow = b, a
	} else if first != a.id {
		t.Fatalf("lease holder %q, want %s or %s", first, a.id, b.id)
	}
	lease, err := env.Clients.Kube.CoordinationV1().Leases(m.Namespace).Get(testenv.Context(t), meshconfig.LeaderLeaseName, metav1.GetOptions{})
	if err != nil || lease.Labels[meshconfig.LabelMeshName] != m.Name || lease.Labels[meshconfig.LabelPartOf] != meshconfig.PartOfValue {
		t.Errorf("lease %s: labels %v, %v: meshctl uninstall would not find it", meshconfig.LeaderLeaseName, lease.GetLabels(), err)
	}
	if lead.leaderMetric(t) != "1" || follow.leaderMetric(t) != "0" {
		t.Errorf("%s = %s on the leader %s and %s on the follower %s, want 1 and 0", controller.MetricLeader, lead.leaderMetric(t), lead.id, follow.leaderMetric(t), follow.id)
	}
	if sa, sb := a.servedSerial(t), b.servedSerial(t); sa != sb {
		t.Errorf("the replicas serve different certificates: %s and %s", sa, sb)
	}
	admitAll(t, m, ns, 10)
	eventually(t, "the leader copies the trust bundle", func() bool { return copyData(t, ns) != "" })

	// The leader stops: it releases the Lease, and the follower leads.
	start := time.Now()
	lead.stop()
	eventually(t, "the follower takes the Lease", func() bool { return leader(t, m) == follow.id && follow.leaderMetric(t) == "1" })
	t.Logf("the Lease changed hands %v after the leader stopped (its shutdown delay included)", time.Since(start).Round(10*time.Millisecond))
	if !follow.ready(t) {
		_, body := follow.get(t, "/readyz")
		t.Errorf("the new leader is not ready: %s", body)
	}

	// Its replacement follows and serves the same certificate.
	c := startReplica(t, m, clients, "replica-c")
	registerReplicas(t, m, ns, nil, follow, c)
	eventually(t, "the replacement ready", func() bool { return c.ready(t) })
	if c.leaderMetric(t) != "0" || leader(t, m) != follow.id {
		t.Errorf("the replacement took the Lease from a live leader: holder %q", leader(t, m))
	}
	if sc, sf := c.servedSerial(t), follow.servedSerial(t); sc != sf {
		t.Errorf("the replacement serves %s, the leader %s", sc, sf)
	}
	admitAll(t, m, ns, 10)
}

// A replica serves a new certificate only once the caBundle trusts it: with
// the Lease held elsewhere (no replica of these writes), a Secret that
// suddenly holds a certificate of a new CA, as a leader's renewal or a lost
// Secret would, is not served until the caBundle names that CA, and pods
// are admitted by both replicas throughout. Without that rule each replica
// would switch at its next look and the API server would refuse it.
func TestReplicasServeOnlyWhatTheCABundleTrusts(t *testing.T) {
	m, clients := newReplicatedMesh(t)
	ctx := testenv.Context(t)
	ns := m.enrolledNamespace(t)
	// Someone else holds the Lease for an hour: both replicas follow.
	now := metav1.NewMicroTime(time.Now())
	if _, err := env.Clients.Kube.CoordinationV1().Leases(m.Namespace).Create(ctx, &coordinationv1.Lease{
		ObjectMeta: metav1.ObjectMeta{Name: meshconfig.LeaderLeaseName},
		Spec:       coordinationv1.LeaseSpec{HolderIdentity: ptr.To("elsewhere"), LeaseDurationSeconds: ptr.To[int32](3600), AcquireTime: &now, RenewTime: &now},
	}, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	// What that leader would have written: the Secret, and the caBundle.
	certs := &controller.Certs{Client: env.Clients.Kube, Namespace: m.Namespace, SecretName: m.Secret, MeshName: m.Name,
		DNSNames: controller.ServiceDNSNames(meshconfig.ControllerName, m.Namespace), IPs: []net.IP{net.IPv4(127, 0, 0, 1)}}
	old, err := certs.Ensure(ctx)
	if err != nil {
		t.Fatal(err)
	}
	a := startReplica(t, m, clients, "replica-a")
	b := startReplica(t, m, clients, "replica-b")
	registerReplicas(t, m, ns, old.CABundle, a, b)
	patcher := &controller.CABundlePatcher{Client: env.Clients.Kube, Name: m.Webhook}
	oldSerial := old.Leaf.SerialNumber.Text(16)
	eventually(t, "both replicas ready, serving the leader's certificate", func() bool {
		return a.ready(t) && b.ready(t) && a.servedSerial(t) == oldSerial && b.servedSerial(t) == oldSerial
	})
	if a.leaderMetric(t) != "0" || b.leaderMetric(t) != "0" {
		t.Fatalf("a replica leads while the Lease is held elsewhere")
	}
	// Copying the trust bundle is the leader's too.
	if got := copyData(t, ns); got != "" {
		t.Errorf("a follower copied the trust bundle into %s", ns)
	}

	// A new CA and certificate in the Secret, the caBundle not yet patched.
	if err := env.Clients.Kube.CoreV1().Secrets(m.Namespace).Delete(ctx, m.Secret, metav1.DeleteOptions{}); err != nil {
		t.Fatal(err)
	}
	renewed, err := certs.Ensure(ctx)
	if err != nil {
		t.Fatal(err)
	}
	newSerial := renewed.Leaf.SerialNumber.Text(16)
	// Ten of the replicas' resync intervals.
	for deadline := time.Now().Add(2 * time.Second); time.Now().Before(deadline); time.Sleep(200 * time.Millisecond) {
		if sa, sb := a.servedSerial(t), b.servedSerial(t); sa != oldSerial || sb != oldSerial {
			t.Fatalf("a replica serves a certificate the caBundle does not trust: %s and %s (trusted: %s)", sa, sb, oldSerial)
		}
		admitAll(t, m, ns, 1)
	}
	if !a.ready(t) || !b.ready(t) {
		t.Errorf("a replica went unready while the certificate it serves is trusted")
	}

	// The caBundle learns the new CA: both switch.
	if _, err := patcher.Patch(ctx, renewed.CABundle); err != nil {
		t.Fatal(err)
	}
	eventually(t, "both replicas serve the new certificate", func() bool {
		return a.servedSerial(t) == newSerial && b.servedSerial(t) == newSerial
	})
	admitAll(t, m, ns, 5)
	eventually(t, "both replicas ready", func() bool { return a.ready(t) && b.ready(t) })
}
