// Package channel is mesh-proxy's client of the controller channel (the
// wire contract is pkg/channel): it holds one stream open to the
// controller's proxy API, keeps the last snapshot and its Index for the
// outbound path, reconnects with capped, jittered backoff while keeping
// that snapshot, and reports its state for the admin endpoint. It links no
// Kubernetes client library.
package channel

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math/rand/v2"
	"mime"
	"net"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/meshctl/meshctl/pkg/channel"
	"github.com/meshctl/meshctl/pkg/identity"
)

// Defaults of Options.
const (
	// DefaultMinBackoff is the first wait before reconnecting.
	DefaultMinBackoff = 250 * time.Millisecond
	// DefaultMaxBackoff caps the wait: a controller back after an outage
	// is found within this, and a thousand proxies reconnecting spread
	// over it.
	DefaultMaxBackoff = 30 * time.Second
	// headerTimeout bounds the TLS handshake and the wait for the
	// response's status: the controller answers at once.
	headerTimeout = 10 * time.Second
)

// Clock is the time the client waits by: the heartbeat watchdog and the
// backoff. Tests pass a clock they advance.
type Clock interface {
	Now() time.Time
	After(d time.Duration) <-chan time.Time
}

type realClock struct{}

func (realClock) Now() time.Time                         { return time.Now() }
func (realClock) After(d time.Duration) <-chan time.Time { return time.After(d) }

// Options configure a Client.
type Options struct {
	// Address is the controller's proxy API, host:port
	// (meshconfig.ControllerAddress; wire.Identity.ControllerAddress).
	Address string
	// ControllerID is the identity the controller must present.
	ControllerID identity.ID
	// Sources are the proxy's certificate, trust bundle and clock for
	// TLS (identity.APIClientConfig).
	Sources identity.Sources
	// Dial opens connections; nil is a net.Dialer's.
	Dial func(ctx context.Context, network, addr string) (net.Conn, error)
	// Clock times the watchdog and the backoff; nil is the real clock.
	Clock Clock
	// MinBackoff and MaxBackoff bound the wait between attempts; zero is
	// DefaultMinBackoff and DefaultMaxBackoff.
	MinBackoff, MaxBackoff time.Duration
	// DeadAfter is how long a silent stream is trusted; zero is
	// channel.DeadAfter.
	DeadAfter time.Duration
	// MaxMessageBytes bounds one message; zero is channel.MaxMessageBytes.
	MaxMessageBytes int
	// Log receives a line per connection, snapshot and failure; nil
	// discards.
	Log *slog.Logger
	// OnSnapshot, when set, is called with each new snapshot once it is
	// held (not for one identical to the snapshot held), from the
	// client's goroutine: it must not block.
	OnSnapshot func(*channel.Snapshot)
}

// Client holds the channel to the controller. Its methods are safe for
// concurrent use.
type Client struct {
	o      Options
	clock  Clock
	log    *slog.Logger
	http   *http.Client
	url    string
	state  atomic.Pointer[held]
	synced chan struct{}
	once   sync.Once

	mu     sync.Mutex
	status Status
}

// held is the current snapshot and its index, swapped together.
type held struct {
	snapshot *channel.Snapshot
	index    *channel.Index
}

// Status is the client's state, for the proxy's admin endpoint.
type Status struct {
	// Controller is the address it connects to.
	Controller string `json:"controller"`
	// Connected is true while a stream is open and has delivered its
	// first snapshot.
	Connected bool `json:"connected"`
	// Version is that of the snapshot held; zero before the first.
	Version channel.Version `json:"version"`
	// Received is when the snapshot held arrived (or was last confirmed by
	// an identical one).
	Received time.Time `json:"received,omitzero"`
	// LastMessage is when the last message (snapshot or heartbeat)
	// arrived.
	LastMessage time.Time `json:"lastMessage,omitzero"`
	// Connects counts streams opened.
	Connects uint64 `json:"connects"`
	// LastError is why the last attempt or stream failed, and when.
	LastError   string    `json:"lastError,omitempty"`
	LastErrorAt time.Time `json:"lastErrorAt,omitzero"`
}

