//go:build e2e

package e2e

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"net/http"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/meshctl/meshctl/internal/testenv"
	"github.com/meshctl/meshctl/pkg/meshconfig"
	"github.com/meshctl/meshctl/pkg/proxy/telemetry"
	"github.com/meshctl/meshctl/pkg/proxyconfig"
)

// The example apps (examples/): their namespaces are fixed names, created by
// the manifests themselves; every app listens on examplePort, behind a
// Service named after it on the same port.
const (
	examplePort = 8080
	// exampleTar is where the journey writes the examples image
	// (hack/images/examples.sh) before importing it.
	exampleTar = "examples.tar"
)

var (
	bookstoreNamespaces = []string{"bookstore", "bookbuyer", "bookthief"}
	booksNamespace      = "books"
)

// bookstoreEnrolled: `meshctl namespace add` enrols the bookstore example's
// namespaces and `kubectl apply -f examples/bookstore/` deploys it. Every pod
// comes up 2/2 with the webhook's sidecar and its rules installed by the init
// container; bookbuyer's calls reach bookstore through both sidecars, whose
// metrics count them, and bookstore's own counter grows. A restarted
// bookbuyer's first call succeeds: its proxy, a native sidecar, was ready
// before the app started.
func bookstoreEnrolled(t *testing.T, e *Env) {
	m := &e.mesh
	m.need(t, m.installed, "an installed mesh", "meshctl install")
	e.examplesImage(t)
	for _, ns := range append(append([]string{}, bookstoreNamespaces...), booksNamespace) {
		e.AdoptNamespace(t, ns)
	}
	examples := filepath.Join(e.RepoRoot, "examples", "bookstore")
	e.Run(t, e.Kubectl, "apply", "-f", filepath.Join(examples, "namespaces.yaml"))
	e.Run(t, m.meshctl, append([]string{"namespace", "add"}, bookstoreNamespaces...)...)
	e.Run(t, e.Kubectl, "apply", "-f", examples)
	m.bookstore = e.meshedApp(t, "bookstore", "bookstore")
	m.bookbuyer = e.meshedApp(t, "bookbuyer", "bookbuyer")
	m.bookthief = e.meshedApp(t, "bookthief", "bookthief")

	// Calls of our own from bookbuyer's container, with the examples'
	// /fetch, so that their count is known; bookbuyer's loop calls too,
	// which only adds to what the proxies and bookstore count.
	const calls = 3
	outBefore := e.proxyRequests(t, m.bookbuyer, "outbound")
	inBefore := e.proxyRequests(t, m.bookstore, "inbound")
	var before struct{ Bought int64 }
	e.appStats(t, m.bookstore, &before)
	buy := fmt.Sprintf("http://bookstore.bookstore:%d/api/buy", examplePort)
	var last int64
	for i := range calls {
		eventually(t, 30*time.Second, fmt.Sprintf("call %d from bookbuyer to %s", i+1, buy), func(ctx context.Context) error {
			status, body, err := e.fetch(ctx, m.bookbuyer, buy)
			if err != nil {
				return err
			}
			var got struct {
				Bought *int64 `json:"bought"`
			}
			if status != http.StatusOK || json.Unmarshal([]byte(body), &got) != nil || got.Bought == nil {
				return fmt.Errorf("got %d %q, want 200 {\"bought\":N}", status, body)
			}
			if *got.Bought <= last {
				return fmt.Errorf("bookstore's count went from %d to %d", last, *got.Bought)
			}
			last = *got.Bought
			return nil
		})
	}
	var after struct{ Bought int64 }
	e.appStats(t, m.bookstore, &after)
	t.Logf("bookstore's /api/stats: bought %d before, %d after %d calls of ours", before.Bought, after.Bought, calls)
	if after.Bought-before.Bought < calls {
		t.Errorf("bookstore's /api/stats: bought went from %d to %d over %d calls", before.Bought, after.Bought, calls)
	}
	if out := e.proxyRequests(t, m.bookbuyer, "outbound"); out-outBefore < calls {
		t.Errorf("bookbuyer's proxy (%s/%s) counted %v outbound requests for %d calls", m.bookbuyer.namespace, m.bookbuyer.pod, out-outBefore, calls)
	}
	if in := e.proxyRequests(t, m.bookstore, "inbound"); in-inBefore < calls {
		t.Errorf("bookstore's proxy (%s/%s) counted %v inbound requests for %d calls", m.bookstore.namespace, m.bookstore.pod, in-inBefore, calls)
	}
	// bookbuyer's own loop gets through as well.
	eventually(t, 30*time.Second, "bookbuyer's loop buying", func(ctx context.Context) error {
		var s callerStats
		if err := e.appStatsCtx(ctx, m.bookbuyer, &s); err != nil {
			return err
		}
		if s.OK == 0 {
			return fmt.Errorf("bookbuyer's /api/stats: %+v, want ok > 0", s)
		}
		return nil
	})
	m.bookbuyer = e.firstCallSucceeds(t, m.bookbuyer, "bought")
}

