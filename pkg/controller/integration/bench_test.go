package integration_test

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	admissionregistrationv1 "k8s.io/api/admissionregistration/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/utils/ptr"

	"github.com/meshctl/meshctl/internal/testenv"
	"github.com/meshctl/meshctl/pkg/controller"
	"github.com/meshctl/meshctl/pkg/meshconfig"
	"github.com/meshctl/meshctl/pkg/meshconfig/meshconfigtest"
)

// BenchmarkAdmission measures what a user sees: 1000 sequential pod
// creations through the API server into an enrolled namespace, each one an
// admission by the real mesh-controller binary (built static, CGO off, run
// with the chart's flags against the test API server). It reports the
// creation latency at p50 and p99, the same for 1000 pods of a namespace no
// webhook selects (the API server's own cost), the controller's mean time
// per admission from its /metrics, and its resident set size after the run
// (VmRSS) and at its peak (VmHWM), read from /proc.
func BenchmarkAdmission(b *testing.B) {
	const pods = 1000
	bin := buildController(b)
	meshconfigtest.InstallCRDs(b, env.Config)
	meshName := testenv.UniqueName("bench")
	ns := env.Namespace(b, nil)
	meshconfigtest.InstallMesh(b, env.Clients.Dynamic, meshName, ns)
	m := &mesh{Name: meshName, Namespace: ns, Anchor: newAnchor(b)}
	m.putIssuer(b, newIssuer(b, m.Anchor))
	m.putBundle(b, m.Anchor.CertificatePEM())
	webhookPort, healthPort, proxyAPIPort := freePort(b), freePort(b), freePort(b)
	webhook := "meshctl-" + meshName + "-sidecar-injector"
	createWebhook(b, webhook, meshName, fmt.Sprintf("https://localhost:%d%s", webhookPort, controller.WebhookPath))

	ctx, cancel := context.WithCancel(context.Background())
	var logs bytes.Buffer
	// The Service name "localhost" puts localhost in the serving
	// certificate, the name the API server reaches the process by.
	cmd := exec.CommandContext(ctx, bin, "--kubeconfig="+env.Kubeconfig, "--mesh-name="+meshName, "--mesh-namespace="+ns,
		"--webhook-configuration="+webhook, "--webhook-service=localhost", "--tls-secret="+testSecret,
		"--webhook-port="+strconv.Itoa(webhookPort), "--health-port="+strconv.Itoa(healthPort), "--proxy-api-port="+strconv.Itoa(proxyAPIPort), "--log-level=warn")
	cmd.Stderr = &logs
	if err := cmd.Start(); err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() {
		cancel()
		_ = cmd.Wait()
		if b.Failed() {
			b.Logf("mesh-controller log:\n%s", logs.String())
		}
	})
	health := fmt.Sprintf("http://127.0.0.1:%d", healthPort)
	eventually(b, "mesh-controller /readyz", func() bool {
		resp, err := http.Get(health + "/readyz")
		if err != nil {
			return false
		}
		resp.Body.Close()
		return resp.StatusCode == http.StatusOK
	})
	enrolled := m.enrolledNamespace(b)
	eventually(b, "the API server calls the webhook", func() bool {
		p, err := m.createPod(b, enrolled, appPod(), true)
		return err == nil && hasSidecar(p)
	})
	plain := env.Namespace(b, nil)

	measure := func(ns string, check bool) []time.Duration {
		lat := make([]time.Duration, 0, pods)
		for range pods {
			start := time.Now()
			p, err := m.createPod(b, ns, appPod(), false)
			lat = append(lat, time.Since(start))
			if err != nil {
				b.Fatal(err)
			}
			if check && !hasSidecar(p) {
				b.Fatal("pod not injected")
			}
		}
		slices.Sort(lat)
		return lat
	}
	var meshed, baseline []time.Duration
	b.ResetTimer()
	for range b.N {
		meshed = append(meshed, measure(enrolled, true)...)
	}
	b.StopTimer()
	baseline = measure(plain, false)
	slices.Sort(meshed)
	ms := func(d time.Duration) float64 { return float64(d.Microseconds()) / 1000 }
	b.ReportMetric(ms(percentile(meshed, 50)), "p50-ms")
	b.ReportMetric(ms(percentile(meshed, 99)), "p99-ms")
	b.ReportMetric(ms(percentile(baseline, 50)), "nowebhook-p50-ms")
	b.ReportMetric(ms(percentile(baseline, 99)), "nowebhook-p99-ms")
	b.ReportMetric(0, "ns/op") // one op is 1000 pods; the percentiles say it better

	sum, count := histogram(b, health+"/metrics", "meshctl_controller_admission_duration_seconds")
	if count > 0 {
		b.ReportMetric(sum/count*1e6, "handler-mean-µs")
	}
	rss, hwm := procMemory(b, cmd.Process.Pid)
	b.ReportMetric(rss, "rss-MiB")
	b.ReportMetric(hwm, "peak-rss-MiB")
}

