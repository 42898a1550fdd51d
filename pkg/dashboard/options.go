// Package dashboard is `meshctl dashboard`: a web page served by meshctl
// itself, on loopback, that draws the mesh's topology (workloads as
// nodes, who calls whom as edges with request rate, success rate and
// latency) beside a table of the workloads, live. Nothing runs in the
// cluster: the figures come from the proxies' own metrics, read through
// API-server port-forwards as `meshctl stat` reads them (Cluster, with
// pkg/statcli's workloads and pkg/trafficstats' arithmetic), on one
// schedule for every open page (Refresher). Build turns the readings into
// the graph; Server serves the embedded page and its JSON, to requests
// addressed to its own address only.
package dashboard

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"strconv"
	"time"

	"k8s.io/cli-runtime/pkg/genericiooptions"
	"k8s.io/utils/clock"

	"github.com/meshctl/meshctl/pkg/cli"
	"github.com/meshctl/meshctl/pkg/kube"
	"github.com/meshctl/meshctl/pkg/proxyadmin"
)

// DefaultAddress is where the page is served: loopback, so that only this
// machine's users reach it.
const DefaultAddress = "127.0.0.1"

// DefaultPagePoll is how often the page asks for the State: often enough
// that a reading shows within a second.
const DefaultPagePoll = time.Second

// DefaultPort is the port the page is served on; 0 is any free one.
const DefaultPort = 50750

// Options are the inputs of `meshctl dashboard`.
type Options struct {
	genericiooptions.IOStreams
	// Namespace is shown; AllNamespaces shows every namespace.
	Namespace     string
	AllNamespaces bool
	// Address and Port are where the page is served; Port 0 is any free
	// port.
	Address string
	Port    int
	// Browser opens the page in a browser, when there is one.
	Browser bool
	// Interval is the time between readings of the proxies.
	Interval time.Duration
	// PagePoll is how often the page asks for the State;
	// DefaultPagePoll when zero. Asking costs a 304 until the next
	// reading.
	PagePoll time.Duration
	// Clients reaches the cluster.
	Clients func() (*kube.Clients, error)
	// Open opens a port-forward to a proxy; the Client's when nil.
	Open proxyadmin.Opener
	// Source, when not nil, replaces the cluster (tests).
	Source Source
	// Clock runs the schedule; the real one when nil.
	Clock clock.WithTicker
	// BrowserCommand is the command that opens a URL, or nil when there
	// is no browser to open (Complete asks BrowserCommand).
	BrowserCommand func(url string) []string
	// Serving, when not nil, is told the page's URL once it is served.
	Serving func(url string)
}

// Complete takes the namespace and clients from f, and finds the browser:
// only when stderr is a terminal, where a person waits.
func (o *Options) Complete(f cli.Factory, args []string) error {
	ns, err := cli.ContextNamespace(f)
	if err != nil {
		return err
	}
	o.Namespace = ns
	o.Clients = f.Clients
	if !cli.IsTerminal(o.ErrOut) {
		o.BrowserCommand = nil
	}
	return nil
}

// Validate checks the flags.
func (o *Options) Validate() error {
	if o.Interval < MinInterval || o.Interval > MaxInterval {
		return cli.UsageErrorf("--interval %s: want %s to %s", o.Interval, MinInterval, MaxInterval)
	}
	if o.Port < 0 || o.Port > 65535 {
		return cli.UsageErrorf("--port %d: want 0 (any free port) to 65535", o.Port)
	}
	if o.Address != "localhost" && net.ParseIP(o.Address) == nil {
		return cli.UsageErrorf("--address %q: want an IP address, such as %s, or localhost", o.Address, DefaultAddress)
	}
	return nil
}

// Run serves the page until ctx ends.
func (o *Options) Run(ctx context.Context) error {
	clk := o.Clock
	if clk == nil {
		clk = clock.RealClock{}
	}
	ns, scope := o.Namespace, "namespace "+o.Namespace
	if o.AllNamespaces {
		ns, scope = "", "all namespaces"
	}
	src := o.Source
	if src == nil {
		c, err := o.Clients()
		if err != nil {
			return err
		}
		open := o.Open
		if open == nil {
			open = (&proxyadmin.Client{Config: c.Config, Kube: c.Kube}).Session
		}
		src = &Cluster{Kube: c.Kube, Open: open, Namespace: ns, Clock: clk}
	}
	addr := o.Address
	if addr == "localhost" {
		addr = DefaultAddress
	}
	var lc net.ListenConfig
	l, err := lc.Listen(ctx, "tcp", net.JoinHostPort(addr, strconv.Itoa(o.Port)))
	if err != nil {
		return fmt.Errorf("serving the dashboard: %w (--port 0 takes any free port)", err)
	}
	listen := l.Addr().(*net.TCPAddr)
	url := "http://" + listen.String() + "/"

	poll := o.PagePoll
	if poll == 0 {
		poll = DefaultPagePoll
	}
	ref := &Refresher{Source: src, Clock: clk, Interval: o.Interval, PagePoll: poll, Scope: scope}
	srv := &http.Server{
		Handler:           (&Server{State: ref.State, Listen: listen}).Handler(),
		ReadHeaderTimeout: 10 * time.Second,
	}
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	done := make(chan struct{})
	go func() {
		defer close(done)
		ref.Run(ctx)
	}()
	served := make(chan error, 1)
	go func() { served <- srv.Serve(l) }()

	if !listen.IP.IsLoopback() {
		fmt.Fprintf(o.ErrOut, "Warning: %s is not a loopback address: whoever reaches it sees the mesh's traffic.\n", listen.IP)
	}
	fmt.Fprintf(o.ErrOut, "meshctl dashboard: serving %s (Ctrl-C to stop)\n", url)
	if o.Browser && o.BrowserCommand != nil {
		if argv := o.BrowserCommand(url); argv != nil {
			if err := StartBrowser(argv); err != nil {
				fmt.Fprintf(o.ErrOut, "Could not open a browser (%v): open %s yourself.\n", err, url)
			}
		}
	}
	if o.Serving != nil {
		o.Serving(url)
	}

	select {
	case <-ctx.Done():
	case err = <-served:
	}
	cancel()
	shutdown, stop := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
	defer stop()
	if serr := srv.Shutdown(shutdown); err == nil && serr != nil {
		err = serr
	}
	<-done
	if errors.Is(err, http.ErrServerClosed) {
		err = nil
	}
	return err
}