// firstCallSucceeds restarts the caller app's pod now that bookstore is
// known to answer, and checks that the new pod's very first call got
// through: the kubelet started the app only once its proxy was ready, so
// nothing was refused on the proxy's port. verb starts the app's result
// lines ("bought: 200 ..."). It returns the new pod.
func (e *Env) firstCallSucceeds(t *testing.T, app meshApp, verb string) meshApp {
	t.Helper()
	ctx := testenv.Context(t)
	if err := e.Clients.Kube.CoreV1().Pods(app.namespace).Delete(ctx, app.pod, metav1.DeleteOptions{}); err != nil {
		t.Fatalf("deleting pod %s/%s: %v", app.namespace, app.pod, err)
	}
	restarted := e.meshedApp(t, app.namespace, app.name)
	var s callerStats
	eventually(t, 30*time.Second, fmt.Sprintf("%s/%s's first call", restarted.namespace, restarted.pod), func(ctx context.Context) error {
		if err := e.appStatsCtx(ctx, restarted, &s); err != nil {
			return err
		}
		if s.OK+s.Failed == 0 {
			return fmt.Errorf("%s's /api/stats: %+v, no call made yet", app.name, s)
		}
		return nil
	})
	if s.Failed != 0 {
		t.Errorf("pod %s/%s: /api/stats %+v right after start, want failed == 0: the app called before its proxy listened", restarted.namespace, restarted.pod, s)
	}
	// The log says the same of the first call, whatever came after it.
	logs, err := e.Clients.Kube.CoreV1().Pods(restarted.namespace).GetLogs(restarted.pod, &corev1.PodLogOptions{Container: app.name}).DoRaw(ctx)
	if err != nil {
		t.Fatalf("pod %s/%s: logs of %s: %v", restarted.namespace, restarted.pod, app.name, err)
	}
	lines := strings.Split(string(logs), "\n")
	first := slices.IndexFunc(lines, func(l string) bool { return strings.Contains(l, " "+verb+": ") })
	if first < 0 || !strings.Contains(lines[first], " "+verb+": 200 ") {
		t.Errorf("pod %s/%s: the first call after start-up was not a 200; the log:\n%s", restarted.namespace, restarted.pod, logs)
	} else {
		t.Logf("%s's first call after start-up: %s", app.name, lines[first])
	}
	return restarted
}

