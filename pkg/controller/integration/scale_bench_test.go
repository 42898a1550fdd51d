package integration_test

import (
	"bytes"
	"context"
	"fmt"
	"math"
	"net/http"
	"os"
	"os/exec"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/meshctl/meshctl/internal/testenv"
	"github.com/meshctl/meshctl/pkg/controller"
	"github.com/meshctl/meshctl/pkg/meshconfig/meshconfigtest"
)

// controllerProcess is the real mesh-controller binary run with the
// chart's flags against the test API server, its webhook registered by URL.
type controllerProcess struct {
	m        *mesh
	health   string // http://127.0.0.1:port
	webhook  string // the webhook's name in the API server's metrics
	enrolled string // a namespace whose pods it injects
	pid      int
}

func runControllerProcess(b *testing.B) *controllerProcess {
	b.Helper()
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
	cmd := exec.CommandContext(ctx, bin, "--kubeconfig="+env.Kubeconfig, "--mesh-name="+meshName, "--mesh-namespace="+ns,
		"--webhook-configuration="+webhook, "--webhook-service=localhost", "--tls-secret="+testSecret,
		"--webhook-port="+strconv.Itoa(webhookPort), "--health-port="+strconv.Itoa(healthPort), "--proxy-api-port="+strconv.Itoa(proxyAPIPort),
		"--leader-election-id=bench", "--shutdown-delay=0", "--log-level=warn")
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
	p := &controllerProcess{m: m, health: fmt.Sprintf("http://127.0.0.1:%d", healthPort), webhook: "sidecar-injector." + meshName + ".meshctl.io", pid: cmd.Process.Pid}
	eventually(b, "mesh-controller /readyz", func() bool {
		resp, err := http.Get(p.health + "/readyz")
		if err != nil {
			return false
		}
		resp.Body.Close()
		return resp.StatusCode == http.StatusOK
	})
	p.enrolled = m.enrolledNamespace(b)
	eventually(b, "the API server calls the webhook", func() bool {
		pod, err := m.createPod(b, p.enrolled, appPod(), true)
		return err == nil && hasSidecar(pod)
	})
	return p
}

// burst creates n pods in ns at once and returns each creation's latency,
// sorted.
func burst(b *testing.B, m *mesh, ns string, n int, injected bool) []time.Duration {
	b.Helper()
	lat := make([]time.Duration, n)
	errs := make([]error, n)
	var wg sync.WaitGroup
	for i := range n {
		wg.Go(func() {
			start := time.Now()
			p, err := m.createPod(b, ns, appPod(), false)
			lat[i] = time.Since(start)
			if err == nil && injected && !hasSidecar(p) {
				err = fmt.Errorf("pod %s not injected", p.Name)
			}
			errs[i] = err
		})
	}
	wg.Wait()
	for _, err := range errs {
		if err != nil {
			b.Fatal(err)
		}
	}
	slices.Sort(lat)
	return lat
}

// apiServerHistogram is a histogram of the API server's /metrics: the
// cumulative count per upper bound, for the series whose labels contain
// every one of match.
type apiServerHistogram map[float64]float64

func readAPIServerHistogram(b *testing.B, name string, match ...string) apiServerHistogram {
	b.Helper()
	raw, err := env.Clients.Kube.Discovery().RESTClient().Get().AbsPath("/metrics").DoRaw(testenv.Context(b))
	if err != nil {
		b.Fatalf("the API server's /metrics: %v", err)
	}
	return parseHistogram(string(raw), name, match...)
}

func parseHistogram(text, name string, match ...string) apiServerHistogram {
	h := apiServerHistogram{}
	for line := range strings.Lines(text) {
		if !strings.HasPrefix(line, name+"_bucket{") {
			continue
		}
		ok := true
		for _, m := range match {
			ok = ok && strings.Contains(line, m)
		}
		if !ok {
			continue
		}
		le := line[strings.Index(line, `le="`)+4:]
		le = le[:strings.IndexByte(le, '"')]
		bound, err := strconv.ParseFloat(le, 64)
		if le == "+Inf" {
			bound, err = math.Inf(1), nil
		}
		fields := strings.Fields(line)
		v, verr := strconv.ParseFloat(fields[len(fields)-1], 64)
		if err == nil && verr == nil {
			h[bound] += v
		}
	}
	return h
}

// quantile of the observations between before and after, interpolated
// linearly within a bucket, as Prometheus's histogram_quantile does.
func quantile(before, after apiServerHistogram, q float64) float64 {
	bounds := make([]float64, 0, len(after))
	for le := range after {
		bounds = append(bounds, le)
	}
	slices.Sort(bounds)
	if len(bounds) == 0 {
		return math.NaN()
	}
	total := after[math.Inf(1)] - before[math.Inf(1)]
	if total == 0 {
		return math.NaN()
	}
	rank, lower, prev := q*total, 0.0, 0.0
	for _, le := range bounds {
		c := after[le] - before[le]
		if c >= rank {
			if math.IsInf(le, 1) {
				return lower
			}
			return lower + (le-lower)*(rank-prev)/max(c-prev, 1)
		}
		lower, prev = le, c
	}
	return lower
}

