//go:build e2e

package e2e

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"net/netip"
	"net/url"
	"slices"
	"strings"
	"testing"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/intstr"
	"k8s.io/utils/ptr"

	"github.com/meshctl/meshctl/internal/testenv"
)

// The cluster's network, as hack/cluster/lib.sh sets it up: the node's
// addresses on a local interface, and pods and services in the RFC 2544 range.
var (
	nodeNetwork    = netip.MustParsePrefix("198.18.255.0/24")
	podNetwork     = netip.MustParsePrefix("198.18.0.0/24")
	serviceNetwork = netip.MustParsePrefix("198.19.0.0/16")
)

const (
	appName       = "e2e-app"
	appPort       = 8080
	clusterDomain = "cluster.local"
)

// smokeState is what the smoke steps hand to each other.
type smokeState struct {
	namespace string
	pod       string
	podIP     netip.Addr
	serviceIP netip.Addr
}

// nodeReady: the one node is Ready, addressed inside the node network, and
// has the locally imported app image.
func nodeReady(t *testing.T, e *Env) {
	nodes, err := e.Clients.Kube.CoreV1().Nodes().List(testenv.Context(t), metav1.ListOptions{})
	if err != nil {
		t.Fatalf("listing nodes: %v", err)
	}
	if len(nodes.Items) != 1 {
		t.Fatalf("want 1 node, got %d", len(nodes.Items))
	}
	node := nodes.Items[0]
	ready := false
	for _, c := range node.Status.Conditions {
		if c.Type == corev1.NodeReady {
			ready = c.Status == corev1.ConditionTrue
			if !ready {
				t.Errorf("node %q: Ready is %s: %s", node.Name, c.Status, c.Message)
			}
		}
	}
	if !ready {
		t.Fatalf("node %q is not Ready", node.Name)
	}
	for _, a := range node.Status.Addresses {
		if a.Type != corev1.NodeInternalIP {
			continue
		}
		if ip, err := netip.ParseAddr(a.Address); err != nil || !nodeNetwork.Contains(ip) {
			t.Errorf("node %q: internal IP %s is outside %s", node.Name, a.Address, nodeNetwork)
		}
	}
	// The same through kubectl, which the journey's later steps use.
	if got, want := strings.TrimSpace(e.Run(t, e.Kubectl, "get", "nodes", "-o", "name")), "node/"+node.Name; got != want {
		t.Errorf("kubectl get nodes: got %q, want %q", got, want)
	}
	var images []string
	for _, img := range node.Status.Images {
		images = append(images, img.Names...)
	}
	if !slices.Contains(images, e.AppImage) {
		t.Errorf("node %q does not list image %s; it has %v", node.Name, e.AppImage, images)
	}
}

// appRuns: a Deployment of the app, whose image may only come from the local
// import (imagePullPolicy Never), gets a Running, Ready pod in the pod network.
func appRuns(t *testing.T, e *Env) {
	ctx := testenv.Context(t)
	ns := e.Namespace(t, "e2e-smoke", nil)
	e.smoke.namespace = ns
	labels := map[string]string{"app": appName}
	deploy := &appsv1.Deployment{
		ObjectMeta: metav1.ObjectMeta{Name: appName, Labels: labels},
		Spec: appsv1.DeploymentSpec{
			Replicas: ptr.To[int32](1),
			Selector: &metav1.LabelSelector{MatchLabels: labels},
			Template: corev1.PodTemplateSpec{
				ObjectMeta: metav1.ObjectMeta{Labels: labels},
				Spec: corev1.PodSpec{Containers: []corev1.Container{{
					Name:            appName,
					Image:           e.AppImage,
					ImagePullPolicy: corev1.PullNever,
					Ports:           []corev1.ContainerPort{{Name: "http", ContainerPort: appPort}},
					ReadinessProbe: &corev1.Probe{
						ProbeHandler:  corev1.ProbeHandler{HTTPGet: &corev1.HTTPGetAction{Path: "/", Port: intstr.FromString("http")}},
						PeriodSeconds: 1,
					},
					SecurityContext: &corev1.SecurityContext{
						RunAsNonRoot:             ptr.To(true),
						AllowPrivilegeEscalation: ptr.To(false),
						ReadOnlyRootFilesystem:   ptr.To(true),
						Capabilities:             &corev1.Capabilities{Drop: []corev1.Capability{"ALL"}},
						SeccompProfile:           &corev1.SeccompProfile{Type: corev1.SeccompProfileTypeRuntimeDefault},
					},
				}}},
			},
		},
	}
	if _, err := e.Clients.Kube.AppsV1().Deployments(ns).Create(ctx, deploy, metav1.CreateOptions{}); err != nil {
		t.Fatalf("creating deployment %s/%s: %v", ns, appName, err)
	}
	svc := &corev1.Service{
		ObjectMeta: metav1.ObjectMeta{Name: appName},
		Spec: corev1.ServiceSpec{
			Selector: labels,
			Ports:    []corev1.ServicePort{{Name: "http", Port: 80, TargetPort: intstr.FromString("http")}},
		},
	}
	created, err := e.Clients.Kube.CoreV1().Services(ns).Create(ctx, svc, metav1.CreateOptions{})
	if err != nil {
		t.Fatalf("creating service %s/%s: %v", ns, appName, err)
	}
	if e.smoke.serviceIP, err = netip.ParseAddr(created.Spec.ClusterIP); err != nil || !serviceNetwork.Contains(e.smoke.serviceIP) {
		t.Fatalf("service %s/%s: cluster IP %q is not in %s", ns, appName, created.Spec.ClusterIP, serviceNetwork)
	}

	pod := e.WaitPodsReady(t, ns, "app="+appName, 1, 2*time.Minute)[0]
	e.smoke.pod = pod.Name
	if e.smoke.podIP, err = netip.ParseAddr(pod.Status.PodIP); err != nil {
		t.Fatalf("pod %s/%s: IP %q: %v", ns, pod.Name, pod.Status.PodIP, err)
	}
	if !podNetwork.Contains(e.smoke.podIP) {
		t.Errorf("pod %s/%s: IP %s is outside the pod network %s", ns, e.smoke.pod, e.smoke.podIP, podNetwork)
	}
}

