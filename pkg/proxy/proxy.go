// Package proxy assembles the proxy that `mesh-proxy run` starts: the
// inbound and outbound listeners with their pipelines, the admin port,
// telemetry and JWT validation, from a wire.Run; and it drains
// gracefully when its context ends (SIGTERM).
package proxy

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/netip"
	"strconv"
	"sync"
	"time"

	"github.com/meshctl/meshctl/pkg/identity"
	"github.com/meshctl/meshctl/pkg/proxy/admin"
	"github.com/meshctl/meshctl/pkg/proxy/auth"
	"github.com/meshctl/meshctl/pkg/proxy/authz"
	"github.com/meshctl/meshctl/pkg/proxy/forward"
	"github.com/meshctl/meshctl/pkg/proxy/h1"
	"github.com/meshctl/meshctl/pkg/proxy/inbound"
	"github.com/meshctl/meshctl/pkg/proxy/listener"
	"github.com/meshctl/meshctl/pkg/proxy/meshtls"
	"github.com/meshctl/meshctl/pkg/proxy/origdst"
	"github.com/meshctl/meshctl/pkg/proxy/outbound"
	"github.com/meshctl/meshctl/pkg/proxy/propagation"
	"github.com/meshctl/meshctl/pkg/proxy/tap"
	"github.com/meshctl/meshctl/pkg/proxy/telemetry"
	"github.com/meshctl/meshctl/pkg/proxyconfig/wire"
	"github.com/meshctl/meshctl/pkg/version"
)

// Defaults of Options.
const (
	// DefaultDrainTimeout leaves room within Kubernetes' default 30 s
	// grace period.
	DefaultDrainTimeout = 20 * time.Second
)

// Options are the proxy's settings and its dependencies on the world.
type Options struct {
	// Run is the configuration from the container's arguments.
	Run wire.Run
	// Pod names the proxy in traces, and its namespace (and, for a pod
	// that is its own workload, its name) in metrics; optional.
	Pod wire.Pod
	// Log receives the proxy's log and access log, as JSON lines.
	Log io.Writer
	// Listen opens listeners; net.ListenTCP when nil.
	Listen func(network, addr string) (*net.TCPListener, error)
	// OriginalDst reads a redirected connection's destination;
	// origdst.Get when nil. Tests without interception replace it.
	OriginalDst func(c *net.TCPConn) (netip.AddrPort, error)
	// HTTPClient fetches the JWKS URL; a client with a 10 s timeout when nil.
	HTTPClient *http.Client
	// DrainDelay keeps serving after the proxy turns not-ready, so that
	// endpoints are updated before listeners close. DrainTimeout bounds
	// how long in-flight requests and connections may take afterwards.
	DrainDelay   time.Duration
	DrainTimeout time.Duration
	// Ready, when not nil, is called once the proxy serves.
	Ready func()
	// Profiling serves Go's profiles on the admin port (admin.Server).
	Profiling bool
	// Identity, when set, turns on mutual TLS between proxies: the
	// inbound listener terminates mesh TLS (plain-text connections are
	// still accepted) and the outbound side dials meshed destinations
	// through it. When nil and Run.Identity is set, Run builds it: the
	// proxy's credentials from the controller and the channel. Nil with
	// neither leaves the data path in plain text.
	Identity *Identity
	// Files are where the proxy reads its token and trust bundle when Run
	// builds its Identity; the injected paths when zero.
	Files Files
}

// Identity is what mutual TLS between proxies needs from the rest of
// mesh-proxy: its certificate and trust bundle, read at every handshake,
// and where a destination goes and whom it must reach there.
type Identity struct {
	Sources  identity.Sources
	Resolver meshtls.Resolver
	// Ready, when not nil, is closed once the proxy may take part in the
	// mesh (a certificate, a bundle, the channel's first snapshot); until
	// then /ready says not ready, so that the kubelet holds the app back.
	Ready <-chan struct{}
	// Status, when not nil, is served on /status.
	Status func() any
	// Authz, when not nil, applies the mesh's policy on the inbound side.
	Authz *authz.Authorizer
	// Egress, when not nil, says whether the app may connect to dst (the
	// MeshConfig's enableEgress, or dst in the mesh).
	Egress func(dst netip.AddrPort) bool
	// Self is the proxy's own identity, which the tap names as one end
	// of its mutual TLS requests.
	Self identity.ID
}

// workloadOf is what the proxy's metrics name it: its pod's namespace,
// and the workload the injector named (a pod named by no flag is its own
// pod). Proxies injected before the workload flags existed name only
// their namespace.
func workloadOf(pod wire.Pod, w *wire.Workload) telemetry.Workload {
	tw := telemetry.Workload{Namespace: pod.Namespace}
	if w != nil {
		tw.Kind, tw.Name = w.Kind, w.Name
		if tw.Name == "" {
			tw.Name = pod.Name
		}
	}
	return tw
}

