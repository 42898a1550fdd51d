package proxyadmin

import (
	"bytes"
	"errors"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/meshctl/meshctl/internal/golden"
	"github.com/meshctl/meshctl/pkg/channel"
	"github.com/meshctl/meshctl/pkg/meshconfig"
	"github.com/meshctl/meshctl/pkg/proxy/admin"
	proxychannel "github.com/meshctl/meshctl/pkg/proxy/channel"
	"github.com/meshctl/meshctl/pkg/proxy/credentials"
	"github.com/meshctl/meshctl/pkg/proxyconfig"
)

func testStatus() *ProxyStatus {
	now := time.Date(2026, 12, 5, 12, 0, 0, 0, time.UTC)
	renew := now.Add(15 * time.Hour)
	return &ProxyStatus{
		Pod: "bookstore-7d9c", Namespace: "bookstore", now: now,
		Status: admin.Status{
			Identity: &credentials.Status{
				ID: "spiffe://cluster.local/ns/bookstore/sa/bookstore",
				Certificate: &credentials.CertificateStatus{Serial: "5f3a9c", NotBefore: now.Add(-time.Hour), NotAfter: now.Add(23 * time.Hour),
					Issuer: "9d1c0b7e4f6a2b3c8d9e0f1a2b3c4d5e6f7a8b9c0d1e2f3a4b5c6d7e8f9a0b1c"},
				RenewAt: &renew, Renewals: 3,
				Anchors: []credentials.AnchorStatus{{Subject: "CN=meshctl trust anchor cluster.local,O=meshctl",
					Fingerprint: "0a1b2c3d4e5f60718293a4b5c6d7e8f90a1b2c3d4e5f60718293a4b5c6d7e8f9", NotAfter: now.Add(3650 * 24 * time.Hour)}},
			},
			Channel: &proxychannel.Status{Controller: "mesh-controller.mesh-system.svc:9444", Connected: true, Connects: 1,
				Version: channel.Version{Hash: "sha256:4e07408562bedb8b60ce05c1decfe3ad16b72230967de01f640b7e4729b49fce", Generated: now}, Received: now},
			Settings: &admin.SettingsStatus{Digest: "sha256:77c1e0a3b1d2c4e5f60718293a4b5c6d7e8f90a1b2c3d4e5f60718293a4b5c6d",
				Egress: true, LogLevel: "debug", Pinned: true, JWT: true, Error: "tracing: no collector address"},
		},
	}
}

func TestStatusGolden(t *testing.T) {
	for _, f := range []struct {
		name  string
		write func(*ProxyStatus, *bytes.Buffer) error
	}{
		{"status.table", func(s *ProxyStatus, b *bytes.Buffer) error { return s.WriteTable(b) }},
		{"status.json", func(s *ProxyStatus, b *bytes.Buffer) error { return s.WriteJSON(b) }},
	} {
		var b bytes.Buffer
		if err := f.write(testStatus(), &b); err != nil {
			t.Fatal(err)
		}
		golden.Assert(t, "testdata/"+f.name+".golden", b.Bytes())
	}
}

func TestMeshed(t *testing.T) {
	pod := func(args []string, phase corev1.PodPhase) *corev1.Pod {
		p := &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Name: "p", Namespace: "ns"}, Status: corev1.PodStatus{Phase: phase}}
		if args != nil {
			p.Spec.InitContainers = []corev1.Container{{Name: "mesh-proxy", Args: args, RestartPolicy: ptrAlways()}}
		}
		return p
	}
	c, err := proxyconfig.New(meshconfig.DefaultSpec())
	if err != nil {
		t.Fatal(err)
	}
	plain := c.RunArgs()
	if c, err = c.WithIdentity(meshconfig.DefaultMeshNamespace, ""); err != nil {
		t.Fatal(err)
	}
	withIdentity := c.RunArgs()
	if err := meshed(pod(withIdentity, corev1.PodRunning)); err != nil {
		t.Errorf("a meshed pod: %v", err)
	}
	if err := meshed(pod(nil, corev1.PodRunning)); !errors.Is(err, ErrNotMeshed) {
		t.Errorf("a pod without a proxy: %v", err)
	}
	if err := meshed(pod(plain, corev1.PodRunning)); err == nil || !strings.Contains(err.Error(), "without identity") {
		t.Errorf("a proxy without identity: %v", err)
	}
	if err := meshed(pod(withIdentity, corev1.PodPending)); err == nil || !strings.Contains(err.Error(), "Pending") {
		t.Errorf("a pending pod: %v", err)
	}
}

func ptrAlways() *corev1.ContainerRestartPolicy {
	p := corev1.ContainerRestartPolicyAlways
	return &p
}

// A proxy's /status is its own text: what the table shows of it cannot
// write to the terminal.
func TestStatusTableIsPrintable(t *testing.T) {
	s := testStatus()
	s.Identity.LastError = "\x1b[2J\x1b[Hrenewal failed"
	s.Channel.LastError = "x\nTrust anchors: forged"
	var b bytes.Buffer
	if err := s.WriteTable(&b); err != nil {
		t.Fatal(err)
	}
	if strings.ContainsAny(b.String(), "\x1b") || strings.Contains(b.String(), "\nTrust anchors: forged") ||
		!strings.Contains(b.String(), `\x1b[2J\x1b[Hrenewal failed`) {
		t.Errorf("the proxy's text reaches the terminal:\n%q", b.String())
	}
}
