package wire

import (
	"strings"
	"testing"
)

func TestReadPodEnv(t *testing.T) {
	env := map[string]string{}
	for _, name := range EnvNames() {
		env[name] = strings.ToLower(name)
	}
	lookup := func(k string) (string, bool) { v, ok := env[k]; return v, ok }
	p, err := ReadPodEnv(lookup)
	if err != nil {
		t.Fatal(err)
	}
	if want := (Pod{Name: "pod_name", Namespace: "pod_namespace", IP: "pod_ip", ServiceAccount: "service_account"}); p != want {
		t.Errorf("got %+v, want %+v", p, want)
	}
	for _, name := range EnvNames() {
		saved := env[name]
		env[name] = ""
		if _, err := ReadPodEnv(lookup); err == nil || !strings.Contains(err.Error(), name) {
			t.Errorf("empty %s: got %v", name, err)
		}
		delete(env, name)
		if _, err := ReadPodEnv(lookup); err == nil || !strings.Contains(err.Error(), name) {
			t.Errorf("missing %s: got %v", name, err)
		}
		env[name] = saved
	}
}
