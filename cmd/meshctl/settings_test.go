package main

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"k8s.io/cli-runtime/pkg/genericiooptions"

	"github.com/meshctl/meshctl/pkg/cli"
)

// TestSettingsPrecedence checks flag > MESHCTL_* env > config file > default
// for a plain flag, a list flag and NO_COLOR.
func TestSettingsPrecedence(t *testing.T) {
	dir := t.TempDir()
	writeConfig := func(name, body string) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, []byte(body), 0o600); err != nil {
			t.Fatal(err)
		}
		return p
	}
	xdg := filepath.Join(dir, "xdg")
	if err := os.MkdirAll(filepath.Join(xdg, "meshctl"), 0o700); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(xdg, "meshctl", "config.yaml"), []byte("mesh-namespace: from-xdg\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	explicit := writeConfig("explicit.yaml", "mesh-namespace: from-file\nmesh-name: file-mesh\nas-group: [a, b]\nverbose: 2\n")

	cases := []struct {
		name      string
		args      []string
		env       map[string]string
		namespace string
		meshName  string
		verbosity int
		noColor   bool
		asGroups  []string
	}{
		{name: "default", namespace: "mesh-system", meshName: "mesh"},
		{name: "default config file", env: map[string]string{"XDG_CONFIG_HOME": xdg}, namespace: "from-xdg", meshName: "mesh"},
		{name: "explicit config file", args: []string{"--config", explicit}, namespace: "from-file", meshName: "file-mesh", verbosity: 2, asGroups: []string{"a", "b"}},
		{name: "config file from env", env: map[string]string{"MESHCTL_CONFIG": explicit}, namespace: "from-file", meshName: "file-mesh", verbosity: 2, asGroups: []string{"a", "b"}},
		{name: "env beats config file", args: []string{"--config", explicit}, env: map[string]string{"MESHCTL_MESH_NAMESPACE": "from-env"}, namespace: "from-env", meshName: "file-mesh", verbosity: 2, asGroups: []string{"a", "b"}},
		{name: "flag beats env", args: []string{"--config", explicit, "--mesh-namespace", "from-flag"}, env: map[string]string{"MESHCTL_MESH_NAMESPACE": "from-env"}, namespace: "from-flag", meshName: "file-mesh", verbosity: 2, asGroups: []string{"a", "b"}},
		{name: "env for a count flag", env: map[string]string{"MESHCTL_VERBOSE": "3"}, namespace: "mesh-system", meshName: "mesh", verbosity: 3},
		{name: "NO_COLOR", env: map[string]string{"NO_COLOR": "1"}, namespace: "mesh-system", meshName: "mesh", noColor: true},
		{name: "empty NO_COLOR is ignored", env: map[string]string{"NO_COLOR": ""}, namespace: "mesh-system", meshName: "mesh"},
		{name: "--no-color", args: []string{"--no-color"}, namespace: "mesh-system", meshName: "mesh", noColor: true},
		{name: "MESHCTL_NO_COLOR", env: map[string]string{"MESHCTL_NO_COLOR": "true"}, namespace: "mesh-system", meshName: "mesh", noColor: true},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			s := &cli.Settings{}
			var out, errOut bytes.Buffer
			lookup := func(k string) (string, bool) { v, ok := tc.env[k]; return v, ok }
			root := newRootCmd(s, genericiooptions.IOStreams{In: strings.NewReader(""), Out: &out, ErrOut: &errOut}, lookup)
			root.SetArgs(append([]string{"version", "--client"}, tc.args...))
			if err := root.Execute(); err != nil {
				t.Fatalf("execute: %v", err)
			}
			if s.MeshNamespace != tc.namespace || s.MeshName != tc.meshName || s.Verbosity != tc.verbosity || s.NoColor != tc.noColor {
				t.Errorf("got namespace=%q name=%q verbosity=%d noColor=%v, want %q %q %d %v",
					s.MeshNamespace, s.MeshName, s.Verbosity, s.NoColor, tc.namespace, tc.meshName, tc.verbosity, tc.noColor)
			}
			if got := *s.Kube.Impersonate; got != "" {
				t.Errorf("impersonate = %q, want empty", got)
			}
			if got := strings.Join(*s.Kube.ImpersonateGroup, ","); got != strings.Join(tc.asGroups, ",") {
				t.Errorf("as-group = %q, want %q", got, strings.Join(tc.asGroups, ","))
			}
		})
	}
}

