package dataplane

import (
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"strconv"
	"sync"
	"sync/atomic"
)

// The apps of the test, run by re-executing the test binary with MP_APP
// set (see TestMain). They know nothing of the mesh: books calls stars by
// IP, forwarding only the trace headers, as an app instrumented for
// tracing would; they never touch Authorization.

// Ports of the apps.
const (
	booksPort      = 8080
	booksAdminPort = 8081 // excluded from interception (skip-inbound-ports)
	starsPort      = 9090
	starsSkipPort  = 9091 // excluded both ways
	echoPort       = 7000
)

var traceHeaders = []string{"Traceparent", "Tracestate", "X-B3-Traceid", "X-B3-Spanid", "X-B3-Sampled", "B3"}

// starsReply is what stars answers: the headers the request reached it with.
type starsReply struct {
	Authorization string `json:"authorization"`
	Traceparent   string `json:"traceparent"`
}

// booksReply is what books answers.
type booksReply struct {
	Traceparent string       `json:"traceparent"`
	B3TraceID   string       `json:"b3_trace_id"`
	Stars       []starsReply `json:"stars"`
	Echo        string       `json:"echo,omitempty"`
}

func runApp(role string) error {
	switch role {
	case "books":
		return runBooks(os.Getenv("STARS_IP"))
	case "stars":
		return runStars()
	case "benchserver":
		return runBenchServer()
	case "counting":
		return runCounting()
	}
	return fmt.Errorf("unknown app %q", role)
}

func serveEcho() {
	ln, err := net.Listen("tcp", fmt.Sprintf(":%d", echoPort))
	if err != nil {
		panic(err)
	}
	for {
		c, err := ln.Accept()
		if err != nil {
			return
		}
		go func() {
			defer c.Close()
			// Read everything, then answer: only works with half-close.
			b, _ := io.ReadAll(c)
			c.Write(append([]byte("echo:"), b...))
		}()
	}
}

func runStars() error {
	go serveEcho()
	h := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		json.NewEncoder(w).Encode(starsReply{Authorization: r.Header.Get("Authorization"), Traceparent: r.Header.Get("Traceparent")})
	})
	go http.ListenAndServe(fmt.Sprintf(":%d", starsSkipPort), h)
	return http.ListenAndServe(fmt.Sprintf(":%d", starsPort), h)
}

func runBooks(stars string) error {
	go serveEcho()
	var served atomic.Int64
	callStars := func(r *http.Request, port int) (starsReply, error) {
		req, _ := http.NewRequestWithContext(r.Context(), "GET", fmt.Sprintf("http://%s:%d/stars", stars, port), nil)
		for _, h := range traceHeaders {
			if v := r.Header.Get(h); v != "" {
				req.Header.Set(h, v)
			}
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			return starsReply{}, err
		}
		defer resp.Body.Close()
		if resp.StatusCode != http.StatusOK {
			return starsReply{}, fmt.Errorf("stars answered %s", resp.Status)
		}
		var s starsReply
		return s, json.NewDecoder(resp.Body).Decode(&s)
	}
	mux := http.NewServeMux()
	reply := func(w http.ResponseWriter, r *http.Request, stars []starsReply, echo string) {
		json.NewEncoder(w).Encode(booksReply{Traceparent: r.Header.Get("Traceparent"), B3TraceID: r.Header.Get("X-B3-Traceid"), Stars: stars, Echo: echo})
	}
	mux.HandleFunc("/books", func(w http.ResponseWriter, r *http.Request) {
		served.Add(1)
		s, err := callStars(r, starsPort)
		if err != nil {
			http.Error(w, err.Error(), http.StatusBadGateway)
			return
		}
		reply(w, r, []starsReply{s}, "")
	})
	mux.HandleFunc("/fanout", func(w http.ResponseWriter, r *http.Request) {
		served.Add(1)
		n, _ := strconv.Atoi(r.URL.Query().Get("n"))
		out := make([]starsReply, n)
		errs := make([]error, n)
		var wg sync.WaitGroup
		for i := range n {
			wg.Add(1)
			go func() { defer wg.Done(); out[i], errs[i] = callStars(r, starsPort) }()
		}
		wg.Wait()
		for _, err := range errs {
			if err != nil {
				http.Error(w, err.Error(), http.StatusBadGateway)
				return
			}
		}
		reply(w, r, out, "")
	})
	mux.HandleFunc("/skip", func(w http.ResponseWriter, r *http.Request) {
		served.Add(1)
		s, err := callStars(r, starsSkipPort)
		if err != nil {
			http.Error(w, err.Error(), http.StatusBadGateway)
			return
		}
		reply(w, r, []starsReply{s}, "")
	})
	mux.HandleFunc("/echo", func(w http.ResponseWriter, r *http.Request) {
		served.Add(1)
		c, err := net.Dial("tcp", net.JoinHostPort(stars, strconv.Itoa(echoPort)))
		if err != nil {
			http.Error(w, err.Error(), http.StatusBadGateway)
			return
		}
		defer c.Close()
		c.Write([]byte("\x00\x01binary\x7f"))
		c.(*net.TCPConn).CloseWrite()
		b, _ := io.ReadAll(c)
		reply(w, r, nil, string(b))
	})
	// The excluded admin port tells how many requests reached the app.
	go http.ListenAndServe(fmt.Sprintf(":%d", booksAdminPort), http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		fmt.Fprint(w, served.Load())
	}))
	return http.ListenAndServe(fmt.Sprintf(":%d", booksPort), mux)
}
