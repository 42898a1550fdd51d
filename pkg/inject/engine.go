package inject

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"reflect"
	"slices"
	"sort"
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
	sidecars  sync.Map // sidecarKey -> *sidecar
	nSidecars atomic.Int64
	markers   sync.Map // markerKey -> markerText
	nMarkers  atomic.Int64
}

// Bounds of what an Injector memoizes (a few MiB at most); past them,
// sidecars and markers are rendered for every workload.
const (
	maxSidecars = 256
	maxMarkers  = 4096
)

// sidecar is what apply adds for one sidecar definition.
type sidecar struct {
	init, proxy corev1.Container
	// json is the containers' JSON, hashed into the marker; raw holds each
	// container's, which patches carry as their value as it is.
	json []byte
	raw  map[string]json.RawMessage
	// memoized is set when the Injector keeps this sidecar, and so its
	// markers.
	memoized bool
}

// sidecarKey identifies a sidecar definition: the mesh-wide one refined by
// the values of a workload's per-workload annotations and, with JWT
// validation on, by the pod's own httpGet probes, which the proxy lets
// through without a token: two workloads that differ only in their probes
// must not share a sidecar.
type sidecarKey struct {
	mesh        *proxyconfig.Config
	annotations string // "key=length:value" for each that is set
	probes      string // each exempt probe, "port/path" followed by a space
}

// exemptProbes is the part of a sidecarKey that probes set. Paths hold no
// spaces (wire.CheckProbePath), so the text is unambiguous.
func exemptProbes(probes []proxyconfig.Probe) string {
	var k strings.Builder
	for _, p := range probes {
		k.WriteString(p.String())
		k.WriteByte(' ')
	}
	return k.String()
}

// workloadAnnotations is the part of a sidecarKey that annotations set; ""
// for a workload that sets none. Values are prefixed with their length, so
// that no value can pass for several annotations.
func workloadAnnotations(annotations map[string]string) string {
	var k string
	for _, a := range proxyconfig.Annotations() {
		if v, ok := annotations[a]; ok {
			k += a + "=" + strconv.Itoa(len(v)) + ":" + v
		}
	}
	return k
}

// sidecarFor returns the sidecar of a workload with annotations and pod
// spec: the mesh-wide definition refined by the annotations and, when JWT
// validation is on, by the spec's httpGet probes (see
// proxyconfig.HTTPProbesOf), rendered once per distinct set of both. Bad
// annotation values are errors naming the workload; they are not
// memoized, so every workload that has them fails alike.
func (in *Injector) sidecarFor(w Workload, annotations map[string]string, spec *corev1.PodSpec) (*sidecar, error) {
	var probes []proxyconfig.Probe
	if in.Sidecar.JWT != nil {
		probes = proxyconfig.HTTPProbesOf(spec)
	}
	k := sidecarKey{mesh: in.Sidecar, annotations: workloadAnnotations(annotations), probes: exemptProbes(probes)}
	if s, ok := in.sidecars.Load(k); ok {
		return s.(*sidecar), nil
	}
	c, err := in.Sidecar.ForWorkload(w.String(), annotations)
	if err != nil {
		return nil, err
	}
	c = c.WithExemptProbes(probes)
	s := &sidecar{init: c.InitContainer(), proxy: c.NativeSidecarContainer()}
	b, err := json.Marshal([]corev1.Container{s.init, s.proxy})
	if err != nil {
		panic(err) // containers always marshal
	}
	s.json = b
	s.raw = map[string]json.RawMessage{}
	for _, c := range []corev1.Container{s.init, s.proxy} {
		if s.raw[c.Name], err = json.Marshal(c); err != nil {
			panic(err)
		}
	}
	if in.nSidecars.Add(1) <= maxSidecars {
		s.memoized = true
		if prev, loaded := in.sidecars.LoadOrStore(k, s); loaded {
			return prev.(*sidecar), nil
		}
	}
	return s, nil
}

// markerKey is what a marker depends on.
type markerKey struct {
	sidecar                   *sidecar
	version, defaultContainer string
	addedDefault              bool  // the default-container annotation is added
	created                   uint8 // createdBit of each entry of Created
}

// createdBit stands for one of the fields a Marker may list in Created.
// apply adds them in one order, so that the set of them says the list.
func createdBit(field string) uint8 {
	switch field {
	case CreatedMetadata:
		return 1
	case CreatedLabels:
		return 2
	case CreatedAnnotations:
		return 4
	case CreatedInitContainers:
		return 8
	}
	panic("inject: unknown created field " + field)
}

type markerText struct{ hash, text string }

