package channel

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	corev1 "k8s.io/api/core/v1"
	discoveryv1 "k8s.io/api/discovery/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/client-go/dynamic"
	"k8s.io/client-go/dynamic/dynamicinformer"
	"k8s.io/client-go/informers"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/tools/cache"

	"github.com/meshctl/meshctl/pkg/channel"
	"github.com/meshctl/meshctl/pkg/identity"
	"github.com/meshctl/meshctl/pkg/meshconfig"
	"github.com/meshctl/meshctl/pkg/policy/cluster"
	"github.com/meshctl/meshctl/pkg/proxyconfig"
)

// Defaults of Options.
const (
	// DefaultDebounce is how long a build waits for the next change of a
	// burst (a rollout changes pods and EndpointSlices in quick steps).
	DefaultDebounce = 100 * time.Millisecond
	// DefaultMaxDelay is the longest a change waits under a steady stream
	// of changes; with the proxies' share it stays well under the 2 s the
	// issue allows for a change to reach every proxy.
	DefaultMaxDelay = time.Second
	// DefaultWriteTimeout is how long one write to a proxy may block
	// before the proxy is taken for gone.
	DefaultWriteTimeout = 10 * time.Second
	// DefaultMaxStreamAge is the longest one stream lasts (less up to a
	// fifth, at random): proxies then reconnect, which spreads them over
	// replicas added since they connected.
	DefaultMaxStreamAge = 30 * time.Minute
)

// Options configure a Server.
type Options struct {
	// Kube lists and watches the cluster.
	Kube kubernetes.Interface
	// MeshName is the mesh whose enrolled namespaces count
	// (meshconfig.LabelMonitoredBy).
	MeshName string
	// TrustDomain is that of every identity (the MeshConfig's
	// spec.identity.trustDomain, which cannot change).
	TrustDomain string
	// ControllerID is this mesh's controller (meshconfig.ControllerID):
	// pods injected to talk to it are meshed in any namespace, as `meshctl
	// inject` meshes pods of namespaces that are not enrolled. Zero: only
	// pods of enrolled namespaces are.
	ControllerID identity.ID
	// Sources verify callers: the trust bundle and the clock
	// (identity.VerifyAPIPeer), which also ends a stream when the
	// caller's certificate expires and stamps each snapshot's generation
	// time. Certificate is not used: the caller's http.Server presents
	// the controller's own (identity.APIServerConfig).
	Sources identity.Sources
	// Dynamic, when set, watches the policy resources
	// (pkg/policy/cluster's Resources) and ServiceAccounts, and every
	// snapshot carries the mesh's compiled policy (Content.PolicyV1).
	// Nil: no policy is sent, and proxies allow everything.
	Dynamic dynamic.Interface
	// Permissive is the MeshConfig's permissive traffic policy mode; call
	// Invalidate when it may have changed. Nil: permissive.
	Permissive func() bool
	// Settings are the MeshConfig settings proxies follow live (they go
	// into every snapshot's SettingsV1); call Invalidate when they may
	// have changed. Nil: none are sent, and proxies keep their defaults.
	Settings func() channel.Settings
	// Issuer is identity.Fingerprint of the certificate the controller
	// signs with now, "" while it has none; it goes into every snapshot
	// so that proxies renew early when it changes. Call Invalidate when
	// it may have. Nil: none is sent.
	Issuer func() string
	// Debounce, MaxDelay, WriteTimeout and MaxStreamAge are their
	// Default* when zero; HeartbeatInterval is
	// channel.HeartbeatInterval when zero.
	Debounce, MaxDelay, WriteTimeout, MaxStreamAge, HeartbeatInterval time.Duration
	// Metrics, when set, count; NewMetrics(a registry) makes them.
	Metrics *Metrics
	// Log receives a line per build and per stream; nil discards.
	Log *slog.Logger
}

// Server builds the snapshot and serves it to proxies.
type Server struct {
	o       Options
	log     *slog.Logger
	factory informers.SharedInformerFactory
	// dynamic watches the policy resources; nil without Options.Dynamic.
	dynamic dynamicinformer.DynamicSharedInformerFactory
	// findings are those of the last policy compiled, logged when they
	// change.
	findings string
	synced   []cache.InformerSynced
	dirty    chan struct{}
	current  atomic.Pointer[published]
	ready    chan struct{}
	// stopped is closed when Run returns: streams end, so that the HTTP
	// server's graceful shutdown is not held up by them and proxies move
	// to another replica.
	stopped chan struct{}
}

// published is a snapshot as it goes on the wire, shared by every stream.
type published struct {
	line      []byte
	heartbeat []byte
	version   channel.Version
	// superseded is closed when a newer snapshot is published.
	superseded chan struct{}
}

