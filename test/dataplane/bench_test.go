package dataplane

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"text/tabwriter"
	"time"

	"github.com/meshctl/meshctl/pkg/channel"
	"github.com/meshctl/meshctl/pkg/identity"
	"github.com/meshctl/meshctl/pkg/identity/identitytest"
	"github.com/meshctl/meshctl/pkg/proxyconfig/wire"
)

// Benchmark topology (one bridge, four pods):
//   - mesh: the load generator in a meshed client pod (its outbound is
//     intercepted by its sidecar) -> the server pod's sidecar -> the app;
//   - direct: a plain client pod -> the app in a plain server pod;
//   - mesh mTLS: as mesh, both proxies with identity (certificates and a
//     snapshot from a controller stand-in), so the hop between them is
//     mutual TLS;
//   - mesh mTLS authz: as mesh mTLS, but the server proxy enforces a
//     strict policy of 100 TrafficTargets (see bench_authz_test.go);
//   - nginx: the plain client -> nginx on its localhost -> nginx in the
//     plain server pod -> the app on localhost: the same two hops;
//   - nginx TLS: as nginx, on other ports, the hop between the two nginx
//     TLS 1.3 with client certificates from the same mesh CA, pooled and
//     without session resumption, as between mesh proxies (see
//     nginx_tls_test.go).
const (
	benchMeshClient  = "198.18.101.1"
	benchMeshServer  = "198.18.101.2"
	benchPlainClient = "198.18.101.3"
	benchPlainServer = "198.18.101.4"
	benchMesh1Client = "198.18.101.5"
	benchMesh1Server = "198.18.101.6"
	benchMTLSClient  = "198.18.101.7"
	benchMTLSServer  = "198.18.101.8"
	benchController  = "198.18.101.9"
	benchAppPort     = 8080
	nginxHop1Port    = 8001
	nginxHop2Port    = 8002
	benchConns       = 64
	benchBodyBytes   = 1024
	benchHandshakes  = 400 // per server, in the handshake measurement
)

// benchDuration is each run's measured time; MP_BENCH_DURATION overrides it
// (the machine is shared, so runs are short by default).
func benchDuration() time.Duration {
	if d, err := time.ParseDuration(os.Getenv("MP_BENCH_DURATION")); err == nil && d > 0 {
		return d
	}
	return 5 * time.Second
}

// benchProfileDir, from MP_BENCH_PROFILE, asks for the mesh proxies' CPU
// and allocation profiles of each measured run, written there as
// <proxy>-<rate>-{cpu,allocs}.pprof.
func benchProfileDir() string { return os.Getenv("MP_BENCH_PROFILE") }

// profileProxies starts CPU profiles of d on the admin ports of the mesh
// proxies (one client per pod namespace); the returned func waits for them
// and then saves allocation profiles.
func profileProxies(b *testing.B, admins map[string]*http.Client, rate int, d time.Duration) func() {
	dir := benchProfileDir()
	if dir == "" {
		return func() {}
	}
	save := func(name, kind string, client *http.Client, query string) {
		url := fmt.Sprintf("http://127.0.0.1:%d/debug/pprof/%s%s", wire.AdminPort, kind, query)
		resp, err := client.Get(url)
		if err != nil {
			b.Errorf("profile %s of %s: %v", kind, name, err)
			return
		}
		defer resp.Body.Close()
		data, err := io.ReadAll(resp.Body)
		if err != nil || resp.StatusCode != http.StatusOK {
			b.Errorf("profile %s of %s: %s %v", kind, name, resp.Status, err)
			return
		}
		os.WriteFile(filepath.Join(dir, fmt.Sprintf("%s-%d-%s.pprof", name, rate, kind)), data, 0o644)
	}
	var wg sync.WaitGroup
	for name, client := range admins {
		wg.Add(1)
		go func() {
			defer wg.Done()
			save(name, "profile", client, fmt.Sprintf("?seconds=%d", int(d.Seconds())))
		}()
	}
	return func() {
		wg.Wait()
		for name, client := range admins {
			save(name, "allocs", client, "")
			save(name, "goroutine", client, "?debug=1")
			save(name, "heap", client, "?debug=1") // with the runtime's MemStats
		}
		for name, client := range admins {
			resp, err := client.Get(fmt.Sprintf("http://127.0.0.1:%d/metrics", wire.AdminPort))
			if err != nil {
				continue
			}
			data, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			os.WriteFile(filepath.Join(dir, fmt.Sprintf("%s-%d-metrics.txt", name, rate)), data, 0o644)
		}
	}
}

