package wire

import (
	"strings"
	"testing"
)

func TestWorkloadCheck(t *testing.T) {
	for _, tc := range []struct {
		w  Workload
		ok bool
	}{
		{Workload{KindDeployment, "web"}, true},
		{Workload{KindStatefulSet, "db-0.x"}, true},
		{Workload{"rollout", "web"}, true},
		{Workload{KindPod, ""}, true},
		{Workload{KindPod, "web-7d9f8"}, true},
		{Workload{KindJob, strings.Repeat("a", 63) + "." + strings.Repeat("b", 63) + "." + strings.Repeat("c", 63) + "." + strings.Repeat("d", 61)}, true},
		{Workload{KindJob, strings.Repeat("a", 63) + "." + strings.Repeat("b", 63) + "." + strings.Repeat("c", 63) + "." + strings.Repeat("d", 62)}, false},
		{Workload{KindDeployment, ""}, false},
		{Workload{"", "web"}, false},
		{Workload{"Deployment", "web"}, false},
		{Workload{"apps/deployment", "web"}, false},
		{Workload{KindDeployment, "-web"}, false},
		{Workload{KindDeployment, "web-"}, false},
		{Workload{KindDeployment, "web..x"}, false},
		{Workload{KindDeployment, "Web"}, false},
		{Workload{KindDeployment, `web",evil="1`}, false},
		{Workload{KindDeployment, "wéb"}, false},
		{Workload{KindDeployment, "web\xff"}, false},
	} {
		if err := tc.w.Check(); (err == nil) != tc.ok {
			t.Errorf("%+v.Check() = %v, want ok=%v", tc.w, err, tc.ok)
		}
	}
}

// TestWorkloadArgsComeLast: the injector renders a definition's arguments
// once and appends each workload's flags (pkg/inject's withWorkload), so
// Run.Args must write them last, whatever else is set.
func TestWorkloadArgsComeLast(t *testing.T) {
	for name, r := range map[string]Run{"minimal": minimalRun(), "full": fullRun()} {
		w := Workload{Kind: KindDeployment, Name: "web"}
		base := r
		base.Workload = nil
		r.Workload = &w
		if got, want := strings.Join(r.Args(), " "), strings.Join(append(base.Args(), w.Args()...), " "); got != want {
			t.Errorf("%s: Args() = %s\nwant the arguments without the workload, then its flags: %s", name, got, want)
		}
	}
}
