package dashboard

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/kubernetes"
	"k8s.io/utils/clock"

	"github.com/meshctl/meshctl/pkg/proxyadmin"
	"github.com/meshctl/meshctl/pkg/proxyconfig"
	"github.com/meshctl/meshctl/pkg/proxyconfig/wire"
	"github.com/meshctl/meshctl/pkg/statcli"
	"github.com/meshctl/meshctl/pkg/trafficstats"
)

// Source is where the dashboard's figures come from: the cluster
// (Cluster), or in tests readings recorded beforehand.
type Source interface {
	// Read lists the workloads in scope and reads every meshed pod's
	// proxy once. A proxy that cannot be read is listed as Unreadable; an
	// error is for the whole (the pods could not be listed).
	Read(ctx context.Context) (Scrape, error)
	// Release lets go of what Read keeps between calls (port-forwards),
	// while nobody looks at the page.
	Release()
}

// Scrape is one reading of the mesh: its workloads and each proxy's
// metrics at one moment.
type Scrape struct {
	Workloads  []Workload
	Readings   map[PodRef]trafficstats.Reading
	Unreadable []statcli.Unreadable
}

// MaxProxies bounds the proxies Cluster reads: each holds a port-forward
// open between readings, as `meshctl stat` holds at most as many.
const MaxProxies = proxyadmin.MaxOpenForwards

// DefaultReadTimeout bounds opening a port-forward and one reading.
const DefaultReadTimeout = 10 * time.Second

// Cluster reads the mesh through the API server: the workloads with
// statcli.ListWorkloads (one List per resource kind), and each meshed,
// running pod's /metrics over a port-forward opened once and kept for
// the next readings, FleetConcurrency at a time (proxyadmin.Each). A
// reading costs the API server the Lists, and each proxy one stream over
// its port-forward; a port-forward that fails (not a proxy's answer other
// than 200) is closed and opened again next time.
type Cluster struct {
	// Kube lists the workloads; Open opens port-forwards.
	Kube kubernetes.Interface
	Open proxyadmin.Opener
	// Namespace is the scope; "" is every namespace.
	Namespace string
	// Clock stamps the readings.
	Clock clock.PassiveClock
	// Timeout bounds opening a port-forward and one reading;
	// DefaultReadTimeout when zero.
	Timeout time.Duration

	mu       sync.Mutex
	sessions map[types.UID]proxyadmin.Session
}

// Read implements Source.
func (c *Cluster) Read(ctx context.Context) (Scrape, error) {
	list, err := statcli.ListWorkloads(ctx, c.Kube, c.Namespace)
	if err != nil {
		return Scrape{}, err
	}
	s := Scrape{Readings: map[PodRef]trafficstats.Reading{}}
	var pods []*corev1.Pod
	for _, w := range list {
		wl := Workload{Namespace: w.Namespace, Kind: string(w.Kind), Name: w.Name, Identity: w.Identity}
		for _, p := range w.Pods {
			wl.Pods = append(wl.Pods, Pod{Name: p.Name, Meshed: proxyconfig.ProxyContainerOf(&p.Spec) != nil})
		}
		s.Workloads = append(s.Workloads, wl)
		pods = append(pods, w.Pods...)
	}
	read := statcli.Readable(pods)
	if len(read) > MaxProxies {
		for _, p := range read[MaxProxies:] {
			s.Unreadable = append(s.Unreadable, statcli.Unreadable{Namespace: p.Namespace, Pod: p.Name, Error: fmt.Sprintf("not read: the dashboard reads at most %d proxies; narrow it with -n", MaxProxies)})
		}
		read = read[:MaxProxies]
	}
	c.forget(read)

	readings := make([]trafficstats.Reading, len(read))
	errs := make([]error, len(read))
	proxyadmin.Each(read, func(i int, pod *corev1.Pod) {
		readings[i], errs[i] = c.read(ctx, pod)
	})
	for i, p := range read {
		if errs[i] != nil {
			s.Unreadable = append(s.Unreadable, statcli.Unreadable{Namespace: p.Namespace, Pod: p.Name, Error: statcli.WhyUnread(p, errs[i])})
			continue
		}
		s.Readings[PodRef{p.Namespace, p.Name}] = readings[i]
	}
	return s, nil
}

// read reads one proxy over its port-forward, opening one when there is
// none; one that fails is closed.
func (c *Cluster) read(ctx context.Context, pod *corev1.Pod) (trafficstats.Reading, error) {
	timeout := c.Timeout
	if timeout == 0 {
		timeout = DefaultReadTimeout
	}
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	c.mu.Lock()
	s := c.sessions[pod.UID]
	c.mu.Unlock()
	if s == nil {
		var err error
		if s, err = c.Open(ctx, pod.Namespace, pod.Name); err != nil {
			return trafficstats.Reading{}, err
		}
		c.mu.Lock()
		if c.sessions == nil {
			c.sessions = map[types.UID]proxyadmin.Session{}
		}
		c.sessions[pod.UID] = s
		c.mu.Unlock()
	}
	at := c.Clock.Now()
	body, err := s.Get(ctx, wire.MetricsPath)
	var answer *proxyadmin.AnswerError
	if errors.As(err, &answer) {
		// The proxy answered, so the port-forward works: keep it.
		return trafficstats.Reading{}, err
	}
	if err != nil {
		c.mu.Lock()
		delete(c.sessions, pod.UID)
		c.mu.Unlock()
		s.Close()
		return trafficstats.Reading{}, err
	}
	return statcli.ParseReading(proxyadmin.Reading{At: at, Body: body})
}

// forget closes the port-forwards to pods that are no longer read.
func (c *Cluster) forget(read []*corev1.Pod) {
	keep := make(map[types.UID]bool, len(read))
	for _, p := range read {
		keep[p.UID] = true
	}
	c.mu.Lock()
	var gone []proxyadmin.Session
	for uid, s := range c.sessions {
		if !keep[uid] {
			gone = append(gone, s)
			delete(c.sessions, uid)
		}
	}
	c.mu.Unlock()
	for _, s := range gone {
		s.Close()
	}
}

// Release implements Source: it closes every port-forward.
func (c *Cluster) Release() { c.forget(nil) }

// Forwards is how many port-forwards Cluster holds open.
func (c *Cluster) Forwards() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return len(c.sessions)
}
