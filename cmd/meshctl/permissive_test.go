package main

import (
	"strings"
	"testing"
)

func TestPermissiveCommands(t *testing.T) {
	meshNS := installedMesh(t)
	flags := " --mesh-namespace " + meshNS

	r := executeCommand(t, kubeEnv(), "permissive status"+flags)
	if r.code != 0 || r.stdout != "enabled\n" {
		t.Errorf("status: %+v", r)
	}

	// stdin is not a terminal: disable must be confirmed with --yes.
	r = executeCommand(t, kubeEnv(), "permissive disable"+flags)
	if r.code != 2 || r.stdout != "" || !strings.Contains(r.stderr, "pass --yes") {
		t.Errorf("disable without --yes: %+v", r)
	}

	r = executeCommand(t, kubeEnv(), "permissive disable --yes"+flags)
	if r.code != 0 || r.stdout != "meshconfig/mesh-config patched\n" || !strings.Contains(r.stderr, "enabled -> disabled") {
		t.Errorf("disable --yes: %+v", r)
	}
	r = executeCommand(t, kubeEnv(), "permissive status -o json"+flags)
	if r.code != 0 || !strings.Contains(r.stdout, `"permissive": false`) {
		t.Errorf("status -o json: %+v", r)
	}
	r = executeCommand(t, kubeEnv(), "permissive enable"+flags)
	if r.code != 0 || !strings.Contains(r.stderr, "disabled -> enabled") {
		t.Errorf("enable: %+v", r)
	}
}