// booksJWT: with JWT validation on in the MeshConfig (keys and tokens from
// examples/books/jwt.sh), `meshctl inject --from-cluster -f examples/books/ |
// kubectl apply -f -` meshes books and stars in a namespace that is not
// enrolled. A valid token gets the book with its stars, and the token reaches
// stars although books never forwards it (the sidecars propagate it); a
// missing, badly signed or expired token gets 401 from books' sidecar, and
// books never sees the request. Both pods are Ready through their plain
// httpGet readiness probes, which the proxies exempt (probesExempt).
func booksJWT(t *testing.T, e *Env) {
	m := &e.mesh
	m.need(t, m.bookstore.pod != "", "the examples image and namespaces", "enrolled namespaces")
	// A directory of the journey's: a step's own is named after the step,
	// spaces and commas included.
	dir := filepath.Join(e.journey.TempDir(), "jwt")
	script := e.command(t, filepath.Join(e.RepoRoot, "examples", "books", "jwt.sh"), dir)
	script.Dir = e.RepoRoot
	if b, err := script.CombinedOutput(); err != nil {
		t.Fatalf("examples/books/jwt.sh %s: %v\n%s", dir, err, b)
	}
	read := func(name string) string {
		b, err := os.ReadFile(filepath.Join(dir, name))
		if err != nil {
			t.Fatalf("examples/books/jwt.sh wrote no %s: %v", name, err)
		}
		return strings.TrimSpace(string(b))
	}
	token, claims := read("token"), tokenClaims(t, read("token"))
	// auth.jwt.jwks is a text field: config set stores the document as it
	// is. Scoped to books: the running bookstore pods must not start
	// asking bookbuyer for a token.
	e.Run(t, m.meshctl, "config", "set", "auth.jwt.enable=true", "auth.jwt.issuer="+claims.Issuer,
		"auth.jwt.audiences="+strings.Join(claims.Audience, ","), "auth.jwt.jwks="+read("jwks.json"), booksOnly)
	// Not enrolled: the sidecar comes from meshctl inject alone.
	got, err := e.Clients.Kube.CoreV1().Namespaces().Get(testenv.Context(t), booksNamespace, metav1.GetOptions{})
	if err == nil && got.Labels != nil && got.Labels[meshconfig.LabelMonitoredBy] != "" {
		t.Fatalf("namespace %q is enrolled (labels %v); the step needs one that is not", booksNamespace, got.Labels)
	}
	injected := e.Run(t, m.meshctl, "inject", "--from-cluster", "-f", filepath.Join(e.RepoRoot, "examples", "books"))
	e.Run(t, e.Kubectl, "apply", "-f", e.writeManifest(t, "books-injected", injected))
	m.books = e.meshedApp(t, booksNamespace, "books")
	m.stars = e.meshedApp(t, booksNamespace, "stars")
	e.probesExempt(t, m.books)
	e.probesExempt(t, m.stars)

	var booksBefore struct{ Requests int64 }
	e.appStats(t, m.books, &booksBefore)
	book := serviceURL(m.books, "/api/books/1", nil)
	eventually(t, 30*time.Second, "GET "+book+" with a valid token", func(ctx context.Context) error {
		status, _, body, err := request(ctx, book, "Bearer "+token)
		if err != nil {
			return err
		}
		var b struct {
			ID    json.RawMessage `json:"id"`
			Title string          `json:"title"`
			Stars int             `json:"stars"`
		}
		if status != http.StatusOK || json.Unmarshal([]byte(body), &b) != nil || b.Title == "" || b.Stars < 1 || b.Stars > 5 {
			return fmt.Errorf("got %d %q, want 200 with a title and 1..5 stars", status, body)
		}
		t.Logf("GET %s with a valid token: %d %s", book, status, body)
		return nil
	})
	var stars struct {
		Requests    int64  `json:"requests"`
		Authorized  int64  `json:"authorized"`
		LastSubject string `json:"lastSubject"`
	}
	e.appStats(t, m.stars, &stars)
	t.Logf("stars' /api/stats: %+v", stars)
	if stars.Authorized == 0 || stars.LastSubject != claims.Subject {
		t.Errorf("stars' /api/stats %+v: the token of subject %q did not reach stars (propagation through books' sidecars)", stars, claims.Subject)
	}
	// books and stars are meshed outside enrolled namespaces, by meshctl
	// inject; the channel knows them all the same, so books calls stars
	// with mutual TLS.
	if n := e.proxyCounter(t, m.stars, telemetry.MetricRequestsTotal, `direction="inbound"`, `peer="books/books"`, `tls="true"`); n == 0 {
		t.Errorf("stars' proxy counted no inbound request from books/books over mutual TLS")
	}
	var booksMid struct{ Requests int64 }
	e.appStats(t, m.books, &booksMid)
	if booksMid.Requests <= booksBefore.Requests {
		t.Errorf("books' /api/stats: requests went from %d to %d after a call with a valid token", booksBefore.Requests, booksMid.Requests)
	}

	for _, c := range []struct{ what, authorization string }{
		{"no token", ""},
		{"a token signed by another key", "Bearer " + read("token-bad")},
		{"an expired token", "Bearer " + read("token-expired")},
	} {
		status, header, body, err := request(testenv.Context(t), book, c.authorization)
		if err != nil {
			t.Fatalf("GET %s with %s: %v", book, c.what, err)
		}
		t.Logf("GET %s with %s: %d, WWW-Authenticate %q", book, c.what, status, header.Get("WWW-Authenticate"))
		if status != http.StatusUnauthorized || !strings.HasPrefix(header.Get("WWW-Authenticate"), "Bearer") {
			t.Errorf("GET %s with %s: got %d, WWW-Authenticate %q, body %q; want 401 with a Bearer challenge from books' sidecar",
				book, c.what, status, header.Get("WWW-Authenticate"), body)
		}
	}
	var booksAfter struct{ Requests int64 }
	e.appStats(t, m.books, &booksAfter)
	if booksAfter.Requests != booksMid.Requests {
		t.Errorf("books' /api/stats: requests went from %d to %d over the refused calls; books' sidecar let them through", booksMid.Requests, booksAfter.Requests)
	}
	m.token = token
	jwtScopedLive(t, e)
}

