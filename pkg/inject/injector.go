package inject

import (
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"reflect"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/meshctl/meshctl/pkg/meshconfig"
	"github.com/meshctl/meshctl/pkg/proxyconfig"
	"github.com/meshctl/meshctl/pkg/version"
)

// Injector computes injection patches for one mesh. It keeps nothing
// between calls but renderings it memoizes, and is safe for concurrent use.
type Injector struct {
	// Sidecar is the mesh-wide sidecar definition; each workload's
	// annotations refine it.
	Sidecar *proxyconfig.Config
	// MeshName is the mesh that Namespace documents are enrolled in.
	MeshName string
	// MeshNamespace is the control-plane namespace, never injected.
	MeshNamespace string
	// Version is recorded in meshconfig.LabelProxyVersion and the marker; New sets it
	// to this build's version. A marker with another version is upgraded.
	Version string

	// sidecars memoizes what apply adds for each sidecar definition in use:
	// the mesh-wide one, and one per set of per-workload annotations (and,
	// with JWT on, of httpGet probes), which the workloads of a stream
	// mostly share. markers memoizes marker
	// annotations. The counts bound them: an Injector may serve a webhook
	// for as long as it runs.
	sidecars  sync.Map // sidecarKey -> *renderedSidecar
	nSidecars atomic.Int64
	markers   sync.Map // markerKey -> markerText
	nMarkers  atomic.Int64
}

// New returns the injector of the mesh configured by spec.
func New(spec meshconfig.MeshConfigSpec, meshName, meshNamespace string) (*Injector, error) {
	c, err := proxyconfig.New(spec)
	if err != nil {
		return nil, fmt.Errorf("MeshConfig: %w", err)
	}
	if c, err = c.WithIdentity(meshNamespace, spec.Identity.TrustDomain); err != nil {
		return nil, fmt.Errorf("MeshConfig: %w", err)
	}
	return &Injector{Sidecar: c, MeshName: meshName, MeshNamespace: meshNamespace, Version: version.Version()}, nil
}

// Target is what the engine injects: one pod template, and the kind, name
// and namespace of the object that owns it (a Deployment, a Job, a Pod...)
// for skip decisions and the report. It is not namespace.Workload, which is
// a live controller of pods in a cluster.
type Target struct {
	// Kind is the owner's lower-case kind, such as "deployment", for the
	// report.
	Kind string
	// Name is the owner's name.
	Name string
	// Namespace is where the owner runs; empty when unknown (a manifest
	// without metadata.namespace), in which case no namespace is skipped.
	Namespace string
	// Template is the pod template; the engine does not modify it. Nil
	// means the owner has none.
	Template *corev1.PodTemplateSpec
	// HasMetadata says that the template has a metadata field even if
	// Template's ObjectMeta is zero ("metadata: {}"), which a decoded
	// template cannot tell from none. Injection then records that it
	// added labels and annotations, not metadata, so that uninjection
	// leaves the field as it was rather than removing it.
	HasMetadata bool
}

// String names the target's owner as the report does: "deployment/web".
func (w Target) String() string {
	name := w.Name
	if name == "" {
		name = "(unnamed)"
	}
	return w.Kind + "/" + name
}

// Action is what the engine did to a resource.
type Action string

// The actions.
const (
	Injected   Action = "injected"
	Upgraded   Action = "upgraded"   // injected by another version; replaced
	Updated    Action = "updated"    // same version, different configuration; replaced
	Unchanged  Action = "unchanged"  // already injected with this exact sidecar
	Uninjected Action = "uninjected" // marker found; what it names removed
	Enrolled   Action = "enrolled"   // a Namespace labelled and annotated
	Skipped    Action = "skipped"
)

// Result is the outcome for one resource.
type Result struct {
	// Action is what was done.
	Action Action
	// Skip is set when Action is Skipped.
	Skip SkipReason
	// Detail adds context for the report: the other mesh's container, the
	// namespace, the previous version.
	Detail string
	// Patch applies the change to the pod template (paths relative to it).
	// It is empty unless Action is Injected, Upgraded, Updated, Uninjected
	// or Enrolled.
	Patch Patch
}

func skipped(r SkipReason, detail string) *Result {
	return &Result{Action: Skipped, Skip: r, Detail: detail}
}

// InjectPod is Inject for the webhook: a Pod in namespace. The patch's
// paths apply to the Pod as they are.
func (in *Injector) InjectPod(pod *corev1.Pod, namespace string) (*Result, error) {
	name := pod.Name
	if name == "" {
		name = pod.GenerateName
	}
	return in.Inject(Target{Kind: "pod", Name: name, Namespace: namespace,
		Template: &corev1.PodTemplateSpec{ObjectMeta: pod.ObjectMeta, Spec: pod.Spec}})
}

