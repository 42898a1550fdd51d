package tapcli

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"sync"

	corev1 "k8s.io/api/core/v1"

	"github.com/meshctl/meshctl/pkg/cli"
	"github.com/meshctl/meshctl/pkg/kube"
	"github.com/meshctl/meshctl/pkg/proxy/tap"
	"github.com/meshctl/meshctl/pkg/proxyadmin"
	"github.com/meshctl/meshctl/pkg/proxyconfig/wire"
)

// Opener opens a streaming GET of path on a pod's admin port;
// proxyadmin.Client.Stream is the real one.
type Opener func(ctx context.Context, namespace, pod, path string) (io.ReadCloser, error)

// Listen is what tap and top share: the target, its namespace, the
// filter, and how the cluster is reached. The commands' options embed it.
type Listen struct {
	// Target is deploy/NAME, pod/NAME or ns/NAME, from the argument.
	Target Target
	// Namespace is the target's (for deploy/ and pod/).
	Namespace string
	// Path, Method and Authority filter the requests (the proxies
	// apply them): a path prefix, an exact method, an authority.
	Path, Method, Authority string
	// Clients reaches the cluster; Open, when not nil, replaces the
	// port-forward of Clients' (tests).
	Clients func() (*kube.Clients, error)
	Open    Opener
}

// complete takes the target from the first argument and the namespace
// and clients from f.
func (l *Listen) complete(f cli.Factory, args []string) error {
	if len(args) != 1 {
		return cli.UsageErrorf("one target is required: deploy/NAME, pod/NAME or ns/NAME")
	}
	t, err := ParseTarget(args[0])
	if err != nil {
		return err
	}
	l.Target = t
	if l.Namespace, err = cli.ContextNamespace(f); err != nil {
		return err
	}
	l.Clients = f.Clients
	return nil
}

// request is the tap request every proxy gets, at most maxRPS a second
// each (0: no bound); a usage error for a filter the proxy would refuse.
func (l *Listen) request(maxRPS int) (tap.Request, error) {
	r := tap.Request{Filter: tap.Filter{PathPrefix: l.Path, Method: l.Method, Authority: l.Authority}, MaxRPS: maxRPS}
	// The proxy's own parser says what it takes.
	if _, err := tap.ParseRequest(mustQuery(r.Query())); err != nil {
		return r, cli.UsageErrorf("%v", err)
	}
	return r, nil
}

// item is one line from one pod's proxy, or the end of its stream (err
// wraps errProxyEnded when the proxy said goodbye).
type item struct {
	pod  *corev1.Pod
	line tap.Line
	err  error
}

// Summary is what happened to the streams, for the report at the end.
type Summary struct {
	// Dropped are requests the proxies dropped because their stream
	// fell behind; Limited those over the rate.
	Dropped, Limited uint64
}

// start resolves the target's pods and opens a stream from each proxy,
// FleetConcurrency at a time, with query r. It returns the lines of all
// of them, in the order they come, and the count of streams opened; the
// channel is closed once every stream has ended (ctx ending ends them).
// A pod whose stream cannot be opened is reported on errOut; when none
// can, the first error is returned.
func (l *Listen) start(ctx context.Context, r func(pods int) tap.Request, errOut io.Writer) (<-chan item, int, error) {
	c, err := l.Clients()
	if err != nil {
		return nil, 0, err
	}
	pods, skipped, err := l.Target.Pods(ctx, c.Kube, l.Namespace)
	if err != nil {
		return nil, 0, err
	}
	for _, s := range skipped {
		fmt.Fprintf(errOut, "%s: left out\n", s)
	}
	open := l.Open
	if open == nil {
		open = (&proxyadmin.Client{Config: c.Config, Kube: c.Kube}).Stream
	}
	path := wire.TapPath + "?" + r(len(pods)).Query()
	bodies := make([]io.ReadCloser, len(pods))
	errs := make([]error, len(pods))
	proxyadmin.Each(pods, func(i int, pod *corev1.Pod) {
		bodies[i], errs[i] = open(ctx, pod.Namespace, pod.Name, path)
	})
	items := make(chan item, 64)
	var wg sync.WaitGroup
	opened := 0
	var first error
	for i, pod := range pods {
		if errs[i] != nil {
			err := explainOpen(pod, errs[i])
			first = cmpOr(first, err)
			fmt.Fprintf(errOut, "pod/%s: %v\n", pod.Name, err)
			continue
		}
		opened++
		wg.Add(1)
		go func() {
			defer wg.Done()
			read(ctx, pod, bodies[i], items)
		}()
	}
	if opened == 0 {
		return nil, 0, first
	}
	go func() {
		wg.Wait()
		close(items)
	}()
	return items, opened, nil
}

// read decodes one proxy's stream into items until it ends or ctx does.
func read(ctx context.Context, pod *corev1.Pod, body io.ReadCloser, items chan<- item) {
	// Closing the body is what ends a read waiting for the next line.
	stop := context.AfterFunc(ctx, func() { body.Close() })
	defer stop()
	defer body.Close()
	d := tap.NewDecoder(body)
	for {
		l, err := d.Next()
		if err == nil && l.Kind == tap.KindEnd {
			err = fmt.Errorf("%w: %s", errProxyEnded, l.Reason)
		}
		if err != nil {
			if ctx.Err() != nil {
				return // it was ended here
			}
			select {
			case items <- item{pod: pod, err: err}:
			case <-ctx.Done():
			}
			return
		}
		select {
		case items <- item{pod: pod, line: l}:
		case <-ctx.Done():
			return
		}
	}
}

// explainOpen says what the user can do about a stream that did not
// open.
func explainOpen(pod *corev1.Pod, err error) error {
	var ae *proxyadmin.AnswerError
	if errors.As(err, &ae) {
		switch ae.Code {
		case http.StatusNotFound:
			return fmt.Errorf("its proxy has no tap (%s): it predates meshctl tap; restart the pod to get this version's proxy", ae.Status)
		case http.StatusTooManyRequests:
			return fmt.Errorf("its proxy already serves %d tap listeners, as many as it may; try again once one has ended", tap.MaxListeners)
		}
	}
	return err
}

// errProxyEnded is a stream the proxy ended with a goodbye.
var errProxyEnded = errors.New("the proxy ended the stream")

// ended says how a pod's stream ended, for errOut.
func ended(pod *corev1.Pod, err error) string {
	if errors.Is(err, io.EOF) {
		return fmt.Sprintf("pod/%s: the stream ended", pod.Name)
	}
	if errors.Is(err, errProxyEnded) {
		return fmt.Sprintf("pod/%s: %v", pod.Name, err)
	}
	return fmt.Sprintf("pod/%s: the stream broke: %v", pod.Name, err)
}

func cmpOr(a, b error) error {
	if a != nil {
		return a
	}
	return b
}
