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
