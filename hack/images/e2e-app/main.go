// Command e2e-app is the workload of the local cluster's smoke test. It serves
// HTTP and, on request, does from inside its pod what the test cannot do from
// the host: resolve a name through the pod's DNS and fetch a URL through the
// pod's network, so the test can see both working from a pod's point of view.
//
//	GET /             "<hostname>\n"
//	GET /lookup?name= the addresses the pod's resolver returns, one per line
//	GET /fetch?url=   the status line and body of an HTTP GET from the pod
//	                  (&timeout=1s: give up sooner than the default 5s)
package main

import (
	"context"
	"fmt"
	"io"
	"log"
	"net"
	"net/http"
	"os"
	"strings"
	"time"
)

func main() {
	addr := ":8080"
	if port := os.Getenv("PORT"); port != "" {
		addr = ":" + port
	}
	hostname, _ := os.Hostname()
	mux := http.NewServeMux()
	mux.HandleFunc("GET /{$}", func(w http.ResponseWriter, _ *http.Request) {
		fmt.Fprintln(w, hostname)
	})
	mux.HandleFunc("GET /lookup", lookup)
	mux.HandleFunc("GET /fetch", fetch)
	srv := &http.Server{Addr: addr, Handler: mux, ReadHeaderTimeout: 10 * time.Second}
	log.Printf("e2e-app %s listening on %s", hostname, addr)
	log.Fatal(srv.ListenAndServe())
}

func lookup(w http.ResponseWriter, r *http.Request) {
	ctx, cancel := context.WithTimeout(r.Context(), 5*time.Second)
	defer cancel()
	addrs, err := net.DefaultResolver.LookupHost(ctx, r.URL.Query().Get("name"))
	if err != nil {
		http.Error(w, err.Error(), http.StatusBadGateway)
		return
	}
	fmt.Fprintln(w, strings.Join(addrs, "\n"))
}

func fetch(w http.ResponseWriter, r *http.Request) {
	timeout := 5 * time.Second
	if t := r.URL.Query().Get("timeout"); t != "" {
		d, err := time.ParseDuration(t)
		if err != nil {
			http.Error(w, "timeout: "+err.Error(), http.StatusBadRequest)
			return
		}
		timeout = d
	}
	ctx, cancel := context.WithTimeout(r.Context(), timeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, r.URL.Query().Get("url"), nil)
	if err != nil {
		http.Error(w, err.Error(), http.StatusBadRequest)
		return
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		http.Error(w, err.Error(), http.StatusBadGateway)
		return
	}
	defer resp.Body.Close()
	fmt.Fprintln(w, resp.Status)
	_, _ = io.Copy(w, io.LimitReader(resp.Body, 1<<20))
}