// BenchmarkAdmissionBurst measures the webhook's admission latency through
// the API server over a burst of 100 pods created at once: the API server's
// own histogram of the webhook call
// (apiserver_admission_webhook_admission_duration_seconds, interpolated
// within its buckets of 5, 25, 100 ms...), its share under 5 ms, and the
// creations' latency seen by the client with the webhook and, for the same
// burst, in a namespace no webhook selects: the difference is what the
// webhook adds. The controller's handler time comes from its own, finer
// histogram.
func BenchmarkAdmissionBurst(b *testing.B) {
	const pods = 100
	p := runControllerProcess(b)
	plain := env.Namespace(b, nil)
	const apiMetric = "apiserver_admission_webhook_admission_duration_seconds"
	sel := []string{`name="` + p.webhook + `"`, `type="admit"`}
	var meshed, baseline []time.Duration
	before := readAPIServerHistogram(b, apiMetric, sel...)
	ctrlBefore := p.controllerHistogram(b)
	apiCPU, ctrlCPU := apiServerCPU(b), procCPU(b, p.pid)
	b.ResetTimer()
	for range b.N {
		meshed = append(meshed, burst(b, p.m, p.enrolled, pods, true)...)
	}
	b.StopTimer()
	meshedAPICPU, meshedCtrlCPU := apiServerCPU(b)-apiCPU, procCPU(b, p.pid)-ctrlCPU
	after := readAPIServerHistogram(b, apiMetric, sel...)
	ctrlAfter := p.controllerHistogram(b)
	apiCPU = apiServerCPU(b)
	for range b.N {
		baseline = append(baseline, burst(b, p.m, plain, pods, false)...)
	}
	plainAPICPU := apiServerCPU(b) - apiCPU
	// CPU per pod: what the webhook costs the API server (encoding the
	// review, the call, applying the patch) and the controller.
	perPod := func(seconds float64) float64 { return 1000 * seconds / float64(b.N*pods) }
	b.ReportMetric(perPod(meshedAPICPU), "apiserver-cpu-ms/pod")
	b.ReportMetric(perPod(plainAPICPU), "nowebhook-apiserver-cpu-ms/pod")
	b.ReportMetric(perPod(meshedCtrlCPU), "controller-cpu-ms/pod")
	// The same number of pods one after another: what the webhook adds
	// when the API server is not saturated by the burst itself.
	seqBefore := readAPIServerHistogram(b, apiMetric, sel...)
	for range b.N {
		for range pods {
			if _, err := p.m.createPod(b, p.enrolled, appPod(), false); err != nil {
				b.Fatal(err)
			}
		}
	}
	seqAfter := readAPIServerHistogram(b, apiMetric, sel...)
	b.ReportMetric(1000*quantile(seqBefore, seqAfter, 0.5), "sequential-webhook-p50-ms")
	b.ReportMetric(1000*quantile(seqBefore, seqAfter, 0.99), "sequential-webhook-p99-ms")
	if n := seqAfter[math.Inf(1)] - seqBefore[math.Inf(1)]; n > 0 {
		b.ReportMetric(100*(seqAfter[0.005]-seqBefore[0.005])/n, "sequential-webhook-under-5ms-%")
	}
	slices.Sort(meshed)
	slices.Sort(baseline)
	ms := func(d time.Duration) float64 { return float64(d.Microseconds()) / 1000 }
	b.ReportMetric(1000*quantile(before, after, 0.5), "webhook-p50-ms")
	b.ReportMetric(1000*quantile(before, after, 0.99), "webhook-p99-ms")
	if n := after[math.Inf(1)] - before[math.Inf(1)]; n > 0 {
		b.ReportMetric(100*(after[0.005]-before[0.005])/n, "webhook-under-5ms-%")
	}
	b.ReportMetric(1000*quantile(ctrlBefore, ctrlAfter, 0.5), "handler-p50-ms")
	b.ReportMetric(1000*quantile(ctrlBefore, ctrlAfter, 0.99), "handler-p99-ms")
	b.ReportMetric(ms(percentile(meshed, 50)), "create-p50-ms")
	b.ReportMetric(ms(percentile(meshed, 99)), "create-p99-ms")
	b.ReportMetric(ms(percentile(baseline, 50)), "nowebhook-create-p50-ms")
	b.ReportMetric(ms(percentile(baseline, 99)), "nowebhook-create-p99-ms")
	b.ReportMetric(0, "ns/op") // one op is a burst of 100 pods
}

