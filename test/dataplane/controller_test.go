package dataplane

import (
	"context"
	"crypto/tls"
	"encoding/json"
	"fmt"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"golang.org/x/sys/unix"
	authenticationv1 "k8s.io/api/authentication/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/meshctl/meshctl/pkg/channel"
	"github.com/meshctl/meshctl/pkg/controller/signer"
	"github.com/meshctl/meshctl/pkg/identity"
	"github.com/meshctl/meshctl/pkg/identity/identitytest"
	"github.com/meshctl/meshctl/pkg/meshconfig"
	"github.com/meshctl/meshctl/pkg/policy"
	"github.com/meshctl/meshctl/pkg/proxyconfig/wire"
)

// The controller stand-in: the test process serves the proxy API port
// (certificates and the channel) from a namespace of its own on the switch,
// with the real signer and the controller's TLS, so that each mesh-proxy
// gets its certificate and its snapshot over the network as in a cluster.
// Only the API server (TokenReview) and the informers (the snapshot's
// content) are stood in for.

// meshNamespace is the Kubernetes namespace of every workload of these tests.
const meshNamespace = "dataplane"

// listenIn listens on addr from inside network namespace ns, as dialer
// dials: the socket stays in ns after the thread leaves it.
func listenIn(t testing.TB, ns, addr string) net.Listener {
	t.Helper()
	target, err := os.Open("/run/netns/" + ns)
	if err != nil {
		t.Fatal(err)
	}
	defer target.Close()
	ln, err := func() (net.Listener, error) {
		runtime.LockOSThread()
		self, err := os.Open(fmt.Sprintf("/proc/self/task/%d/ns/net", unix.Gettid()))
		if err != nil {
			runtime.UnlockOSThread()
			return nil, err
		}
		defer self.Close()
		if err := unix.Setns(int(target.Fd()), unix.CLONE_NEWNET); err != nil {
			runtime.UnlockOSThread()
			return nil, err
		}
		ln, listenErr := net.Listen("tcp", addr)
		if err := unix.Setns(int(self.Fd()), unix.CLONE_NEWNET); err != nil {
			// Stuck in ns: the runtime discards the locked thread.
			return ln, listenErr
		}
		runtime.UnlockOSThread()
		return ln, listenErr
	}()
	if err != nil {
		t.Fatalf("listening on %s in %s: %v", addr, ns, err)
	}
	return ln
}

// tokenReviewer stands for the API server's TokenReview: each token it
// knows is a pod-bound token of audience signer.Audience for the
// ServiceAccount of the same name in meshNamespace, with the user's extra
// the API server sets for such a token; any other token is not
// authenticated.
type tokenReviewer map[string]string // token -> ServiceAccount

func (r tokenReviewer) Create(_ context.Context, review *authenticationv1.TokenReview, _ metav1.CreateOptions) (*authenticationv1.TokenReview, error) {
	out := review.DeepCopy()
	sa, ok := r[review.Spec.Token]
	if !ok || !slices.Contains(review.Spec.Audiences, signer.Audience) {
		out.Status = authenticationv1.TokenReviewStatus{Error: "invalid bearer token"}
		return out, nil
	}
	out.Status = authenticationv1.TokenReviewStatus{
		Authenticated: true,
		Audiences:     []string{signer.Audience},
		User: authenticationv1.UserInfo{
			Username: "system:serviceaccount:" + meshNamespace + ":" + sa,
			UID:      "uid-sa-" + sa,
			Groups:   []string{"system:serviceaccounts", "system:serviceaccounts:" + meshNamespace, "system:authenticated"},
			Extra: map[string]authenticationv1.ExtraValue{
				signer.ExtraPodName: {sa + "-pod"},
				signer.ExtraPodUID:  {"uid-pod-" + sa},
			},
		},
	}
	return out, nil
}

