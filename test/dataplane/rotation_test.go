package dataplane

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/netip"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/meshctl/meshctl/pkg/channel"
	"github.com/meshctl/meshctl/pkg/identity"
	"github.com/meshctl/meshctl/pkg/identity/identitytest"
	"github.com/meshctl/meshctl/pkg/proxy/admin"
	"github.com/meshctl/meshctl/pkg/proxy/telemetry"
	"github.com/meshctl/meshctl/pkg/proxyconfig/wire"
)

// Pods of the rotation test, and its controller.
const (
	rotClientIP   = "198.18.103.1"
	rotServerIP   = "198.18.103.2"
	rotObserverIP = "198.18.103.3"
	rotControlIP  = "198.18.103.9"
)

// Rates of the rotation test's load: HTTP requests, each on a new
// connection from the app (the proxies pool their TLS connections), and
// opaque TCP connections, each tunnelled through a TLS connection of its
// own, so that handshakes between proxies go on through every step.
const (
	rotHTTPPerSecond = 100
	rotTCPPerSecond  = 25
	// rotRequestTimeout is long: a request that is slow because the
	// machine is busy (make test runs packages in parallel on two CPUs)
	// has not failed; one the mesh refuses fails at once.
	rotRequestTimeout = 30 * time.Second
)

// TestRotationUnderLoad: while a constant load runs through two proxies,
// the issuer is rotated, then the anchor in the overlapping steps of
// `meshctl identity rotate --anchor` (new anchor added to the bundle; an
// issuer it signed; old anchor removed). Not one request or connection
// fails, no handshake is refused, and each step completes on both proxies
// in seconds: the proxies renew as soon as the channel names the new
// issuer, and read the bundle file as the kubelet rewrites it.
func TestRotationUnderLoad(t *testing.T) {
	requirePrerequisites(t)
	proxyBin := buildProxy(t)
	ca := identitytest.NewCA(t, time.Now())
	id := func(sa string) identity.ID {
		t.Helper()
		id, err := identity.NewID(identity.DefaultTrustDomain, meshNamespace, sa)
		if err != nil {
			t.Fatal(err)
		}
		return id
	}
	tp := newTopology(t)
	ctlNS := tp.pod(t, "rctl", rotControlIP)
	clientNS := tp.pod(t, "rcli", rotClientIP)
	serverNS := tp.pod(t, "rsrv", rotServerIP)
	obsNS := tp.pod(t, "robs", rotObserverIP)
	pod := func(ip string, id identity.ID, bypass ...uint16) channel.Pod {
		return channel.Pod{IPs: []netip.Addr{netip.MustParseAddr(ip)}, Identity: id.String(), BypassPorts: bypass}
	}
	ctl := startController(t, ctlNS, rotControlIP, ca, tokenReviewer{"token-of-rcli": "rcli", "token-of-rsrv": "rsrv"}, []channel.Pod{
		pod(rotClientIP, id("rcli"), wire.AdminPort),
		pod(rotServerIP, id("rsrv"), booksAdminPort, wire.AdminPort),
	})
	base := wire.Interception{InboundPort: wire.InboundPort, OutboundPort: wire.OutboundPort, AdminPort: wire.AdminPort, ProxyUID: wire.ProxyUID}
	appIC := base
	appIC.SkipInboundPorts = []int32{booksAdminPort}
	dirs := []string{identityDir(t, "token-of-rcli", ca), identityDir(t, "token-of-rsrv", ca)}
	meshPodWithIdentity(t, proxyBin, clientNS, "rcli", rotClientIP, base, ctl, dirs[0], "")
	meshPodWithIdentity(t, proxyBin, serverNS, "rsrv", rotServerIP, appIC, ctl, dirs[1], "counting")

	obsDial := dialer(t, obsNS)
	obs := &world{dial: obsDial, client: &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{DialContext: obsDial, DisableKeepAlives: true}}}
	status := func(ip string) admin.Status {
		resp, err := obs.client.Get(fmt.Sprintf("http://%s:%d%s", ip, wire.AdminPort, wire.StatusPath))
		if err != nil {
			return admin.Status{}
		}
		defer resp.Body.Close()
		var st admin.Status
		json.NewDecoder(resp.Body).Decode(&st)
		return st
	}
	// both waits until both proxies report what ok wants, and says how long.
	both := func(what string, ok func(admin.Status) bool) {
		t.Helper()
		start := time.Now()
		// Renewal is within credentials.RotationSpread and the bundle is
		// read every few seconds; the rest is room for a busy machine.
		for !ok(status(rotClientIP)) || !ok(status(rotServerIP)) {
			if time.Since(start) > time.Minute {
				t.Fatalf("both proxies %s: not within a minute; client %+v, server %+v", what, status(rotClientIP).Identity, status(rotServerIP).Identity)
			}
			time.Sleep(100 * time.Millisecond)
		}
		t.Logf("both proxies %s after %s", what, time.Since(start).Round(10*time.Millisecond))
	}
	issuedBy := func(is *identity.Issuer) func(admin.Status) bool {
		fp := identity.FingerprintOf(is.Certificate())
		return func(st admin.Status) bool {
			return st.Identity != nil && st.Identity.Certificate != nil && st.Identity.Certificate.Issuer == fp
		}
	}
	trusting := func(anchors ...*identity.Anchor) func(admin.Status) bool {
		var want []string
		for _, a := range anchors {
			want = append(want, identity.FingerprintOf(a.Certificate()))
		}
		slices.Sort(want)
		return func(st admin.Status) bool {
			if st.Identity == nil {
				return false
			}
			var got []string
			for _, a := range st.Identity.Anchors {
				got = append(got, a.Fingerprint)
			}
			slices.Sort(got)
			return slices.Equal(got, want)
		}
	}
	both("are ready", func(st admin.Status) bool {
		return issuedBy(ca.Issuer)(st) && st.Channel != nil && st.Channel.Connected
	})
	// writeBundle rewrites every pod's bundle file as the kubelet does: a
	// new file renamed into place.
	writeBundle := func(anchors ...*identity.Anchor) *identity.Bundle {
		t.Helper()
		var pem []byte
		for _, a := range anchors {
			pem = append(pem, a.CertificatePEM()...)
		}
		for _, dir := range dirs {
			tmp := filepath.Join(dir, ".bundle.tmp")
			if err := os.WriteFile(tmp, pem, 0o644); err != nil {
				t.Fatal(err)
			}
			if err := os.Rename(tmp, filepath.Join(dir, wire.TrustBundleFile)); err != nil {
				t.Fatal(err)
			}
		}
		b, err := identity.NewBundle(identity.DefaultTrustDomain, pem)
		if err != nil {
			t.Fatal(err)
		}
		return b
	}

	clientDial := dialer(t, clientNS)
	load := startRotationLoad(clientDial)
	defer load.stop()
	handshakes := func(ip, direction string) (ok, failed float64) {
		_, body := obs.get(t, fmt.Sprintf("http://%s:%d/metrics", ip, wire.AdminPort), "")
		return sumSeries(body, telemetry.MetricHandshakes, direction, true), sumSeries(body, telemetry.MetricHandshakes, direction, false)
	}
	okBefore, _ := handshakes(rotServerIP, "inbound")
	time.Sleep(time.Second)

	// The issuer: a new one from the same anchor.
	is2, err := identity.GenerateIssuer(ca.Anchor, 0, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	ctl.rotate(t, is2, ca.Bundle)
	both("hold a certificate of the new issuer", issuedBy(is2))
	time.Sleep(time.Second)

	// The anchor, in three steps.
	a2, err := identity.GenerateAnchor(identity.DefaultTrustDomain, 0, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	overlap := writeBundle(ca.Anchor, a2)
	both("trust both anchors", trusting(ca.Anchor, a2))
	is3, err := identity.GenerateIssuer(a2, 0, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	ctl.rotate(t, is3, overlap)
	both("hold a certificate of the new anchor's issuer", issuedBy(is3))
	time.Sleep(time.Second)
	ctl.rotate(t, is3, writeBundle(a2))
	both("trust the new anchor alone", trusting(a2))
	time.Sleep(time.Second)

	res := load.stop()
	t.Logf("load during the rotations: %d HTTP requests, %d TCP connections", res.httpOK, res.tcpOK)
	if res.httpFailed != 0 || res.tcpFailed != 0 {
		t.Errorf("%d HTTP requests and %d TCP connections failed during the rotations; first: %s", res.httpFailed, res.tcpFailed, res.firstErr)
	}
	if res.httpOK < rotHTTPPerSecond || res.tcpOK < rotTCPPerSecond {
		t.Errorf("the load did not run: %d HTTP requests, %d TCP connections", res.httpOK, res.tcpOK)
	}
	for _, side := range []struct{ ip, direction string }{{rotServerIP, "inbound"}, {rotClientIP, "outbound"}} {
		if _, failed := handshakes(side.ip, side.direction); failed != 0 {
			t.Errorf("%s handshakes of %s failed: %v", side.direction, side.ip, failed)
		}
	}
	// The TCP load opened a TLS connection each: handshakes went on
	// throughout, on every mix of old and new chains.
	if okAfter, _ := handshakes(rotServerIP, "inbound"); okAfter-okBefore < float64(res.tcpOK) {
		t.Errorf("the server's proxy completed %v handshakes for %d TCP connections", okAfter-okBefore, res.tcpOK)
	}
}

// sumSeries sums the samples of a counter of one direction whose result
// is ok, or, with ok false, anything else.
func sumSeries(exposition, name, direction string, ok bool) float64 {
	var sum float64
	for _, line := range strings.Split(exposition, "\n") {
		rest, found := strings.CutPrefix(line, name+"{")
		if !found || !strings.Contains(rest, `direction="`+direction+`"`) || strings.Contains(rest, `result="ok"`) != ok {
			continue
		}
		f, _ := strconv.ParseFloat(rest[strings.LastIndexByte(rest, ' ')+1:], 64)
		sum += f
	}
	return sum
}

// rotationLoad sends HTTP requests and opens opaque TCP connections at
// constant rates from the client pod's app to the server's, each in its
// own goroutine so that a slow one does not slow the rate.
type rotationLoad struct {
	cancel context.CancelFunc
	wg     sync.WaitGroup
	once   sync.Once

	httpOK, httpFailed, tcpOK, tcpFailed atomic.Int64
	mu                                   sync.Mutex
	firstErr                             string
}

type rotationResult struct {
	httpOK, httpFailed, tcpOK, tcpFailed int64
	firstErr                             string
}

func startRotationLoad(dial func(ctx context.Context, network, addr string) (net.Conn, error)) *rotationLoad {
	ctx, cancel := context.WithCancel(context.Background())
	l := &rotationLoad{cancel: cancel}
	client := &http.Client{Timeout: rotRequestTimeout, Transport: &http.Transport{DialContext: dial, DisableKeepAlives: true}}
	httpURL := fmt.Sprintf("http://%s:%d/", rotServerIP, booksPort)
	tcpAddr := net.JoinHostPort(rotServerIP, strconv.Itoa(echoPort))
	l.every(ctx, time.Second/rotHTTPPerSecond, func() {
		resp, err := client.Get(httpURL)
		if err == nil {
			body, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			if resp.StatusCode != http.StatusOK || string(body) != "hello from the counting app" {
				err = fmt.Errorf("%s: %q", resp.Status, body)
			}
		}
		l.count(err, &l.httpOK, &l.httpFailed, "HTTP")
	})
	l.every(ctx, time.Second/rotTCPPerSecond, func() {
		// Not ctx: what is in flight when the load stops completes.
		err := echoOnce(context.Background(), dial, tcpAddr)
		l.count(err, &l.tcpOK, &l.tcpFailed, "TCP")
	})
	return l
}

func (l *rotationLoad) every(ctx context.Context, period time.Duration, f func()) {
	l.wg.Add(1)
	go func() {
		defer l.wg.Done()
		tick := time.NewTicker(period)
		defer tick.Stop()
		for {
			select {
			case <-ctx.Done():
				return
			case <-tick.C:
				l.wg.Add(1)
				go func() { defer l.wg.Done(); f() }()
			}
		}
	}()
}

func (l *rotationLoad) count(err error, ok, failed *atomic.Int64, what string) {
	if err == nil {
		ok.Add(1)
		return
	}
	failed.Add(1)
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.firstErr == "" {
		l.firstErr = fmt.Sprintf("%s at %s: %v", what, time.Now().Format(time.StampMilli), err)
	}
}

// stop ends the load, waits for what is in flight, and returns the counts.
func (l *rotationLoad) stop() rotationResult {
	l.once.Do(func() { l.cancel(); l.wg.Wait() })
	l.mu.Lock()
	defer l.mu.Unlock()
	return rotationResult{httpOK: l.httpOK.Load(), httpFailed: l.httpFailed.Load(), tcpOK: l.tcpOK.Load(), tcpFailed: l.tcpFailed.Load(), firstErr: l.firstErr}
}

// echoOnce sends a few bytes to the counting app's echo port and checks
// the echo.
func echoOnce(ctx context.Context, dial func(ctx context.Context, network, addr string) (net.Conn, error), addr string) error {
	ctx, cancel := context.WithTimeout(ctx, rotRequestTimeout)
	defer cancel()
	c, err := dial(ctx, "tcp", addr)
	if err != nil {
		return err
	}
	defer c.Close()
	c.SetDeadline(time.Now().Add(rotRequestTimeout))
	if _, err := c.Write([]byte("\x00rotate\xfe")); err != nil {
		return err
	}
	c.(*net.TCPConn).CloseWrite()
	b, err := io.ReadAll(c)
	if err != nil {
		return err
	}
	if string(b) != "echo:\x00rotate\xfe" {
		return fmt.Errorf("echo %q", b)
	}
	return nil
}