// serviceRoutes: the host reaches the pod through the service's cluster IP,
// which only kube-proxy's rules make routable, and the pod reaches itself
// through the service's name (DNS search path, then kube-proxy hairpin).
func serviceRoutes(t *testing.T, e *Env) {
	want := e.smoke.pod + "\n"
	eventually(t, 30*time.Second, "GET / through the service's cluster IP", func(ctx context.Context) error {
		return expectBody(ctx, e.appURL("/", nil), http.StatusOK, want)
	})
	fetch := e.appURL("/fetch", url.Values{"url": {"http://" + appName + "/"}})
	eventually(t, 30*time.Second, "the pod's GET of http://"+appName+"/", func(ctx context.Context) error {
		return expectBody(ctx, fetch, http.StatusOK, "200 OK\n"+want)
	})
}

// podDNS: the pod's resolver, pointed at CoreDNS by the kubelet, answers for
// services by full and short name, and answers nothing outside the cluster:
// there is no upstream to forward to.
func podDNS(t *testing.T, e *Env) {
	kubernetesSvc, err := e.Clients.Kube.CoreV1().Services("default").Get(testenv.Context(t), "kubernetes", metav1.GetOptions{})
	if err != nil {
		t.Fatalf("getting service default/kubernetes: %v", err)
	}
	lookups := []struct {
		name string
		want string
	}{
		{fmt.Sprintf("%s.%s.svc.%s", appName, e.smoke.namespace, clusterDomain), e.smoke.serviceIP.String()},
		{appName, e.smoke.serviceIP.String()},
		{"kubernetes.default", kubernetesSvc.Spec.ClusterIP},
	}
	for _, l := range lookups {
		eventually(t, 30*time.Second, "the pod's lookup of "+l.name, func(ctx context.Context) error {
			return expectBody(ctx, e.appURL("/lookup", url.Values{"name": {l.name}}), http.StatusOK, l.want+"\n")
		})
	}
	// The name is reserved (RFC 2606) and resolves nowhere in the cluster.
	outside := e.appURL("/lookup", url.Values{"name": {"example.com."}})
	ctx := testenv.Context(t)
	status, body, err := get(ctx, outside)
	if err != nil {
		t.Fatalf("GET %s: %v", outside, err)
	}
	if status != http.StatusBadGateway {
		t.Errorf("the pod resolved example.com (status %d, %q); cluster DNS must not forward outside the cluster", status, body)
	}
}

// appURL is a URL of the app through its service's cluster IP.
func (e *Env) appURL(path string, query url.Values) string {
	u := url.URL{Scheme: "http", Host: e.smoke.serviceIP.String(), Path: path, RawQuery: query.Encode()}
	return u.String()
}

func get(ctx context.Context, u string) (int, string, error) {
	status, _, body, err := getWithHeader(ctx, u, nil)
	return status, body, err
}

// getWithHeader GETs u with the request headers h and returns the status,
// the response headers and the body.
func getWithHeader(ctx context.Context, u string, h http.Header) (int, http.Header, string, error) {
	ctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u, nil)
	if err != nil {
		return 0, nil, "", err
	}
	for k, v := range h {
		req.Header[k] = v
	}
	// Straight to the cluster IP: a proxy from the environment could not
	// reach it.
	client := &http.Client{Transport: &http.Transport{Proxy: nil}}
	resp, err := client.Do(req)
	if err != nil {
		return 0, nil, "", err
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	return resp.StatusCode, resp.Header, string(body), err
}

func expectBody(ctx context.Context, u string, wantStatus int, wantBody string) error {
	status, body, err := get(ctx, u)
	if err != nil {
		return fmt.Errorf("GET %s: %w", u, err)
	}
	if status != wantStatus || body != wantBody {
		return fmt.Errorf("GET %s: got %d %q, want %d %q", u, status, strings.TrimSpace(body), wantStatus, strings.TrimSpace(wantBody))
	}
	return nil
}