// New makes a Client; Run connects.
func New(o Options) (*Client, error) {
	var errs []error
	if o.Address == "" {
		errs = append(errs, errors.New("channel client: no controller address"))
	} else if _, _, err := net.SplitHostPort(o.Address); err != nil {
		errs = append(errs, fmt.Errorf("channel client: controller address %q: %w", o.Address, err))
	}
	if o.ControllerID.IsZero() {
		errs = append(errs, errors.New("channel client: no controller identity"))
	}
	if err := errors.Join(errs...); err != nil {
		return nil, err
	}
	if o.MinBackoff <= 0 {
		o.MinBackoff = DefaultMinBackoff
	}
	if o.MaxBackoff <= 0 {
		o.MaxBackoff = DefaultMaxBackoff
	}
	o.MaxBackoff = max(o.MaxBackoff, o.MinBackoff)
	if o.DeadAfter <= 0 {
		o.DeadAfter = channel.DeadAfter
	}
	c := &Client{o: o, clock: o.Clock, log: o.Log, synced: make(chan struct{}), url: "https://" + o.Address + channel.Path}
	if c.clock == nil {
		c.clock = realClock{}
	}
	if c.log == nil {
		c.log = slog.New(slog.DiscardHandler)
	}
	dial := o.Dial
	if dial == nil {
		dial = (&net.Dialer{Timeout: headerTimeout}).DialContext
	}
	c.http = &http.Client{Transport: &http.Transport{
		DialContext:     dial,
		TLSClientConfig: identity.APIClientConfig(o.Sources, o.ControllerID),
		// One stream per connection, and a fresh handshake per attempt:
		// the certificate presented is the one held at that moment.
		DisableKeepAlives:      true,
		TLSHandshakeTimeout:    headerTimeout,
		ResponseHeaderTimeout:  headerTimeout,
		MaxResponseHeaderBytes: 16 << 10,
		DisableCompression:     true,
	}}
	c.status.Controller = o.Address
	return c, nil
}

// Index is the index of the snapshot held, or nil before the first (a nil
// Index resolves nothing, so the proxy dials as it did before the mesh
// had identity).
func (c *Client) Index() *channel.Index {
	if h := c.state.Load(); h != nil {
		return h.index
	}
	return nil
}

// Snapshot is the snapshot held, or nil before the first.
func (c *Client) Snapshot() *channel.Snapshot {
	if h := c.state.Load(); h != nil {
		return h.snapshot
	}
	return nil
}

// Status is the client's state now.
func (c *Client) Status() Status {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.status
}

// Synced is closed once the first snapshot is held; the proxy is not ready
// before.
func (c *Client) Synced() <-chan struct{} { return c.synced }

// WaitSynced waits for the first snapshot, or ctx's end.
func (c *Client) WaitSynced(ctx context.Context) error {
	select {
	case <-c.synced:
		return nil
	case <-ctx.Done():
		return fmt.Errorf("waiting for the first snapshot from the controller at %s: %w", c.o.Address, context.Cause(ctx))
	}
}

// Run holds the channel open until ctx ends, reconnecting after each
// failure: after MinBackoff, doubling up to MaxBackoff, each wait between
// half and all of it at random so that proxies that lost one controller
// together do not all come back together. A stream that delivered a
// snapshot resets the backoff. It returns nil when ctx ends.
func (c *Client) Run(ctx context.Context) error {
	backoff := c.o.MinBackoff
	for {
		delivered, err := c.stream(ctx)
		if ctx.Err() != nil {
			c.setConnected(false)
			return nil
		}
		c.failed(err)
		if delivered {
			backoff = c.o.MinBackoff
		}
		wait := backoff/2 + rand.N(backoff/2+1)
		backoff = min(2*backoff, c.o.MaxBackoff)
		c.log.Info("controller channel lost; keeping the last snapshot", "error", err, "retryIn", wait)
		select {
		case <-ctx.Done():
			return nil
		case <-c.clock.After(wait):
		}
	}
}

// errSilent ends a stream on which nothing arrived for DeadAfter.
var errSilent = errors.New("the controller sent nothing, not even a heartbeat")

