//go:build e2e

package e2e

import (
	"context"
	"fmt"
	"net/http"
	"testing"
	"time"

	autoscalingv1 "k8s.io/api/autoscaling/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/meshctl/meshctl/internal/testenv"
	"github.com/meshctl/meshctl/pkg/meshconfig"
)

// controllerDown: with the controller scaled to zero, meshed pods keep
// serving each other over mutual TLS on the certificates and the last
// snapshot they hold, and their channel says it lost the controller; a
// bookbuyer pod that has to start meanwhile does not become ready (the
// webhook refuses its creation, or its proxy has no certificate), and it
// starts and buys once the controller is back.
func controllerDown(t *testing.T, e *Env) {
	m := &e.mesh
	m.need(t, m.bookbuyer.pod != "", "bookbuyer and bookstore deployed", "enrolled namespaces")
	ctx := testenv.Context(t)
	ns := meshconfig.DefaultMeshNamespace
	scale := func(n int32) {
		t.Helper()
		_, err := e.Clients.Kube.AppsV1().Deployments(ns).UpdateScale(context.WithoutCancel(ctx), meshconfig.ControllerName,
			&autoscalingv1.Scale{ObjectMeta: metav1.ObjectMeta{Name: meshconfig.ControllerName, Namespace: ns}, Spec: autoscalingv1.ScaleSpec{Replicas: n}},
			metav1.UpdateOptions{})
		if err != nil {
			t.Fatalf("scaling deployment %s/%s to %d: %v", ns, meshconfig.ControllerName, n, err)
		}
	}
	scale(0)
	t.Cleanup(func() { scale(2) }) // whatever happens, later steps need it (the chart's two replicas)
	eventually(t, time.Minute, "the controller's pods gone", func(ctx context.Context) error {
		pods, err := e.Clients.Kube.CoreV1().Pods(ns).List(ctx, metav1.ListOptions{LabelSelector: meshconfig.LabelComponent + "=" + meshconfig.ComponentController})
		if err != nil {
			return err
		}
		if len(pods.Items) > 0 {
			return fmt.Errorf("%d controller pod(s) left", len(pods.Items))
		}
		return nil
	})

	// Running pods go on, over mutual TLS.
	before := e.proxyCounter(t, m.bookstore, "mesh_proxy_requests_total", `direction="inbound"`, `peer="bookbuyer/bookbuyer"`, `tls="true"`)
	buy := fmt.Sprintf("http://bookstore.bookstore:%d/api/buy", examplePort)
	for i := range 3 {
		status, body, err := e.fetch(ctx, m.bookbuyer, buy)
		if err != nil || status != http.StatusOK {
			t.Fatalf("call %d from bookbuyer with the controller down: %d %q %v", i+1, status, body, err)
		}
	}
	if after := e.proxyCounter(t, m.bookstore, "mesh_proxy_requests_total", `direction="inbound"`, `peer="bookbuyer/bookbuyer"`, `tls="true"`); after-before < 3 {
		t.Errorf("bookstore's proxy counted %v mutual-TLS requests from bookbuyer for 3 calls", after-before)
	}
	eventually(t, time.Minute, "bookbuyer's channel notices the controller is gone", func(ctx context.Context) error {
		st := e.proxyStatus(t, m.bookbuyer)
		if st.Channel == nil || st.Channel.Connected {
			return fmt.Errorf("channel %+v", st.Channel)
		}
		if st.Identity == nil || st.Identity.Certificate == nil {
			return fmt.Errorf("the certificate was dropped: %+v", st.Identity)
		}
		return nil
	})

	// A pod that must start waits for the controller.
	if err := e.Clients.Kube.CoreV1().Pods(m.bookbuyer.namespace).Delete(ctx, m.bookbuyer.pod, metav1.DeleteOptions{}); err != nil {
		t.Fatal(err)
	}
	time.Sleep(10 * time.Second)
	pods, err := e.Clients.Kube.CoreV1().Pods(m.bookbuyer.namespace).List(ctx, metav1.ListOptions{LabelSelector: "app=bookbuyer"})
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range pods.Items {
		if p.Name != m.bookbuyer.pod && podReady(&p) {
			t.Errorf("pod %s/%s became ready while the controller was down", p.Namespace, p.Name)
		}
	}
	scale(2)
	m.bookbuyer = e.meshedApp(t, m.bookbuyer.namespace, "bookbuyer")
	eventually(t, 30*time.Second, "the new bookbuyer buys", func(ctx context.Context) error {
		status, body, err := e.fetch(ctx, m.bookbuyer, buy)
		if err == nil && status != http.StatusOK {
			err = fmt.Errorf("got %d %q", status, body)
		}
		return err
	})
}
