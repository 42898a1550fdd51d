//go:build e2e

package e2e

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/netip"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/meshctl/meshctl/internal/testenv"
	"github.com/meshctl/meshctl/pkg/meshconfig"
	"github.com/meshctl/meshctl/pkg/proxy/telemetry"
	"github.com/meshctl/meshctl/pkg/proxyconfig"
	"github.com/meshctl/meshctl/pkg/proxyconfig/wire"
)

// meshState is what the mesh steps hand to each other.
type meshState struct {
	meshctl    string // the meshctl binary, stamped like the images
	proxyImage string // the mesh-proxy image this meshctl injects by default
	installed  bool   // the control plane was installed by the journey
	// The example apps: bookstore's three in enrolled namespaces, injected
	// by the webhook; books and stars in a namespace that is not enrolled,
	// injected offline by `meshctl inject`.
	bookstore, bookbuyer, bookthief, books, stars meshApp
	// token is a valid bearer token for books (examples/books/jwt.sh).
	token string
}

// meshApp is one example app: its Deployment, Service and container are
// named after it, and it runs one pod.
type meshApp struct {
	name      string
	namespace string
	pod       string
	podIP     netip.Addr
	serviceIP netip.Addr
}

// meshPre: meshctl and the mesh's images are built with the same version
// stamp, the images imported, and `meshctl check --pre` passes.
func meshPre(t *testing.T, e *Env) {
	m := &e.mesh
	m.meshctl = e.GoBuild(t, "./cmd/meshctl")
	var v struct {
		Client struct {
			Version string `json:"version"`
		} `json:"client"`
	}
	out := e.Run(t, m.meshctl, "version", "--client", "-o", "json")
	if err := json.Unmarshal([]byte(out), &v); err != nil || v.Client.Version == "" {
		t.Fatalf("meshctl version --client -o json: no version in %q: %v", out, err)
	}
	// The images carry the tag the binary defaults to (pkg/version.ImageTag
	// is the version), so install and inject find them without any --set.
	tag := v.Client.Version
	m.proxyImage = proxyconfig.ImageRepository + ":" + tag
	e.Script(t, "mesh-images.sh", m.proxyImage, meshconfig.ControllerImageRepository+":"+tag)
	e.Run(t, m.meshctl, "check", "--pre")
}

// meshInstall: `meshctl install` gives a Running, Ready control-plane pod,
// and `meshctl check` is all green, in its table and as one JSON document.
func meshInstall(t *testing.T, e *Env) {
	m := &e.mesh
	m.need(t, m.proxyImage != "", "the mesh's images", "meshctl check --pre passes")
	ns := meshconfig.DefaultMeshNamespace
	// A journey that stops half way leaves no mesh behind it, so that the
	// next run starts from a cluster without one. (Cleanups run last first:
	// the diagnosis below comes before this.)
	e.journey.Cleanup(func() {
		if !m.installed {
			return
		}
		cmd := exec.Command(m.meshctl, "uninstall", "--yes")
		cmd.Env = append(os.Environ(), "KUBECONFIG="+e.Kubeconfig)
		if b, err := cmd.CombinedOutput(); err != nil {
			e.journey.Errorf("meshctl uninstall after the journey: %v\n%s", err, b)
		}
	})
	e.journey.Cleanup(func() {
		if e.journey.Failed() {
			ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
			defer cancel()
			e.Diagnose(ctx, os.Stderr, ns)
		}
	})
	e.Run(t, m.meshctl, "install", "--timeout", "90s")
	m.installed = true
	e.WaitPodsReady(t, ns, meshconfig.LabelComponent, 2, 90*time.Second) // the chart's two replicas
	out := e.Run(t, m.meshctl, "check")
	t.Logf("meshctl check:\n%s", out)
	jsonOut := e.Run(t, m.meshctl, "check", "-o", "json")
	dec := json.NewDecoder(strings.NewReader(jsonOut))
	var report struct {
		Success    bool `json:"success"`
		Categories []struct {
			Checks []struct {
				Name   string `json:"name"`
				Result string `json:"result"`
			} `json:"checks"`
		} `json:"categories"`
	}
	if err := dec.Decode(&report); err != nil {
		t.Fatalf("meshctl check -o json: %v\n%s", err, jsonOut)
	}
	if dec.More() {
		t.Errorf("meshctl check -o json printed more than one JSON document:\n%s", jsonOut)
	}
	if !report.Success {
		t.Errorf("meshctl check -o json: success is false:\n%s", jsonOut)
	}
	n := 0
	for _, c := range report.Categories {
		n += len(c.Checks)
	}
	if n == 0 {
		t.Errorf("meshctl check -o json: no checks:\n%s", jsonOut)
	}
}