// controllerStandIn is the proxy API of a controller at addr. Its CA can
// be rotated while it serves (rotate), as the controller follows its
// issuer Secret and bundle ConfigMap.
type controllerStandIn struct {
	addr string
	id   identity.ID

	pods []channel.Pod
	// issuer signs; bundle verifies callers; cert is the controller's own.
	issuer atomic.Pointer[identity.Issuer]
	bundle atomic.Pointer[identity.Bundle]
	cert   atomic.Pointer[tls.Certificate]

	mu sync.Mutex
	// content is what the snapshot holds; snap is it on the wire, and
	// changed is closed when it is replaced.
	content channel.Content
	snap    published
	changed chan struct{}
}

// published is a snapshot line and its version.
type published struct {
	line    []byte
	version channel.Version
}

// startController serves the proxy API at ip:meshconfig.ProxyAPIPort in ns
// until the test ends: certificates signed by ca's issuer for the tokens of
// reviewer, and a channel that sends the snapshot of pods (sorted here),
// then heartbeats and a new snapshot whenever rotate changes the issuer,
// to proxies that present a certificate of the current bundle.
func startController(t testing.TB, ns, ip string, ca *identitytest.CA, reviewer tokenReviewer, pods []channel.Pod) *controllerStandIn {
	t.Helper()
	id, err := meshconfig.ControllerID(identity.DefaultTrustDomain, "mesh-system")
	if err != nil {
		t.Fatal(err)
	}
	slices.SortFunc(pods, func(a, b channel.Pod) int { return a.IPs[0].Compare(b.IPs[0]) })
	c := &controllerStandIn{id: id, pods: pods}
	c.rotate(t, ca.Issuer, ca.Bundle)
	src := identity.Sources{Certificate: c.cert.Load, Bundle: c.bundle.Load}

	mux := http.NewServeMux()
	mux.Handle(signer.Path, &signer.Handler{Signer: &signer.Signer{
		Issuer:   c.issuer.Load,
		Reviewer: reviewer,
	}})
	mux.HandleFunc(channel.Path, func(w http.ResponseWriter, r *http.Request) {
		// As the controller's channel: only a proxy with a mesh
		// certificate gets the mesh's facts.
		if _, err := identity.VerifyAPIPeer(r.TLS, src); err != nil {
			http.Error(w, "a mesh certificate is required", http.StatusUnauthorized)
			return
		}
		w.Header().Set("Content-Type", channel.ContentType)
		flusher := w.(http.Flusher)
		tick := time.NewTicker(channel.HeartbeatInterval)
		defer tick.Stop()
		for {
			c.mu.Lock()
			snap, changed := c.snap, c.changed
			c.mu.Unlock()
			if _, err := w.Write(snap.line); err != nil {
				return
			}
			flusher.Flush()
		beat:
			for {
				select {
				case <-r.Context().Done():
					return
				case <-changed:
					break beat
				case <-tick.C:
					if _, err := w.Write(channel.HeartbeatLine(snap.version)); err != nil {
						return
					}
					flusher.Flush()
				}
			}
		}
	})
	addr := net.JoinHostPort(ip, strconv.Itoa(meshconfig.ProxyAPIPort))
	ln := tls.NewListener(listenIn(t, ns, addr), identity.APIServerConfig(src))
	srv := &http.Server{Handler: mux, ReadHeaderTimeout: 10 * time.Second}
	go srv.Serve(ln)
	t.Cleanup(func() { srv.Close() })
	c.addr = addr
	return c
}

// rotate has the stand-in sign with is and verify callers with bundle from
// now on, as the controller does when its issuer Secret and bundle change:
// it takes a certificate of its own from is, and publishes a snapshot that
// names is, so that proxies renew early.
func (c *controllerStandIn) rotate(t testing.TB, is *identity.Issuer, bundle *identity.Bundle) {
	t.Helper()
	cert := (&identitytest.CA{Issuer: is}).Leaf(t, c.id, time.Now(), 0)
	c.issuer.Store(is)
	c.bundle.Store(bundle)
	c.cert.Store(cert)
	c.publish(t, func(content *channel.Content) { content.Issuer = identity.FingerprintOf(is.Certificate()) })
}