// booksOnly scopes JWT validation to the books namespace.
const booksOnly = `auth.jwt.destinations=[{"namespace":"books"}]`

// jwtScopedLive: JWT validation applies where auth.jwt.destinations says,
// and a change reaches running proxies without a restart. While it names
// books only, bookbuyer (no token) keeps buying from bookstore; naming
// bookstore's identity as well makes bookstore's running proxy refuse
// bookbuyer's calls with 401 within seconds; naming books only again
// lets them through. `meshctl check` then finds every proxy on the
// MeshConfig's live settings.
func jwtScopedLive(t *testing.T, e *Env) {
	m := &e.mesh
	stats := func() callerStats {
		var s callerStats
		e.appStats(t, m.bookbuyer, &s)
		return s
	}
	grows := func(what string, field func(callerStats) int64) {
		t.Helper()
		from := stats()
		eventually(t, 30*time.Second, what, func(ctx context.Context) error {
			var s callerStats
			if err := e.appStatsCtx(ctx, m.bookbuyer, &s); err != nil {
				return err
			}
			if field(s) <= field(from) {
				return fmt.Errorf("still %d (last: %s)", field(s), s.Last)
			}
			return nil
		})
	}
	ok := func(s callerStats) int64 { return s.OK }
	grows("bookbuyer buys without a token while JWT is scoped to books", ok)

	unauthorized := func() float64 {
		return e.proxyCounter(t, m.bookstore, telemetry.MetricRequestsTotal, `direction="inbound"`, `peer="bookbuyer/bookbuyer"`, `status_class="4xx"`)
	}
	before := unauthorized()
	start := time.Now()
	e.Run(t, m.meshctl, "config", "set", `auth.jwt.destinations=[{"namespace":"books"},{"namespace":"bookstore","serviceAccount":"bookstore"}]`)
	restored := false
	t.Cleanup(func() {
		// Later steps need bookbuyer buying, whatever failed here; the
		// test's context is over by now.
		if !restored {
			cmd := exec.Command(m.meshctl, "config", "set", booksOnly)
			cmd.Env = append(os.Environ(), "KUBECONFIG="+e.Kubeconfig)
			if b, err := cmd.CombinedOutput(); err != nil {
				t.Errorf("meshctl config set %s: %v\n%s", booksOnly, err, b)
			}
		}
	})
	eventually(t, 30*time.Second, "bookstore's running proxy to refuse bookbuyer's calls without a token", func(context.Context) error {
		if n := unauthorized(); n <= before {
			return fmt.Errorf("bookstore's proxy answered no 4xx to bookbuyer yet (%v)", n)
		}
		return nil
	})
	t.Logf("JWT required of bookstore: its running proxy refused bookbuyer %s after meshctl config set", time.Since(start).Round(10*time.Millisecond))
	e.Run(t, m.meshctl, "config", "set", booksOnly)
	restored = true
	grows("bookbuyer buys again once JWT is scoped to books", ok)
	out := e.Run(t, m.meshctl, "check", "-o", "json")
	var report struct {
		Categories []struct {
			Checks []struct{ Name, Result, Error string }
		}
	}
	if err := json.Unmarshal([]byte(out), &report); err != nil {
		t.Fatalf("meshctl check -o json: %v\n%s", err, out)
	}
	const settings = "proxies follow the MeshConfig's live settings"
	found := false
	for _, c := range report.Categories {
		for _, ch := range c.Checks {
			if ch.Name == settings {
				found = true
				if ch.Result != "success" {
					t.Errorf("meshctl check: %q: %s %s", settings, ch.Result, ch.Error)
				}
			}
		}
	}
	if !found {
		t.Errorf("meshctl check -o json has no check %q:\n%s", settings, out)
	}
}