// meshImageMismatch: once the MeshConfig names another proxy image than the
// running pods', `meshctl check` exits 1 with the proxy image hint; with the
// image put back it is green again.
func meshImageMismatch(t *testing.T, e *Env) {
	m := &e.mesh
	m.need(t, m.bookstore.pod != "", "meshed pods", "enrolled namespaces")
	const hint = "docs/troubleshooting.md#data-plane-proxy-image"
	original := e.meshConfigField(t, "{.spec.sidecar.image}")
	restore := "sidecar.image=null"
	if original != "" {
		restore = "sidecar.image=" + original
	}
	e.Run(t, m.meshctl, "config", "set", "sidecar.image="+proxyconfig.ImageRepository+":e2e-other")
	restored := false
	t.Cleanup(func() {
		if !restored {
			cmd := exec.Command(m.meshctl, "config", "set", restore)
			cmd.Env = append(os.Environ(), "KUBECONFIG="+e.Kubeconfig)
			if b, err := cmd.CombinedOutput(); err != nil {
				t.Errorf("putting the proxy image back: %v\n%s", err, b)
			}
		}
	})
	code, stdout, stderr := e.RunExit(t, m.meshctl, "check")
	if code != 1 {
		t.Errorf("meshctl check with a mismatched proxy image: exit %d, want 1\nstdout:\n%s\nstderr:\n%s", code, stdout, stderr)
	}
	if !strings.Contains(stdout+stderr, hint) {
		t.Errorf("meshctl check with a mismatched proxy image does not point at %s\nstdout:\n%s\nstderr:\n%s", hint, stdout, stderr)
	}
	e.Run(t, m.meshctl, "config", "set", restore)
	restored = true
	e.Run(t, m.meshctl, "check")
}

// meshUninstall: `meshctl uninstall` leaves nothing of the mesh but its kept
// CRDs, and the apps, which still run their sidecars, keep serving.
func meshUninstall(t *testing.T, e *Env) {
	m := &e.mesh
	m.need(t, m.bookstore.pod != "", "the enrolled apps", "enrolled namespaces")
	e.Run(t, m.meshctl, "uninstall", "--yes")
	m.installed = false
	resources := strings.Fields(e.Run(t, e.Kubectl, "api-resources", "--verbs=list", "-o", "name"))
	var kinds []string
	for _, r := range resources {
		if r != "events" && r != "events.events.k8s.io" { // not owned by anybody, and not the mesh's
			kinds = append(kinds, r)
		}
	}
	selector := meshconfig.LabelPartOf + "=" + meshconfig.PartOfValue
	const crd = "customresourcedefinition.apiextensions.k8s.io/"
	keptCRD := crd + meshconfig.Resource + "." + meshconfig.GroupName
	// uninstall does not wait for the controller's pod, which takes its
	// grace period to go: wait for that, and only for that long.
	eventually(t, time.Minute, "no objects labelled "+selector+" but the CRDs after uninstall", func(ctx context.Context) error {
		code, left, stderr := e.RunExit(t, e.Kubectl, "get", strings.Join(kinds, ","), "-A", "-l", selector, "-o", "name", "--ignore-not-found")
		if code != 0 {
			return fmt.Errorf("kubectl get: exit %d: %s", code, stderr)
		}
		var extra []string
		kept := false
		for _, obj := range strings.Fields(left) {
			switch {
			case obj == keptCRD:
				kept = true
			case !strings.HasPrefix(obj, crd):
				extra = append(extra, obj)
			}
		}
		// The kept CRD also proves that the listing sees labelled objects.
		if !kept {
			t.Fatalf("after uninstall (without --purge), %s is gone or not labelled %s; objects left with the label:\n%s", keptCRD, selector, left)
		}
		if len(extra) > 0 {
			return fmt.Errorf("left: %s", strings.Join(extra, ", "))
		}
		return nil
	})
	ctx := testenv.Context(t)
	hooks, err := e.Clients.Kube.AdmissionregistrationV1().MutatingWebhookConfigurations().List(ctx, metav1.ListOptions{})
	if err != nil {
		t.Fatalf("listing mutatingwebhookconfigurations: %v", err)
	}
	for _, h := range hooks.Items {
		for _, w := range h.Webhooks {
			if s := w.ClientConfig.Service; s != nil && s.Namespace == meshconfig.DefaultMeshNamespace {
				t.Errorf("after uninstall, mutatingwebhookconfiguration %s still calls the mesh's service %s/%s", h.Name, s.Namespace, s.Name)
			}
		}
	}
	roles, err := e.Clients.Kube.RbacV1().ClusterRoles().List(ctx, metav1.ListOptions{})
	if err != nil {
		t.Fatalf("listing clusterroles: %v", err)
	}
	for _, r := range roles.Items {
		if strings.Contains(r.Name, "meshctl") || strings.Contains(r.Name, meshconfig.ControllerName) {
			t.Errorf("after uninstall, clusterrole %s is left", r.Name)
		}
	}
	for _, ns := range bookstoreNamespaces {
		got, err := e.Clients.Kube.CoreV1().Namespaces().Get(ctx, ns, metav1.GetOptions{})
		if err != nil {
			t.Fatalf("getting namespace %q: %v", ns, err)
		}
		if _, ok := got.Labels[meshconfig.LabelMonitoredBy]; ok {
			t.Errorf("after uninstall, namespace %q is still enrolled: labels %v", ns, got.Labels)
		}
	}
	e.examplesServe(t)
}

