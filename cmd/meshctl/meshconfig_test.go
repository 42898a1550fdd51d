package main

import (
	"strings"
	"testing"
)

func TestConfigCommands(t *testing.T) {
	meshNS := installedMesh(t)
	flags := " --mesh-namespace " + meshNS

	assertGolden(t, "config-get", executeCommand(t, kubeEnv(), "config get"+flags))

	r := executeCommand(t, kubeEnv(), "config set sidecar.logLevel=debug traffic.outboundPortExclusionList=25,587"+flags)
	if r.code != 0 || r.stdout != "meshconfig/mesh-config patched\n" || !strings.Contains(r.stderr, "sidecar.logLevel: info -> debug") {
		t.Errorf("set: %+v", r)
	}
	r = executeCommand(t, kubeEnv(), "config get sidecar.logLevel"+flags)
	if r.code != 0 || r.stdout != "debug\n" {
		t.Errorf("get: %+v", r)
	}

	r = executeCommand(t, kubeEnv(), "config set sidecar.logLevel=loud --dry-run"+flags)
	if r.code != 1 || r.stdout != "" || !strings.Contains(r.stderr, "spec.sidecar.logLevel: Unsupported value: \"loud\"") {
		t.Errorf("set a bad value: %+v", r)
	}
}

func TestConfigUsageErrorsGolden(t *testing.T) {
	for _, tc := range []struct{ name, args string }{
		{"config-set-unknown-field", "config set traffic.permissive=false"},
		{"config-set-not-an-assignment", "config set sidecar.logLevel"},
		{"config-get-unknown-field", "config get sidecar.level"},
		{"config-set-twice", "config set sidecar.logLevel=debug sidecar.logLevel=info"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			assertGolden(t, tc.name, executeCommand(t, nil, tc.args))
		})
	}
}