// benchRounds is how many turns the paths take within each rate;
// MP_BENCH_ROUNDS overrides it.
func benchRounds() int {
	if n, err := strconv.Atoi(os.Getenv("MP_BENCH_ROUNDS")); err == nil && n > 0 {
		return n
	}
	return 5
}

// benchRates are the request rates measured; MP_BENCH_RATES overrides
// them (comma-separated).
func benchRates() []int {
	var rates []int
	for _, f := range strings.Split(os.Getenv("MP_BENCH_RATES"), ",") {
		if n, err := strconv.Atoi(strings.TrimSpace(f)); err == nil && n > 0 {
			rates = append(rates, n)
		}
	}
	if len(rates) == 0 {
		return []int{1000, 5000}
	}
	return rates
}

func runBenchServer() error {
	reply := make([]byte, benchBodyBytes)
	for i := range reply {
		reply[i] = 'x'
	}
	return http.ListenAndServe(fmt.Sprintf(":%d", benchAppPort), http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		buf := make([]byte, 4096)
		for {
			if _, err := r.Body.Read(buf); err != nil {
				break
			}
		}
		w.Write(reply)
	}))
}

// proc is a process whose CPU time and peak RSS are measured, with its
// children (nginx's workers).
type proc struct{ pid int }

func (p proc) pids() []int {
	pids := []int{p.pid}
	b, _ := os.ReadFile(fmt.Sprintf("/proc/%d/task/%d/children", p.pid, p.pid))
	for _, f := range strings.Fields(string(b)) {
		if n, err := strconv.Atoi(f); err == nil {
			pids = append(pids, n)
		}
	}
	return pids
}

// cpuSplit is the user and system time of the process and its children so
// far; the kernel's share includes the TCP stack and netfilter work done
// on behalf of the process's writes.
func (p proc) cpuSplit() (user, sys time.Duration) {
	for _, pid := range p.pids() {
		b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
		if err != nil {
			continue
		}
		// Fields after the command name, which may contain spaces.
		f := strings.Fields(string(b[strings.LastIndexByte(string(b), ')')+2:]))
		utime, _ := strconv.Atoi(f[11])
		stime, _ := strconv.Atoi(f[12])
		user += time.Duration(utime) * 10 * time.Millisecond // USER_HZ is 100
		sys += time.Duration(stime) * 10 * time.Millisecond
	}
	return user, sys
}

// peakRSS is the sum of VmHWM over the process and its children.
func (p proc) peakRSS() int {
	kb := 0
	for _, pid := range p.pids() {
		b, _ := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
		for _, line := range strings.Split(string(b), "\n") {
			if v, ok := strings.CutPrefix(line, "VmHWM:"); ok {
				n, _ := strconv.Atoi(strings.TrimSpace(strings.TrimSuffix(strings.TrimSpace(v), "kB")))
				kb += n
			}
		}
	}
	return kb
}