// examplesServe: the example apps, which keep their sidecars, still serve:
// bookbuyer's loop keeps buying from bookstore through both sidecars, and
// books answers a valid token with its stars (when the JWT step ran).
func (e *Env) examplesServe(t *testing.T) {
	t.Helper()
	m := &e.mesh
	var before callerStats
	e.appStats(t, m.bookbuyer, &before)
	eventually(t, 30*time.Second, "bookbuyer's loop buying from bookstore", func(ctx context.Context) error {
		var now callerStats
		if err := e.appStatsCtx(ctx, m.bookbuyer, &now); err != nil {
			return err
		}
		if now.OK <= before.OK {
			return fmt.Errorf("bookbuyer's /api/stats: ok %d, not more than %d (last: %s)", now.OK, before.OK, now.Last)
		}
		return nil
	})
	stats := serviceURL(m.bookstore, "/api/stats", nil)
	eventually(t, 30*time.Second, "GET "+stats, func(ctx context.Context) error {
		status, body, err := get(ctx, stats)
		if err != nil {
			return err
		}
		if status != http.StatusOK || !strings.Contains(body, `"bought"`) {
			return fmt.Errorf("got %d %q, want 200 {\"bought\":N,...}", status, body)
		}
		return nil
	})
	if m.token == "" {
		return
	}
	book := serviceURL(m.books, "/api/books/1", nil)
	eventually(t, 30*time.Second, "GET "+book+" with a valid token", func(ctx context.Context) error {
		status, _, body, err := request(ctx, book, "Bearer "+m.token)
		if err != nil {
			return err
		}
		if status != http.StatusOK || !strings.Contains(body, `"stars"`) {
			return fmt.Errorf("got %d %q, want 200 with the stars", status, body)
		}
		return nil
	})
}

// need fails the step at once when what it stands on was not made, which
// happens when -run leaves out an earlier step.
func (m *meshState) need(t *testing.T, ok bool, what, step string) {
	t.Helper()
	if !ok {
		t.Fatalf("this step needs %s from the step %q, which did not run: pick the steps from %q on with -run", what, step, "meshctl check --pre")
	}
}

