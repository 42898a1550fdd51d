// Package app is what every example server shares: the listen address from
// PORT, a mux that already answers GET /healthz, one stdout line per request,
// JSON replies, and a graceful shutdown when the pod is told to stop.
package app

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log"
	"net"
	"net/http"
	"os"
	"os/signal"
	"syscall"
	"time"
)

// DefaultPort is where every example server listens unless PORT says
// otherwise; the manifests' containerPort and Service targetPort.
const DefaultPort = "8080"

// ShutdownTimeout bounds how long in-flight requests may take once SIGTERM
// arrives; it is well below the pod's default 30 s grace period.
const ShutdownTimeout = 10 * time.Second

// DrainDelay is how long a server keeps answering after SIGTERM. The kubelet
// signals the pod while the Service may still send it requests (endpoints
// reach kube-proxy and the callers' pooled connections a moment later), and
// the sidecar keeps accepting for its own drain delay (3 s): an app that
// stopped at once would turn those requests into 502s. It is the in-process
// form of the usual preStop sleep. DRAIN_DELAY overrides it.
const DrainDelay = 5 * time.Second

// Drain is the drain delay: $DRAIN_DELAY (a Go duration) or DrainDelay.
func Drain(getenv func(string) string) (time.Duration, error) {
	s := getenv("DRAIN_DELAY")
	if s == "" {
		return DrainDelay, nil
	}
	d, err := time.ParseDuration(s)
	if err != nil || d < 0 {
		return 0, fmt.Errorf("DRAIN_DELAY=%q: want a duration such as 5s or 0s", s)
	}
	return d, nil
}

// Addr is the listen address: $LISTEN_HOST (default: every interface) and
// $PORT (default 8080). Pods set neither; tests that run the programs as
// processes set LISTEN_HOST=127.0.0.1.
func Addr(getenv func(string) string) string {
	port := getenv("PORT")
	if port == "" {
		port = DefaultPort
	}
	return net.JoinHostPort(getenv("LISTEN_HOST"), port)
}

// SignalContext is cancelled on SIGTERM (what the kubelet sends) or SIGINT
// (Ctrl-C when run by hand).
func SignalContext() (context.Context, context.CancelFunc) {
	return signal.NotifyContext(context.Background(), syscall.SIGTERM, os.Interrupt)
}

// NewMux returns a ServeMux that answers GET /healthz with 200 "ok", the
// readiness probe of every example Deployment.
func NewMux() *http.ServeMux {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "text/plain; charset=utf-8")
		_, _ = w.Write([]byte("ok"))
	})
	return mux
}

// Logged wraps h so that every request is logged as one line: method, path,
// status and duration.
func Logged(h http.Handler, logger *log.Logger) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		start := time.Now()
		rec := &statusRecorder{ResponseWriter: w, status: http.StatusOK}
		h.ServeHTTP(rec, r)
		logger.Printf("%s %s %d %s", r.Method, r.URL.RequestURI(), rec.status, time.Since(start).Round(time.Microsecond))
	})
}

type statusRecorder struct {
	http.ResponseWriter
	status int
	wrote  bool
}

func (r *statusRecorder) WriteHeader(code int) {
	if !r.wrote {
		r.status, r.wrote = code, true
	}
	r.ResponseWriter.WriteHeader(code)
}

func (r *statusRecorder) Write(b []byte) (int, error) {
	r.wrote = true
	return r.ResponseWriter.Write(b)
}

// Unwrap lets http.ResponseController reach the real writer.
func (r *statusRecorder) Unwrap() http.ResponseWriter { return r.ResponseWriter }

// WriteJSON answers with status and v as JSON.
func WriteJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	// The status is sent; a failed write means the client went away.
	_ = json.NewEncoder(w).Encode(v)
}

// ErrorBody is the JSON body of every error reply of the example apps.
type ErrorBody struct {
	// Error says what went wrong.
	Error string `json:"error"`
	// UpstreamStatus is the status code a called service answered with,
	// when that is why the request failed.
	UpstreamStatus int `json:"upstreamStatus,omitempty"`
}

// WriteError answers with status and an ErrorBody.
func WriteError(w http.ResponseWriter, status int, msg string) {
	WriteJSON(w, status, ErrorBody{Error: msg})
}

// Serve serves h on ln until ctx is cancelled, goes on answering for drain
// with keep-alives off (so callers reconnect, through the Service, to a pod
// that is not stopping), then stops accepting and lets in-flight requests
// finish for up to ShutdownTimeout. It returns nil after a clean shutdown.
func Serve(ctx context.Context, ln net.Listener, h http.Handler, drain time.Duration) error {
	srv := &http.Server{Handler: h, ReadHeaderTimeout: 10 * time.Second}
	errc := make(chan error, 1)
	go func() { errc <- srv.Serve(ln) }()
	select {
	case err := <-errc:
		return err
	case <-ctx.Done():
	}
	if drain > 0 {
		srv.SetKeepAlivesEnabled(false)
		select {
		case err := <-errc:
			return err
		case <-time.After(drain):
		}
	}
	// ctx is done; the shutdown needs a deadline of its own.
	sctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), ShutdownTimeout)
	defer cancel()
	if err := srv.Shutdown(sctx); err != nil {
		return err
	}
	if err := <-errc; !errors.Is(err, http.ErrServerClosed) {
		return err
	}
	return nil
}

// ListenAndServe listens on addr and calls Serve, logging where it listens
// and when it starts draining.
func ListenAndServe(ctx context.Context, addr string, h http.Handler, drain time.Duration, logger *log.Logger) error {
	ln, err := (&net.ListenConfig{}).Listen(ctx, "tcp", addr)
	if err != nil {
		return err
	}
	logger.Printf("listening on %s", ln.Addr())
	if drain > 0 {
		go func() {
			<-ctx.Done()
			logger.Printf("stopping: answering for %s more, without keep-alives", drain)
		}()
	}
	err = Serve(ctx, ln, h, drain)
	if err == nil {
		logger.Printf("shut down")
	}
	return err
}

// Server is the whole of a server example: h, logged, on Addr(getenv),
// draining for Drain(getenv), until ctx is done.
func Server(ctx context.Context, getenv func(string) string, h http.Handler, logger *log.Logger) error {
	drain, err := Drain(getenv)
	if err != nil {
		return err
	}
	return ListenAndServe(ctx, Addr(getenv), Logged(h, logger), drain, logger)
}

// NewLogger returns the logger every example writes its lines with: stdout,
// where kubectl logs finds them, with UTC timestamps.
func NewLogger() *log.Logger {
	return log.New(os.Stdout, "", log.LstdFlags|log.LUTC)
}

// Main runs a program's run function with the process's environment, a
// context cancelled on SIGTERM and the stdout logger, and exits 1 if it
// fails. It is the whole of each example's func main.
func Main(run func(ctx context.Context, getenv func(string) string, logger *log.Logger) error) {
	ctx, stop := SignalContext()
	logger := NewLogger()
	err := run(ctx, os.Getenv, logger)
	stop()
	if err != nil {
		logger.Printf("error: %v", err)
		os.Exit(1)
	}
}
