package proxyadmin

import (
	"context"
	"fmt"
	"sync"
	"time"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/utils/clock"
)

// MaxOpenForwards bounds the port-forwards ReadTwice holds open at once.
// Each holds a connection to the API server (and, there, one to the
// pod's kubelet) and a local listener for the whole window; past this
// many, later proxies wait for earlier ones to finish, and the command
// takes a window longer for each such batch.
const MaxOpenForwards = 1024

// Session is a way to one proxy's admin port that stays open between
// requests: a *Forward.
type Session interface {
	Get(ctx context.Context, path string) ([]byte, error)
	Close()
}

// Opener opens a Session to the admin port of pod's proxy; Client.Session
// is the real one, tests pass their own.
type Opener func(ctx context.Context, namespace, pod string) (Session, error)

// Session opens a Forward, as an Opener.
func (c *Client) Session(ctx context.Context, namespace, pod string) (Session, error) {
	f, err := c.Open(ctx, namespace, pod)
	if err != nil {
		return nil, err
	}
	return f, nil
}

// Reading is one answer of a proxy and when it was asked for.
type Reading struct {
	At   time.Time
	Body []byte
}

// Readings are two readings of one proxy, or why they could not be made.
type Readings struct {
	Pod           *corev1.Pod
	First, Second Reading
	Err           error
}

// TwiceOptions are how ReadTwice reads.
type TwiceOptions struct {
	// Open opens a session to one proxy.
	Open Opener
	// Clock times the readings and the wait between them.
	Clock clock.Clock
	// Timeout bounds opening a session and the first reading, and then
	// the second reading; 30 s when zero.
	Timeout time.Duration
	// Progress, when not nil, is told, one call at a time, how many of
	// total proxies have been read once and twice (or given up on).
	Progress func(first, second, total int)
}

// ReadTwice reads path from every pod's proxy twice, window apart, over
// one port-forward per proxy, and returns the readings in the order of
// pods. The first readings are made FleetConcurrency at a time, as
// ReadAll's are, and each proxy's second one window after its first, so
// all the windows overlap and the whole takes about one window plus the
// time to open the port-forwards, whatever the number of proxies (up to
// MaxOpenForwards). A proxy that cannot be read has its Err; the others
// are unaffected.
func ReadTwice(ctx context.Context, pods []*corev1.Pod, path string, window time.Duration, o TwiceOptions) []Readings {
	timeout := o.Timeout
	if timeout == 0 {
		timeout = 30 * time.Second
	}
	out := make([]Readings, len(pods))
	// Opening a port-forward costs the API server and the kubelet; the
	// second reading only a stream over it. Each has its own bound, so
	// second readings do not queue behind first ones.
	opening := make(chan struct{}, FleetConcurrency)
	second := make(chan struct{}, FleetConcurrency)
	open := make(chan struct{}, MaxOpenForwards)
	var mu sync.Mutex
	var firstDone, secondDone int
	report := func(first, again bool) {
		mu.Lock()
		defer mu.Unlock()
		if first {
			firstDone++
		}
		if again {
			secondDone++
		}
		if o.Progress != nil {
			o.Progress(firstDone, secondDone, len(pods))
		}
	}
	acquire := func(sem chan struct{}) bool {
		// A select picks at random among ready cases: a cancelled
		// context must win.
		if ctx.Err() != nil {
			return false
		}
		select {
		case sem <- struct{}{}:
			return true
		case <-ctx.Done():
			return false
		}
	}
	read := func(s Session) (Reading, error) {
		ctx, cancel := context.WithTimeout(ctx, timeout)
		defer cancel()
		r := Reading{At: o.Clock.Now()}
		var err error
		r.Body, err = s.Get(ctx, path)
		return r, err
	}

	var wg sync.WaitGroup
	for i, pod := range pods {
		out[i].Pod = pod
		wg.Add(1)
		go func() {
			defer wg.Done()
			r := &out[i]
			name := fmt.Sprintf("pod %q in namespace %q", pod.Name, pod.Namespace)
			// A proxy given up on counts as read, for the progress.
			first, again := false, false
			defer func() {
				if !first || !again {
					report(!first, !again)
				}
			}()
			if !acquire(open) {
				r.Err = fmt.Errorf("%s: %w", name, ctx.Err())
				return
			}
			defer func() { <-open }()
			if !acquire(opening) {
				r.Err = fmt.Errorf("%s: %w", name, ctx.Err())
				return
			}
			s, err := func() (Session, error) {
				ctx, cancel := context.WithTimeout(ctx, timeout)
				defer cancel()
				return o.Open(ctx, pod.Namespace, pod.Name)
			}()
			if err == nil {
				r.First, err = read(s)
			}
			<-opening
			first = true
			report(true, false)
			if err != nil {
				if s != nil {
					s.Close()
				}
				r.Err = err
				return
			}
			defer s.Close()
			select {
			case <-o.Clock.After(r.First.At.Add(window).Sub(o.Clock.Now())):
			case <-ctx.Done():
				r.Err = fmt.Errorf("%s: %w", name, ctx.Err())
				return
			}
			if !acquire(second) {
				r.Err = fmt.Errorf("%s: %w", name, ctx.Err())
				return
			}
			r.Second, err = read(s)
			<-second
			again = true
			report(false, true)
			r.Err = err
		}()
	}
	wg.Wait()
	return out
}