// rss is the process's (and its children's) resident memory now, split
// into anonymous (heap, stacks: what the process itself allocated) and
// file-backed (its binary and libraries, shared with every other process
// that maps them), in KiB.
func (p proc) rss() (anon, file int) {
	for _, pid := range p.pids() {
		b, _ := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
		for _, line := range strings.Split(string(b), "\n") {
			k, v, _ := strings.Cut(line, ":")
			n, _ := strconv.Atoi(strings.TrimSpace(strings.TrimSuffix(strings.TrimSpace(v), "kB")))
			switch k {
			case "RssAnon", "RssShmem":
				anon += n
			case "RssFile":
				file += n
			}
		}
	}
	return anon, file
}

// sampleRSS records the peak anonymous and file-backed RSS of each of
// procs every 50 ms until the returned function is called, which returns
// the largest peaks among them. VmHWM gives the peak of the total only.
func sampleRSS(procs []proc) func() (anon, file int) {
	stop := make(chan struct{})
	done := make(chan struct{})
	var anon, file int
	go func() {
		defer close(done)
		t := time.NewTicker(50 * time.Millisecond)
		defer t.Stop()
		for {
			for _, p := range procs {
				a, f := p.rss()
				anon, file = max(anon, a), max(file, f)
			}
			select {
			case <-stop:
				return
			case <-t.C:
			}
		}
	}()
	return func() (int, int) {
		close(stop)
		<-done
		return anon, file
	}
}

func startNginx(b *testing.B, ns string, listen int, upstream string) proc {
	b.Helper()
	return runNginx(b, ns, nginxSite{listen: fmt.Sprintf("listen %d;", listen), upstream: upstream, scheme: "http"})
}

// nginxSite is one nginx hop: what it listens on (with its TLS settings),
// the upstream it passes every request to, over connections it keeps.
type nginxSite struct {
	listen   string // the server's listen directive and ssl_* settings
	upstream string // host:port
	scheme   string // of the upstream: http or https
	proxy    string // more proxy_* directives (proxy_ssl_*)
	http     string // more http-level directives (log_format)
	log      string // access_log's arguments; /dev/stdout when empty
}

func runNginx(b *testing.B, ns string, site nginxSite) proc {
	b.Helper()
	dir := b.TempDir()
	if site.log == "" {
		// To stdout, a pipe, like mesh-proxy's access log (see start).
		site.log = "/dev/stdout"
	}
	conf := fmt.Sprintf(`worker_processes auto;
pid %[1]s/nginx.pid;
error_log %[1]s/error.log warn;
events { worker_connections 1024; }
http {
	%[5]s
	access_log %[6]s;
	client_body_temp_path %[1]s;
	proxy_temp_path %[1]s;
	upstream next { server %[2]s; keepalive 64; }
	server {
		%[3]s
		location / {
			proxy_pass %[4]s://next;
			proxy_http_version 1.1;
			proxy_set_header Connection "";
			proxy_set_header Host $http_host;
			proxy_buffering off;
			proxy_request_buffering off;
			%[7]s
		}
	}
}
`, dir, site.upstream, site.listen, site.scheme, site.http, site.log, site.proxy)
	if err := os.WriteFile(filepath.Join(dir, "nginx.conf"), []byte(conf), 0o644); err != nil {
		b.Fatal(err)
	}
	nginx, err := exec.LookPath("nginx")
	if err != nil {
		nginx = "/usr/sbin/nginx"
	}
	cmd := start(b, ns, nil, nginx, "-p", dir, "-c", filepath.Join(dir, "nginx.conf"), "-g", "daemon off;")
	return proc{pid: cmd.Process.Pid}
}

// benchPath is one way from the load generator to the app, with the
// proxies on it.
type benchPath struct {
	name   string
	client *http.Client
	url    string
	procs  []proc
	// tls, for a path whose hop between the proxies is TLS, counts the
	// requests and handshakes of that hop's server side so far.
	tls func() tlsCounts
	// listen, when set, starts what listens during each of the path's
	// turns (a tap listener); what it returns stops it and says what it
	// got.
	listen func() func() tapCounts
}