// New makes a Server; Run starts it.
func New(o Options) (*Server, error) {
	var errs []error
	if o.Kube == nil {
		errs = append(errs, errors.New("channel server: no Kubernetes client"))
	}
	if o.MeshName == "" {
		errs = append(errs, errors.New("channel server: no mesh name"))
	}
	if _, err := identity.NewID(o.TrustDomain, "ns", "sa"); err != nil {
		errs = append(errs, fmt.Errorf("channel server: trust domain %q: %w", o.TrustDomain, err))
	}
	if o.Sources.Bundle == nil {
		errs = append(errs, errors.New("channel server: no trust bundle source"))
	}
	if err := errors.Join(errs...); err != nil {
		return nil, err
	}
	o.Debounce = orDefault(o.Debounce, DefaultDebounce)
	o.MaxDelay = orDefault(o.MaxDelay, DefaultMaxDelay)
	o.WriteTimeout = orDefault(o.WriteTimeout, DefaultWriteTimeout)
	o.MaxStreamAge = orDefault(o.MaxStreamAge, DefaultMaxStreamAge)
	o.HeartbeatInterval = orDefault(o.HeartbeatInterval, channel.HeartbeatInterval)
	if o.Metrics == nil {
		o.Metrics = NewMetrics(prometheus.NewRegistry())
	}
	log := o.Log
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	s := &Server{o: o, log: log, dirty: make(chan struct{}, 1), ready: make(chan struct{}), stopped: make(chan struct{})}
	s.factory = informers.NewSharedInformerFactoryWithOptions(o.Kube, 0, informers.WithTransform(trim))
	mark := cache.ResourceEventHandlerFuncs{
		AddFunc:    func(any) { s.markDirty() },
		UpdateFunc: func(any, any) { s.markDirty() },
		DeleteFunc: func(any) { s.markDirty() },
	}
	for _, inf := range []cache.SharedIndexInformer{
		s.factory.Core().V1().Namespaces().Informer(),
		s.factory.Core().V1().Pods().Informer(),
		s.factory.Core().V1().Services().Informer(),
		s.factory.Discovery().V1().EndpointSlices().Informer(),
	} {
		if _, err := inf.AddEventHandler(mark); err != nil {
			return nil, fmt.Errorf("channel server: %w", err)
		}
		s.synced = append(s.synced, inf.HasSynced)
	}
	if o.Dynamic != nil {
		// The policy: a snapshot waits for these too, so that proxies
		// never get one whose policy is missing objects (which would
		// allow less than asked, or, with permissive mode off, nothing).
		s.dynamic = dynamicinformer.NewDynamicSharedInformerFactory(o.Dynamic, 0)
		infs := []cache.SharedIndexInformer{s.factory.Core().V1().ServiceAccounts().Informer()}
		for _, gvr := range cluster.Resources() {
			infs = append(infs, s.dynamic.ForResource(gvr).Informer())
		}
		for _, inf := range infs {
			if _, err := inf.AddEventHandler(mark); err != nil {
				return nil, fmt.Errorf("channel server: %w", err)
			}
			s.synced = append(s.synced, inf.HasSynced)
		}
	}
	return s, nil
}

func orDefault(d, def time.Duration) time.Duration {
	if d <= 0 {
		return def
	}
	return d
}

// Ready is closed once the first snapshot is built; until then the handler
// answers 503.
func (s *Server) Ready() <-chan struct{} { return s.ready }

// Version is that of the current snapshot; zero before the first.
func (s *Server) Version() channel.Version {
	if p := s.current.Load(); p != nil {
		return p.version
	}
	return channel.Version{}
}

// Run starts the informers, builds the first snapshot once they have
// synced, then rebuilds on changes until ctx ends, when every stream
// ends too. A build that fails is logged and counted and the previous
// snapshot kept; the next change retries. Call it once.
func (s *Server) Run(ctx context.Context) error {
	defer close(s.stopped)
	s.factory.Start(ctx.Done())
	defer s.factory.Shutdown()
	if s.dynamic != nil {
		s.dynamic.Start(ctx.Done())
		defer s.dynamic.Shutdown()
	}
	if !cache.WaitForCacheSync(ctx.Done(), s.synced...) {
		return fmt.Errorf("channel server: the informers did not sync: %w", context.Cause(ctx))
	}
	s.rebuild()
	for {
		select {
		case <-ctx.Done():
			return nil
		case <-s.dirty:
		}
		if !s.settle(ctx) {
			return nil
		}
		s.rebuild()
	}
}