func percentile(sorted []time.Duration, p int) time.Duration {
	i := (len(sorted)*p + 99) / 100
	return sorted[max(0, min(len(sorted)-1, i-1))]
}

func buildController(b *testing.B) string {
	b.Helper()
	bin := filepath.Join(b.TempDir(), "mesh-controller")
	cmd := exec.Command("go", "build", "-trimpath", "-o", bin, "github.com/meshctl/meshctl/cmd/mesh-controller")
	cmd.Env = append(os.Environ(), "CGO_ENABLED=0")
	if out, err := cmd.CombinedOutput(); err != nil {
		b.Fatalf("building mesh-controller: %v\n%s", err, out)
	}
	return bin
}

func freePort(b *testing.B) int {
	b.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		b.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().(*net.TCPAddr).Port
}

// createWebhook registers the webhook as the chart does (empty caBundle,
// failurePolicy Fail), but by URL, for the controller to patch.
func createWebhook(b *testing.B, name, mesh, url string) {
	b.Helper()
	cfg := &admissionregistrationv1.MutatingWebhookConfiguration{
		ObjectMeta: metav1.ObjectMeta{Name: name},
		Webhooks: []admissionregistrationv1.MutatingWebhook{{
			Name:                    "sidecar-injector." + mesh + ".meshctl.io",
			AdmissionReviewVersions: []string{"v1"},
			SideEffects:             ptr.To(admissionregistrationv1.SideEffectClassNone),
			FailurePolicy:           ptr.To(admissionregistrationv1.Fail),
			ClientConfig:            admissionregistrationv1.WebhookClientConfig{URL: ptr.To(url)},
			NamespaceSelector:       &metav1.LabelSelector{MatchLabels: map[string]string{meshconfig.LabelMonitoredBy: mesh}},
			Rules: []admissionregistrationv1.RuleWithOperations{{
				Operations: []admissionregistrationv1.OperationType{admissionregistrationv1.Create},
				Rule:       admissionregistrationv1.Rule{APIGroups: []string{""}, APIVersions: []string{"v1"}, Resources: []string{"pods"}},
			}},
		}},
	}
	api := env.Clients.Kube.AdmissionregistrationV1().MutatingWebhookConfigurations()
	if _, err := api.Create(testenv.Context(b), cfg, metav1.CreateOptions{}); err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { _ = api.Delete(context.Background(), name, metav1.DeleteOptions{}) })
}

// histogram reads a histogram's _sum and _count from a metrics endpoint.
func histogram(b *testing.B, url, name string) (sum, count float64) {
	b.Helper()
	resp, err := http.Get(url)
	if err != nil {
		b.Fatal(err)
	}
	defer resp.Body.Close()
	sc := bufio.NewScanner(resp.Body)
	for sc.Scan() {
		f := strings.Fields(sc.Text())
		if len(f) != 2 {
			continue
		}
		v, _ := strconv.ParseFloat(f[1], 64)
		switch f[0] {
		case name + "_sum":
			sum = v
		case name + "_count":
			count = v
		}
	}
	return sum, count
}

// procMemory reads VmRSS and VmHWM of pid, in MiB.
func procMemory(b *testing.B, pid int) (rss, hwm float64) {
	b.Helper()
	data, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		b.Fatal(err)
	}
	for line := range strings.SplitSeq(string(data), "\n") {
		f := strings.Fields(line)
		if len(f) < 2 {
			continue
		}
		kb, _ := strconv.ParseFloat(f[1], 64)
		switch f[0] {
		case "VmRSS:":
			rss = kb / 1024
		case "VmHWM:":
			hwm = kb / 1024
		}
	}
	if rss == 0 {
		b.Fatalf("no VmRSS in /proc/%d/status", pid)
	}
	return rss, hwm
}
