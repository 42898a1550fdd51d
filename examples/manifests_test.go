package examples

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"sort"
	"strings"
	"testing"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/runtime/serializer"
	"k8s.io/apimachinery/pkg/util/intstr"
	utilyaml "k8s.io/apimachinery/pkg/util/yaml"
	"k8s.io/client-go/kubernetes/scheme"
	"sigs.k8s.io/yaml"

	_ "github.com/meshctl/meshctl/internal/golden"
	"github.com/meshctl/meshctl/pkg/meshconfig"
	"github.com/meshctl/meshctl/pkg/proxyconfig"
	"github.com/meshctl/meshctl/pkg/proxyconfig/wire"
)

// manifestDirs are the directories `kubectl apply -f` and `meshctl inject -f`
// are pointed at.
var manifestDirs = []string{"bookstore", "books"}

// doc is one YAML document of a manifest file.
type doc struct {
	file  string
	index int
	raw   []byte
	obj   *unstructured.Unstructured
}

func (d doc) String() string {
	return fmt.Sprintf("%s document %d (%s %s/%s)", d.file, d.index, d.obj.GetKind(), d.obj.GetNamespace(), d.obj.GetName())
}

// readManifests reads every document of every file kubectl would read in
// dirs: .yaml, .yml and .json.
func readManifests(t *testing.T, dirs ...string) []doc {
	t.Helper()
	var docs []doc
	for _, dir := range dirs {
		entries, err := os.ReadDir(dir)
		if err != nil {
			t.Fatal(err)
		}
		for _, e := range entries {
			if ext := filepath.Ext(e.Name()); e.IsDir() || (ext != ".yaml" && ext != ".yml" && ext != ".json") {
				continue
			}
			file := filepath.Join(dir, e.Name())
			data, err := os.ReadFile(file)
			if err != nil {
				t.Fatal(err)
			}
			docs = append(docs, splitDocs(t, file, data)...)
		}
	}
	return docs
}

// splitDocs decodes the documents of a YAML stream.
func splitDocs(t *testing.T, file string, data []byte) []doc {
	t.Helper()
	var docs []doc
	r := utilyaml.NewYAMLReader(bufio.NewReader(bytes.NewReader(data)))
	for i := 0; ; i++ {
		raw, err := r.Read()
		if errors.Is(err, io.EOF) {
			return docs
		}
		if err != nil {
			t.Fatalf("%s document %d: %v", file, i, err)
		}
		u := &unstructured.Unstructured{}
		if err := yaml.Unmarshal(raw, &u.Object); err != nil {
			t.Fatalf("%s document %d: %v", file, i, err)
		}
		if u.Object == nil {
			t.Errorf("%s document %d is empty", file, i)
			continue
		}
		docs = append(docs, doc{file: file, index: i, raw: raw, obj: u})
	}
}

// decodeStrict decodes a built-in kind into its Go type, refusing unknown and
// duplicate fields.
func decodeStrict[T any](t *testing.T, d doc) T {
	t.Helper()
	obj, _, err := serializer.NewCodecFactory(scheme.Scheme, serializer.EnableStrict).UniversalDeserializer().Decode(d.raw, nil, nil)
	if err != nil {
		t.Fatalf("%s: %v", d, err)
	}
	typed, ok := obj.(T)
	if !ok {
		t.Fatalf("%s: decoded as %T", d, obj)
	}
	return typed
}

