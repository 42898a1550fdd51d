package proxyadmin

import (
	"context"
	"fmt"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"

	"github.com/meshctl/meshctl/pkg/cli"
	"github.com/meshctl/meshctl/pkg/kube"
	"github.com/meshctl/meshctl/pkg/proxyconfig"
)

// Target is the pod whose proxy a `meshctl proxy` command asks, and how it
// reaches the cluster. The commands' options embed it.
type Target struct {
	// Pod and Namespace name the pod.
	Pod, Namespace string
	// Clients reaches the cluster.
	Clients func() (*kube.Clients, error)
}

// complete takes the pod from the first argument and the namespace and
// clients from f.
func (t *Target) complete(f cli.Factory, args []string) error {
	if len(args) > 0 {
		t.Pod = args[0]
	}
	ns, err := cli.ContextNamespace(f)
	if err != nil {
		return err
	}
	t.Namespace = ns
	t.Clients = f.Clients
	return nil
}

func (t *Target) validate() error {
	if t.Pod == "" {
		return cli.UsageErrorf("a pod name is required")
	}
	return nil
}

// client checks that the pod runs a proxy that can be asked, and returns
// the client that asks it.
func (t *Target) client(ctx context.Context) (*Client, error) {
	c, err := t.Clients()
	if err != nil {
		return nil, err
	}
	pod, err := getPod(ctx, c.Kube, t.Namespace, t.Pod)
	if err != nil {
		return nil, err
	}
	if err := runsProxy(pod); err != nil {
		return nil, err
	}
	return &Client{Config: c.Config, Kube: c.Kube}, nil
}

// getPod gets the pod, with an error that says what the user can do about
// a missing pod or a refusal.
func getPod(ctx context.Context, kc kubernetes.Interface, namespace, name string) (*corev1.Pod, error) {
	pod, err := kc.CoreV1().Pods(namespace).Get(ctx, name, metav1.GetOptions{})
	if apierrors.IsNotFound(err) {
		return nil, fmt.Errorf("pod %q not found in namespace %q", name, namespace)
	}
	if err != nil {
		return nil, fmt.Errorf("pod %q in namespace %q: %w", name, namespace, kube.ExplainForbidden(err, "get", "pods", namespace))
	}
	return pod, nil
}

// runsProxy says why pod has no proxy to ask, or nil.
func runsProxy(pod *corev1.Pod) error {
	name := fmt.Sprintf("pod %q in namespace %q", pod.Name, pod.Namespace)
	if proxyconfig.ProxyContainerOf(&pod.Spec) == nil {
		return fmt.Errorf("%s: %w; enrol its namespace (meshctl namespace add) and restart it", name, ErrNotMeshed)
	}
	if pod.Status.Phase != corev1.PodRunning {
		return fmt.Errorf("%s is %s, not Running: its proxy cannot be asked", name, pod.Status.Phase)
	}
	return nil
}
