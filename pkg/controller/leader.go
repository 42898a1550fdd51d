package controller

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"log/slog"
	"os"
	"sync/atomic"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/client-go/tools/leaderelection"
	"k8s.io/client-go/tools/leaderelection/resourcelock"
	"k8s.io/client-go/tools/record"
)

// Default timings of the election, client-go's usual ones: a replica that
// dies without releasing the Lease is replaced within LeaseDuration; one
// that stops (SIGTERM) releases it at once.
const (
	DefaultLeaseDuration = 15 * time.Second
	DefaultRenewDeadline = 10 * time.Second
	DefaultRetryPeriod   = 2 * time.Second
)

// LeaderElection configures how the replicas choose the one that does what
// must happen once. Every replica serves the webhook, signs certificates
// and serves the channel; only the leader
//
//   - creates and renews the webhook's serving certificate in the shared
//     TLS Secret and patches the caBundle (followers only read the Secret,
//     and serve a certificate only once the caBundle trusts it);
//   - copies the trust bundle into the namespaces;
//   - records Events (on the issuer Secret), so that one problem is one
//     Event and not one per replica.
//
// Everything the leader does is level-triggered and written with
// optimistic concurrency, so the moment two replicas overlap while the
// Lease changes hands costs nothing but a conflict retried.
type LeaderElection struct {
	// LeaseName is the Lease in the control-plane namespace; empty means
	// no election: this process leads from the start (one replica, and the
	// tests).
	LeaseName string
	// Identity names this replica in the Lease (the pod's name); empty is
	// the host name with a random suffix.
	Identity string
	// LeaseDuration, RenewDeadline and RetryPeriod are the election's
	// timings; zero means the defaults above.
	LeaseDuration, RenewDeadline, RetryPeriod time.Duration
}

// leadership is whether this process leads now, and what it runs while it
// does.
type leadership struct {
	leading atomic.Bool
	// kick is told when leadership starts, to run the leader's work at once.
	kicks []chan struct{}
}

// Leading reports whether this process leads now.
func (l *leadership) Leading() bool { return l.leading.Load() }

// notify returns a channel that receives a value each time this process
// starts to lead (dropped while one is pending).
func (l *leadership) notify() <-chan struct{} {
	c := make(chan struct{}, 1)
	l.kicks = append(l.kicks, c)
	return c
}

func (l *leadership) set(leading bool) {
	l.leading.Store(leading)
	if !leading {
		return
	}
	for _, c := range l.kicks {
		select {
		case c <- struct{}{}:
		default:
		}
	}
}

// runElection takes part in the election until ctx ends, calling lead with
// a context that ends when leadership is lost, each time it is won. Without
// a LeaseName this process leads until ctx ends. The Lease is released when
// ctx ends, so that another replica takes over at once rather than after
// LeaseDuration.
func (o *Options) runElection(ctx context.Context, l *leadership, events record.EventRecorder, log *slog.Logger, onChange func(bool), lead func(context.Context)) error {
	le := o.LeaderElection
	if le.LeaseName == "" {
		l.set(true)
		onChange(true)
		lead(ctx)
		return nil
	}
	id := le.Identity
	if id == "" {
		var err error
		if id, err = defaultIdentity(); err != nil {
			return err
		}
	}
	lock := &resourcelock.LeaseLock{
		LeaseMeta:  metav1.ObjectMeta{Name: le.LeaseName, Namespace: o.MeshNamespace},
		Client:     o.Kube.CoordinationV1(),
		LockConfig: resourcelock.ResourceLockConfig{Identity: id, EventRecorder: events},
		// The mesh's labels, by which meshctl uninstall finds it.
		Labels: ownerLabels(o.MeshName),
	}
	cfg := leaderelection.LeaderElectionConfig{
		Lock:            lock,
		Name:            le.LeaseName,
		LeaseDuration:   orDefault(le.LeaseDuration, DefaultLeaseDuration),
		RenewDeadline:   orDefault(le.RenewDeadline, DefaultRenewDeadline),
		RetryPeriod:     orDefault(le.RetryPeriod, DefaultRetryPeriod),
		ReleaseOnCancel: true,
		Callbacks: leaderelection.LeaderCallbacks{
			OnStartedLeading: func(ctx context.Context) {
				log.Info("leading", "lease", o.MeshNamespace+"/"+le.LeaseName, "identity", id)
				l.set(true)
				onChange(true)
				lead(ctx)
			},
			OnStoppedLeading: func() {
				if l.Leading() {
					log.Info("no longer leading", "lease", o.MeshNamespace+"/"+le.LeaseName, "identity", id)
				}
				l.set(false)
				onChange(false)
			},
			OnNewLeader: func(holder string) {
				if holder != id {
					log.Info("following", "leader", holder)
				}
			},
		},
	}
	// A lost Lease (the API server unreachable past RenewDeadline) ends
	// Run; this replica then stands for election again, and keeps serving
	// meanwhile, as a follower.
	for ctx.Err() == nil {
		elector, err := leaderelection.NewLeaderElector(cfg)
		if err != nil {
			return fmt.Errorf("leader election on lease %s/%s: %w", o.MeshNamespace, le.LeaseName, err)
		}
		elector.Run(ctx)
	}
	return nil
}

// defaultIdentity is the host name (the pod's, in a cluster) and a random
// suffix, so that two processes on one host never share an identity.
func defaultIdentity() (string, error) {
	host, err := os.Hostname()
	if err != nil {
		return "", fmt.Errorf("leader election identity: %w", err)
	}
	b := make([]byte, 4)
	if _, err := rand.Read(b); err != nil {
		return "", err
	}
	return host + "-" + hex.EncodeToString(b), nil
}

func orDefault(d, def time.Duration) time.Duration {
	if d == 0 {
		return def
	}
	return d
}

// leaderEvents records Events only while this process leads: every
// replica watches the same objects, and one problem should be one Event.
type leaderEvents struct {
	record.EventRecorder
	leading func() bool
}

func (r leaderEvents) Event(object runtime.Object, eventtype, reason, message string) {
	if r.leading() {
		r.EventRecorder.Event(object, eventtype, reason, message)
	}
}

func (r leaderEvents) Eventf(object runtime.Object, eventtype, reason, messageFmt string, args ...any) {
	if r.leading() {
		r.EventRecorder.Eventf(object, eventtype, reason, messageFmt, args...)
	}
}

func (r leaderEvents) AnnotatedEventf(object runtime.Object, annotations map[string]string, eventtype, reason, messageFmt string, args ...any) {
	if r.leading() {
		r.EventRecorder.AnnotatedEventf(object, annotations, eventtype, reason, messageFmt, args...)
	}
}