// meshedApp waits for the one pod of the app (label app=NAME) in the
// namespace to be 2/2 with the sidecar: the app's container ready, and the
// proxy a native sidecar (an init container with restartPolicy Always right
// after the rules' init container) that has started and is ready. It checks
// that the init container installed the interception rules (exited 0, and
// printed the rules that redirect to the proxy's ports), and returns the app
// with its pod's and service's addresses.
func (e *Env) meshedApp(t *testing.T, ns, name string) meshApp {
	t.Helper()
	pod := e.WaitPodsReady(t, ns, "app="+name, 1, 2*time.Minute)[0]
	var names, initNames []string
	for _, c := range pod.Spec.Containers {
		names = append(names, c.Name)
	}
	for _, c := range pod.Spec.InitContainers {
		initNames = append(initNames, c.Name)
	}
	if len(names) != 1 || names[0] != name {
		t.Fatalf("pod %s/%s has containers %v, want %s alone (the proxy is an init container)", ns, pod.Name, names, name)
	}
	proxy := proxyconfig.ProxyContainerOf(&pod.Spec)
	at := slices.Index(initNames, proxyconfig.InitContainerName)
	if proxy == nil || proxy.RestartPolicy == nil || at < 0 || at+1 >= len(initNames) || initNames[at+1] != proxyconfig.ProxyContainerName {
		t.Fatalf("pod %s/%s has init containers %v, want %s right after %s as a native sidecar (restartPolicy Always)",
			ns, pod.Name, initNames, proxyconfig.ProxyContainerName, proxyconfig.InitContainerName)
	}
	if proxy.StartupProbe == nil {
		t.Fatalf("pod %s/%s: the proxy has no startup probe, so the app may start before it listens", ns, pod.Name)
	}
	if len(pod.Status.ContainerStatuses) != 1 || !pod.Status.ContainerStatuses[0].Ready {
		t.Fatalf("pod %s/%s: container statuses %+v, want %s ready", ns, pod.Name, pod.Status.ContainerStatuses, name)
	}
	ps := proxyconfig.ProxyStatusOf(&pod)
	if ps == nil || ps.Started == nil || !*ps.Started || !ps.Ready || ps.State.Running == nil {
		t.Fatalf("pod %s/%s: proxy status %+v, want started, ready and running", ns, pod.Name, ps)
	}
	// The kubelet starts the app only once the proxy's startup probe has
	// passed (the times are in whole seconds).
	if app := pod.Status.ContainerStatuses[0].State.Running; app == nil || app.StartedAt.Before(&ps.State.Running.StartedAt) {
		t.Errorf("pod %s/%s: the app started at %v, before the proxy (%v)", ns, pod.Name, app, ps.State.Running.StartedAt)
	}
	// kubectl counts a native sidecar in READY, as the demo says.
	if out := strings.Fields(e.Run(t, e.Kubectl, "get", "pod", "-n", ns, pod.Name, "--no-headers")); len(out) < 2 || out[1] != "2/2" {
		t.Errorf("kubectl get pod %s/%s: %q, want READY 2/2", ns, pod.Name, out)
	}
	initDone := false
	for _, cs := range pod.Status.InitContainerStatuses {
		if cs.Name != proxyconfig.InitContainerName {
			continue
		}
		if term := cs.State.Terminated; term != nil && term.ExitCode == 0 {
			initDone = true
		} else {
			t.Fatalf("pod %s/%s: init container %s is %s, want terminated with exit 0", ns, pod.Name, cs.Name, describeState(cs.State))
		}
	}
	if !initDone {
		t.Fatalf("pod %s/%s: no status of init container %s", ns, pod.Name, proxyconfig.InitContainerName)
	}
	// `mesh-proxy init` prints the rule set once it is installed.
	logs, err := e.Clients.Kube.CoreV1().Pods(ns).GetLogs(pod.Name, &corev1.PodLogOptions{Container: proxyconfig.InitContainerName}).DoRaw(testenv.Context(t))
	if err != nil {
		t.Fatalf("pod %s/%s: logs of %s: %v", ns, pod.Name, proxyconfig.InitContainerName, err)
	}
	for _, port := range []uint16{wire.InboundPort, wire.OutboundPort} {
		if want := fmt.Sprintf("redirect to :%d", port); !strings.Contains(string(logs), want) {
			t.Errorf("pod %s/%s: init container %s installed no rule %q; its log:\n%s", ns, pod.Name, proxyconfig.InitContainerName, want, logs)
		}
	}
	app := meshApp{name: name, namespace: ns, pod: pod.Name}
	if app.podIP, err = netip.ParseAddr(pod.Status.PodIP); err != nil {
		t.Fatalf("pod %s/%s: IP %q: %v", ns, pod.Name, pod.Status.PodIP, err)
	}
	svc, err := e.Clients.Kube.CoreV1().Services(ns).Get(testenv.Context(t), name, metav1.GetOptions{})
	if err != nil {
		t.Fatalf("getting service %s/%s: %v", ns, name, err)
	}
	if app.serviceIP, err = netip.ParseAddr(svc.Spec.ClusterIP); err != nil {
		t.Fatalf("service %s/%s: cluster IP %q: %v", ns, name, svc.Spec.ClusterIP, err)
	}
	return app
}

