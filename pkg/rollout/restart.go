package rollout

import (
	"context"
	"fmt"
	"io"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
	"k8s.io/utils/clock"

	"github.com/meshctl/meshctl/pkg/cli"
	"github.com/meshctl/meshctl/pkg/kube"
	"github.com/meshctl/meshctl/pkg/namespace"
	"github.com/meshctl/meshctl/pkg/proxyconfig"
)

// DefaultInterval is how often a rollout's status is read.
const DefaultInterval = 2 * time.Second

// DefaultTimeout bounds the rollouts of one namespace.
const DefaultTimeout = 10 * time.Minute

// The Result of an Outcome.
const (
	// ResultOutdated: found, not restarted (no --restart-proxies).
	ResultOutdated = "outdated"
	// ResultRolledOut: restarted, and every pod replaced and available.
	ResultRolledOut = "rolled out"
	// ResultRestarted: restarted, but it replaces pods only when they are
	// deleted (updateStrategy OnDelete): nothing to wait for.
	ResultRestarted = "restarted (OnDelete: delete its pods)"
	// ResultSkipped: meshctl cannot roll it (a bare pod, a Job's pod, or a
	// sidecar `meshctl inject` put in its manifest); Detail says what to do.
	ResultSkipped = "skipped"
	// ResultFailed: the restart or its rollout failed; Detail says why.
	ResultFailed = "failed"
	// ResultNotStarted: an earlier namespace failed, so this one was left
	// alone.
	ResultNotStarted = "not started"
)

// Outcome is what happened to one workload.
type Outcome struct {
	Namespace string `json:"namespace"`
	// Workload is kind/name, as kubectl names it.
	Workload string `json:"workload"`
	// Pods counts its pods that ran an outdated proxy (or, with All, any
	// proxy) when it was found.
	Pods   int    `json:"pods"`
	Result string `json:"result"`
	Detail string `json:"detail,omitempty"`
}

// Summary is every workload found, in the order handled.
type Summary struct {
	// Image is the proxy image the MeshConfig names.
	Image     string    `json:"image"`
	Workloads []Outcome `json:"workloads"`
}

// Failed counts the workloads whose restart failed.
func (s *Summary) Failed() int {
	n := 0
	for _, o := range s.Workloads {
		if o.Result == ResultFailed {
			n++
		}
	}
	return n
}

// WriteTable writes NAMESPACE, WORKLOAD, PODS, RESULT.
func (s *Summary) WriteTable(out io.Writer) error {
	rows := make([][]string, len(s.Workloads))
	for i, o := range s.Workloads {
		result := o.Result
		if o.Detail != "" {
			result += ": " + o.Detail
		}
		rows[i] = []string{o.Namespace, o.Workload, fmt.Sprint(o.Pods), result}
	}
	return cli.WriteTable(out, []string{"NAMESPACE", "WORKLOAD", "PODS", "RESULT"}, rows)
}

// WriteJSON writes the summary as one JSON document.
func (s *Summary) WriteJSON(out io.Writer) error { return cli.EncodeJSON(out, s) }

// WriteYAML writes the summary as one YAML document.
func (s *Summary) WriteYAML(out io.Writer) error { return cli.EncodeYAML(out, s) }

// Namespace is one namespace's workloads to restart.
type Namespace struct {
	Name string
	// InjectedOffline says the namespace is not enrolled: its sidecars are
	// in the workloads' manifests (`meshctl inject`), so a restart would
	// bring back the same proxy, and its workloads are skipped.
	InjectedOffline bool
	Workloads       []namespace.Workload
}

// Find returns the workloads of ns whose live pods run an outdated proxy:
// one whose sidecar containers do not run want (proxyconfig.OutdatedContainers;
// a reference that does not parse is outdated too). With all, every
// workload whose pods run the sidecar.
func Find(ctx context.Context, kc kubernetes.Interface, ns, want string, all bool) ([]namespace.Workload, error) {
	return namespace.WorkloadsMatching(ctx, kc, ns, func(p *corev1.Pod) bool {
		if !namespace.HasSidecar(p) {
			return false
		}
		stale, err := proxyconfig.OutdatedContainers(&p.Spec, want)
		return all || err != nil || len(stale) > 0
	})
}

