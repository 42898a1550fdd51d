package install

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/meshctl/meshctl/pkg/cli"
	"github.com/meshctl/meshctl/pkg/kube"
)

// pollInterval is how often readiness is checked.
const pollInterval = time.Second

// NotReadyError says which component did not become ready, and why, as far as
// pods and events tell.
type NotReadyError struct {
	// Deployment is namespace/name of the component.
	Deployment string
	// Timeout is how long meshctl waited.
	Timeout time.Duration
	// Status is the last observed replica status.
	Status string
	// Diagnosis lists failing pods and containers and their latest events.
	Diagnosis []string
}

// Error says which component is not ready and why, one diagnosis per line.
func (e *NotReadyError) Error() string {
	var b strings.Builder
	fmt.Fprintf(&b, "deployment %s is not ready after %s: %s", e.Deployment, e.Timeout, e.Status)
	for _, l := range e.Diagnosis {
		b.WriteString("\n  " + l)
	}
	return b.String()
}

// waitReady waits until every Deployment in objs is available, reporting each
// one's progress, and on timeout diagnoses the first that is not.
func (d *Deps) waitReady(ctx context.Context, deployments []string, timeout time.Duration, p *cli.Progress) error {
	kc := d.Clients.Kube
	// Requests use ctx, not the deadline: a request that a rate limiter
	// predicts would overrun the deadline must not be mistaken for a failure.
	deadline := d.Clock.NewTimer(timeout)
	defer deadline.Stop()
	ticker := d.Clock.NewTicker(pollInterval)
	defer ticker.Stop()
	pending := slices.Clone(deployments)
	last := map[string]string{}
	for {
		var still []string
		for _, name := range pending {
			dep, err := kc.AppsV1().Deployments(d.Namespace).Get(ctx, name, metav1.GetOptions{})
			if err != nil {
				return fmt.Errorf("deployment %s/%s: %w", d.Namespace, name, err)
			}
			ready, status := kube.DeploymentStatus(dep)
			last[name] = status
			if ready {
				p.Done(name, "ready")
				continue
			}
			p.Update(name, status)
			still = append(still, name)
		}
		pending = still
		if len(pending) == 0 {
			return nil
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-deadline.C():
			name := pending[0]
			p.Failed(name, "not ready: "+last[name])
			return &NotReadyError{
				Deployment: d.Namespace + "/" + name,
				Timeout:    timeout,
				Status:     last[name],
				Diagnosis:  d.diagnose(ctx, name),
			}
		case <-ticker.C():
		}
	}
}

// diagnose reads a Deployment afresh and says why it is not ready.
func (d *Deps) diagnose(ctx context.Context, name string) []string {
	dep, err := d.Clients.Kube.AppsV1().Deployments(d.Namespace).Get(ctx, name, metav1.GetOptions{})
	if err != nil {
		return []string{fmt.Sprintf("cannot read deployment %s/%s: %v", d.Namespace, name, err)}
	}
	return kube.DiagnoseDeployment(ctx, d.Clients.Kube, dep)
}
