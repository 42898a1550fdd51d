package install

import (
	"fmt"
	"testing"

	authorizationv1 "k8s.io/api/authorization/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/meshctl/meshctl/internal/testenv"
	"github.com/meshctl/meshctl/pkg/meshconfig"
)

// The API server's PodSecurity admission, enforcing the restricted profile
// on the control-plane namespace, admits a pod made from the controller's
// template.
func TestControllerPodMeetsRestrictedPodSecurity(t *testing.T) {
	d, _ := installMesh(t)
	ctx := testenv.Context(t)
	patch := []byte(`{"metadata":{"labels":{"pod-security.kubernetes.io/enforce":"restricted"}}}`)
	if _, err := env.Clients.Kube.CoreV1().Namespaces().Patch(ctx, d.Namespace, "application/merge-patch+json", patch, metav1.PatchOptions{}); err != nil {
		t.Fatal(err)
	}
	dep, err := env.Clients.Kube.AppsV1().Deployments(d.Namespace).Get(ctx, meshconfig.ControllerName, metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	pod := &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Name: "controller-pss", Namespace: d.Namespace, Labels: map[string]string{"test": "pss"}}, Spec: dep.Spec.Template.Spec}
	if _, err := env.Clients.Kube.CoreV1().Pods(d.Namespace).Create(ctx, pod, metav1.CreateOptions{}); err != nil {
		t.Fatalf("restricted PodSecurity rejects the controller's pod: %v", err)
	}
	// The control: the same pod, made privileged, is refused, so the
	// profile is really enforced here.
	bad := pod.DeepCopy()
	bad.Name = "controller-pss-privileged"
	bad.Spec.Containers[0].SecurityContext.Privileged = ptr(true)
	if _, err := env.Clients.Kube.CoreV1().Pods(d.Namespace).Create(ctx, bad, metav1.CreateOptions{}); err == nil {
		t.Fatal("a privileged pod was admitted: PodSecurity is not enforced, so this test proves nothing")
	}
	c := dep.Spec.Template.Spec.Containers[0]
	if c.LivenessProbe == nil || c.LivenessProbe.HTTPGet.Path != "/healthz" || c.ReadinessProbe == nil || c.ReadinessProbe.HTTPGet.Path != "/readyz" {
		t.Error("controller lacks its /healthz liveness and /readyz readiness probes")
	}
	if c.Resources.Requests.Cpu().IsZero() || c.Resources.Limits.Memory().IsZero() {
		t.Errorf("controller resources = %v, want requests and limits", c.Resources)
	}
}

// The controller's ServiceAccount may do what the controller needs and
// nothing more, as the API server's authorizer sees it.
func TestControllerRBACIsLeastPrivilege(t *testing.T) {
	d, _ := installMesh(t)
	ctx := testenv.Context(t)
	user := fmt.Sprintf("system:serviceaccount:%s:%s", d.Namespace, meshconfig.ControllerName)
	webhook := "meshctl-" + d.MeshName + "-sidecar-injector"
	type access struct {
		verb, group, resource, namespace, name string
		allowed                                bool
	}
	for _, a := range []access{
		{"list", "", "namespaces", "", "", true},
		{"watch", "", "namespaces", "", "", true},
		{"watch", meshconfig.GroupName, meshconfig.Resource, d.Namespace, "", true},
		{"patch", "admissionregistration.k8s.io", "mutatingwebhookconfigurations", "", webhook, true},
		{"get", "", "secrets", d.Namespace, "mesh-controller-tls", true},
		{"update", "", "secrets", d.Namespace, "mesh-controller-tls", true},
		{"create", "", "secrets", d.Namespace, "", true},
		// The mesh CA: token reviews, the issuer Secret by name (list and
		// watch carry it as a metadata.name field selector), the trust
		// bundle ConfigMaps by name in any namespace, Events.
		{"create", "authentication.k8s.io", "tokenreviews", "", "", true},
		{"get", "", "secrets", d.Namespace, meshconfig.IssuerSecretName, true},
		{"watch", "", "secrets", d.Namespace, meshconfig.IssuerSecretName, true},
		{"list", "", "configmaps", "", meshconfig.TrustBundleName, true},
		{"watch", "", "configmaps", "", meshconfig.TrustBundleName, true},
		{"update", "", "configmaps", "some-app", meshconfig.TrustBundleName, true},
		{"create", "", "configmaps", "some-app", "", true},
		{"create", "", "events", d.Namespace, "", true},
		// The channel informers.
		{"list", "", "pods", "", "", true},
		{"watch", "", "services", "", "", true},
		{"watch", "discovery.k8s.io", "endpointslices", "", "", true},
		// The policy compiled into the channel's snapshot.
		{"list", "", "serviceaccounts", "", "", true},
		{"watch", "access.smi-spec.io", "traffictargets", "", "", true},
		{"list", "specs.smi-spec.io", "httproutegroups", "", "", true},
		{"watch", "specs.smi-spec.io", "tcproutes", "", "", true},
		{"list", "policy.meshctl.io", "ingressbackends", "", "", true},
		// And nothing else:
		{"create", "access.smi-spec.io", "traffictargets", "some-app", "", false},
		{"get", "", "serviceaccounts", "some-app", "default", false},
		{"patch", "admissionregistration.k8s.io", "mutatingwebhookconfigurations", "", "someone-elses-webhook", false},
		{"delete", "admissionregistration.k8s.io", "mutatingwebhookconfigurations", "", webhook, false},
		{"get", "", "secrets", d.Namespace, "other-secret", false},
		{"list", "", "secrets", d.Namespace, "", false},
		{"get", "", "secrets", "kube-system", "mesh-controller-tls", false},
		{"update", meshconfig.GroupName, meshconfig.Resource, d.Namespace, meshconfig.ObjectName, false},
		{"list", meshconfig.GroupName, meshconfig.Resource, "other", "", false},
		{"patch", "", "namespaces", "", "default", false},
		{"get", "", "secrets", d.Namespace, meshconfig.AnchorSecretName, false},
		{"update", "", "secrets", d.Namespace, meshconfig.IssuerSecretName, false},
		{"list", "", "configmaps", "", "", false},
		{"update", "", "configmaps", "some-app", "app-config", false},
		{"delete", "", "configmaps", "some-app", meshconfig.TrustBundleName, false},
		{"delete", "", "pods", "some-app", "web", false},
		{"create", "", "pods", "some-app", "", false},
		{"list", "", "secrets", "", "", false},
	} {
		sar := &authorizationv1.SubjectAccessReview{Spec: authorizationv1.SubjectAccessReviewSpec{
			User:   user,
			Groups: []string{"system:serviceaccounts", "system:serviceaccounts:" + d.Namespace, "system:authenticated"},
			ResourceAttributes: &authorizationv1.ResourceAttributes{
				Verb: a.verb, Group: a.group, Resource: a.resource, Namespace: a.namespace, Name: a.name,
			},
		}}
		got, err := env.Clients.Kube.AuthorizationV1().SubjectAccessReviews().Create(ctx, sar, metav1.CreateOptions{})
		if err != nil {
			t.Fatal(err)
		}
		if got.Status.Allowed != a.allowed {
			t.Errorf("%s %s %s/%s (group %q): allowed = %v, want %v", a.verb, a.resource, a.namespace, a.name, a.group, got.Status.Allowed, a.allowed)
		}
	}
}