// Restarter rolls workloads namespace by namespace and waits for each
// rollout.
type Restarter struct {
	// Kube patches the workloads and reads their status.
	Kube kubernetes.Interface
	// Clock stamps the restarts and paces the status reads; the real clock
	// when nil.
	Clock clock.WithTicker
	// Interval is the time between status reads; DefaultInterval when zero.
	Interval time.Duration
	// Timeout bounds each namespace's rollouts; DefaultTimeout when zero.
	Timeout time.Duration
	// Progress receives one line per step and per change of a rollout's
	// state (stderr).
	Progress io.Writer
	// Ready, when set, is asked before a namespace's workloads are
	// restarted: WebhookInjects, so that the pods replaced get the new
	// sidecar and not the one the webhook held before the upgrade.
	Ready func(ctx context.Context, ns string) error
}

// Restart restarts the workloads of each namespace in turn: all of one
// namespace at once, then it waits for their rollouts before it goes on to
// the next. After a namespace with a failure, the namespaces left are not
// started, so that a bad proxy stops at the first namespace it breaks. The
// summary lists every workload; the error says how many failed.
func (r *Restarter) Restart(ctx context.Context, image string, plan []Namespace) (*Summary, error) {
	s := &Summary{Image: image, Workloads: []Outcome{}}
	failed := false
	for _, ns := range plan {
		if failed {
			for _, w := range ns.Workloads {
				s.Workloads = append(s.Workloads, Outcome{Namespace: ns.Name, Workload: w.String(), Pods: w.Pods, Result: ResultNotStarted})
			}
			continue
		}
		out := r.restartNamespace(ctx, ns)
		s.Workloads = append(s.Workloads, out...)
		for _, o := range out {
			failed = failed || o.Result == ResultFailed
		}
	}
	if n := s.Failed(); n > 0 {
		return s, fmt.Errorf("%d workload(s) did not roll out", n)
	}
	return s, nil
}

func (r *Restarter) clock() clock.WithTicker {
	if r.Clock == nil {
		return clock.RealClock{}
	}
	return r.Clock
}

func (r *Restarter) progress(format string, args ...any) {
	if r.Progress != nil {
		fmt.Fprintf(r.Progress, format+"\n", args...)
	}
}

// restartNamespace patches every restartable workload of ns, then waits
// for all of them.
func (r *Restarter) restartNamespace(ctx context.Context, ns Namespace) []Outcome {
	out := make([]Outcome, len(ns.Workloads))
	var waiting []int
	if ns.InjectedOffline {
		for i, w := range ns.Workloads {
			out[i] = Outcome{Namespace: ns.Name, Workload: w.String(), Pods: w.Pods, Result: ResultSkipped,
				Detail: "injected by meshctl inject in a namespace that is not enrolled: inject its manifest again and apply it"}
		}
		return out
	}
	if r.Ready != nil {
		if err := r.Ready(ctx, ns.Name); err != nil {
			for i, w := range ns.Workloads {
				out[i] = Outcome{Namespace: ns.Name, Workload: w.String(), Pods: w.Pods, Result: ResultFailed, Detail: err.Error()}
			}
			return out
		}
	}
	now := r.clock().Now()
	for i, w := range ns.Workloads {
		out[i] = Outcome{Namespace: ns.Name, Workload: w.String(), Pods: w.Pods}
		if !w.Restartable() {
			out[i].Result, out[i].Detail = ResultSkipped, "meshctl cannot restart a "+w.Kind+": delete its pods to have them recreated"
			continue
		}
		manual, err := onDelete(ctx, r.Kube, ns.Name, w)
		if err == nil {
			err = namespace.RestartWorkload(ctx, r.Kube, ns.Name, w, now)
		}
		switch {
		case err != nil:
			out[i].Result, out[i].Detail = ResultFailed, err.Error()
		case manual:
			out[i].Result = ResultRestarted
			r.progress("namespace %s: %s restarted; it replaces its pods only when they are deleted (updateStrategy OnDelete)", ns.Name, w)
		default:
			r.progress("namespace %s: %s restarted (%d pod(s)); waiting for its rollout", ns.Name, w, w.Pods)
			waiting = append(waiting, i)
		}
	}
	if len(waiting) == 0 {
		return out
	}
	timeout := r.Timeout
	if timeout <= 0 {
		timeout = DefaultTimeout
	}
	errs := r.wait(ctx, ns.Name, ns.Workloads, waiting, timeout)
	for _, i := range waiting {
		if err := errs[i]; err != nil {
			out[i].Result, out[i].Detail = ResultFailed, err.Error()
		} else {
			out[i].Result = ResultRolledOut
		}
	}
	return out
}