// stream opens one stream and reads it until it fails; delivered says
// whether it brought a valid snapshot.
func (c *Client) stream(parent context.Context) (delivered bool, _ error) {
	ctx, cancel := context.WithCancelCause(parent)
	defer cancel(nil)
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, c.url, nil)
	if err != nil {
		return false, err
	}
	req.Header.Set("Accept", channel.ContentType)
	resp, err := c.http.Do(req)
	if err != nil {
		return false, fmt.Errorf("controller channel %s: %w", c.o.Address, err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		body, _ := io.ReadAll(io.LimitReader(resp.Body, 256))
		return false, fmt.Errorf("controller channel %s: %s: %s", c.o.Address, resp.Status, strings.TrimSpace(string(body)))
	}
	if mt, _, err := mime.ParseMediaType(resp.Header.Get("Content-Type")); err != nil || mt != channel.ContentType {
		return false, fmt.Errorf("controller channel %s: the response is %q, not %s", c.o.Address, resp.Header.Get("Content-Type"), channel.ContentType)
	}
	c.mu.Lock()
	c.status.Connects++
	c.mu.Unlock()

	// The watchdog: every message kicks it; DeadAfter without one ends
	// the stream.
	kick := make(chan struct{}, 1)
	go func() {
		for {
			select {
			case <-ctx.Done():
				return
			case <-kick:
			case <-c.clock.After(c.o.DeadAfter):
				select {
				case <-kick: // a message raced the timer
					continue
				default:
				}
				cancel(errSilent)
				return
			}
		}
	}()
	defer c.setConnected(false)

	dec := channel.NewDecoder(resp.Body, c.o.MaxMessageBytes)
	for {
		m, err := dec.Next()
		if err != nil {
			if cause := context.Cause(ctx); cause != nil && parent.Err() == nil {
				err = cause
			}
			if errors.Is(err, io.EOF) {
				err = errors.New("the controller ended the stream")
			}
			return delivered, fmt.Errorf("controller channel %s: %w", c.o.Address, err)
		}
		select {
		case kick <- struct{}{}:
		default:
		}
		now := c.clock.Now()
		switch m.Type {
		case channel.TypeSnapshot:
			if err := c.apply(m, now); err != nil {
				// The stream is not trusted past a bad message: the
				// next one may be cut or shifted too.
				return delivered, fmt.Errorf("controller channel %s: %w", c.o.Address, err)
			}
			delivered = true
		case channel.TypeHeartbeat:
			c.mu.Lock()
			c.status.LastMessage = now
			c.mu.Unlock()
		default:
			// A newer controller's message type: ignored.
		}
	}
}

// apply makes a snapshot message the one held, unless it is the same
// content, which only refreshes the times.
func (c *Client) apply(m channel.Message, now time.Time) error {
	if h := c.state.Load(); h != nil && h.snapshot.Version.Hash == m.Version.Hash {
		// Another replica, or the same after a reconnect: the same
		// content, if it is what the hash says.
		if got := channel.HashContent(m.Content); got != m.Version.Hash {
			return fmt.Errorf("snapshot %s: the content hashes to %s", m.Version, got)
		}
	} else {
		s, err := channel.DecodeSnapshot(m)
		if err != nil {
			return err
		}
		c.state.Store(&held{snapshot: s, index: channel.NewIndex(s)})
		c.log.Info("controller snapshot applied", "version", s.Version.String(), "pods", len(s.Content.Pods), "services", len(s.Content.Services), "bytes", s.Bytes)
		if c.o.OnSnapshot != nil {
			c.o.OnSnapshot(s)
		}
	}
	c.mu.Lock()
	c.status.Connected = true
	c.status.Version = c.state.Load().snapshot.Version
	c.status.Received, c.status.LastMessage = now, now
	c.mu.Unlock()
	c.once.Do(func() { close(c.synced) })
	return nil
}

func (c *Client) setConnected(v bool) {
	c.mu.Lock()
	c.status.Connected = v
	c.mu.Unlock()
}

func (c *Client) failed(err error) {
	if err == nil {
		return
	}
	c.mu.Lock()
	c.status.LastError, c.status.LastErrorAt = err.Error(), c.clock.Now()
	c.mu.Unlock()
}
