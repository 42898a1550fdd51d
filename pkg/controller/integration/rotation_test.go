package integration_test

import (
	"context"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/meshctl/meshctl/internal/testenv"
	"github.com/meshctl/meshctl/pkg/channel"
	"github.com/meshctl/meshctl/pkg/identity"
	"github.com/meshctl/meshctl/pkg/issuance"
	proxychannel "github.com/meshctl/meshctl/pkg/proxy/channel"
	"github.com/meshctl/meshctl/pkg/proxy/credentials"
)

// TestProxyRenewsWhenTheIssuerRotates: the proxy's own parts (credentials
// and channel client, as mesh-proxy wires them) against the controller
// and the real API server's TokenReview. When a new issuer is written into
// the Secret, the controller's snapshot names it, and the proxy renews at
// once instead of at two thirds of its certificate's day: what lets
// `meshctl identity rotate` finish in seconds.
func TestProxyRenewsWhenTheIssuerRotates(t *testing.T) {
	m := startMesh(t, false)
	w := newWorkload(t, "app")
	dir := t.TempDir()
	tokenPath, bundlePath := filepath.Join(dir, "token"), filepath.Join(dir, "ca-bundle.crt")
	if err := os.WriteFile(tokenPath, []byte(w.token(t, issuance.Audience)), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(bundlePath, m.Anchor.CertificatePEM(), 0o600); err != nil {
		t.Fatal(err)
	}
	creds, err := credentials.New(credentials.Options{
		ControllerAddress: m.ProxyAPIAddr, ControllerID: m.controllerID(t), Namespace: w.ns, ServiceAccount: w.sa,
		TokenPath: tokenPath, BundlePath: bundlePath, Jitter: func() float64 { return 0 },
	})
	if err != nil {
		t.Fatal(err)
	}
	ch, err := proxychannel.New(proxychannel.Options{
		Address: m.ProxyAPIAddr, ControllerID: m.controllerID(t), Sources: creds.Sources(),
		OnSnapshot: func(s *channel.Snapshot) { creds.IssuerAnnounced(s.Content.Issuer) },
	})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(testenv.Context(t))
	done := make(chan struct{}, 2)
	go func() { creds.Run(ctx); done <- struct{}{} }()
	t.Cleanup(func() { cancel(); <-done; <-done })
	select {
	case <-creds.Ready():
	case <-time.After(30 * time.Second):
		t.Fatalf("no certificate: %+v", creds.Status())
	}
	go func() { ch.Run(ctx); done <- struct{}{} }()

	issuerOf := func() string {
		if c := creds.Status().Certificate; c != nil {
			return c.Issuer
		}
		return ""
	}
	announced := func() string {
		if s := ch.Snapshot(); s != nil {
			return s.Content.Issuer
		}
		return ""
	}
	old := identity.FingerprintOf(m.servingIssuerCert(t))
	eventually(t, "the snapshot names the issuer", func() bool { return announced() == old })
	if got := issuerOf(); got != old {
		t.Fatalf("the proxy's certificate is from issuer %s, want %s", got, old)
	}

	renewed := newIssuer(t, m.Anchor)
	m.putIssuer(t, renewed)
	want := identity.FingerprintOf(renewed.Certificate())
	eventually(t, "the snapshot names the new issuer", func() bool { return announced() == want })
	eventually(t, "the proxy holds a certificate of the new issuer", func() bool { return issuerOf() == want })
	if st := creds.Status(); st.Renewals != 2 {
		t.Errorf("%d certificates issued, want 2 (the first, then one of the new issuer)", st.Renewals)
	}
}