type benchRow struct {
	path          string
	rate          int
	res           loadResult
	cpuPer1000    float64 // CPU seconds of the proxies per 1000 requests
	userPer1000   float64 // its user-space share
	rssKB         int     // peak RSS of the largest proxy (instance)
	anonKB        int     // its peak anonymous RSS, sampled
	fileKB        int     // its peak file-backed RSS, sampled
	p50, p90, p99 time.Duration
	a50, a90, a99 time.Duration // added over direct
	tls           *tlsCounts    // of the measured turns, on a TLS path
	tap           *tapCounts    // what the path's tap listeners got
}

// BenchmarkProxy compares two mesh-proxy hops (plain and mutual TLS) with
// the direct path and two nginx hops (plain and TLS) at constant rates,
// and prints the table the issue asks for, the reuse of TLS connections
// between the hops, and the cost of a full handshake on each TLS server.
// It needs root (network namespaces): `make bench-proxy`.
func BenchmarkProxy(b *testing.B) {
	requirePrerequisites(b)
	if _, err := exec.LookPath("nginx"); err != nil {
		if _, err := os.Stat("/usr/sbin/nginx"); err != nil {
			b.Fatal("nginx is missing: run `hack/dataplane-deps.sh --bench` as root")
		}
	}
	proxyBin := buildProxy(b)
	tp := newTopology(b)
	meshClient := tp.pod(b, "bmc", benchMeshClient)
	meshServer := tp.pod(b, "bms", benchMeshServer)
	plainClient := tp.pod(b, "bpc", benchPlainClient)
	plainServer := tp.pod(b, "bps", benchPlainServer)

	ic := wire.Interception{InboundPort: wire.InboundPort, OutboundPort: wire.OutboundPort, AdminPort: wire.AdminPort, ProxyUID: wire.ProxyUID}
	run := wire.Run{LogLevel: wire.LogInfo, InboundPort: wire.InboundPort, OutboundPort: wire.OutboundPort, AdminPort: wire.AdminPort, Metrics: true}
	// The same mesh twice: with the proxy's default GOMAXPROCS (one,
	// without a CPU limit) and with GOMAXPROCS=2, as a CPU limit of two
	// cores would set.
	mesh1Client := tp.pod(b, "bmc1", benchMesh1Client)
	mesh1Server := tp.pod(b, "bms1", benchMesh1Server)
	meshProxies := func(env []string, nss ...string) []proc {
		var ps []proc
		for _, ns := range nss {
			sh(b, "ip", append([]string{"netns", "exec", ns, proxyBin}, ic.Args()...)...)
			argv := append(append(asProxyUser(), "--", proxyBin), run.Args()...)
			ps = append(ps, proc{pid: start(b, ns, env, argv...).Process.Pid})
		}
		return ps
	}
	// MP_BENCH_PROXY_ENV adds environment variables (space-separated
	// NAME=value) to the mesh proxies only, to compare runtime settings
	// without touching the load generator's.
	profEnv := strings.Fields(os.Getenv("MP_BENCH_PROXY_ENV"))
	if benchProfileDir() != "" {
		profEnv = append(profEnv, "MESH_PROXY_PPROF=true")
	}
	proxies := meshProxies(profEnv, meshClient, meshServer)
	admins := map[string]*http.Client{
		"client-proxy": {Transport: &http.Transport{DialContext: dialer(b, meshClient)}},
		"server-proxy": {Transport: &http.Transport{DialContext: dialer(b, meshServer)}},
	}
	proxies2 := meshProxies(append([]string{"GOMAXPROCS=2"}, profEnv...), mesh1Client, mesh1Server)
	mtlsClient, mtlsServer := tp.pod(b, "bmtc", benchMTLSClient), tp.pod(b, "bmts", benchMTLSServer)
	proxiesTLS, ca, ctlNS := mtlsProxies(b, tp, proxyBin, ic, profEnv, mtlsClient, mtlsServer)
	admins["client-proxy-mtls"] = &http.Client{Transport: &http.Transport{DialContext: dialer(b, mtlsClient)}}
	admins["server-proxy-mtls"] = &http.Client{Transport: &http.Transport{DialContext: dialer(b, mtlsServer)}}
	authzClient, authzServer := tp.pod(b, benchAuthzClientName, benchAuthzClient), tp.pod(b, benchAuthzServerName, benchAuthzServer)
	proxiesAuthz := authzProxies(b, tp, proxyBin, ic, profEnv, ca, authzClient, authzServer)
	admins["client-proxy-authz"] = &http.Client{Transport: &http.Transport{DialContext: dialer(b, authzClient)}}
	admins["server-proxy-authz"] = &http.Client{Transport: &http.Transport{DialContext: dialer(b, authzServer)}}
	for _, ns := range []string{meshServer, mesh1Server, mtlsServer, authzServer, plainServer} {
		start(b, ns, []string{"MP_APP=benchserver"}, os.Args[0])
	}
	nginxes := []proc{
		startNginx(b, plainClient, nginxHop1Port, fmt.Sprintf("%s:%d", benchPlainServer, nginxHop2Port)),
		startNginx(b, plainServer, nginxHop2Port, fmt.Sprintf("127.0.0.1:%d", benchAppPort)),
	}
	nginxFiles := newNginxTLSFiles(b, ca)
	nginxLog := filepath.Join(tmpfsDir(b), "hop2-access.log")
	nginxesTLS := []proc{
		startNginxTLSHop1(b, plainClient, nginxFiles, fmt.Sprintf("%s:%d", benchPlainServer, nginxTLSHop2Port)),
		startNginxTLSHop2(b, plainServer, nginxFiles, fmt.Sprintf("127.0.0.1:%d", benchAppPort), nginxLog),
	}

	client := func(ns string) *http.Client {
		return &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{
			DialContext: dialer(b, ns), MaxIdleConns: benchConns, MaxIdleConnsPerHost: benchConns, DisableCompression: true,
		}}
	}
	paths := []benchPath{
		{"direct", client(plainClient), fmt.Sprintf("http://%s:%d/", benchPlainServer, benchAppPort), nil, nil, nil},
		{"mesh-proxy x2", client(meshClient), fmt.Sprintf("http://%s:%d/", benchMeshServer, benchAppPort), proxies, nil, nil},
		{"mesh-proxy x2 GOMAXPROCS=2", client(mesh1Client), fmt.Sprintf("http://%s:%d/", benchMesh1Server, benchAppPort), proxies2, nil, nil},
		{benchPathMTLS, client(mtlsClient), fmt.Sprintf("http://%s:%d/", benchMTLSServer, benchAppPort), proxiesTLS,
			func() tlsCounts { return meshTLSCounts(b, admins["server-proxy-mtls"]) }, nil},
		{benchPathMTLSTap, client(mtlsClient), fmt.Sprintf("http://%s:%d/", benchMTLSServer, benchAppPort), proxiesTLS,
			func() tlsCounts { return meshTLSCounts(b, admins["server-proxy-mtls"]) },
			tapListeners(b, admins["client-proxy-mtls"], admins["server-proxy-mtls"])},
		{benchPathAuthz, client(authzClient), fmt.Sprintf("http://%s:%d/", benchAuthzServer, benchAppPort), proxiesAuthz,
			func() tlsCounts { return meshTLSCounts(b, admins["server-proxy-authz"]) }, nil},
		{"nginx x2", client(plainClient), fmt.Sprintf("http://127.0.0.1:%d/", nginxHop1Port), nginxes, nil, nil},
		{"nginx x2 TLS", client(plainClient), fmt.Sprintf("http://127.0.0.1:%d/", nginxTLSHop1Port), nginxesTLS,
			func() tlsCounts { return nginxTLSCounts(b, nginxLog) }, nil},
	}
	// MP_BENCH_PATHS keeps only the named paths (comma-separated), and
	// direct, which the added latencies are measured against.
	if only := os.Getenv("MP_BENCH_PATHS"); only != "" {
		keep := strings.Split(only, ",")
		paths = slices.DeleteFunc(paths, func(p benchPath) bool {
			return p.name != "direct" && !slices.Contains(keep, p.name)
		})
	}
	for name, c := range admins {
		waitFor(b, name+" to be ready", func() bool {
			resp, err := c.Get(fmt.Sprintf("http://127.0.0.1:%d%s", wire.AdminPort, wire.ReadyPath))
			if err != nil {
				return false
			}
			resp.Body.Close()
			return resp.StatusCode == http.StatusOK
		})
	}
	body := make([]byte, benchBodyBytes)
	for _, p := range paths {
		waitFor(b, p.name+" to answer", func() bool {
			resp, err := p.client.Post(p.url, "application/octet-stream", strings.NewReader("x"))
			if err == nil {
				resp.Body.Close()
			}
			return err == nil && resp.StatusCode == http.StatusOK
		})
	}

	d := benchDuration()
	rounds := benchRounds()
	var rows []benchRow
	for _, rate := range benchRates() {
		ctx := context.Background()
		for _, p := range paths {
			constantRate(ctx, p.client, p.url, rate, time.Second, body, benchConns) // warm-up, discarded
		}
		// The paths take turns, rounds times, so that a burst of load
		// from elsewhere on the machine falls on all of them rather than
		// on whichever path was running: the added latencies compare
		// like with like.
		type measured struct {
			res        loadResult
			cpu, user  time.Duration
			anon, file int
			tls        tlsCounts
			tap        tapCounts
		}
		acc := make([]measured, len(paths))
		authz0 := readAuthzCounts(b, admins["server-proxy-authz"])
		profiled := profileProxies(b, admins, rate, d*time.Duration(len(paths)))
		for range rounds {
			for i, p := range paths {
				user0 := make([]time.Duration, len(p.procs))
				sys0 := make([]time.Duration, len(p.procs))
				for j, pr := range p.procs {
					user0[j], sys0[j] = pr.cpuSplit()
				}
				// Counted per turn: two paths may share proxies (mTLS with
				// and without a tap listener).
				var tls0 tlsCounts
				if p.tls != nil {
					tls0 = p.tls()
				}
				var stopListening func() tapCounts
				if p.listen != nil {
					stopListening = p.listen()
				}
				sampled := sampleRSS(p.procs)
				res := constantRate(ctx, p.client, p.url, rate, d/time.Duration(rounds), body, benchConns)
				anon, file := sampled()
				if stopListening != nil {
					acc[i].tap = acc[i].tap.add(stopListening())
				}
				if p.tls != nil {
					acc[i].tls = acc[i].tls.add(p.tls().sub(tls0))
				}
				for j, pr := range p.procs {
					user, sys := pr.cpuSplit()
					acc[i].user += user - user0[j]
					acc[i].cpu += user - user0[j] + sys - sys0[j]
				}
				a := &acc[i]
				a.res.sent += res.sent
				a.res.errors += res.errors
				a.res.latencies = append(a.res.latencies, res.latencies...)
				a.anon, a.file = max(a.anon, anon), max(a.file, file)
			}
		}
		profiled()
		for i, p := range paths {
			if p.name == benchPathAuthz {
				checkAuthzRow(b, admins["server-proxy-authz"], p.client, authz0, acc[i].res.sent)
			}
		}
		var direct benchRow
		for i, p := range paths {
			res := acc[i].res
			slices.Sort(res.latencies)
			row := benchRow{path: p.name, rate: rate, res: res, p50: res.percentile(50), p90: res.percentile(90), p99: res.percentile(99),
				anonKB: acc[i].anon, fileKB: acc[i].file}
			for _, pr := range p.procs {
				row.rssKB = max(row.rssKB, pr.peakRSS())
			}
			if res.sent > 0 {
				row.cpuPer1000 = acc[i].cpu.Seconds() / (float64(res.sent) / 1000)
				row.userPer1000 = acc[i].user.Seconds() / (float64(res.sent) / 1000)
			}
			if p.tls != nil {
				row.tls = &acc[i].tls
			}
			if p.listen != nil {
				row.tap = &acc[i].tap
			}
			if p.name == "direct" {
				direct = row
			}
			row.a50, row.a90, row.a99 = row.p50-direct.p50, row.p90-direct.p90, row.p99-direct.p99
			rows = append(rows, row)
			if p.name == "mesh-proxy x2" {
				b.ReportMetric(float64(row.a99.Microseconds()), fmt.Sprintf("added-p99-µs@%drps", rate))
				b.ReportMetric(row.cpuPer1000, fmt.Sprintf("cpu-s/1000req@%drps", rate))
				b.ReportMetric(float64(row.rssKB)/1024, "peak-rss-MB")
			}
		}
	}

	// The mTLS row is worth something only if its hop was mutual TLS.
	if slices.ContainsFunc(paths, func(p benchPath) bool { return p.name == benchPathMTLS }) {
		resp, err := admins["server-proxy-mtls"].Get(fmt.Sprintf("http://127.0.0.1:%d/metrics", wire.AdminPort))
		if err != nil {
			b.Fatal(err)
		}
		metrics, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if !strings.Contains(string(metrics), `peer="`+meshNamespace+`/bmtc",status_class="2xx",tls="true"`) {
			b.Errorf("the mTLS path's server proxy counted no request from %s/bmtc over mutual TLS:\n%s", meshNamespace, metrics)
		}
	}

	// So is the nginx TLS row: every request hop2 logged came over TLS
	// 1.3 with a client certificate it verified, on a full handshake.
	var reuse strings.Builder
	for _, p := range paths {
		if p.tls == nil || p.listen != nil { // the same proxies as another row
			continue
		}
		c := p.tls()
		if c.requests == 0 || c.failed > 0 {
			b.Errorf("%s: the TLS hop's server side counted %d requests over TLS with a verified client certificate, and %d failed handshakes or requests not over mutual TLS", p.name, c.requests, c.failed)
		}
		fmt.Fprintf(&reuse, "  %s: %s requests/handshakes over the whole run (readiness checks and warm-ups included)\n", p.name, c)
	}
	if slices.ContainsFunc(paths, func(p benchPath) bool { return p.name == "nginx x2 TLS" }) {
		if l := readNginxTLSLog(b, nginxLog); l.notMutual > 0 {
			b.Errorf("nginx hop2 logged %d of %d requests not over TLS 1.3 with a verified client certificate and a full handshake, first: %q", l.notMutual, l.requests, l.first)
		}
	}

	// Handshake cost: full TLS 1.3 handshakes with client certificates,
	// one at a time, against each TLS hop's server side.
	var hs []handshakeResult
	for _, t := range handshakeTargets(b, ca, ctlNS, proxiesTLS[1], nginxFiles, plainClient, nginxesTLS[1]) {
		hs = append(hs, measureHandshakes(b, t, benchHandshakes))
	}
	for _, r := range hs {
		if r.certRequested != r.n {
			b.Errorf("%s asked for the client's certificate in %d of %d handshakes", r.name, r.certRequested, r.n)
		}
	}

	var out strings.Builder
	tw := tabwriter.NewWriter(&out, 0, 0, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintf(tw, "path\trate/s\tsent\terrors\tp50\tp90\tp99\tadded p50\tadded p90\tadded p99\tpeak RSS/proxy\t(anon + file)\tCPU s/1000 req (both hops)\tTLS req/handshake\t\n")
	for _, r := range rows {
		rss, split, cpu, reused := "-", "-", "-", "-"
		if r.path != "direct" {
			rss, cpu = fmt.Sprintf("%.1f MB", float64(r.rssKB)/1024), fmt.Sprintf("%.3f (user %.3f)", r.cpuPer1000, r.userPer1000)
			split = fmt.Sprintf("%.1f + %.1f", float64(r.anonKB)/1024, float64(r.fileKB)/1024)
		}
		if r.tls != nil {
			reused = r.tls.String()
		}
		fmt.Fprintf(tw, "%s\t%d\t%d\t%d\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t\n", r.path, r.rate, r.res.sent, r.res.errors,
			us(r.p50), us(r.p90), us(r.p99), us(r.a50), us(r.a90), us(r.a99), rss, split, cpu, reused)
	}
	tw.Flush()
	// To stdout: the testing package keeps only the first ten lines of a
	// benchmark's log.
	fmt.Printf("%s each in %d turns, %d keep-alive connections, %d-byte bodies both ways, constant arrival rate (latency from the due time); "+
		"TLS req/handshake: requests the TLS hop's server side carried in the measured turns / full handshakes it made in them:\n%s"+
		"%s vs %s (permissive), %d TrafficTargets on the server's identity, the caller named by the last:\n%s"+
		"%s vs %s, a tap listener on each proxy during its turns, reading everything:\n%s"+
		"TLS connection reuse between the two proxies:\n%s"+
		"Full TLS 1.3 handshakes with client certificate (ECDSA P-256 chains: leaf, issuer; anchor trusted), one at a time from a Go client, then close:\n%s\n",
		d, rounds, benchConns, benchBodyBytes, out.String(), benchPathAuthz, benchPathMTLS, benchAuthzTargets, authzDiff(rows),
		benchPathMTLSTap, benchPathMTLS, tapDiff(b, rows), reuse.String(), formatHandshakes(hs))
	for _, r := range rows {
		if r.res.errors > 0 {
			b.Errorf("%s at %d/s: %d of %d requests failed", r.path, r.rate, r.res.errors, r.res.sent)
		}
	}
}

