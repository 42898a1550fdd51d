// Command fetch is a tiny HTTP client for `kubectl exec` into an example
// app's container, whose image has no shell and no curl:
//
//	fetch [-H 'Name: value']... [-X METHOD] [-timeout 5s] [-status-only] [-fail] URL
//
// It prints the status line ("200 OK") and then the body on stdout. Flags
// come before the URL. Exit codes:
//
//	0  an HTTP response arrived, whatever its status (unless -fail)
//	1  no response: the connection or the request failed (message on stderr)
//	2  usage error
//	3  with -fail, the status was 400 or above
//
// -fail makes it a probe: the example Deployments' readiness probes run
// `/fetch -status-only -fail http://127.0.0.1:8080/healthz` inside the pod.
// A probe from the kubelet would reach the app through the sidecar's inbound
// proxy, which refuses it once JWT validation is on; a call to localhost from
// inside the pod is not intercepted.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"strings"
	"time"
)

// Exit codes.
const (
	exitOK        = 0
	exitTransport = 1
	exitUsage     = 2
	exitStatus    = 3
)

// synopsis is the first line of the help.
const synopsis = "usage: fetch [-H 'Name: value']... [-X METHOD] [-timeout 5s] [-status-only] [-fail] URL"

// defaultTimeout bounds the whole exchange, body included.
const defaultTimeout = 5 * time.Second

func main() {
	os.Exit(run(context.Background(), os.Args[1:], os.Stdout, os.Stderr))
}

// options are the parsed command line.
type options struct {
	method     string
	header     http.Header
	host       string // a -H 'Host: ...', which Go sends from Request.Host
	timeout    time.Duration
	statusOnly bool
	fail       bool
	url        string
}

// run is the program; it returns the exit code.
func run(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	o, err := parseArgs(args, stderr)
	if errors.Is(err, flag.ErrHelp) {
		return exitOK
	}
	if err != nil {
		fmt.Fprintf(stderr, "fetch: %v\n%s\n(fetch -h lists the flags)\n", err, synopsis)
		return exitUsage
	}
	status, err := fetch(ctx, &http.Client{Timeout: o.timeout}, o, stdout)
	if err != nil {
		fmt.Fprintf(stderr, "fetch: %v\n", err)
		return exitTransport
	}
	if o.fail && status >= 400 {
		fmt.Fprintf(stderr, "fetch: %s answered %d %s\n", o.url, status, http.StatusText(status))
		return exitStatus
	}
	return exitOK
}

// parseArgs parses the command line. Errors are usage errors; -h prints the
// help on stderr and returns flag.ErrHelp.
func parseArgs(args []string, stderr io.Writer) (options, error) {
	o := options{header: http.Header{}}
	fs := flag.NewFlagSet("fetch", flag.ContinueOnError)
	// The caller reports errors, once; only -h prints the flags.
	fs.SetOutput(io.Discard)
	fs.StringVar(&o.method, "X", http.MethodGet, "request method")
	fs.DurationVar(&o.timeout, "timeout", defaultTimeout, "give up after this long")
	fs.BoolVar(&o.statusOnly, "status-only", false, "print the status line only, not the body")
	fs.BoolVar(&o.fail, "fail", false, "exit 3 when the status is 400 or above")
	fs.Func("H", "request header 'Name: value' (repeatable)", func(s string) error {
		name, value, err := parseHeader(s)
		if err != nil {
			return err
		}
		if name == "Host" {
			o.host = value
			return nil
		}
		o.header.Add(name, value)
		return nil
	})
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			fs.SetOutput(stderr)
			fmt.Fprintln(stderr, synopsis)
			fs.PrintDefaults()
		}
		return o, err
	}
	if fs.NArg() != 1 {
		return o, fmt.Errorf("want exactly one URL after the flags, got %d arguments %q", fs.NArg(), fs.Args())
	}
	o.url = fs.Arg(0)
	u, err := url.Parse(o.url)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return o, fmt.Errorf("URL %q: want http://host[:port]/path", o.url)
	}
	if !isToken(o.method) {
		return o, fmt.Errorf("-X %q: not a method name", o.method)
	}
	if o.timeout <= 0 {
		return o, fmt.Errorf("-timeout %s: want a positive duration", o.timeout)
	}
	return o, nil
}

// parseHeader parses a -H value, "Name: value" as curl takes it. The name
// must be an HTTP token; the value loses its surrounding spaces and must not
// hold a line break, which would let one flag smuggle in another header.
// The name comes back in canonical form.
func parseHeader(s string) (string, string, error) {
	name, value, ok := strings.Cut(s, ":")
	if !ok {
		return "", "", fmt.Errorf("header %q: want 'Name: value'", s)
	}
	if !isToken(name) {
		return "", "", fmt.Errorf("header %q: %q is not a header name", s, name)
	}
	value = strings.Trim(value, " \t")
	for _, c := range []byte(value) {
		if c == '\r' || c == '\n' || c == 0 || (c < ' ' && c != '\t') || c == 0x7f {
			return "", "", fmt.Errorf("header %q: the value holds a control character", name)
		}
	}
	return http.CanonicalHeaderKey(name), value, nil
}

// isToken reports whether s is an RFC 9110 token (header and method names).
func isToken(s string) bool {
	if s == "" {
		return false
	}
	for _, c := range []byte(s) {
		switch {
		case 'a' <= c && c <= 'z', 'A' <= c && c <= 'Z', '0' <= c && c <= '9':
		case strings.IndexByte("!#$%&'*+-.^_`|~", c) >= 0:
		default:
			return false
		}
	}
	return true
}

// fetch makes the request and prints the status line and body; it returns
// the status code.
func fetch(ctx context.Context, client *http.Client, o options, stdout io.Writer) (int, error) {
	req, err := http.NewRequestWithContext(ctx, o.method, o.url, nil)
	if err != nil {
		return 0, err
	}
	req.Header = o.header.Clone()
	if o.host != "" {
		req.Host = o.host
	}
	resp, err := client.Do(req)
	if err != nil {
		return 0, err
	}
	defer resp.Body.Close()
	if _, err := fmt.Fprintln(stdout, resp.Status); err != nil {
		return 0, err
	}
	if o.statusOnly {
		return resp.StatusCode, nil
	}
	if _, err := io.Copy(stdout, resp.Body); err != nil {
		return resp.StatusCode, fmt.Errorf("reading the body from %s: %w", o.url, err)
	}
	return resp.StatusCode, nil
}
