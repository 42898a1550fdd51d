package integration_test

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	apiextensionsclient "k8s.io/apiextensions-apiserver/pkg/client/clientset/clientset"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/wait"

	"github.com/meshctl/meshctl/internal/testenv"
	"github.com/meshctl/meshctl/pkg/meshconfig/meshconfigtest"
	"github.com/meshctl/meshctl/pkg/policy/cluster"
	"github.com/meshctl/meshctl/pkg/policycli"
)

// A mesh installed before IngressBackend existed: explain says to upgrade
// rather than answer from part of the policy.
func TestReadMissingCRD(t *testing.T) {
	b := newBookstore(t, false)
	crds, err := apiextensionsclient.NewForConfig(env.Config)
	if err != nil {
		t.Fatal(err)
	}
	name := cluster.IngressBackends.GroupResource().String()
	ctx := testenv.Context(t)
	if err := crds.ApiextensionsV1().CustomResourceDefinitions().Delete(ctx, name, metav1.DeleteOptions{}); err != nil {
		t.Fatal(err)
	}
	// Later tests get it back.
	t.Cleanup(func() { meshconfigtest.InstallCRDs(t, env.Config) })
	err = wait.PollUntilContextTimeout(ctx, 50*time.Millisecond, 30*time.Second, true, func(ctx context.Context) (bool, error) {
		_, err := env.Clients.Dynamic.Resource(cluster.IngressBackends).List(ctx, metav1.ListOptions{Limit: 1})
		return apierrors.IsNotFound(err), nil
	})
	if err != nil {
		t.Fatalf("the CRD is still served: %v", err)
	}
	_, _, err = b.explain(t, policycli.ExplainOptions{From: b.buyer + "/bookbuyer", To: b.store + "/svc/bookstore"})
	var missing *policycli.MissingCRDError
	if !errors.As(err, &missing) || !strings.Contains(err.Error(), "ingressbackends.policy.meshctl.io") || !strings.Contains(err.Error(), "run meshctl upgrade") {
		t.Fatalf("got %v", err)
	}
}