// TestManifestObjects: the examples hold exactly the objects the READMEs,
// the demo and the end-to-end test rely on.
func TestManifestObjects(t *testing.T) {
	var got []string
	for _, d := range readManifests(t, manifestDirs...) {
		if d.obj.GetAPIVersion() == "" || d.obj.GetKind() == "" || d.obj.GetName() == "" {
			t.Errorf("%s: apiVersion, kind and metadata.name are required", d)
		}
		got = append(got, fmt.Sprintf("%s %s %s/%s", d.file, d.obj.GetKind(), d.obj.GetNamespace(), d.obj.GetName()))
	}
	want := []string{
		"books/books.yaml Deployment books/books",
		"books/books.yaml Deployment books/stars",
		"books/books.yaml Namespace /books",
		"books/books.yaml Service books/books",
		"books/books.yaml Service books/stars",
		"books/books.yaml ServiceAccount books/books",
		"books/books.yaml ServiceAccount books/stars",
		"bookstore/bookbuyer.yaml Deployment bookbuyer/bookbuyer",
		"bookstore/bookbuyer.yaml Service bookbuyer/bookbuyer",
		"bookstore/bookbuyer.yaml ServiceAccount bookbuyer/bookbuyer",
		"bookstore/bookstore.yaml Deployment bookstore/bookstore",
		"bookstore/bookstore.yaml Service bookstore/bookstore",
		"bookstore/bookstore.yaml ServiceAccount bookstore/bookstore",
		"bookstore/bookthief.yaml Deployment bookthief/bookthief",
		"bookstore/bookthief.yaml Service bookthief/bookthief",
		"bookstore/bookthief.yaml ServiceAccount bookthief/bookthief",
		"bookstore/namespaces.yaml Namespace /bookbuyer",
		"bookstore/namespaces.yaml Namespace /bookstore",
		"bookstore/namespaces.yaml Namespace /bookthief",
		"bookstore/traffic-policy.yaml HTTPRouteGroup bookstore/bookstore-routes",
		"bookstore/traffic-policy.yaml TrafficTarget bookstore/bookstore-buy",
	}
	sort.Strings(got)
	if !slices.Equal(got, want) {
		t.Errorf("objects:\n  %s\nwant:\n  %s", strings.Join(got, "\n  "), strings.Join(want, "\n  "))
	}
}

// TestNamespacesAreNotEnrolled: the operator enrols them (meshctl namespace
// add) or injects offline (books); the manifests must not do it for them.
func TestNamespacesAreNotEnrolled(t *testing.T) {
	for _, d := range readManifests(t, manifestDirs...) {
		if d.obj.GetKind() != "Namespace" {
			continue
		}
		ns := decodeStrict[*corev1.Namespace](t, d)
		if _, ok := ns.Labels[meshconfig.LabelMonitoredBy]; ok {
			t.Errorf("%s carries %s", d, meshconfig.LabelMonitoredBy)
		}
		if _, ok := ns.Annotations[meshconfig.AnnotationSidecarInjection]; ok {
			t.Errorf("%s carries %s", d, meshconfig.AnnotationSidecarInjection)
		}
	}
}