// probesExempt: with JWT on, app's pod is Ready through a plain httpGet
// readiness probe, which the kubelet sends without a token through the
// inbound proxy: the injector told the proxy that probe
// (--jwt-exempt-probe) and the proxy let it through. From outside the pod,
// through the Service, an unauthenticated GET /healthz is the probe's
// request and gets 200, while GET /api/books/1 still gets 401.
func (e *Env) probesExempt(t *testing.T, app meshApp) {
	t.Helper()
	pod, err := e.Clients.Kube.CoreV1().Pods(app.namespace).Get(testenv.Context(t), app.pod, metav1.GetOptions{})
	if err != nil {
		t.Fatalf("pod %s/%s: %v", app.namespace, app.pod, err)
	}
	c := pod.Spec.Containers[0]
	if p := c.ReadinessProbe; p == nil || p.HTTPGet == nil || p.HTTPGet.Path != "/healthz" || p.HTTPGet.Port.String() != "http" {
		t.Fatalf("pod %s/%s: container %s has readiness probe %+v, want httpGet of /healthz on port http", app.namespace, app.pod, c.Name, p)
	}
	ready := false
	for _, cond := range pod.Status.Conditions {
		if cond.Type == corev1.PodReady {
			ready = cond.Status == corev1.ConditionTrue
		}
	}
	if !ready {
		t.Fatalf("pod %s/%s is not Ready with JWT on: conditions %+v", app.namespace, app.pod, pod.Status.Conditions)
	}
	proxy := proxyconfig.ProxyContainerOf(&pod.Spec)
	if want := "--jwt-exempt-probe=" + strconv.Itoa(examplePort) + "/healthz"; proxy == nil || !slices.Contains(proxy.Args, want) {
		t.Fatalf("pod %s/%s: the proxy's arguments lack %s", app.namespace, app.pod, want)
	}
	for _, c := range []struct {
		path string
		want int
	}{
		{"/healthz", http.StatusOK},
		{"/api/books/1", http.StatusUnauthorized},
		{"/healthz/x", http.StatusUnauthorized},
	} {
		if app.name != "books" && c.path == "/api/books/1" {
			continue
		}
		// Eventually: the pod has just become Ready, and the Service's
		// endpoints may not have caught up yet (connection refused).
		u := serviceURL(app, c.path, nil)
		eventually(t, 30*time.Second, "GET "+u+" without a token", func(ctx context.Context) error {
			status, header, body, err := request(ctx, u, "")
			if err != nil {
				return err
			}
			if status != c.want || (c.want == http.StatusUnauthorized && !strings.HasPrefix(header.Get("WWW-Authenticate"), "Bearer")) {
				return fmt.Errorf("got %d, WWW-Authenticate %q, body %q; want %d", status, header.Get("WWW-Authenticate"), body, c.want)
			}
			t.Logf("GET %s without a token: %d", u, status)
			return nil
		})
	}
}

// examplesImage builds the example apps' image (hack/images/examples.sh) and
// imports it into the cluster, once per journey.
func (e *Env) examplesImage(t *testing.T) {
	t.Helper()
	tar := filepath.Join(e.journey.TempDir(), exampleTar)
	cmd := e.command(t, filepath.Join(e.RepoRoot, "hack", "images", "examples.sh"), tar)
	cmd.Dir = e.RepoRoot
	if b, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("hack/images/examples.sh %s: %v\n%s", tar, err, b)
	}
	e.Script(t, "import.sh", tar)
}

