package meshconfig

import (
	"errors"
	"testing"
)

func TestCheckEnrolment(t *testing.T) {
	other := map[string]string{LabelMonitoredBy: "other"}
	mine := map[string]string{LabelMonitoredBy: "mesh"}
	for _, tc := range []struct {
		name   string
		labels map[string]string
		force  bool
		want   error
		msg    string
	}{
		{name: "bookstore"},
		{name: "bookstore", labels: mine},
		{name: "bookstore", labels: other, force: true},
		{name: "bookstore", labels: other, want: ErrOtherMesh,
			msg: `namespace "bookstore": is enrolled in another mesh "other": pass --force to move it to mesh "mesh"`},
		{name: "kube-system", want: ErrSystemNamespace},
		{name: "kube-node-lease", force: true, want: ErrSystemNamespace},
		{name: "mesh-system", force: true, want: ErrControlPlaneNamespace,
			msg: `namespace "mesh-system": is the control-plane namespace and cannot join a mesh`},
	} {
		err := CheckEnrolment(tc.name, tc.labels, "mesh", "mesh-system", tc.force)
		if !errors.Is(err, tc.want) || (tc.want == nil) != (err == nil) {
			t.Errorf("CheckEnrolment(%q, %v, force=%v) = %v, want %v", tc.name, tc.labels, tc.force, err, tc.want)
			continue
		}
		if tc.msg != "" && err.Error() != tc.msg {
			t.Errorf("CheckEnrolment(%q) message\n got %s\nwant %s", tc.name, err, tc.msg)
		}
	}
}

func TestInjectionOf(t *testing.T) {
	const mesh = "mesh"
	for _, tc := range []struct {
		name                string
		labels, annotations map[string]string
		want                NamespaceInjection
		injects             bool
	}{
		{name: "not enrolled", want: NamespaceInjection{}},
		{name: "enrolled, label and annotation",
			labels:      map[string]string{LabelMonitoredBy: mesh, LabelSidecarInjection: InjectionEnabled},
			annotations: map[string]string{AnnotationSidecarInjection: InjectionEnabled},
			want:        NamespaceInjection{Mesh: mesh, Setting: InjectionEnabled}, injects: true},
		{name: "disabled",
			labels:      map[string]string{LabelMonitoredBy: mesh, LabelSidecarInjection: InjectionDisabled},
			annotations: map[string]string{AnnotationSidecarInjection: InjectionDisabled},
			want:        NamespaceInjection{Mesh: mesh, Setting: InjectionDisabled}},
		{name: "older enrolment: annotation only, still injected",
			labels:      map[string]string{LabelMonitoredBy: mesh},
			annotations: map[string]string{AnnotationSidecarInjection: InjectionEnabled},
			want:        NamespaceInjection{Mesh: mesh, Setting: InjectionEnabled, LabelMissing: true}, injects: true},
		{name: "older enrolment, disabled",
			labels:      map[string]string{LabelMonitoredBy: mesh},
			annotations: map[string]string{AnnotationSidecarInjection: InjectionDisabled},
			want:        NamespaceInjection{Mesh: mesh, Setting: InjectionDisabled, LabelMissing: true}},
		{name: "label wins over an edited annotation",
			labels:      map[string]string{LabelMonitoredBy: mesh, LabelSidecarInjection: InjectionDisabled},
			annotations: map[string]string{AnnotationSidecarInjection: InjectionEnabled},
			want:        NamespaceInjection{Mesh: mesh, Setting: InjectionDisabled, Conflict: true}},
		{name: "label alone",
			labels: map[string]string{LabelMonitoredBy: mesh, LabelSidecarInjection: InjectionEnabled},
			want:   NamespaceInjection{Mesh: mesh, Setting: InjectionEnabled}, injects: true},
		{name: "another mesh",
			labels: map[string]string{LabelMonitoredBy: "other", LabelSidecarInjection: InjectionEnabled},
			want:   NamespaceInjection{Mesh: "other", Setting: InjectionEnabled}},
		{name: "no mesh label: never injected",
			labels: map[string]string{LabelSidecarInjection: InjectionEnabled},
			want:   NamespaceInjection{Setting: InjectionEnabled}},
		{name: "another value is not enabled",
			labels: map[string]string{LabelMonitoredBy: mesh, LabelSidecarInjection: "true"},
			want:   NamespaceInjection{Mesh: mesh, Setting: "true"}},
	} {
		got := InjectionOf(tc.labels, tc.annotations)
		if got != tc.want {
			t.Errorf("%s: InjectionOf = %+v, want %+v", tc.name, got, tc.want)
		}
		if got.Injects(mesh) != tc.injects {
			t.Errorf("%s: Injects(%q) = %v, want %v", tc.name, mesh, got.Injects(mesh), tc.injects)
		}
	}
}

// What enrolment writes reads back as enrolled, and removing its keys
// leaves nothing enrolled.
func TestEnrolmentMetadataRoundTrip(t *testing.T) {
	for _, setting := range []string{InjectionEnabled, InjectionDisabled} {
		l, a := EnrolmentMetadata("blue", setting)
		got := InjectionOf(l, a)
		if got != (NamespaceInjection{Mesh: "blue", Setting: setting}) {
			t.Errorf("EnrolmentMetadata(blue, %s) reads as %+v", setting, got)
		}
		lk, ak := EnrolmentKeys()
		for _, k := range lk {
			delete(l, k)
		}
		for _, k := range ak {
			delete(a, k)
		}
		if len(l)+len(a) != 0 || InjectionOf(l, a) != (NamespaceInjection{}) {
			t.Errorf("EnrolmentKeys leave %v %v", l, a)
		}
	}
}

func TestPodOptsOut(t *testing.T) {
	for _, tc := range []struct {
		labels, annotations map[string]string
		want                bool
	}{
		{nil, nil, false},
		{map[string]string{LabelSidecarInjection: InjectionDisabled}, nil, true},
		{nil, map[string]string{AnnotationSidecarInjection: InjectionDisabled}, true},
		{map[string]string{LabelSidecarInjection: InjectionEnabled}, nil, false},
		{nil, map[string]string{AnnotationSidecarInjection: "false"}, false},
	} {
		if got := PodOptsOut(tc.labels, tc.annotations); got != tc.want {
			t.Errorf("PodOptsOut(%v, %v) = %v, want %v", tc.labels, tc.annotations, got, tc.want)
		}
	}
}
