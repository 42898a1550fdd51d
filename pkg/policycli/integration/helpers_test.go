package integration_test

import (
	"bytes"
	"os"
	"regexp"
	"strings"
	"testing"

	"github.com/meshctl/meshctl/pkg/policycli"

	corev1 "k8s.io/api/core/v1"
	discoveryv1 "k8s.io/api/discovery/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/apimachinery/pkg/util/intstr"
	utilyaml "k8s.io/apimachinery/pkg/util/yaml"
	"k8s.io/cli-runtime/pkg/genericiooptions"
	"k8s.io/utils/ptr"

	_ "github.com/meshctl/meshctl/internal/golden"
	"github.com/meshctl/meshctl/internal/testenv"
	"github.com/meshctl/meshctl/pkg/cli"
	"github.com/meshctl/meshctl/pkg/kube"
	"github.com/meshctl/meshctl/pkg/meshconfig"
	"github.com/meshctl/meshctl/pkg/meshconfig/meshconfigtest"
	"github.com/meshctl/meshctl/pkg/policy/cluster"
)

// env is the API server shared by this package's integration tests.
var env *testenv.Env

func TestMain(m *testing.M) { testenv.Main(m, &env) }

// bookstore is the bookstore example in namespaces of the test's own: the
// example's traffic policy, the bookstore Service (port 14001 to the
// pods' named port http, 8080, which only its EndpointSlice resolves), a
// meshed bookstore pod, meshed bookbuyer and bookthief pods, and a mesh
// whose MeshConfig the test controls.
type bookstore struct {
	mesh, meshNS              string
	store, buyer, thief       string // namespaces
	storeIP, buyerIP, thiefIP string
}

// podIPs are in 198.18.0.0/15, the test range.
func newBookstore(t *testing.T, permissive bool) *bookstore {
	t.Helper()
	meshconfigtest.InstallCRDs(t, env.Config)
	b := &bookstore{
		mesh: testenv.UniqueName("mesh"), meshNS: env.Namespace(t, nil),
		store: testenv.UniqueName("bookstore"), buyer: testenv.UniqueName("bookbuyer"), thief: testenv.UniqueName("bookthief"),
		storeIP: "198.18.0.10", buyerIP: "198.18.0.20", thiefIP: "198.18.0.30",
	}
	for _, ns := range []string{b.store, b.buyer, b.thief} {
		env.CreateNamespace(t, ns, nil)
	}
	meshconfigtest.InstallMesh(t, env.Clients.Dynamic, b.mesh, b.meshNS)
	b.setPermissive(t, permissive)
	policyYAML, err := os.ReadFile("../../../examples/bookstore/traffic-policy.yaml")
	if err != nil {
		t.Fatal(err)
	}
	b.apply(t, string(policyYAML))
	for _, sa := range []struct{ ns, name string }{{b.store, "bookstore"}, {b.buyer, "bookbuyer"}, {b.thief, "bookthief"}} {
		createServiceAccount(t, sa.ns, sa.name)
	}
	createPod(t, b.store, "bookstore-1", "bookstore", b.storeIP, true, map[string]string{"app": "bookstore"})
	createPod(t, b.buyer, "bookbuyer-1", "bookbuyer", b.buyerIP, true, nil)
	createPod(t, b.thief, "bookthief-1", "bookthief", b.thiefIP, true, nil)
	createService(t, b.store, "bookstore", map[string]string{"app": "bookstore"}, 14001, intstr.FromString("http"))
	createSlice(t, b.store, "bookstore", "http", 8080, map[string]string{"bookstore-1": b.storeIP})
	return b
}

// exampleNamespace matches the example's namespaces, which the test's own
// replace.
var exampleNamespace = regexp.MustCompile(`namespace: (bookstore|bookbuyer|bookthief)\b`)

// apply creates every document of a YAML stream, with the example's
// namespaces replaced by the test's.
func (b *bookstore) apply(t *testing.T, stream string) {
	t.Helper()
	stream = exampleNamespace.ReplaceAllStringFunc(stream, func(s string) string {
		return "namespace: " + b.ns(strings.TrimPrefix(s, "namespace: "))
	})
	d := utilyaml.NewYAMLOrJSONDecoder(strings.NewReader(stream), 4096)
	for {
		var u unstructured.Unstructured
		if err := d.Decode(&u.Object); err != nil {
			if err.Error() == "EOF" {
				return
			}
			t.Fatal(err)
		}
		if len(u.Object) == 0 {
			continue
		}
		gvr := resourceOf(t, u.GetKind())
		if _, err := env.Clients.Dynamic.Resource(gvr).Namespace(u.GetNamespace()).Create(testenv.Context(t), &u, metav1.CreateOptions{FieldValidation: "Strict"}); err != nil {
			t.Fatalf("creating %s %s/%s: %v", u.GetKind(), u.GetNamespace(), u.GetName(), err)
		}
	}
}

// ns maps an example namespace to the test's.
func (b *bookstore) ns(example string) string {
	switch example {
	case "bookstore":
		return b.store
	case "bookbuyer":
		return b.buyer
	case "bookthief":
		return b.thief
	}
	return example
}

// normalize replaces the random part of the test's namespaces, for golden
// files; the length stays, so tables stay aligned.
func (b *bookstore) normalize(s string) string {
	return strings.NewReplacer(b.store, "bookstore-XXXXXX", b.buyer, "bookbuyer-XXXXXX", b.thief, "bookthief-XXXXXX").Replace(s)
}