func TestSettingsErrors(t *testing.T) {
	dir := t.TempDir()
	bad := filepath.Join(dir, "bad.yaml")
	if err := os.WriteFile(bad, []byte("mesh-namspace: typo\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	list := filepath.Join(dir, "list.yaml")
	if err := os.WriteFile(list, []byte("mesh-name: [a, b]\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	cases := []struct {
		name   string
		args   string
		env    map[string]string
		stderr string
	}{
		{name: "unknown key names it", args: "version --client --config " + bad, stderr: "unknown key mesh-namspace"},
		{name: "missing explicit file", args: "version --client --config " + filepath.Join(dir, "nope.yaml"), stderr: "nope.yaml"},
		{name: "list for a single-value flag", args: "version --client --config " + list, stderr: `key "mesh-name": flag --mesh-name takes one value, not a list`},
		{name: "bad env value", args: "version --client", env: map[string]string{"MESHCTL_VERBOSE": "lots"}, stderr: "environment variable MESHCTL_VERBOSE"},
		{name: "bad mesh name from env", args: "version --client", env: map[string]string{"MESHCTL_MESH_NAME": "UPPER"}, stderr: `invalid --mesh-name "UPPER"`},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			r := executeCommand(t, tc.env, tc.args)
			if r.code != cli.ExitUsage {
				t.Errorf("exit code = %d, want %d", r.code, cli.ExitUsage)
			}
			if !strings.Contains(r.stderr, tc.stderr) {
				t.Errorf("stderr does not contain %q:\n%s", tc.stderr, r.stderr)
			}
			if r.stdout != "" {
				t.Errorf("stdout is not empty:\n%s", r.stdout)
			}
		})
	}
}

// TestNothingButTheCommandLineConfirms: --yes, --force and --purge are
// refused from the environment and the config file, wherever they are
// written, so that a variable or key left behind never answers for the
// operator; the refusal is a usage error before anything runs.
func TestNothingButTheCommandLineConfirms(t *testing.T) {
	dir := t.TempDir()
	file := func(name, body string) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, []byte(body), 0o600); err != nil {
			t.Fatal(err)
		}
		return p
	}
	cases := []struct {
		name   string
		args   string
		env    map[string]string
		stderr string
	}{
		{name: "MESHCTL_YES", args: "uninstall", env: map[string]string{"MESHCTL_YES": "true"}, stderr: "environment variable MESHCTL_YES: --yes confirms a destructive change and is taken from the command line only"},
		{name: "MESHCTL_PURGE", args: "uninstall --yes", env: map[string]string{"MESHCTL_PURGE": "true"}, stderr: "environment variable MESHCTL_PURGE: --purge confirms"},
		{name: "MESHCTL_FORCE", args: "namespace add bookstore", env: map[string]string{"MESHCTL_FORCE": "1"}, stderr: "environment variable MESHCTL_FORCE: --force confirms"},
		{name: "MESHCTL_YES for permissive disable", args: "permissive disable", env: map[string]string{"MESHCTL_YES": "true"}, stderr: "MESHCTL_YES: --yes confirms"},
		{name: "yes at the top of the config file", args: "version --client --config " + file("top.yaml", "yes: true\n"), stderr: "key yes: --yes confirms a destructive change and is taken from the command line only"},
		{name: "yes in a command's section", args: "version --client --config " + file("section.yaml", "commands:\n  uninstall:\n    yes: true\n"), stderr: `key commands."uninstall".yes: --yes confirms`},
		{name: "force in a command's section", args: "version --client --config " + file("force.yaml", "commands:\n  namespace add:\n    force: true\n"), stderr: `key commands."namespace add".force: --force confirms`},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			r := executeCommand(t, tc.env, tc.args)
			if r.code != cli.ExitUsage || !strings.Contains(r.stderr, tc.stderr) || r.stdout != "" {
				t.Errorf("exit %d, stdout %q, stderr %q; want exit 2 and %q", r.code, r.stdout, r.stderr, tc.stderr)
			}
		})
	}
}

// TestConfigKeysAreScoped: a flag several commands have with different
// meanings is refused at the top of the config file and taken from the
// command's own section, for that command only.
func TestConfigKeysAreScoped(t *testing.T) {
	dir := t.TempDir()
	file := func(name, body string) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, []byte(body), 0o600); err != nil {
			t.Fatal(err)
		}
		return p
	}
	top := file("top.yaml", "timeout: 1m\n")
	r := executeCommand(t, nil, "version --client --config "+top)
	if r.code != cli.ExitUsage || !strings.Contains(r.stderr, "key timeout: --timeout means different things to ") ||
		!strings.Contains(r.stderr, "install") || !strings.Contains(r.stderr, "uninstall") || !strings.Contains(r.stderr, `commands: {"`) {
		t.Errorf("timeout at the top: exit %d, stderr %q", r.code, r.stderr)
	}

	// The uninstall section's timeout reaches uninstall (which refuses 0s)
	// and not install.
	scoped := file("scoped.yaml", "mesh-namespace: from-file\ncommands:\n  uninstall:\n    timeout: 0s\n")
	r = executeCommand(t, nil, "uninstall --yes --config "+scoped)
	if r.code != cli.ExitUsage || !strings.Contains(r.stderr, "--timeout must be positive") {
		t.Errorf("uninstall with its section's timeout 0s: exit %d, stderr %q", r.code, r.stderr)
	}
	r = executeCommand(t, nil, "install --dry-run --config "+scoped)
	if r.code != cli.ExitOK || !strings.Contains(r.stdout, "namespace: from-file") {
		t.Errorf("install with the uninstall section: exit %d, stderr %q", r.code, r.stderr)
	}
	// A flag of one command alone may stay at the top.
	one := file("one.yaml", "all-meshes: true\n")
	if r := executeCommand(t, nil, "version --client --config "+one); r.code != cli.ExitOK {
		t.Errorf("all-meshes at the top: exit %d, stderr %q", r.code, r.stderr)
	}

	for name, body := range map[string]string{
		`commands."ns add": no such command`:                                "commands:\n  ns add:\n    restart: true\n",
		`commands."upgrade".restart: meshctl upgrade has no flag --restart`: "commands:\n  upgrade:\n    restart: true\n",
		`key commands: want a map`:                                          "commands: [upgrade]\n",
	} {
		r := executeCommand(t, nil, "version --client --config "+file("bad.yaml", body))
		if r.code != cli.ExitUsage || !strings.Contains(r.stderr, name) {
			t.Errorf("config %q: exit %d, stderr %q; want %q", body, r.code, r.stderr, name)
		}
	}
}