// fetch runs the examples' /fetch in the app container of app's pod, which
// makes the request as the app would, through the pod's sidecar, and returns
// the status and body it printed.
func (e *Env) fetch(ctx context.Context, app meshApp, args ...string) (int, string, error) {
	argv := append([]string{"exec", "-n", app.namespace, app.pod, "-c", app.name, "--", "/fetch", "-timeout", "5s"}, args...)
	code, stdout, stderr := e.runExitCtx(ctx, e.Kubectl, argv...)
	if code != 0 {
		return 0, "", fmt.Errorf("kubectl %s: exit %d: %s%s", strings.Join(argv, " "), code, stdout, stderr)
	}
	line, body, _ := strings.Cut(stdout, "\n")
	for _, f := range strings.Fields(line) {
		if n, err := strconv.Atoi(f); err == nil && n >= 100 && n <= 599 {
			return n, strings.TrimSpace(body), nil
		}
	}
	return 0, "", fmt.Errorf("/fetch %s: no status in %q", strings.Join(args, " "), stdout)
}

// appStats reads the app's GET /api/stats into v. It asks from inside the
// pod on loopback, which the interception rules leave alone, so the app
// answers whatever its sidecar would refuse.
func (e *Env) appStats(t *testing.T, app meshApp, v any) {
	t.Helper()
	eventually(t, 30*time.Second, fmt.Sprintf("%s/%s's /api/stats", app.namespace, app.name), func(ctx context.Context) error {
		return e.appStatsCtx(ctx, app, v)
	})
}

func (e *Env) appStatsCtx(ctx context.Context, app meshApp, v any) error {
	u := fmt.Sprintf("http://127.0.0.1:%d/api/stats", examplePort)
	status, body, err := e.fetch(ctx, app, u)
	if err != nil {
		return err
	}
	if status != http.StatusOK {
		return fmt.Errorf("%s/%s: GET %s: %d %q", app.namespace, app.pod, u, status, body)
	}
	if err := json.Unmarshal([]byte(body), v); err != nil {
		return fmt.Errorf("%s/%s: GET %s: %q: %w", app.namespace, app.pod, u, body, err)
	}
	return nil
}

// callerStats is bookbuyer's and bookthief's GET /api/stats.
type callerStats struct {
	OK     int64  `json:"ok"`
	Failed int64  `json:"failed"`
	Last   string `json:"last"`
}

// claims are the registered claims of a JWT, read without verifying it: the
// journey only needs to know what the example's script put in.
type claims struct {
	Issuer   string
	Subject  string
	Audience []string
}

func tokenClaims(t *testing.T, token string) claims {
	t.Helper()
	parts := strings.Split(token, ".")
	if len(parts) != 3 {
		t.Fatalf("token %.20q...: not a JWS compact serialization", token)
	}
	payload, err := base64.RawURLEncoding.DecodeString(parts[1])
	if err != nil {
		t.Fatalf("token payload: %v", err)
	}
	var raw struct {
		Iss string          `json:"iss"`
		Sub string          `json:"sub"`
		Aud json.RawMessage `json:"aud"`
	}
	if err := json.Unmarshal(payload, &raw); err != nil {
		t.Fatalf("token payload %s: %v", payload, err)
	}
	c := claims{Issuer: raw.Iss, Subject: raw.Sub}
	var one string
	if json.Unmarshal(raw.Aud, &one) == nil {
		c.Audience = []string{one}
	} else if err := json.Unmarshal(raw.Aud, &c.Audience); err != nil {
		t.Fatalf("token payload %s: aud: %v", payload, err)
	}
	if c.Issuer == "" || c.Subject == "" || len(c.Audience) == 0 {
		t.Fatalf("token payload %s: want iss, sub and aud", payload)
	}
	return c
}

// request GETs u with the given Authorization header (none when empty) and
// returns the status, the headers and the body.
func request(ctx context.Context, u, authorization string) (int, http.Header, string, error) {
	h := http.Header{}
	if authorization != "" {
		h.Set("Authorization", authorization)
	}
	return getWithHeader(ctx, u, h)
}

// serviceAddr is the app's Service on the examples' port.
func (a meshApp) serviceAddr() netip.AddrPort {
	return netip.AddrPortFrom(a.serviceIP, examplePort)
}
