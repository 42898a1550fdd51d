package controller

import (
	"context"
	"fmt"
	"log/slog"
	"sync"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/fields"
	"k8s.io/client-go/dynamic"
	"k8s.io/client-go/dynamic/dynamicinformer"
	"k8s.io/client-go/kubernetes"
	corev1listers "k8s.io/client-go/listers/core/v1"
	"k8s.io/client-go/tools/cache"

	"github.com/meshctl/meshctl/pkg/channel"
	"github.com/meshctl/meshctl/pkg/identity"
	"github.com/meshctl/meshctl/pkg/inject"
	"github.com/meshctl/meshctl/pkg/meshconfig"
	"github.com/meshctl/meshctl/pkg/proxyconfig"
)

// MeshConfigWatcher keeps the injector of the mesh's current MeshConfig,
// fed by an informer on that one object. A MeshConfig that does not make an
// injector (an invalid image, say) is logged and the previous injector kept:
// pods keep getting the last good sidecar rather than being refused.
type MeshConfigWatcher struct {
	// MeshName and MeshNamespace identify the mesh and its MeshConfig.
	MeshName, MeshNamespace string
	// Log receives a line per change; nil discards.
	Log *slog.Logger
	// OnChange, when set, is called after each MeshConfig event with the
	// error of the current state (nil: an injector is ready).
	OnChange func(error)

	mu       sync.RWMutex
	injector *inject.Injector
	err      error
	version  string // resourceVersion of the MeshConfig the injector came from
	// identity is the spec.identity of the last MeshConfig whose identity
	// was valid, kept apart from the injector: the CA must not stop
	// signing because of a bad sidecar image, nor the webhook stop
	// injecting because of a bad certificate lifetime.
	identity *meshconfig.IdentitySpec
	// restrictive is the inverse of the last MeshConfig's
	// spec.traffic.enablePermissiveTrafficPolicyMode, so that the zero
	// value (not read yet) is permissive.
	restrictive bool
	// settings are the live settings of the last MeshConfig that made
	// valid ones; nil until then (DefaultSettings).
	settings *channel.Settings
}

// Identity is the spec.identity of the mesh's MeshConfig, with its
// defaults filled in: the trust domain the CA signs in and the lifetime
// of the certificates it issues. An invalid spec.identity is logged and the
// previous one kept; the error says why there is none yet.
func (w *MeshConfigWatcher) Identity() (meshconfig.IdentitySpec, error) {
	w.mu.RLock()
	defer w.mu.RUnlock()
	if w.identity != nil {
		return *w.identity, nil
	}
	if w.err != nil {
		return meshconfig.IdentitySpec{}, w.err
	}
	return meshconfig.IdentitySpec{}, fmt.Errorf("the MeshConfig %s/%s has not been read yet", w.MeshNamespace, meshconfig.ObjectName)
}

// Permissive is the MeshConfig's permissive traffic policy mode; true
// until a MeshConfig has been read.
func (w *MeshConfigWatcher) Permissive() bool {
	w.mu.RLock()
	defer w.mu.RUnlock()
	return !w.restrictive
}

// Settings are the MeshConfig's settings that proxies follow live;
// DefaultSettings until a MeshConfig has been read.
func (w *MeshConfigWatcher) Settings() channel.Settings {
	w.mu.RLock()
	defer w.mu.RUnlock()
	if w.settings == nil {
		return channel.DefaultSettings()
	}
	return *w.settings
}

// Injector is the current injector, or why there is none.
func (w *MeshConfigWatcher) Injector() (*inject.Injector, error) {
	w.mu.RLock()
	defer w.mu.RUnlock()
	if w.injector != nil {
		return w.injector, nil
	}
	if w.err != nil {
		return nil, w.err
	}
	return nil, fmt.Errorf("the MeshConfig %s/%s has not been read yet", w.MeshNamespace, meshconfig.ObjectName)
}

// ResourceVersion is that of the MeshConfig the current injector came from.
func (w *MeshConfigWatcher) ResourceVersion() string {
	w.mu.RLock()
	defer w.mu.RUnlock()
	return w.version
}

// Start runs the informer until ctx ends and waits for its first sync.
func (w *MeshConfigWatcher) Start(ctx context.Context, dc dynamic.Interface) error {
	f := dynamicinformer.NewFilteredDynamicSharedInformerFactory(dc, 0, w.MeshNamespace, func(o *metav1.ListOptions) {
		o.FieldSelector = fields.OneTermEqualSelector("metadata.name", meshconfig.ObjectName).String()
	})
	inf := f.ForResource(meshconfig.GroupVersionResource).Informer()
	_, err := inf.AddEventHandler(cache.ResourceEventHandlerFuncs{
		AddFunc:    func(obj any) { w.set(obj) },
		UpdateFunc: func(_, obj any) { w.set(obj) },
		DeleteFunc: func(any) { w.deleted() },
	})
	if err != nil {
		return err
	}
	f.Start(ctx.Done())
	if !cache.WaitForCacheSync(ctx.Done(), inf.HasSynced) {
		return fmt.Errorf("MeshConfig %s/%s: the informer did not sync: %w", w.MeshNamespace, meshconfig.ObjectName, context.Cause(ctx))
	}
	if _, err := w.Injector(); err != nil {
		w.update(nil, "", err)
	}
	return nil
}

func (w *MeshConfigWatcher) logger() *slog.Logger {
	if w.Log == nil {
		return slog.New(slog.DiscardHandler)
	}
	return w.Log
}