// mtlsProxies starts a controller stand-in and the proxies, with identity,
// of a client pod and a server pod that the snapshot lists as meshed.
// It returns the proxies (client, server), the CA and the controller's pod.
func mtlsProxies(b *testing.B, tp *topology, proxyBin string, ic wire.Interception, env []string, clientNS, serverNS string) ([]proc, *identitytest.CA, string) {
	ca := identitytest.NewCA(b, time.Now())
	id := func(sa string) identity.ID {
		id, err := identity.NewID(identity.DefaultTrustDomain, meshNamespace, sa)
		if err != nil {
			b.Fatal(err)
		}
		return id
	}
	pod := func(ip string, id identity.ID) channel.Pod {
		return channel.Pod{IPs: []netip.Addr{netip.MustParseAddr(ip)}, Identity: id.String(), BypassPorts: []uint16{wire.AdminPort}}
	}
	ctlNS := tp.pod(b, "bctl", benchController)
	ctl := startController(b, ctlNS, benchController, ca,
		tokenReviewer{"token-of-bmtc": "bmtc", "token-of-bmts": "bmts"},
		[]channel.Pod{pod(benchMTLSClient, id("bmtc")), pod(benchMTLSServer, id("bmts"))})
	return []proc{
		meshPodWithIdentity(b, proxyBin, clientNS, "bmtc", benchMTLSClient, ic, ctl, identityDir(b, "token-of-bmtc", ca), "", env...),
		meshPodWithIdentity(b, proxyBin, serverNS, "bmts", benchMTLSServer, ic, ctl, identityDir(b, "token-of-bmts", ca), "", env...),
	}, ca, ctlNS
}

func us(d time.Duration) string { return fmt.Sprintf("%.0fµs", float64(d.Nanoseconds())/1000) }