// settle waits until no change came for Debounce, or MaxDelay passed since
// the first; false when ctx ended.
func (s *Server) settle(ctx context.Context) bool {
	limit := time.NewTimer(s.o.MaxDelay)
	defer limit.Stop()
	quiet := time.NewTimer(s.o.Debounce)
	defer quiet.Stop()
	for {
		select {
		case <-ctx.Done():
			return false
		case <-limit.C:
			return true
		case <-quiet.C:
			return true
		case <-s.dirty:
			quiet.Reset(s.o.Debounce)
		}
	}
}

// Invalidate has the snapshot rebuilt, as a change of an informer's
// object does: the caller's input (Options.Issuer) may have changed. A
// rebuild that changes nothing publishes nothing.
func (s *Server) Invalidate() { s.markDirty() }

func (s *Server) markDirty() {
	select {
	case s.dirty <- struct{}{}:
	default:
	}
}

// rebuild builds from the listers and publishes the result when it
// differs from the current snapshot.
func (s *Server) rebuild() {
	start := time.Now()
	m := s.o.Metrics
	st, err := s.state()
	if err != nil {
		m.builds.WithLabelValues(buildError).Inc()
		s.log.Error("building the channel snapshot", "error", err)
		return
	}
	c := build(st)
	if s.dynamic != nil {
		pol, findings, err := compilePolicy(st)
		if err != nil {
			m.builds.WithLabelValues(buildError).Inc()
			s.log.Error("compiling the mesh's policy; proxies keep the previous snapshot", "error", err)
			return
		}
		c.PolicyV1 = pol
		s.logFindings(findings)
	}
	if s.o.Settings != nil {
		b, err := json.Marshal(s.o.Settings())
		if err != nil {
			m.builds.WithLabelValues(buildError).Inc()
			s.log.Error("encoding the live settings", "error", err)
			return
		}
		c.SettingsV1 = b
	}
	content, err := channel.EncodeContent(&c)
	if err != nil {
		m.builds.WithLabelValues(buildError).Inc()
		s.log.Error("building the channel snapshot", "error", err)
		return
	}
	old := s.current.Load()
	if old != nil && old.version.Hash == channel.HashContent(content) {
		m.builds.WithLabelValues(buildUnchanged).Inc()
		m.buildDuration.Observe(time.Since(start).Seconds())
		return
	}
	now := time.Now
	if s.o.Sources.Now != nil {
		now = s.o.Sources.Now
	}
	line, v, err := channel.SnapshotLine(content, now())
	if errors.Is(err, channel.ErrMessageTooLarge) && len(c.PolicyV1) > 0 {
		// The policy made it too large: the rest of the snapshot (pods,
		// endpoints, issuer) still goes out, and proxies keep the policy
		// they hold (a snapshot without one after one with changes none).
		s.log.Error("the mesh's policy makes the channel snapshot too large; sending it without policy, proxies keep the policy they hold",
			"policyBytes", len(c.PolicyV1), "error", err)
		c.PolicyV1 = nil
		settings := channel.DefaultSettings()
		if s.o.Settings != nil {
			settings = s.o.Settings()
		}
		settings.PolicyWithheld = true
		c.SettingsV1, _ = json.Marshal(settings)
		if content, err = channel.EncodeContent(&c); err == nil {
			line, v, err = channel.SnapshotLine(content, now())
		}
	}
	if err != nil {
		// Too large: proxies keep the previous snapshot, which is stale
		// but consistent, and the log and metric say why.
		m.builds.WithLabelValues(buildError).Inc()
		s.log.Error("the channel snapshot cannot be sent; proxies keep the previous one", "pods", len(c.Pods), "services", len(c.Services), "error", err)
		return
	}
	p := &published{line: line, heartbeat: channel.HeartbeatLine(v), version: v, superseded: make(chan struct{})}
	s.current.Store(p)
	if old != nil {
		close(old.superseded)
	} else {
		close(s.ready)
	}
	m.builds.WithLabelValues(buildChanged).Inc()
	m.buildDuration.Observe(time.Since(start).Seconds())
	m.bytes.Set(float64(len(line)))
	m.generated.Set(float64(v.Generated.UnixNano()) / 1e9)
	m.entries.WithLabelValues("pods").Set(float64(len(c.Pods)))
	m.entries.WithLabelValues("services").Set(float64(len(c.Services)))
	m.info.Reset()
	m.info.WithLabelValues(shortHash(v.Hash)).Set(1)
	s.log.Info("channel snapshot published", "version", v.String(), "bytes", len(line), "pods", len(c.Pods), "services", len(c.Services))
}

func shortHash(h string) string {
	const n = len("sha256:") + 12
	if len(h) > n {
		return h[:n]
	}
	return h
}