func (b *bookstore) setPermissive(t *testing.T, on bool) {
	t.Helper()
	_, err := env.Clients.Dynamic.Resource(meshconfig.GroupVersionResource).Namespace(b.meshNS).
		Patch(testenv.Context(t), meshconfig.ObjectName, types.MergePatchType, meshconfig.PermissivePatch(on), metav1.PatchOptions{})
	if err != nil {
		t.Fatal(err)
	}
}

func resourceOf(t *testing.T, kind string) schema.GroupVersionResource {
	t.Helper()
	for _, gvr := range cluster.Resources() {
		if strings.EqualFold(gvr.Resource, strings.ToLower(kind)+"s") {
			return gvr
		}
	}
	t.Fatalf("no policy resource for kind %q", kind)
	return schema.GroupVersionResource{}
}

func createServiceAccount(t *testing.T, ns, name string) {
	t.Helper()
	sa := &corev1.ServiceAccount{ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: ns}}
	if _, err := env.Clients.Kube.CoreV1().ServiceAccounts(ns).Create(testenv.Context(t), sa, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
}

// createPod creates a pod running as sa with address ip; meshed pods carry
// the injection marker.
func createPod(t *testing.T, ns, name, sa, ip string, meshed bool, labels map[string]string) {
	t.Helper()
	ctx := testenv.Context(t)
	pod := &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: ns, Labels: labels},
		Spec: corev1.PodSpec{
			ServiceAccountName: sa,
			Containers:         []corev1.Container{{Name: "app", Image: "example.com/app:v1", Ports: []corev1.ContainerPort{{Name: "http", ContainerPort: 8080}}}},
		},
	}
	if meshed {
		pod.Annotations = map[string]string{meshconfig.AnnotationInjected: "{}"}
	}
	created, err := env.Clients.Kube.CoreV1().Pods(ns).Create(ctx, pod, metav1.CreateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	created.Status.Phase = corev1.PodRunning
	created.Status.PodIP = ip
	created.Status.PodIPs = []corev1.PodIP{{IP: ip}}
	if _, err := env.Clients.Kube.CoreV1().Pods(ns).UpdateStatus(ctx, created, metav1.UpdateOptions{}); err != nil {
		t.Fatal(err)
	}
}

func createService(t *testing.T, ns, name string, selector map[string]string, port int32, target intstr.IntOrString) {
	t.Helper()
	svc := &corev1.Service{
		ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: ns},
		Spec:       corev1.ServiceSpec{Selector: selector, Ports: []corev1.ServicePort{{Name: "http", Port: port, TargetPort: target}}},
	}
	if _, err := env.Clients.Kube.CoreV1().Services(ns).Create(testenv.Context(t), svc, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
}

// createSlice creates the EndpointSlice of service, as the endpoint-slice
// controller would: its port by name, and the pods at their addresses.
func createSlice(t *testing.T, ns, service, portName string, port int32, pods map[string]string) {
	t.Helper()
	s := &discoveryv1.EndpointSlice{
		ObjectMeta:  metav1.ObjectMeta{GenerateName: service + "-", Namespace: ns, Labels: map[string]string{discoveryv1.LabelServiceName: service}},
		AddressType: discoveryv1.AddressTypeIPv4,
		Ports:       []discoveryv1.EndpointPort{{Name: ptr.To(portName), Port: ptr.To(port), Protocol: ptr.To(corev1.ProtocolTCP)}},
	}
	for name, ip := range pods {
		s.Endpoints = append(s.Endpoints, discoveryv1.Endpoint{Addresses: []string{ip}, TargetRef: &corev1.ObjectReference{Kind: "Pod", Namespace: ns, Name: name}})
	}
	if _, err := env.Clients.Kube.DiscoveryV1().EndpointSlices(ns).Create(testenv.Context(t), s, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
}

// explain runs explain as the command does (Validate, then Run) with
// the given options, and returns stdout, stderr and the error.
func (b *bookstore) explain(t *testing.T, o policycli.ExplainOptions) (string, string, error) {
	t.Helper()
	var out, errOut bytes.Buffer
	o.IOStreams = genericiooptions.IOStreams{In: strings.NewReader(""), Out: &out, ErrOut: &errOut}
	o.Clients = func() (*kube.Clients, error) { return env.Clients, nil }
	o.Mesh, o.MeshNamespace = b.mesh, b.meshNS
	if o.Output == "" {
		o.Output = cli.FormatJSON
	}
	err := o.Validate()
	if err == nil {
		err = o.Run(testenv.Context(t))
	}
	return out.String(), errOut.String(), err
}

func (b *bookstore) list(t *testing.T, o policycli.ListOptions) (string, string, error) {
	t.Helper()
	var out, errOut bytes.Buffer
	o.IOStreams = genericiooptions.IOStreams{In: strings.NewReader(""), Out: &out, ErrOut: &errOut}
	o.Clients = func() (*kube.Clients, error) { return env.Clients, nil }
	o.Mesh, o.MeshNamespace = b.mesh, b.meshNS
	if o.Output == "" {
		o.Output = cli.FormatTable
	}
	err := o.Validate()
	if err == nil {
		err = o.Run(testenv.Context(t))
	}
	return out.String(), errOut.String(), err
}

func intstrFromInt(i int) intstr.IntOrString { return intstr.FromInt32(int32(i)) }

func deleteNow() metav1.DeleteOptions {
	return metav1.DeleteOptions{GracePeriodSeconds: ptr.To(int64(0))}
}
