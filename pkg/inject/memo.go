package inject

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"slices"
	"strconv"
	"strings"

	corev1 "k8s.io/api/core/v1"

	"github.com/meshctl/meshctl/pkg/proxyconfig"
	"github.com/meshctl/meshctl/pkg/proxyconfig/wire"
)

// Bounds of what an Injector memoizes (a few MiB at most); past them,
// sidecars and markers are rendered for every workload.
const (
	maxSidecars = 256
	maxMarkers  = 4096
)

// renderedSidecar is a sidecar definition rendered once: the containers
// and pod annotations apply adds and their JSON, memoized by the Injector
// per sidecarKey, then once more for each workload (withWorkload).
type renderedSidecar struct {
	init, proxy corev1.Container
	// volume is the proxy's identity volume, nil for a sidecar without
	// identity.
	volume *corev1.Volume
	// annotations are the pod annotations the sidecar asks for (the
	// Prometheus ones), which apply adds where the pod has none of them.
	annotations map[string]string
	// json is the containers' JSON, the volume's and the annotations',
	// hashed into the marker; raw holds each container's and the
	// volume's, which patches carry as their value as it is.
	json []byte
	raw  map[string]json.RawMessage
	// workloadArgs, when set, are the proxy's arguments naming its
	// workload, which raw's proxy container lacks (withWorkload); base is
	// then the sidecar they were derived from, whose markers this one's
	// are.
	workloadArgs []string
	base         *renderedSidecar
	// memoized is set when the Injector keeps this sidecar, and so its
	// markers.
	memoized bool
}

// render fills in s's JSON from its containers, volume and annotations.
func (s *renderedSidecar) render() {
	s.raw = map[string]json.RawMessage{}
	var err error
	for _, c := range []corev1.Container{s.init, s.proxy} {
		if s.raw[c.Name], err = json.Marshal(c); err != nil {
			panic(err) // containers always marshal
		}
	}
	// The bytes json.Marshal writes for the two containers as a list.
	s.json = slices.Concat([]byte("["), s.raw[s.init.Name], []byte(","), s.raw[s.proxy.Name], []byte("]"))
	if s.volume != nil {
		// The volume is part of what the marker's hash covers.
		if s.raw[s.volume.Name], err = json.Marshal(s.volume); err != nil {
			panic(err)
		}
		s.json = append(s.json, s.raw[s.volume.Name]...)
	}
	if len(s.annotations) > 0 {
		b, err := json.Marshal(s.annotations) // sorted by key
		if err != nil {
			panic(err)
		}
		s.json = append(s.json, b...)
	}
}

// withWorkload is s for the pods of one workload, whose proxy names it in
// its arguments. It shares s's JSON and markers: only the arguments
// differ, which Inject writes with an operation of their own and compares
// itself, so that the containers' JSON and the marker stay one per sidecar
// definition, which `meshctl inject` converts and prints once for a whole
// stream rather than once per workload.
func (s *renderedSidecar) withWorkload(w wire.Workload) *renderedSidecar {
	d := *s
	// The workload's flags come last (wire.Workload.Args): appended to
	// the definition's own arguments, rendered once, rather than the
	// definition cloned and rendered again for each workload.
	d.proxy.Args = slices.Concat(s.proxy.Args, w.Args())
	d.workloadArgs = d.proxy.Args
	d.base = s
	return &d
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
func exemptProbes(probes []wire.Probe) string {
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
func (in *Injector) sidecarFor(w Target, annotations map[string]string, spec *corev1.PodSpec) (*renderedSidecar, error) {
	var probes []wire.Probe
	if in.Sidecar.JWT != nil || in.Sidecar.Identity != nil {
		probes = proxyconfig.HTTPProbesOf(spec)
	}
	k := sidecarKey{mesh: in.Sidecar, annotations: workloadAnnotations(annotations), probes: exemptProbes(probes)}
	if s, ok := in.sidecars.Load(k); ok {
		return s.(*renderedSidecar), nil
	}
	c, err := in.Sidecar.ForWorkload(w.String(), annotations)
	if err != nil {
		return nil, err
	}
	c = c.WithExemptProbes(probes)
	s := &renderedSidecar{init: c.InitContainer(), proxy: c.NativeSidecarContainer(), annotations: c.PrometheusAnnotations()}
	if c.Identity != nil {
		v := proxyconfig.IdentityVolume()
		s.volume = &v
	}
	s.render()
	if in.nSidecars.Add(1) <= maxSidecars {
		s.memoized = true
		if prev, loaded := in.sidecars.LoadOrStore(k, s); loaded {
			return prev.(*renderedSidecar), nil
		}
	}
	return s, nil
}

// markerKey is what a marker depends on.
type markerKey struct {
	sidecar                   *renderedSidecar
	version, defaultContainer string
	annotations               string // the keys of Marker.Annotations, joined
	created                   uint8  // createdBit of each entry of Created
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
	case CreatedVolumes:
		return 16
	}
	panic("inject: unknown created field " + field)
}

type markerText struct{ hash, text string }

// marker fills in m's hash and returns m as the annotation's value. Both
// depend only on the sidecar, the version, the default container, the
// annotations added and what was created, which most workloads of a
// stream share: hashing the containers' JSON and marshalling the marker
// are done once per combination.
func (in *Injector) marker(s *renderedSidecar, m *Marker, defaultContainer string) string {
	if s.base != nil {
		s = s.base
	}
	k := markerKey{sidecar: s, version: m.Version, defaultContainer: defaultContainer, annotations: strings.Join(m.Annotations, ",")}
	for _, c := range m.Created {
		k.created |= createdBit(c)
	}
	if !s.memoized {
		m.Hash = hash(m.Version, defaultContainer, k.annotations, s.json)
		return m.String()
	}
	if t, ok := in.markers.Load(k); ok {
		m.Hash = t.(markerText).hash
		return t.(markerText).text
	}
	m.Hash = hash(m.Version, defaultContainer, k.annotations, s.json)
	text := m.String()
	if in.nMarkers.Add(1) <= maxMarkers {
		in.markers.Store(k, markerText{m.Hash, text})
	}
	return text
}

// hash covers the added annotations' keys too: a pod whose own Prometheus
// annotation kept the injector from adding its own is injected again once
// the pod's is gone.
func hash(version, defaultContainer, annotations string, containers []byte) string {
	h := sha256.New()
	for _, part := range [][]byte{[]byte(version), []byte(defaultContainer), []byte(annotations), containers} {
		h.Write(part)
		h.Write([]byte{0})
	}
	return hex.EncodeToString(h.Sum(nil)[:8])
}