// Run runs the proxy until ctx ends, then drains.
func Run(ctx context.Context, o Options) error {
	if o.Log == nil {
		o.Log = io.Discard
	}
	if o.Listen == nil {
		o.Listen = func(network, addr string) (*net.TCPListener, error) {
			a, err := net.ResolveTCPAddr(network, addr)
			if err != nil {
				return nil, err
			}
			return net.ListenTCP(network, a)
		}
	}
	if o.OriginalDst == nil {
		o.OriginalDst = origdst.Get
	}
	if o.DrainTimeout == 0 {
		o.DrainTimeout = DefaultDrainTimeout
	}
	r := o.Run
	// A LevelVar, so that the admin port can change the level for a while.
	logLevel := new(slog.LevelVar)
	logLevel.Set(admin.SlogLevel(r.LogLevel))
	log := slog.New(slog.NewJSONHandler(o.Log, &slog.HandlerOptions{Level: logLevel}))
	logBuf := telemetry.NewLogBuffer(o.Log, 0)
	defer logBuf.Close()
	accessLog := telemetry.NewAccessLog(logBuf)

	var metrics *telemetry.Metrics
	var metricsHandler http.Handler
	if r.Metrics {
		metrics = telemetry.NewMetricsFor(workloadOf(o.Pod, r.Workload))
		metricsHandler = metrics.Handler()
	}

	tracer := telemetry.NewDisabledTracer(serviceName(o.Pod))
	if r.Tracing != nil {
		if err := tracer.Configure(ctx, r.Tracing); err != nil {
			return err
		}
	}
	level := &admin.LogLevel{Var: logLevel, Configured: r.LogLevel, Log: log}
	defer level.Stop()

	runCtx, cancel := context.WithCancel(context.Background())
	defer cancel()
	var validator *auth.Validator
	stopKeys := func() {}
	if j := r.JWT; j != nil {
		keys, err := jwtKeys(ctx, j, o.HTTPClient, log)
		if err != nil {
			return err
		}
		keysCtx, stop := context.WithCancel(runCtx)
		stopKeys = stop
		go keys.Run(keysCtx)
		if validator, err = auth.New(auth.Options{Issuer: j.Issuer, Audiences: j.Audiences, Keys: keys, ExemptProbes: j.ExemptProbes}); err != nil {
			return err
		}
	}
	live := newLiveSettings(runCtx, r, identity.ID{}, level, tracer, validator, stopKeys, o.HTTPClient, log)

	if o.Identity == nil && r.Identity != nil {
		id, err := startIdentity(runCtx, r.Identity, o.Pod, o.Files.withDefaults(), live, log)
		if err != nil {
			return err
		}
		o.Identity = id
	}

	// The live request stream; it costs a load per request while nobody
	// listens.
	tp := &tap.Tap{}
	if o.Identity != nil {
		tp.Self = o.Identity.Self.String()
	}
	store := &propagation.Store{}
	ports := []uint16{uint16(r.InboundPort), uint16(r.OutboundPort), uint16(r.AdminPort)}
	toApp := inbound.Destination(ports...)
	fwd := forward.New(forward.Forwarder{Destination: requestDestination, Log: log})
	defer fwd.Close()
	// The outbound side forwards through a pool of its own: to the app
	// on localhost never goes through mesh TLS, upstream may.
	outFwd := fwd
	var handshake func(net.Conn) (*tls.Conn, identity.ID, error)
	var meshDial func(ctx context.Context, network, addr string) (net.Conn, error)
	var peerOf func(netip.AddrPort) listener.Peer
	if id := o.Identity; id != nil {
		hs := handshakeObserver(metrics)
		handshake = meshtls.NewServer(meshtls.Server{Sources: id.Sources, Observer: hs, Log: log}).Handshake
		d := &meshtls.Dialer{Sources: id.Sources, Resolver: id.Resolver, Observer: hs, Log: log}
		meshDial = d.DialContext
		peerOf = func(dst netip.AddrPort) listener.Peer {
			if id, ok := d.PeerOf(dst); ok {
				return listener.NewPeer(id)
			}
			return listener.Peer{}
		}
		outFwd = forward.New(forward.Forwarder{Destination: requestDestination, Dial: meshDial, Log: log})
		defer outFwd.Close()
	}

	var in inbound.Handler
	in.Store, in.Forward, in.ForwardH1 = store, fwd, fwd
	var egress func(netip.AddrPort) bool
	if o.Identity != nil {
		egress = o.Identity.Egress
	}
	var inAuthz listener.Authorizer
	if id := o.Identity; id != nil && id.Authz != nil {
		if metrics != nil {
			id.Authz.Record = metrics
		}
		in.Authz, inAuthz = id.Authz, id.Authz
	}
	// The JWT settings may arrive over the channel, so a proxy with an
	// identity checks tokens through the switch even while none is
	// required; one without follows its arguments alone.
	if validator != nil || r.Identity != nil {
		in.Auth = live.jwt
	}
	inHTTP := &telemetry.HTTP{
		Direction: "inbound", Inbound: true, Next: &in, H1: &in,
		Peer:    inboundPeer,
		PeerH1:  cachedPortPeer(),
		Metrics: metrics, Tracer: tracer, AccessLog: accessLog, Log: log, Tap: tp,
	}
	out := &outbound.Handler{Store: store, Forward: outFwd, ForwardH1: outFwd}
	outHTTP := &telemetry.HTTP{
		Direction: "outbound", Next: out, H1: out, Peer: outboundPeer,
		Metrics: metrics, Tracer: tracer, AccessLog: accessLog, Log: log, Tap: tp,
	}
	inSrv := &listener.Server{
		Direction: "inbound",
		Destination: func(c *net.TCPConn) (netip.AddrPort, error) {
			dst, err := o.OriginalDst(c)
			if err != nil {
				return dst, err
			}
			return toApp(dst)
		},
		HTTP:      inHTTP,
		H1:        inHTTP,
		Handshake: handshake,
		Authz:     inAuthz,
		Observer:  observer(metrics),
		Log:       log,
	}
	outSrv := &listener.Server{
		Direction: "outbound",
		Destination: func(c *net.TCPConn) (netip.AddrPort, error) {
			dst, err := o.OriginalDst(c)
			if err != nil {
				return dst, err
			}
			return outbound.Destination(dst, c.LocalAddr().(*net.TCPAddr).AddrPort())
		},
		HTTP:     outHTTP,
		H1:       outHTTP,
		Dial:     meshDial,
		PeerOf:   peerOf,
		Egress:   egress,
		Observer: observer(metrics),
		Log:      log,
	}
	if metrics != nil {
		inSrv.Denied, outSrv.Denied = metrics.Denied, metrics.Denied
	}
	adm := &admin.Server{Metrics: metricsHandler, Config: r, Profiling: o.Profiling, Tap: tp, LogLevel: level}
	if o.Identity != nil {
		adm.Status = o.Identity.Status
	}
	admSrv := &http.Server{Handler: adm.Handler(), ReadHeaderTimeout: 10 * time.Second}

	inLn, err := o.Listen("tcp", ":"+strconv.Itoa(int(r.InboundPort)))
	if err != nil {
		return fmt.Errorf("inbound listener: %w", err)
	}
	outLn, err := o.Listen("tcp", ":"+strconv.Itoa(int(r.OutboundPort)))
	if err != nil {
		inLn.Close()
		return fmt.Errorf("outbound listener: %w", err)
	}
	admLn, err := o.Listen("tcp", ":"+strconv.Itoa(int(r.AdminPort)))
	if err != nil {
		inLn.Close()
		outLn.Close()
		return fmt.Errorf("admin listener: %w", err)
	}
	errs := make(chan error, 3)
	go func() { errs <- inSrv.Serve(inLn) }()
	go func() { errs <- outSrv.Serve(outLn) }()
	go func() { errs <- ignoreClosed(admSrv.Serve(admLn)) }()
	log.Info("mesh-proxy serving", "version", version.Version(), "inbound", inLn.Addr().String(), "outbound", outLn.Addr().String(),
		"admin", admLn.Addr().String(), "jwt", live.jwt.Current() != nil, "tracing", tracer.Enabled(), "metrics", r.Metrics, "mtls", o.Identity != nil)
	// Ready once the mesh's facts are held; never again once draining.
	var readyMu sync.Mutex
	draining := false
	becomeReady := func() {
		readyMu.Lock()
		defer readyMu.Unlock()
		if draining {
			return
		}
		adm.SetReady(true)
		log.Info("mesh-proxy ready")
		if o.Ready != nil {
			o.Ready()
		}
	}
	if o.Identity != nil && o.Identity.Ready != nil {
		go func() {
			select {
			case <-o.Identity.Ready:
				becomeReady()
			case <-ctx.Done():
			}
		}()
	} else {
		becomeReady()
	}

	var serveErr error
	select {
	case <-ctx.Done():
	case serveErr = <-errs:
	}

	// Drain. The proxy is a native sidecar, so the kubelet sends it
	// SIGTERM only once the app container has exited: no request of the
	// app's is left to finish, and new ones cannot be served. The drain is
	// for callers' pooled connections to this pod, which keep coming until
	// the endpoint is removed: turn not-ready, close idle inbound
	// connections and answer what still arrives with Connection: close
	// (StopKeepAlives), so callers reconnect to pods that are not
	// stopping. A request for the departed app gets a 502, which closes
	// its connection as well. After DrainDelay, stop accepting and give
	// what is still under way (opaque TCP, exchanges being relayed) up to
	// DrainTimeout.
	readyMu.Lock()
	draining = true
	adm.SetReady(false)
	readyMu.Unlock()
	inSrv.StopKeepAlives()
	log.Info("mesh-proxy draining", "delay", o.DrainDelay.String(), "timeout", o.DrainTimeout.String())
	time.Sleep(o.DrainDelay)
	inLn.Close()
	outLn.Close()
	drainCtx, done := context.WithTimeout(context.Background(), o.DrainTimeout)
	defer done()
	shutdownErr := errors.Join(inSrv.Shutdown(drainCtx), outSrv.Shutdown(drainCtx), tracer.Shutdown(drainCtx))
	// The tap's streams say goodbye first: the admin server's Close would
	// cut them mid-line. One whose reader reads nothing is cut anyway.
	tapCtx, tapDone := context.WithTimeout(context.Background(), admin.TapEndTimeout)
	tp.Close(tapCtx)
	tapDone()
	admSrv.Close()
	log.Info("mesh-proxy stopped")
	return errors.Join(serveErr, shutdownErr)
}

