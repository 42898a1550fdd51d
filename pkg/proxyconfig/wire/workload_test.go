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
