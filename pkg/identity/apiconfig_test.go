package identity

import (
	"errors"
	"io"
	"log"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"
)

// apiCall serves one request on the proxy API port's configuration and
// returns what the handler learnt about the caller (its ID, or the
// refusal's text), or the client's error.
func apiCall(t *testing.T, server Sources, clientSrc Sources, want ID) (string, error) {
	t.Helper()
	h := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		id, err := VerifyAPIPeer(r.TLS, server)
		if err != nil {
			io.WriteString(w, "refused: "+err.Error())
			return
		}
		io.WriteString(w, id.String())
	})
	// Not httptest's StartTLS, which would add its own certificate.
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv := &http.Server{Handler: h, TLSConfig: APIServerConfig(server), ErrorLog: log.New(io.Discard, "", 0)}
	go srv.ServeTLS(ln, "", "")
	defer srv.Close()
	c := &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{TLSClientConfig: APIClientConfig(clientSrc, want)}}
	resp, err := c.Get("https://" + ln.Addr().String())
	if err != nil {
		return "", err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	return string(b), err
}

func TestAPIConfig(t *testing.T) {
	p := newPKI(t, DefaultTrustDomain)
	controllerID := mustID(t, DefaultTrustDomain, "mesh-system", "mesh-controller")
	controller := newEnd(t, p, controllerID)
	proxyID := mustID(t, DefaultTrustDomain, "bookstore", "bookstore")
	foreign := newPKI(t, DefaultTrustDomain)

	t.Run("a proxy without a certificate may connect, and is nobody", func(t *testing.T) {
		bare := &proxyEnd{id: proxyID}
		bare.bundle.Store(p.bundle)
		got, err := apiCall(t, controller.sources(), bare.sources(), controllerID)
		if err != nil || !strings.Contains(got, "refused") || !strings.Contains(got, ReasonNoPeerCertificate.Error()) {
			t.Fatalf("got %q, %v; want a refusal naming %q", got, err, ReasonNoPeerCertificate)
		}
	})
	t.Run("a proxy with its certificate is verified", func(t *testing.T) {
		proxy := newEnd(t, p, proxyID)
		got, err := apiCall(t, controller.sources(), proxy.sources(), controllerID)
		if err != nil || got != proxyID.String() {
			t.Fatalf("got %q, %v; want %s", got, err, proxyID)
		}
	})
	t.Run("an expired certificate is not presented, so renewal by token still works", func(t *testing.T) {
		proxy := newEnd(t, p, proxyID)
		later := func() time.Time { return epoch().Add(DefaultLeafLifetime + time.Hour) }
		fresh := &proxyEnd{id: controllerID}
		fresh.issue(t, p, epoch().Add(DefaultLeafLifetime))
		fresh.bundle.Store(p.bundle)
		server, client := fresh.sources(), proxy.sources()
		server.Now, client.Now = later, later
		got, err := apiCall(t, server, client, controllerID)
		if err != nil || !strings.Contains(got, ReasonNoPeerCertificate.Error()) {
			t.Fatalf("got %q, %v; want no certificate presented", got, err)
		}
	})
	t.Run("a certificate of another mesh connects but is refused by the handler", func(t *testing.T) {
		stranger := newEnd(t, foreign, proxyID)
		src := stranger.sources()
		src.Bundle = func() *Bundle { return p.bundle } // it trusts our controller
		got, err := apiCall(t, controller.sources(), src, controllerID)
		if err != nil || !strings.Contains(got, "refused") || !strings.Contains(got, ReasonUntrusted.Error()) {
			t.Fatalf("got %q, %v; want a refusal naming %q", got, err, ReasonUntrusted)
		}
	})
	t.Run("a server with another identity is refused by the proxy", func(t *testing.T) {
		impostor := newEnd(t, p, mustID(t, DefaultTrustDomain, "bookstore", "bookthief"))
		proxy := newEnd(t, p, proxyID)
		_, err := apiCall(t, impostor.sources(), proxy.sources(), controllerID)
		if !errors.Is(err, ReasonPeerIdentity) {
			t.Fatalf("got %v, want %v", err, ReasonPeerIdentity)
		}
	})
	t.Run("a server of another mesh is refused by the proxy", func(t *testing.T) {
		impostor := newEnd(t, foreign, controllerID)
		proxy := newEnd(t, p, proxyID)
		_, err := apiCall(t, impostor.sources(), proxy.sources(), controllerID)
		if !errors.Is(err, ReasonUntrusted) {
			t.Fatalf("got %v, want %v", err, ReasonUntrusted)
		}
	})
	t.Run("a proxy without a bundle connects nowhere", func(t *testing.T) {
		proxy := newEnd(t, p, proxyID)
		src := proxy.sources()
		src.Bundle = func() *Bundle { return nil }
		_, err := apiCall(t, controller.sources(), src, controllerID)
		if !errors.Is(err, ReasonNoBundle) {
			t.Fatalf("got %v, want %v", err, ReasonNoBundle)
		}
	})
}