func jwtKeys(ctx context.Context, j *wire.JWT, client *http.Client, log *slog.Logger) (*auth.Keys, error) {
	if j.JWKS != "" {
		set, err := auth.ParseJWKS([]byte(j.JWKS))
		if err != nil {
			return nil, fmt.Errorf("--jwks: %w", err)
		}
		return auth.StaticKeys(set), nil
	}
	if j.JWKSURL == "" {
		return nil, errors.New("JWT validation needs --jwks or --jwks-url")
	}
	keys := &auth.Keys{URL: j.JWKSURL, Client: client, Log: log}
	// A failed first fetch is not fatal: requests get 401 until the keys
	// arrive (Lookup fetches again), rather than the pod crash-looping
	// while the issuer is briefly unreachable.
	if err := keys.Fetch(ctx); err != nil {
		log.Warn("JWKS not fetched yet; tokens are rejected until it is", "error", err)
	}
	return keys, nil
}

// requestDestination is where the listener said the request's connection
// was going.
func requestDestination(r *http.Request) (netip.AddrPort, bool) {
	return listener.DestinationFrom(r.Context())
}

// inboundPeer names the caller of an inbound request: the client proxy's
// verified identity over mesh TLS, else the app port it is for.
func inboundPeer(r *http.Request) (string, bool) {
	if p, ok := listener.PeerFrom(r.Context()); ok && p.Name != "" {
		return p.Name, p.TLS
	}
	return localPort(r), false
}