// state reads every lister.
func (s *Server) state() (state, error) {
	st := state{meshName: s.o.MeshName, trustDomain: s.o.TrustDomain, controllerID: s.o.ControllerID}
	if s.o.Issuer != nil {
		st.issuer = s.o.Issuer()
	}
	var err error
	if st.namespaces, err = s.factory.Core().V1().Namespaces().Lister().List(labels.Everything()); err != nil {
		return st, fmt.Errorf("listing namespaces: %w", err)
	}
	if st.pods, err = s.factory.Core().V1().Pods().Lister().List(labels.Everything()); err != nil {
		return st, fmt.Errorf("listing pods: %w", err)
	}
	if st.services, err = s.factory.Core().V1().Services().Lister().List(labels.Everything()); err != nil {
		return st, fmt.Errorf("listing services: %w", err)
	}
	if st.slices, err = s.factory.Discovery().V1().EndpointSlices().Lister().List(labels.Everything()); err != nil {
		return st, fmt.Errorf("listing endpointslices: %w", err)
	}
	if s.dynamic == nil {
		return st, nil
	}
	st.policy = &policyState{}
	if s.o.Permissive != nil {
		st.policy.permissive = s.o.Permissive()
	} else {
		st.policy.permissive = true
	}
	if st.policy.serviceAccounts, err = s.factory.Core().V1().ServiceAccounts().Lister().List(labels.Everything()); err != nil {
		return st, fmt.Errorf("listing serviceaccounts: %w", err)
	}
	lists := []*[]*unstructured.Unstructured{&st.policy.trafficTargets, &st.policy.httpRouteGroups, &st.policy.tcpRoutes, &st.policy.ingressBackends}
	for i, gvr := range cluster.Resources() {
		objs, err := s.dynamic.ForResource(gvr).Lister().List(labels.Everything())
		if err != nil {
			return st, fmt.Errorf("listing %s: %w", gvr.Resource, err)
		}
		for _, o := range objs {
			if u, ok := o.(*unstructured.Unstructured); ok {
				*lists[i] = append(*lists[i], u)
			}
		}
	}
	return st, nil
}

// snapshotFor is the snapshot for the proxy of identity id. Today every
// proxy gets the same; the next issue's policy makes it per identity.
func (s *Server) snapshotFor(identity.ID) *published { return s.current.Load() }

// trim keeps in the informers' cache only what build reads, so that a
// cluster's worth of pods costs the controller little memory: the pods'
// names, creation time, the injection marker, the proxy's and the init
// container's arguments, the ServiceAccount, host networking, phase and
// IPs. Other objects lose their managed fields.
func trim(obj any) (any, error) {
	switch o := obj.(type) {
	case *corev1.Pod:
		p := &corev1.Pod{
			ObjectMeta: metav1.ObjectMeta{
				Name: o.Name, Namespace: o.Namespace, UID: o.UID, ResourceVersion: o.ResourceVersion,
				CreationTimestamp: o.CreationTimestamp, DeletionTimestamp: o.DeletionTimestamp,
			},
			Spec: corev1.PodSpec{ServiceAccountName: o.Spec.ServiceAccountName, HostNetwork: o.Spec.HostNetwork},
			Status: corev1.PodStatus{
				Phase: o.Status.Phase, PodIP: o.Status.PodIP, PodIPs: o.Status.PodIPs,
			},
		}
		if _, ok := o.Annotations[meshconfig.AnnotationInjected]; ok {
			// The marker's presence is what counts; its value (a JSON
			// record) is not kept.
			p.Annotations = map[string]string{meshconfig.AnnotationInjected: ""}
		}
		if c := proxyconfig.ProxyContainerOf(&o.Spec); c != nil {
			kept := corev1.Container{Name: c.Name, Args: c.Args, RestartPolicy: c.RestartPolicy}
			if c.RestartPolicy != nil {
				p.Spec.InitContainers = append(p.Spec.InitContainers, kept)
			} else {
				p.Spec.Containers = append(p.Spec.Containers, kept)
			}
		}
		for _, c := range o.Spec.InitContainers {
			if c.Name == proxyconfig.InitContainerName {
				p.Spec.InitContainers = append(p.Spec.InitContainers, corev1.Container{Name: c.Name, Args: c.Args})
			}
		}
		return p, nil
	case *corev1.ServiceAccount:
		// Only that it exists counts (a TrafficTarget naming another is
		// a finding); its secrets and tokens are not kept.
		return &corev1.ServiceAccount{ObjectMeta: metav1.ObjectMeta{Name: o.Name, Namespace: o.Namespace, UID: o.UID, ResourceVersion: o.ResourceVersion}}, nil
	case *corev1.Service, *corev1.Namespace, *discoveryv1.EndpointSlice:
		if m, ok := obj.(metav1.Object); ok {
			m.SetManagedFields(nil)
		}
		return obj, nil
	}
	// A tombstone (cache.DeletedFinalStateUnknown) or another type:
	// untouched.
	return obj, nil
}