// marker fills in m's hash and returns m as the annotation's value. Both
// depend only on the sidecar, the version, the default container and what
// was created, which most workloads of a stream share: hashing the
// containers' JSON and marshalling the marker are done once per
// combination.
func (in *Injector) marker(s *sidecar, m *Marker, defaultContainer string) string {
	k := markerKey{sidecar: s, version: m.Version, defaultContainer: defaultContainer, addedDefault: len(m.Annotations) > 0}
	for _, c := range m.Created {
		k.created |= createdBit(c)
	}
	if !s.memoized {
		m.Hash = hash(m.Version, defaultContainer, s.json)
		return m.String()
	}
	if t, ok := in.markers.Load(k); ok {
		m.Hash = t.(markerText).hash
		return t.(markerText).text
	}
	m.Hash = hash(m.Version, defaultContainer, s.json)
	text := m.String()
	if in.nMarkers.Add(1) <= maxMarkers {
		in.markers.Store(k, markerText{m.Hash, text})
	}
	return text
}

// New returns the injector of the mesh configured by spec.
func New(spec meshconfig.MeshConfigSpec, meshName, meshNamespace string) (*Injector, error) {
	c, err := proxyconfig.New(spec)
	if err != nil {
		return nil, fmt.Errorf("MeshConfig: %w", err)
	}
	return &Injector{Sidecar: c, MeshName: meshName, MeshNamespace: meshNamespace, Version: version.Version()}, nil
}

// Workload is one pod template to inject, and what names it.
type Workload struct {
	// Kind is the lower-case kind, such as "deployment", for the report.
	Kind string
	// Name is the workload's name.
	Name string
	// Namespace is where the workload runs; empty when unknown (a manifest
	// without metadata.namespace), in which case no namespace is skipped.
	Namespace string
	// Template is the pod template; the engine does not modify it. Nil
	// means the workload has none.
	Template *corev1.PodTemplateSpec
	// HasMetadata says that the template has a metadata field even if
	// Template's ObjectMeta is zero ("metadata: {}"), which a decoded
	// template cannot tell from none. Injection then records that it
	// added labels and annotations, not metadata, so that uninjection
	// leaves the field as it was rather than removing it.
	HasMetadata bool
}

// String names the workload as the report does: "deployment/web".
func (w Workload) String() string {
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
	return in.Inject(Workload{Kind: "pod", Name: name, Namespace: namespace,
		Template: &corev1.PodTemplateSpec{ObjectMeta: pod.ObjectMeta, Spec: pod.Spec}})
}