// Inject computes the patch that gives w the current sidecar. A template
// without a marker gets the sidecar added; one whose marker matches this
// injection exactly is Unchanged (an empty patch); one injected by another
// version or with another configuration has the old sidecar replaced. Bad
// per-workload annotations or a corrupt marker are errors naming w.
func (in *Injector) Inject(w Target) (*Result, error) {
	if w.Template == nil {
		return skipped(SkipNoPodTemplate, ""), nil
	}
	if in.Sidecar == nil {
		return nil, errors.New("inject: Injector.Sidecar is not set")
	}
	cur := w.Template
	if optedOut(cur.Labels, cur.Annotations) {
		return skipped(SkipOptedOut, meshconfig.AnnotationSidecarInjection+": "+meshconfig.InjectionDisabled), nil
	}
	if r := in.skipNamespace(w.Namespace); r != nil {
		return r, nil
	}
	if cur.Spec.HostNetwork {
		return skipped(SkipHostNetwork, ""), nil
	}
	base, old, err := baseOf(w)
	if err != nil {
		return nil, err
	}
	if len(base.Spec.Containers) == 0 {
		return skipped(SkipNoContainers, ""), nil
	}
	for _, c := range slices.Concat(base.Spec.InitContainers, base.Spec.Containers) {
		if slices.Contains(OtherMeshContainers(), c.Name) {
			return skipped(SkipOtherMesh, c.Name), nil
		}
		if c.Name == proxyconfig.ProxyContainerName || c.Name == proxyconfig.InitContainerName {
			return skipped(SkipNameConflict, c.Name), nil
		}
	}
	for _, v := range base.Spec.Volumes {
		if v.Name == proxyconfig.IdentityVolumeName {
			return skipped(SkipNameConflict, "volume "+v.Name), nil
		}
	}
	// The probes are the app's own: base is the template without any
	// sidecar of an earlier injection.
	rendered, err := in.sidecarFor(w, cur.Annotations, &base.Spec)
	if err != nil {
		return nil, err
	}
	if wl, ok := WorkloadOf(w); ok {
		rendered = rendered.withWorkload(wl)
	}
	// A template whose marker says it had no metadata has it only because
	// it was injected.
	hadMetadata := w.HasMetadata && (old == nil || !slices.Contains(old.Created, CreatedMetadata))
	desired, marker, raw := in.apply(base, rendered, hadMetadata)
	if old != nil && old.Version == marker.Version && old.Hash == marker.Hash && hasContainers(cur, old) && hasWorkloadArgs(cur, rendered) {
		// Compare markers, not containers: an API server fills defaults into
		// a stored pod's containers, and those must not count as a change.
		// The marker does not cover the workload's arguments, which
		// nothing defaults: they are compared as they are.
		return &Result{Action: Unchanged, Detail: "already injected"}, nil
	}
	p, inits := diff(cur, desired, raw, hadMetadata)
	if at := slices.Index(inits, proxyconfig.ProxyContainerName); rendered.workloadArgs != nil && at >= 0 {
		// raw's proxy container has the arguments of the sidecar
		// definition, which every workload shares; these are this one's.
		// A replace is right whether or not the diff wrote the container.
		p = append(p, Operation{Op: OpReplace, Path: "/spec/initContainers/" + strconv.Itoa(at) + "/args", Value: rendered.workloadArgs})
	}
	r := &Result{Action: Injected, Patch: p}
	if old != nil {
		r.Action = Updated
		if old.Version != in.Version {
			r.Action, r.Detail = Upgraded, "from "+old.Version
		}
	}
	return r, nil
}

// Uninject computes the patch that removes what w's marker says was added.
func (in *Injector) Uninject(w Target) (*Result, error) {
	if w.Template == nil {
		return skipped(SkipNoPodTemplate, ""), nil
	}
	base, old, err := baseOf(w)
	if err != nil {
		return nil, err
	}
	if old == nil {
		return skipped(SkipNotInjected, ""), nil
	}
	// Metadata that the injection did not create stays, emptied.
	keep := !slices.Contains(old.Created, CreatedMetadata)
	p, _ := diff(w.Template, base, nil, keep)
	return &Result{Action: Uninjected, Patch: p}, nil
}