func (w *MeshConfigWatcher) set(obj any) {
	u, ok := obj.(*unstructured.Unstructured)
	if !ok {
		return
	}
	w.setIdentity(u)
	if mc, err := meshconfig.FromUnstructured(u); err == nil {
		settings, err := proxyconfig.LiveSettings(mc.Spec)
		if err != nil {
			w.logger().Error("MeshConfig's live settings not applied; proxies keep the previous ones", "resourceVersion", u.GetResourceVersion(), "error", err)
		}
		w.mu.Lock()
		w.restrictive = !mc.Spec.Traffic.EnablePermissiveTrafficPolicyMode
		if err == nil {
			w.settings = &settings
		}
		w.mu.Unlock()
	}
	inj, err := w.injectorFor(u)
	if err != nil {
		w.logger().Error("MeshConfig not applied; keeping the previous sidecar", "resourceVersion", u.GetResourceVersion(), "error", err)
		w.update(nil, "", err)
		return
	}
	w.logger().Info("MeshConfig applied", "resourceVersion", u.GetResourceVersion(), "image", inj.Sidecar.Image)
	w.update(inj, u.GetResourceVersion(), nil)
}

// setIdentity records the MeshConfig's spec.identity when it is valid.
func (w *MeshConfigWatcher) setIdentity(u *unstructured.Unstructured) {
	id, err := identityOf(u, w.MeshName)
	if err != nil {
		w.logger().Error("MeshConfig spec.identity not applied; keeping the previous one", "resourceVersion", u.GetResourceVersion(), "error", err)
		return
	}
	w.mu.Lock()
	w.identity = &id
	w.mu.Unlock()
}

// identityOf is the MeshConfig's spec.identity with the defaults filled in,
// or why it cannot be used.
func identityOf(u *unstructured.Unstructured, mesh string) (meshconfig.IdentitySpec, error) {
	mc, err := meshconfig.FromUnstructured(u)
	if err != nil {
		return meshconfig.IdentitySpec{}, err
	}
	if owner := mc.Labels[meshconfig.LabelMeshName]; owner != "" && owner != mesh {
		return meshconfig.IdentitySpec{}, fmt.Errorf("MeshConfig %s/%s belongs to mesh %q, not %q", mc.Namespace, mc.Name, owner, mesh)
	}
	id := mc.Spec.Identity
	if id.TrustDomain == "" {
		id.TrustDomain = meshconfig.DefaultTrustDomain
	}
	if id.CertificateLifetime == "" {
		id.CertificateLifetime = meshconfig.DefaultCertificateLifetime
	}
	if _, err := identity.NewID(id.TrustDomain, "ns", "sa"); err != nil {
		return meshconfig.IdentitySpec{}, fmt.Errorf("MeshConfig %s/%s: spec.identity.trustDomain %q: %w", mc.Namespace, mc.Name, id.TrustDomain, err)
	}
	if _, err := meshconfig.ParseCertificateLifetime(id.CertificateLifetime); err != nil {
		return meshconfig.IdentitySpec{}, fmt.Errorf("MeshConfig %s/%s: spec.identity.certificateLifetime %q: %w", mc.Namespace, mc.Name, id.CertificateLifetime, err)
	}
	return id, nil
}

func (w *MeshConfigWatcher) injectorFor(u *unstructured.Unstructured) (*inject.Injector, error) {
	mc, err := meshconfig.FromUnstructured(u)
	if err != nil {
		return nil, err
	}
	if owner := mc.Labels[meshconfig.LabelMeshName]; owner != "" && owner != w.MeshName {
		return nil, fmt.Errorf("MeshConfig %s/%s belongs to mesh %q, not %q", mc.Namespace, mc.Name, owner, w.MeshName)
	}
	inj, err := inject.New(mc.Spec, w.MeshName, w.MeshNamespace)
	if err != nil {
		return nil, fmt.Errorf("%s/%s: %w", mc.Namespace, mc.Name, err)
	}
	return inj, nil
}

func (w *MeshConfigWatcher) deleted() {
	err := fmt.Errorf("the MeshConfig %s/%s was deleted", w.MeshNamespace, meshconfig.ObjectName)
	w.logger().Error("MeshConfig deleted; keeping the previous sidecar until it is restored")
	w.update(nil, "", err)
}

// update records inj (when not nil) or err; a failure keeps a previous
// injector, and readiness follows whether there is one.
func (w *MeshConfigWatcher) update(inj *inject.Injector, version string, err error) {
	w.mu.Lock()
	if inj != nil {
		w.injector, w.version, w.err = inj, version, nil
	} else {
		w.err = err
	}
	state := error(nil)
	if w.injector == nil {
		state = w.err
	}
	w.mu.Unlock()
	if w.OnChange != nil {
		w.OnChange(state)
	}
}

// Namespaces reads namespaces through an informer's lister, and from the API
// server when the lister does not show the namespace enrolled: a namespace
// created or enrolled a moment ago may not have reached the informer, and
// the namespaceSelector already keeps most unenrolled namespaces away.
type Namespaces struct {
	// Lister is the informer's; nil reads every namespace from Client.
	Lister corev1listers.NamespaceLister
	// Client reads what the lister does not have.
	Client kubernetes.Interface
	// MeshName is the mesh whose enrolment counts.
	MeshName string
}

// Namespace returns the namespace called name.
func (n *Namespaces) Namespace(ctx context.Context, name string) (*corev1.Namespace, error) {
	if n.Lister != nil {
		ns, err := n.Lister.Get(name)
		if err == nil && meshconfig.InjectionOf(ns.Labels, ns.Annotations).Injects(n.MeshName) {
			return ns, nil
		}
		if err != nil && !apierrors.IsNotFound(err) {
			return nil, err
		}
	}
	ns, err := n.Client.CoreV1().Namespaces().Get(ctx, name, metav1.GetOptions{})
	if err != nil {
		return nil, err
	}
	return ns, nil
}