// outboundPeer names the destination of an outbound request: the
// identity mesh TLS requires of it, else the authority the app asked for.
func outboundPeer(r *http.Request) (string, bool) {
	if p, ok := listener.PeerFrom(r.Context()); ok && p.Name != "" {
		return p.Name, p.TLS
	}
	return r.Host, false
}

// localPort names the app port an inbound request is for: a bounded peer
// label, where the caller's address would not be.
func localPort(r *http.Request) string {
	if d, ok := listener.DestinationFrom(r.Context()); ok {
		return portPeer(d)
	}
	return "unknown"
}

func portPeer(d netip.AddrPort) string { return "port/" + strconv.Itoa(int(d.Port())) }

// cachedPortPeer is inboundPeer for the lean path: the client proxy's
// identity, else portPeer without building the label on every request.
// A pod has a few app ports; the cache holds at most one entry per port.
func cachedPortPeer() func(x *h1.Exchange) (string, bool) {
	var labels sync.Map // uint16 -> string
	return func(x *h1.Exchange) (string, bool) {
		if x.PeerName != "" {
			return x.PeerName, x.MTLS
		}
		if l, ok := labels.Load(x.Dst.Port()); ok {
			return l.(string), false
		}
		l := portPeer(x.Dst)
		labels.Store(x.Dst.Port(), l)
		return l, false
	}
}

func handshakeObserver(m *telemetry.Metrics) meshtls.Observer {
	if m == nil {
		return nil
	}
	return m
}

func observer(m *telemetry.Metrics) listener.TCPObserver {
	if m == nil {
		return nil
	}
	return m
}

func serviceName(p wire.Pod) string {
	if p.Name == "" {
		return "mesh-proxy"
	}
	return p.Name + "." + p.Namespace
}

func ignoreClosed(err error) error {
	if errors.Is(err, http.ErrServerClosed) {
		return nil
	}
	return err
}