// proxyRequests sums mesh_proxy_requests_total of one direction from the
// proxy's admin port on the pod's IP.
func (e *Env) proxyRequests(t *testing.T, app meshApp, direction string) float64 {
	t.Helper()
	return e.proxyCounter(t, app, telemetry.MetricRequestsTotal, `direction="`+direction+`"`)
}

// sumCounter adds the samples of the metric whose labels contain label, from
// the Prometheus text format.
func sumCounter(text, metric, label string) (float64, error) {
	var sum float64
	sc := bufio.NewScanner(strings.NewReader(text))
	for sc.Scan() {
		line := sc.Text()
		if !strings.HasPrefix(line, metric+"{") || !strings.Contains(line, label) {
			continue
		}
		i := strings.LastIndexByte(line, ' ')
		v, err := strconv.ParseFloat(line[i+1:], 64)
		if err != nil {
			return 0, fmt.Errorf("metric line %q: %w", line, err)
		}
		sum += v
	}
	return sum, sc.Err()
}

// RunExit runs a command with the cluster's kubeconfig and returns its exit
// code, stdout and stderr; it fails the test only when the command cannot run.
func (e *Env) RunExit(t *testing.T, name string, args ...string) (int, string, string) {
	t.Helper()
	code, stdout, stderr := e.runExitCtx(t.Context(), name, args...)
	if code < 0 {
		t.Fatalf("%s %s: %s", name, strings.Join(args, " "), stderr)
	}
	return code, stdout, stderr
}

// runExitCtx is RunExit for code that has a context but no test: a command
// that cannot run gives code -1 and the reason as stderr.
func (e *Env) runExitCtx(ctx context.Context, name string, args ...string) (int, string, string) {
	var stdout, stderr strings.Builder
	cmd := exec.CommandContext(ctx, name, args...)
	cmd.Env = append(os.Environ(), "KUBECONFIG="+e.Kubeconfig)
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	err := cmd.Run()
	var exit *exec.ExitError
	switch {
	case err == nil:
		return 0, stdout.String(), stderr.String()
	case errors.As(err, &exit):
		return exit.ExitCode(), stdout.String(), stderr.String()
	}
	return -1, "", err.Error()
}

func (e *Env) meshConfigField(t *testing.T, jsonpath string) string {
	t.Helper()
	return strings.TrimSpace(e.Run(t, e.Kubectl, "get", meshconfig.Resource+"."+meshconfig.GroupName, meshconfig.ObjectName,
		"-n", meshconfig.DefaultMeshNamespace, "-o", "jsonpath="+jsonpath))
}

// serviceURL is a URL of the app through its Service's cluster IP, from the
// host: a client outside the mesh.
func serviceURL(app meshApp, path string, query url.Values) string {
	u := url.URL{Scheme: "http", Host: app.serviceAddr().String(), Path: path, RawQuery: query.Encode()}
	return u.String()
}

func (e *Env) writeManifest(t *testing.T, name, text string) string {
	t.Helper()
	// The journey's directory: a subtest's is named after the step, commas and all,
	// and kubectl -f splits paths at commas.
	p := filepath.Join(e.journey.TempDir(), name+".yaml")
	if err := os.WriteFile(p, []byte(text), 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}