// EnrolNamespace computes the patch that enrols a Namespace object in the
// mesh: the monitored-by label and the sidecar-injection annotation. Whether
// it may join is meshconfig.CheckEnrolment's to say, as it is for `meshctl
// namespace add`: Kubernetes' own namespaces and the control plane's are
// skipped; one enrolled in another mesh is an error naming it, unless force,
// which moves it into this one.
func (in *Injector) EnrolNamespace(ns *metav1.ObjectMeta, force bool) (*Result, error) {
	err := meshconfig.CheckEnrolment(ns.Name, ns.Labels, in.MeshName, in.MeshNamespace, force)
	if r := refusedNamespace(ns.Name, err); r != nil {
		return r, nil
	}
	if err != nil {
		return nil, err
	}
	cur := &corev1.PodTemplateSpec{ObjectMeta: *ns}
	desired := cur.DeepCopy()
	labels, annotations := meshconfig.EnrolmentMetadata(in.MeshName, meshconfig.InjectionEnabled)
	for k, v := range labels {
		desired.Labels = setKey(desired.Labels, k, v)
	}
	for k, v := range annotations {
		desired.Annotations = setKey(desired.Annotations, k, v)
	}
	p, _ := diff(cur, desired, nil, false)
	if len(p) == 0 {
		return &Result{Action: Unchanged, Detail: "already enrolled"}, nil
	}
	r := &Result{Action: Enrolled, Patch: p}
	if owner := ns.Labels[meshconfig.LabelMonitoredBy]; owner != "" && owner != in.MeshName {
		r.Detail = "moved from mesh " + owner
	}
	return r, nil
}

func setKey(m map[string]string, k, v string) map[string]string {
	if m == nil {
		m = map[string]string{}
	}
	m[k] = v
	return m
}

// skipNamespace is the skip of a workload in namespace ns, nil when it may
// be injected. The namespaces are those no mesh may enrol: the webhook never
// sees their pods, so injecting them offline would differ from it.
func (in *Injector) skipNamespace(ns string) *Result {
	if ns == "" {
		return nil
	}
	return refusedNamespace(ns, meshconfig.CheckEnrolment(ns, nil, in.MeshName, in.MeshNamespace, false))
}

// refusedNamespace turns CheckEnrolment's refusal of a namespace that can
// never join a mesh into a skip; nil for any other error (the caller's to
// return) and for none.
func refusedNamespace(ns string, err error) *Result {
	switch {
	case errors.Is(err, meshconfig.ErrSystemNamespace):
		return skipped(SkipSystemNamespace, ns)
	case errors.Is(err, meshconfig.ErrControlPlaneNamespace):
		return skipped(SkipControlPlaneNamespace, ns)
	}
	return nil
}

// baseOf returns w's template as it was before any injection (a copy), and
// the marker when there is one.
func baseOf(w Target) (*corev1.PodTemplateSpec, *Marker, error) {
	raw, ok := w.Template.Annotations[meshconfig.AnnotationInjected]
	if !ok {
		return w.Template, nil, nil
	}
	m, err := ParseMarker(raw)
	if err != nil {
		return nil, nil, fmt.Errorf("%s: annotation %s: %w", w, meshconfig.AnnotationInjected, err)
	}
	b := w.Template.DeepCopy()
	b.Spec.InitContainers = withoutNames(b.Spec.InitContainers, m.InitContainers)
	b.Spec.Containers = withoutNames(b.Spec.Containers, m.Containers)
	if len(m.Volumes) > 0 {
		b.Spec.Volumes = slices.DeleteFunc(b.Spec.Volumes, func(v corev1.Volume) bool { return slices.Contains(m.Volumes, v.Name) })
	}
	for _, k := range m.Labels {
		delete(b.Labels, k)
	}
	for _, k := range append(slices.Clone(m.Annotations), meshconfig.AnnotationInjected) {
		delete(b.Annotations, k)
	}
	if slices.Contains(m.Created, CreatedInitContainers) && len(b.Spec.InitContainers) == 0 {
		b.Spec.InitContainers = nil
	}
	if slices.Contains(m.Created, CreatedVolumes) && len(b.Spec.Volumes) == 0 {
		b.Spec.Volumes = nil
	}
	if slices.Contains(m.Created, CreatedLabels) && len(b.Labels) == 0 {
		b.Labels = nil
	}
	if slices.Contains(m.Created, CreatedAnnotations) && len(b.Annotations) == 0 {
		b.Annotations = nil
	}
	return b, m, nil
}

func withoutNames(cs []corev1.Container, names []string) []corev1.Container {
	if len(names) == 0 {
		return cs
	}
	return slices.DeleteFunc(cs, func(c corev1.Container) bool { return slices.Contains(names, c.Name) })
}

// hasWorkloadArgs reports whether t's proxy has the arguments s gives the
// proxy of its workload (any, when s names none).
func hasWorkloadArgs(t *corev1.PodTemplateSpec, s *renderedSidecar) bool {
	if s.workloadArgs == nil {
		return true
	}
	c := proxyconfig.ProxyContainerOf(&t.Spec)
	return c != nil && slices.Equal(c.Args, s.workloadArgs)
}