// TestWorkloads checks each Deployment against what the image, the probes
// and the security rules need, and each Service against the Deployments.
func TestWorkloads(t *testing.T) {
	docs := readManifests(t, manifestDirs...)
	type key struct{ ns, name string }
	deployments := map[key]*appsv1.Deployment{}
	serviceAccounts := map[key]bool{}
	for _, d := range docs {
		switch d.obj.GetKind() {
		case "Deployment":
			deployments[key{d.obj.GetNamespace(), d.obj.GetName()}] = decodeStrict[*appsv1.Deployment](t, d)
		case "ServiceAccount":
			serviceAccounts[key{d.obj.GetNamespace(), d.obj.GetName()}] = true
		}
	}
	for k, dep := range deployments {
		name := k.name
		what := fmt.Sprintf("Deployment %s/%s", k.ns, name)
		pod := dep.Spec.Template
		if dep.Spec.Replicas == nil || *dep.Spec.Replicas != 1 {
			t.Errorf("%s: want replicas: 1", what)
		}
		if pod.Labels["app"] != name || pod.Labels["version"] != "v1" || dep.Labels["app"] != name {
			t.Errorf("%s: labels %v, want app: %s, version: v1", what, pod.Labels, name)
		}
		sel, err := metav1LabelSelector(dep)
		if err != nil || !sel.Matches(labels.Set(pod.Labels)) {
			t.Errorf("%s: selector does not select its own pods (%v)", what, err)
		}
		if pod.Spec.ServiceAccountName != name || !serviceAccounts[key{k.ns, name}] {
			t.Errorf("%s: want serviceAccountName %s, defined in the same file", what, name)
		}
		if len(pod.Spec.Containers) != 1 {
			t.Fatalf("%s: %d containers, want 1", what, len(pod.Spec.Containers))
		}
		c := pod.Spec.Containers[0]
		if c.Name != name || c.Image != Image || c.ImagePullPolicy != corev1.PullIfNotPresent {
			t.Errorf("%s: container %q image %q pull %q; want %q %q IfNotPresent", what, c.Name, c.Image, c.ImagePullPolicy, name, Image)
		}
		if !slices.Equal(c.Command, []string{"/" + name}) {
			t.Errorf("%s: command %q, want [/%s]", what, c.Command, name)
		}
		if len(c.Ports) != 1 || c.Ports[0].Name != "http" || c.Ports[0].ContainerPort != 8080 {
			t.Errorf("%s: ports %+v, want http 8080", what, c.Ports)
		}
		sc := c.SecurityContext
		if sc == nil || sc.RunAsNonRoot == nil || !*sc.RunAsNonRoot || sc.ReadOnlyRootFilesystem == nil || !*sc.ReadOnlyRootFilesystem ||
			sc.AllowPrivilegeEscalation == nil || *sc.AllowPrivilegeEscalation || sc.Capabilities == nil || !slices.Equal(sc.Capabilities.Drop, []corev1.Capability{"ALL"}) ||
			sc.RunAsUser == nil || *sc.RunAsUser != 65532 {
			t.Errorf("%s: securityContext %+v is not non-root 65532, read-only, no escalation, all capabilities dropped", what, sc)
		}
		if c.Resources.Requests.Cpu().IsZero() || c.Resources.Requests.Memory().IsZero() || c.Resources.Limits.Cpu().IsZero() || c.Resources.Limits.Memory().IsZero() {
			t.Errorf("%s: want cpu and memory requests and limits", what)
		}
		// A plain httpGet probe by the port's name: with JWT on, the
		// injector resolves the name and the proxy exempts exactly it.
		p := c.ReadinessProbe
		if p == nil || p.HTTPGet == nil || p.HTTPGet.Path != "/healthz" || p.HTTPGet.Port != intstr.FromString("http") ||
			p.HTTPGet.Host != "" || (p.HTTPGet.Scheme != "" && p.HTTPGet.Scheme != corev1.URISchemeHTTP) {
			t.Errorf("%s: readiness probe %+v, want httpGet of /healthz on port http", what, p)
		} else if got := proxyconfig.HTTPProbesOf(&pod.Spec); !slices.Equal(got, []wire.Probe{{Port: 8080, Path: "/healthz"}}) {
			t.Errorf("%s: the probes the proxy would exempt are %v, want 8080/healthz", what, got)
		}
	}
	if len(deployments) != 5 {
		t.Errorf("%d Deployments, want 5", len(deployments))
	}

	services := 0
	for _, d := range docs {
		if d.obj.GetKind() != "Service" {
			continue
		}
		services++
		svc := decodeStrict[*corev1.Service](t, d)
		dep := deployments[key{svc.Namespace, svc.Name}]
		if dep == nil {
			t.Errorf("%s: no Deployment of the same name", d)
			continue
		}
		if len(svc.Spec.Selector) == 0 || !labels.SelectorFromSet(svc.Spec.Selector).Matches(labels.Set(dep.Spec.Template.Labels)) {
			t.Errorf("%s: selector %v does not select Deployment %s's pods %v", d, svc.Spec.Selector, dep.Name, dep.Spec.Template.Labels)
		}
		if len(svc.Spec.Ports) != 1 {
			t.Fatalf("%s: %d ports, want 1", d, len(svc.Spec.Ports))
		}
		port := svc.Spec.Ports[0]
		if port.Name != "http" || port.Port != 8080 || port.AppProtocol == nil || *port.AppProtocol != "http" {
			t.Errorf("%s: port %+v, want http 8080 with appProtocol http", d, port)
		}
		c := dep.Spec.Template.Spec.Containers[0]
		if !slices.ContainsFunc(c.Ports, func(p corev1.ContainerPort) bool { return p.Name == port.TargetPort.String() }) {
			t.Errorf("%s: targetPort %s is not a port of container %s", d, port.TargetPort.String(), c.Name)
		}
	}
	if services != 5 {
		t.Errorf("%d Services, want 5", services)
	}
}

func metav1LabelSelector(dep *appsv1.Deployment) (labels.Selector, error) {
	if dep.Spec.Selector == nil {
		return nil, errors.New("no selector")
	}
	return labels.ValidatedSelectorFromSet(dep.Spec.Selector.MatchLabels)
}