// apiServerCPU is the test API server's process_cpu_seconds_total.
func apiServerCPU(b *testing.B) float64 {
	b.Helper()
	raw, err := env.Clients.Kube.Discovery().RESTClient().Get().AbsPath("/metrics").DoRaw(testenv.Context(b))
	if err != nil {
		b.Fatalf("the API server's /metrics: %v", err)
	}
	for line := range strings.Lines(string(raw)) {
		if v, ok := strings.CutPrefix(line, "process_cpu_seconds_total "); ok {
			f, err := strconv.ParseFloat(strings.TrimSpace(v), 64)
			if err != nil {
				b.Fatalf("process_cpu_seconds_total: %v", err)
			}
			return f
		}
	}
	b.Fatal("the API server's /metrics has no process_cpu_seconds_total")
	return 0
}

// procCPU is the user and system CPU time pid has used, in seconds.
func procCPU(b *testing.B, pid int) float64 {
	b.Helper()
	data, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		b.Fatal(err)
	}
	// The fields after the command name, which is in parentheses and
	// may hold spaces: utime and stime are the 12th and 13th of them.
	f := strings.Fields(string(data[bytes.LastIndexByte(data, ')')+1:]))
	if len(f) < 13 {
		b.Fatalf("/proc/%d/stat: %q", pid, data)
	}
	utime, _ := strconv.ParseFloat(f[11], 64)
	stime, _ := strconv.ParseFloat(f[12], 64)
	// The kernel counts in USER_HZ, 100 on Linux.
	return (utime + stime) / 100
}

// controllerHistogram is the controller's own admission histogram.
func (p *controllerProcess) controllerHistogram(b *testing.B) apiServerHistogram {
	b.Helper()
	resp, err := http.Get(p.health + "/metrics")
	if err != nil {
		b.Fatal(err)
	}
	defer resp.Body.Close()
	var buf bytes.Buffer
	if _, err := buf.ReadFrom(resp.Body); err != nil {
		b.Fatal(err)
	}
	return parseHistogram(buf.String(), "meshctl_controller_admission_duration_seconds")
}

// BenchmarkControllerMemory measures the controller with 1,000 meshed pods:
// created through its webhook (so injected), then given a pod IP and a
// Running, ready status as the kubelet would, until its channel's snapshot
// holds all of them. It reports the process's resident set (now and at its
// peak) and its Go heap in use.
func BenchmarkControllerMemory(b *testing.B) {
	const pods = 1000
	p := runControllerProcess(b)
	ctx := testenv.Context(b)
	api := env.Clients.Kube.CoreV1().Pods(p.enrolled)
	// One run: creating and starting 1,000 pods takes well over the
	// benchmark time, so b.N stays 1.
	b.ResetTimer()
	var wg sync.WaitGroup
	sem := make(chan struct{}, 16)
	for i := range pods {
		wg.Go(func() {
			sem <- struct{}{}
			defer func() { <-sem }()
			pod, err := p.m.createPod(b, p.enrolled, appPod(), false)
			if err != nil {
				b.Error(err)
				return
			}
			pod.Status = corev1.PodStatus{
				Phase: corev1.PodRunning, PodIP: fmt.Sprintf("198.18.%d.%d", 1+i/250, 1+i%250),
				Conditions: []corev1.PodCondition{{Type: corev1.PodReady, Status: corev1.ConditionTrue}},
			}
			pod.Status.PodIPs = []corev1.PodIP{{IP: pod.Status.PodIP}}
			if _, err := api.UpdateStatus(ctx, pod, metav1.UpdateOptions{}); err != nil {
				b.Error(err)
			}
		})
	}
	wg.Wait()
	if b.Failed() {
		return
	}
	var entries float64
	eventually(b, "the channel's snapshot holds the meshed pods", func() bool {
		entries = p.gauge(b, `meshctl_controller_channel_snapshot_entries{kind="pods"}`)
		return entries >= pods
	})
	b.StopTimer()
	rss, hwm := procMemory(b, p.pid)
	b.ReportMetric(entries, "snapshot-pods")
	b.ReportMetric(rss, "rss-MiB")
	b.ReportMetric(hwm, "peak-rss-MiB")
	b.ReportMetric(p.gauge(b, "go_memstats_heap_inuse_bytes")/(1<<20), "heap-inuse-MiB")
	b.ReportMetric(0, "ns/op")
}

// gauge reads one sample of the controller's /metrics, by its exact name
// and labels.
func (p *controllerProcess) gauge(b *testing.B, series string) float64 {
	b.Helper()
	resp, err := http.Get(p.health + "/metrics")
	if err != nil {
		b.Fatal(err)
	}
	defer resp.Body.Close()
	var buf bytes.Buffer
	if _, err := buf.ReadFrom(resp.Body); err != nil {
		b.Fatal(err)
	}
	for line := range strings.Lines(buf.String()) {
		if v, ok := strings.CutPrefix(strings.TrimSpace(line), series+" "); ok {
			f, _ := strconv.ParseFloat(v, 64)
			return f
		}
	}
	return 0
}