// wait reads the rollouts of ws[idx...] every Interval until each is done,
// has failed, or timeout passes; it returns the errors by index.
func (r *Restarter) wait(ctx context.Context, ns string, ws []namespace.Workload, idx []int, timeout time.Duration) map[int]error {
	interval := r.Interval
	if interval <= 0 {
		interval = DefaultInterval
	}
	c := r.clock()
	deadline := c.After(timeout)
	ticker := c.NewTicker(interval)
	defer ticker.Stop()
	errs := map[int]error{}
	last := map[int]string{}
	pending := append([]int(nil), idx...)
	for {
		var still []int
		for _, i := range pending {
			st, err := readState(ctx, r.Kube, ns, ws[i])
			switch {
			case err != nil:
				errs[i] = err
			case st.err != nil:
				errs[i] = st.err
				r.progress("namespace %s: %s failed: %v", ns, ws[i], st.err)
			case st.done:
				r.progress("namespace %s: %s rolled out", ns, ws[i])
			default:
				if st.message != last[i] {
					r.progress("namespace %s: %s: %s", ns, ws[i], st.message)
					last[i] = st.message
				}
				still = append(still, i)
			}
		}
		if pending = still; len(pending) == 0 {
			return errs
		}
		select {
		case <-ctx.Done():
			for _, i := range pending {
				errs[i] = fmt.Errorf("stopped waiting for its rollout: %w", ctx.Err())
			}
			return errs
		case <-deadline:
			for _, i := range pending {
				errs[i] = fmt.Errorf("not rolled out after %s (%s): see kubectl rollout status -n %s %s", timeout, last[i], ns, ws[i])
			}
			return errs
		case <-ticker.C():
		}
	}
}

// WebhookInjects returns a Restarter.Ready that asks the API server to
// create a pod in the namespace as a dry run, which runs the admission
// webhooks, and is satisfied when the webhook returns it with a sidecar
// that runs want. It asks every interval until then, for at most timeout:
// right after an upgrade the webhook may still inject the old image for a
// moment, and pods restarted then would come back with it.
func WebhookInjects(kc kubernetes.Interface, want string, c clock.WithTicker, interval, timeout time.Duration) func(ctx context.Context, ns string) error {
	return func(ctx context.Context, ns string) error {
		deadline := c.After(timeout)
		ticker := c.NewTicker(interval)
		defer ticker.Stop()
		for {
			why, err := probeInjection(ctx, kc, ns, want)
			if err != nil {
				return err
			}
			if why == "" {
				return nil
			}
			select {
			case <-ctx.Done():
				return ctx.Err()
			case <-deadline:
				return fmt.Errorf("the webhook does not inject %s into new pods of namespace %q after %s: %s; check that the controller runs (meshctl check)", want, ns, timeout, why)
			case <-ticker.C():
			}
		}
	}
}

// probeInjection creates a pod in ns as a server-side dry run and says
// what is wrong with the sidecar the webhook gave it; "" when it runs want.
func probeInjection(ctx context.Context, kc kubernetes.Interface, ns, want string) (string, error) {
	no := false
	pod := &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{GenerateName: "meshctl-injection-probe-"},
		Spec: corev1.PodSpec{
			AutomountServiceAccountToken: &no,
			Containers:                   []corev1.Container{{Name: "probe", Image: "meshctl.invalid/probe:1"}},
		},
	}
	got, err := kc.CoreV1().Pods(ns).Create(ctx, pod, metav1.CreateOptions{DryRun: []string{metav1.DryRunAll}, FieldManager: namespace.FieldManager})
	if err != nil {
		return "", fmt.Errorf("namespace %q: creating a pod as a dry run to see what the webhook injects: %w", ns, kube.ExplainForbidden(err, "create", "pods", ns))
	}
	if !namespace.HasSidecar(got) {
		return "it injects no sidecar", nil
	}
	stale, err := proxyconfig.OutdatedContainers(&got.Spec, want)
	if err != nil {
		return "", err
	}
	if len(stale) > 0 {
		return fmt.Sprintf("it injects %s", stale[0].Image), nil
	}
	return "", nil
}