// Inject computes the patch that gives w the current sidecar. A template
// without a marker gets the sidecar added; one whose marker matches this
// injection exactly is Unchanged (an empty patch); one injected by another
// version or with another configuration has the old sidecar replaced. Bad
// per-workload annotations or a corrupt marker are errors naming w.
func (in *Injector) Inject(w Workload) (*Result, error) {
	if w.Template == nil {
		return skipped(SkipNoPodTemplate, ""), nil
	}
	if in.Sidecar == nil {
		return nil, errors.New("inject: Injector.Sidecar is not set")
	}
	cur := w.Template
	if optedOut(cur.Annotations) {
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
	// The probes are the app's own: base is the template without any
	// sidecar of an earlier injection.
	sidecar, err := in.sidecarFor(w, cur.Annotations, &base.Spec)
	if err != nil {
		return nil, err
	}
	// A template whose marker says it had no metadata has it only because
	// it was injected.
	hadMetadata := w.HasMetadata && (old == nil || !slices.Contains(old.Created, CreatedMetadata))
	desired, marker, raw := in.apply(base, sidecar, hadMetadata)
	if old != nil && old.Version == marker.Version && old.Hash == marker.Hash && hasContainers(cur, old) {
		// Compare markers, not containers: an API server fills defaults into
		// a stored pod's containers, and those must not count as a change.
		return &Result{Action: Unchanged, Detail: "already injected"}, nil
	}
	r := &Result{Action: Injected, Patch: diff(cur, desired, raw, hadMetadata)}
	if old != nil {
		r.Action = Updated
		if old.Version != in.Version {
			r.Action, r.Detail = Upgraded, "from "+old.Version
		}
	}
	return r, nil
}

// Uninject computes the patch that removes what w's marker says was added.
func (in *Injector) Uninject(w Workload) (*Result, error) {
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
	return &Result{Action: Uninjected, Patch: diff(w.Template, base, nil, keep)}, nil
}

// EnrolNamespace computes the patch that enrols a Namespace object in the
// mesh: the monitored-by label and the sidecar-injection annotation.
func (in *Injector) EnrolNamespace(ns *metav1.ObjectMeta) *Result {
	if r := in.skipNamespace(ns.Name); r != nil {
		return r
	}
	cur := &corev1.PodTemplateSpec{ObjectMeta: *ns}
	desired := cur.DeepCopy()
	desired.Labels = setKey(desired.Labels, meshconfig.LabelMonitoredBy, in.MeshName)
	desired.Annotations = setKey(desired.Annotations, meshconfig.AnnotationSidecarInjection, meshconfig.InjectionEnabled)
	p := diff(cur, desired, nil, false)
	if len(p) == 0 {
		return &Result{Action: Unchanged, Detail: "already enrolled"}
	}
	return &Result{Action: Enrolled, Patch: p}
}

func setKey(m map[string]string, k, v string) map[string]string {
	if m == nil {
		m = map[string]string{}
	}
	m[k] = v
	return m
}

func (in *Injector) skipNamespace(ns string) *Result {
	switch {
	case ns == "":
		return nil
	case slices.Contains(meshconfig.SystemNamespaces(), ns):
		return skipped(SkipSystemNamespace, ns)
	case ns == in.MeshNamespace:
		return skipped(SkipControlPlaneNamespace, ns)
	}
	return nil
}

// baseOf returns w's template as it was before any injection (a copy), and
// the marker when there is one.
func baseOf(w Workload) (*corev1.PodTemplateSpec, *Marker, error) {
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
	for _, k := range m.Labels {
		delete(b.Labels, k)
	}
	for _, k := range append(slices.Clone(m.Annotations), meshconfig.AnnotationInjected) {
		delete(b.Annotations, k)
	}
	if slices.Contains(m.Created, CreatedInitContainers) && len(b.Spec.InitContainers) == 0 {
		b.Spec.InitContainers = nil
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
func (in *Injector) apply(base *corev1.PodTemplateSpec, s *sidecar, hasMetadata bool) (*corev1.PodTemplateSpec, *Marker, map[string]json.RawMessage) {
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
	// Every pod gets the proxy as a native sidecar right after the rules'
	// init container: the kubelet starts the app's containers once the
	// proxy is ready, and stops the proxy after they have exited (see
	// proxyconfig.NativeSidecarContainer). The app's own init containers
	// run before both, as they did before the pod was injected.
	d.Spec.InitContainers = append(slices.Clip(d.Spec.InitContainers), s.init, s.proxy)
	m.InitContainers = []string{s.init.Name, s.proxy.Name}
	d.Annotations[meshconfig.AnnotationInjected] = in.marker(s, m, d.Annotations[AnnotationDefaultContainer])
	return d, m, s.raw
}

// isZeroMeta reports whether m is the zero ObjectMeta, as
// reflect.DeepEqual(*m, metav1.ObjectMeta{}) does (an empty map or slice
// is not zero, a nil one is) without copying m into two interfaces.
func isZeroMeta(m *metav1.ObjectMeta) bool {
	return reflect.ValueOf(m).Elem().IsZero()
}

func hash(version, defaultContainer string, containers []byte) string {
	h := sha256.New()
	for _, part := range [][]byte{[]byte(version), []byte(defaultContainer), containers} {
		h.Write(part)
		h.Write([]byte{0})
	}
	return hex.EncodeToString(h.Sum(nil)[:8])
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

// diff is the patch from cur to desired. They differ only in the fields the
// injector owns: labels, annotations, init containers and containers. raw
// holds the JSON of containers by name, for values that need no marshalling.
// keepMetadata says cur's metadata field exists even if its ObjectMeta is
// zero: labels and annotations are added into it and removed from it,
// rather than the field being added or removed whole, which would drop
// what else it holds ("creationTimestamp: null", say).
func diff(cur, desired *corev1.PodTemplateSpec, raw map[string]json.RawMessage, keepMetadata bool) Patch {
	var p Patch
	curZero := isZeroMeta(&cur.ObjectMeta)
	desZero := isZeroMeta(&desired.ObjectMeta)
	switch {
	case curZero && !desZero && !keepMetadata:
		meta := map[string]any{}
		if desired.Labels != nil {
			meta["labels"] = desired.Labels
		}
		if desired.Annotations != nil {
			meta["annotations"] = desired.Annotations
		}
		p = append(p, Operation{Op: OpAdd, Path: "/metadata", Value: meta})
	case !curZero && desZero && !keepMetadata:
		p = append(p, Operation{Op: OpRemove, Path: "/metadata"})
	case curZero:
		// Into a metadata field that holds nothing the engine decodes, in
		// the order adding the field whole gives them (sorted).
		p = mapOps(p, "/metadata/annotations", cur.Annotations, desired.Annotations)
		p = mapOps(p, "/metadata/labels", cur.Labels, desired.Labels)
	default:
		p = mapOps(p, "/metadata/labels", cur.Labels, desired.Labels)
		p = mapOps(p, "/metadata/annotations", cur.Annotations, desired.Annotations)
	}
	p = listOps(p, "/spec/initContainers", cur.Spec.InitContainers, desired.Spec.InitContainers, raw)
	p = listOps(p, "/spec/containers", cur.Spec.Containers, desired.Spec.Containers, raw)
	return p
}

func mapOps(p Patch, path string, cur, desired map[string]string) Patch {
	switch {
	case cur == nil && desired == nil:
		return p
	case cur == nil:
		return append(p, Operation{Op: OpAdd, Path: path, Value: desired})
	case desired == nil:
		return append(p, Operation{Op: OpRemove, Path: path})
	}
	var gone []string
	for k := range cur {
		if _, ok := desired[k]; !ok {
			gone = append(gone, k)
		}
	}
	sort.Strings(gone)
	for _, k := range gone {
		p = append(p, Operation{Op: OpRemove, Path: path + "/" + PointerToken(k)})
	}
	keys := make([]string, 0, len(desired))
	for k := range desired {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		v, had := cur[k]
		switch {
		case !had:
			p = append(p, Operation{Op: OpAdd, Path: path + "/" + PointerToken(k), Value: desired[k]})
		case v != desired[k]:
			p = append(p, Operation{Op: OpReplace, Path: path + "/" + PointerToken(k), Value: desired[k]})
		}
	}
	return p
}

// listOps matches containers by name: names that are gone are removed
// (from the end, so earlier indexes stay valid), changed ones are replaced
// where they are, and new ones are inserted right after the container that
// precedes them in desired (appended when that is the last one), so that
// the proxy lands right after the rules' init container even where an init
// container was added after them since an older injection.
func listOps(p Patch, path string, cur, desired []corev1.Container, raw map[string]json.RawMessage) Patch {
	value := func(c corev1.Container) any {
		if r, ok := raw[c.Name]; ok {
			return r
		}
		return c
	}
	switch {
	case cur == nil && desired == nil:
		return p
	case cur == nil && !slices.ContainsFunc(desired, func(c corev1.Container) bool { _, ok := raw[c.Name]; return !ok }):
		items := make([]any, len(desired))
		for i, c := range desired {
			items[i] = value(c)
		}
		return append(p, Operation{Op: OpAdd, Path: path, Value: items})
	case cur == nil:
		return append(p, Operation{Op: OpAdd, Path: path, Value: desired})
	case desired == nil:
		return append(p, Operation{Op: OpRemove, Path: path})
	}
	names := make([]string, 0, len(cur))
	for _, c := range cur {
		names = append(names, c.Name)
	}
	for i := len(cur) - 1; i >= 0; i-- {
		if !slices.ContainsFunc(desired, func(c corev1.Container) bool { return c.Name == cur[i].Name }) {
			p = append(p, Operation{Op: OpRemove, Path: fmt.Sprintf("%s/%d", path, i)})
			names = slices.Delete(names, i, i+1)
		}
	}
	for k, d := range desired {
		i := slices.Index(names, d.Name)
		if i < 0 {
			at := len(names)
			if k > 0 {
				if j := slices.Index(names, desired[k-1].Name); j >= 0 {
					at = j + 1
				}
			}
			if at == len(names) {
				p = append(p, Operation{Op: OpAdd, Path: path + "/-", Value: value(d)})
			} else {
				p = append(p, Operation{Op: OpAdd, Path: fmt.Sprintf("%s/%d", path, at), Value: value(d)})
			}
			names = slices.Insert(names, at, d.Name)
			continue
		}
		if d.Name != proxyconfig.InitContainerName && d.Name != proxyconfig.ProxyContainerName {
			continue // the app's containers: desired holds them as they are
		}
		c := cur[slices.IndexFunc(cur, func(c corev1.Container) bool { return c.Name == d.Name })]
		if !sameJSON(c, d) {
			p = append(p, Operation{Op: OpReplace, Path: fmt.Sprintf("%s/%d", path, i), Value: value(d)})
		}
	}
	return p
}

func sameJSON(a, b any) bool {
	x, err1 := json.Marshal(a)
	y, err2 := json.Marshal(b)
	return err1 == nil && err2 == nil && string(x) == string(y)
}