func hasContainers(t *corev1.PodTemplateSpec, m *Marker) bool {
	has := func(cs []corev1.Container, names []string) bool {
		for _, n := range names {
			if !slices.ContainsFunc(cs, func(c corev1.Container) bool { return c.Name == n }) {
				return false
			}
		}
		return true
	}
	return has(t.Spec.InitContainers, m.InitContainers) && has(t.Spec.Containers, m.Containers)
}

// apply returns base with the sidecar added, the marker recording it, and
// the JSON of the added containers. It copies only what it changes: the
// result shares the rest with base and must not be modified. hasMetadata
// says base has a metadata field, though its ObjectMeta may be zero.
func (in *Injector) apply(base *corev1.PodTemplateSpec, s *renderedSidecar, hasMetadata bool) (*corev1.PodTemplateSpec, *Marker, map[string]json.RawMessage) {
	d := &corev1.PodTemplateSpec{ObjectMeta: base.ObjectMeta, Spec: base.Spec}
	d.Labels = maps.Clone(base.Labels)
	d.Annotations = maps.Clone(base.Annotations)
	m := &Marker{Version: in.Version}
	if isZeroMeta(&d.ObjectMeta) && !hasMetadata {
		m.Created = append(m.Created, CreatedMetadata)
	}
	if d.Labels == nil {
		m.Created = append(m.Created, CreatedLabels)
		d.Labels = map[string]string{}
	}
	if d.Annotations == nil {
		m.Created = append(m.Created, CreatedAnnotations)
		d.Annotations = map[string]string{}
	}
	if d.Spec.InitContainers == nil {
		m.Created = append(m.Created, CreatedInitContainers)
	}
	d.Labels[meshconfig.LabelProxyVersion] = labelValue(in.Version)
	m.Labels = []string{meshconfig.LabelProxyVersion}
	if _, ok := d.Annotations[AnnotationDefaultContainer]; !ok && len(d.Spec.Containers) > 0 && d.Spec.Containers[0].Name != "" {
		d.Annotations[AnnotationDefaultContainer] = d.Spec.Containers[0].Name
		m.Annotations = []string{AnnotationDefaultContainer}
	}
	// The Prometheus annotations go all together or not at all: a pod
	// with one of its own is scraped the way it says.
	if len(s.annotations) > 0 && !slices.ContainsFunc(proxyconfig.PrometheusAnnotationKeys(), func(k string) bool { _, ok := d.Annotations[k]; return ok }) {
		for _, k := range proxyconfig.PrometheusAnnotationKeys() {
			if v, ok := s.annotations[k]; ok {
				d.Annotations[k] = v
				m.Annotations = append(m.Annotations, k)
			}
		}
	}
	// Every pod gets the proxy as a native sidecar right after the rules'
	// init container: the kubelet starts the app's containers once the
	// proxy is ready, and stops the proxy after they have exited (see
	// proxyconfig.NativeSidecarContainer). The app's own init containers
	// run before both, as they did before the pod was injected.
	d.Spec.InitContainers = append(slices.Clip(d.Spec.InitContainers), s.init, s.proxy)
	m.InitContainers = []string{s.init.Name, s.proxy.Name}
	if s.volume != nil {
		if d.Spec.Volumes == nil {
			m.Created = append(m.Created, CreatedVolumes)
		}
		d.Spec.Volumes = append(slices.Clip(d.Spec.Volumes), *s.volume)
		m.Volumes = []string{s.volume.Name}
	}
	d.Annotations[meshconfig.AnnotationInjected] = in.marker(s, m, d.Annotations[AnnotationDefaultContainer])
	return d, m, s.raw
}

// isZeroMeta reports whether m is the zero ObjectMeta, as
// reflect.DeepEqual(*m, metav1.ObjectMeta{}) does (an empty map or slice
// is not zero, a nil one is) without copying m into two interfaces.
func isZeroMeta(m *metav1.ObjectMeta) bool {
	return reflect.ValueOf(m).Elem().IsZero()
}

// labelValue makes a version a valid label value: SemVer build metadata
// ("+abc") has a character labels do not allow.
func labelValue(v string) string {
	v = strings.Map(func(r rune) rune {
		if r == '-' || r == '_' || r == '.' || ('0' <= r && r <= '9') || ('a' <= r && r <= 'z') || ('A' <= r && r <= 'Z') {
			return r
		}
		return '_'
	}, v)
	if len(v) > 63 {
		v = v[:63]
	}
	return strings.Trim(v, "-_.")
}