// TestBooksDirHoldsOneManifest: `meshctl inject -f examples/books/` reads
// every manifest file there.
func TestBooksDirHoldsOneManifest(t *testing.T) {
	entries, err := os.ReadDir("books")
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range entries {
		switch filepath.Ext(e.Name()) {
		case ".yaml", ".yml", ".json":
			if e.Name() != "books.yaml" {
				t.Errorf("books/%s: meshctl inject -f examples/books/ would read it", e.Name())
			}
		}
	}
}

// TestTrafficPolicyRefersToWhatExists: the TrafficTarget names the route
// group and matches of the same file and ServiceAccounts of the example, and
// allows buying to bookbuyer and bookthief, and stealing to no one.
func TestTrafficPolicyRefersToWhatExists(t *testing.T) {
	docs := readManifests(t, "bookstore")
	accounts := map[string]bool{}
	matches := map[string]map[string]bool{} // route group -> match names
	var targets []*unstructured.Unstructured
	for _, d := range docs {
		switch d.obj.GetKind() {
		case "ServiceAccount":
			accounts[d.obj.GetNamespace()+"/"+d.obj.GetName()] = true
		case "HTTPRouteGroup":
			ms, _, _ := unstructured.NestedSlice(d.obj.Object, "spec", "matches")
			names := map[string]bool{}
			for _, m := range ms {
				names[m.(map[string]any)["name"].(string)] = true
			}
			matches[d.obj.GetName()] = names
		case "TrafficTarget":
			targets = append(targets, d.obj)
		}
	}
	allowed := map[string][]string{} // match -> sources
	for _, tt := range targets {
		dst, _, _ := unstructured.NestedStringMap(tt.Object, "spec", "destination")
		if !accounts[dst["namespace"]+"/"+dst["name"]] {
			t.Errorf("TrafficTarget %s: destination %v is no ServiceAccount of the example", tt.GetName(), dst)
		}
		sources, _, _ := unstructured.NestedSlice(tt.Object, "spec", "sources")
		rules, _, _ := unstructured.NestedSlice(tt.Object, "spec", "rules")
		for _, r := range rules {
			rule := r.(map[string]any)
			group, ok := matches[rule["name"].(string)]
			if rule["kind"] != "HTTPRouteGroup" || !ok {
				t.Errorf("TrafficTarget %s: rule %v names no HTTPRouteGroup of the example", tt.GetName(), rule)
				continue
			}
			for _, m := range rule["matches"].([]any) {
				if !group[m.(string)] {
					t.Errorf("TrafficTarget %s: match %q is not in %s", tt.GetName(), m, rule["name"])
				}
				for _, s := range sources {
					src := s.(map[string]any)
					if !accounts[fmt.Sprint(src["namespace"], "/", src["name"])] {
						t.Errorf("TrafficTarget %s: source %v is no ServiceAccount of the example", tt.GetName(), src)
					}
					allowed[m.(string)] = append(allowed[m.(string)], fmt.Sprint(src["namespace"], "/", src["name"]))
				}
			}
		}
	}
	sort.Strings(allowed["buy"])
	if !slices.Equal(allowed["buy"], []string{"bookbuyer/bookbuyer"}) || len(allowed["steal"]) != 0 || len(allowed) != 1 {
		t.Errorf("allowed %v, want buy for bookbuyer, nothing for bookthief, steal for no one", allowed)
	}
}

// TestImageScript: the script builds the image the manifests run, with every
// program they name, and /fetch, which kubectl exec calls use.
func TestImageScript(t *testing.T) {
	b, err := os.ReadFile("../hack/images/examples.sh")
	if err != nil {
		t.Fatal(err)
	}
	script := string(b)
	if !strings.Contains(script, "\nIMAGE="+Image+"\n") {
		t.Errorf("hack/images/examples.sh does not set IMAGE=%s", Image)
	}
	m := regexp.MustCompile(`\nAPPS=\(([^)]*)\)\n`).FindStringSubmatch(script)
	if m == nil {
		t.Fatal("hack/images/examples.sh has no APPS=(...) line")
	}
	apps := strings.Fields(m[1])
	sort.Strings(apps)
	if want := []string{"bookbuyer", "books", "bookstore", "bookthief", "fetch", "stars"}; !slices.Equal(apps, want) {
		t.Errorf("the image holds %v, want %v", apps, want)
	}
	for _, app := range apps {
		if _, err := os.Stat(filepath.Join("apps", app, "main.go")); err != nil {
			t.Errorf("APPS names %s: %v", app, err)
		}
	}
}