// setPolicy publishes a snapshot carrying set, as the controller does
// when a TrafficTarget or the permissive mode changes.
func (c *controllerStandIn) setPolicy(t testing.TB, set *policy.Set) {
	t.Helper()
	b, err := json.Marshal(set)
	if err != nil {
		t.Fatal(err)
	}
	c.publish(t, func(content *channel.Content) { content.PolicyV1 = b })
}

// setSettings publishes a snapshot carrying the live settings s.
func (c *controllerStandIn) setSettings(t testing.TB, s channel.Settings) {
	t.Helper()
	b, err := json.Marshal(s)
	if err != nil {
		t.Fatal(err)
	}
	c.publish(t, func(content *channel.Content) { content.SettingsV1 = b })
}

// publish replaces the snapshot with the current one changed by edit.
func (c *controllerStandIn) publish(t testing.TB, edit func(*channel.Content)) {
	t.Helper()
	c.mu.Lock()
	defer c.mu.Unlock()
	edit(&c.content)
	c.content.Pods, c.content.Services = c.pods, []channel.Service{}
	raw, err := channel.EncodeContent(&c.content)
	if err != nil {
		t.Fatal(err)
	}
	line, version, err := channel.SnapshotLine(raw, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	if _, err := channel.NewSnapshot(version, c.content); err != nil {
		t.Fatalf("the stand-in's snapshot: %v", err)
	}
	if c.changed != nil {
		close(c.changed)
	}
	c.snap, c.changed = published{line: line, version: version}, make(chan struct{})
}

// identityDir writes a pod's projected identity files (the token, and the
// bundle of ca's anchor) into a new directory readable by the proxy's UID.
func identityDir(t testing.TB, token string, ca *identitytest.CA) string {
	t.Helper()
	dir, err := os.MkdirTemp("", "mp-identity-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	if err := os.Chmod(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	for name, data := range map[string][]byte{wire.TokenFile: []byte(token), wire.TrustBundleFile: ca.Anchor.CertificatePEM()} {
		if err := os.WriteFile(filepath.Join(dir, name), data, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	return dir
}

// meshPodWithIdentity starts a meshed pod whose proxy has identity: init,
// then `mesh-proxy run` with ctl as its controller, as UID 1500, in a mount
// namespace of its own where dir is mounted on wire.IdentityDir, as the
// kubelet mounts the projected volume. appRole, when not empty, is the app
// to start first; proxyEnv is added to the proxy's environment. It returns
// the proxy's process.
func meshPodWithIdentity(t testing.TB, proxyBin, ns, name, ip string, ic wire.Interception, ctl *controllerStandIn, dir, appRole string, proxyEnv ...string) proc {
	t.Helper()
	// The mount point, left in place: it is empty on the host, and the
	// bind mounts are in the proxies' own mount namespaces.
	if err := os.MkdirAll(wire.IdentityDir, 0o755); err != nil {
		t.Fatal(err)
	}
	for range 2 {
		sh(t, "ip", append([]string{"netns", "exec", ns, proxyBin}, ic.Args()...)...)
	}
	if appRole != "" {
		start(t, ns, []string{"MP_APP=" + appRole}, os.Args[0])
	}
	run := wire.Run{
		LogLevel: wire.LogInfo, InboundPort: wire.InboundPort, OutboundPort: wire.OutboundPort,
		AdminPort: wire.AdminPort, Metrics: true,
		Identity: &wire.Identity{ControllerAddress: ctl.addr, ControllerID: ctl.id},
	}
	env := append([]string{"POD_NAME=" + name, "POD_NAMESPACE=" + meshNamespace, "POD_IP=" + ip, "SERVICE_ACCOUNT=" + name}, proxyEnv...)
	// Positional parameters, so that no argument is ever parsed by the shell.
	argv := append([]string{"unshare", "--mount", "--propagation", "private", "--", "sh", "-c",
		`mount --bind "$1" "$2" && shift 2 && exec "$@"`, "sh", dir, wire.IdentityDir}, asProxyUser()...)
	argv = append(append(argv, "--", proxyBin), run.Args()...)
	// Every command in argv execs the next: the PID is the proxy's.
	return proc{pid: start(t, ns, env, argv...).Process.Pid}
}
