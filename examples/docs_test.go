package examples

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"

	"github.com/meshctl/meshctl/pkg/check"
	"github.com/meshctl/meshctl/pkg/meshconfig"
)

// gettingStarted is the guide that walks through these examples.
const gettingStarted = "../docs/getting-started.md"

// readGuide returns docs/getting-started.md with each paragraph's lines
// joined by spaces, so that a sentence can be found whatever its wrapping.
func readGuide(t *testing.T) string {
	t.Helper()
	b, err := os.ReadFile(gettingStarted)
	if err != nil {
		t.Fatal(err)
	}
	return regexp.MustCompile(`([^\n])\n([^\n])`).ReplaceAllString(string(b), "$1 $2")
}

// probeSentence is how the guide must describe one probe, from the probe
// itself: its kind, what it runs or requests, and where.
func probeSentence(p *corev1.Probe) string {
	switch {
	case p == nil:
		return "no probe"
	case p.HTTPGet != nil:
		return fmt.Sprintf("an `httpGet` of `%s` on their `%s` port", p.HTTPGet.Path, p.HTTPGet.Port.String())
	case p.Exec != nil:
		return fmt.Sprintf("an `exec` of `%s`", strings.Join(p.Exec.Command, " "))
	case p.TCPSocket != nil:
		return fmt.Sprintf("a `tcpSocket` on their `%s` port", p.TCPSocket.Port.String())
	case p.GRPC != nil:
		return fmt.Sprintf("a `grpc` probe on port %d", p.GRPC.Port)
	}
	return "an unknown probe"
}

// TestGuideDescribesTheProbes fails when docs/getting-started.md says the
// example Deployments probe readiness otherwise than their manifests do:
// whether a probe is an httpGet (which goes through the sidecar, and needs
// the injector's exemption once JWT validation is on) or an exec (which does
// not) is what the guide's explanation rests on.
func TestGuideDescribesTheProbes(t *testing.T) {
	want := map[string][]string{} // sentence -> the Deployments it describes
	for _, d := range readManifests(t, manifestDirs...) {
		if d.obj.GetKind() != "Deployment" {
			continue
		}
		dep := decodeStrict[*appsv1.Deployment](t, d)
		for _, c := range dep.Spec.Template.Spec.Containers {
			s := probeSentence(c.ReadinessProbe)
			want[s] = append(want[s], dep.Namespace+"/"+dep.Name)
		}
	}
	if len(want) != 1 {
		t.Fatalf("the example Deployments probe readiness in different ways (%v); the guide describes them as one", want)
	}
	guide := readGuide(t)
	const lead = "The example Deployments probe readiness with "
	i := strings.Index(guide, lead)
	if i < 0 {
		t.Fatalf("%s no longer says how the example Deployments probe readiness (%q)", gettingStarted, lead)
	}
	said := guide[i+len(lead):]
	said, _, _ = strings.Cut(said, ".")
	for sentence := range want {
		if !strings.HasPrefix(said, sentence) {
			t.Errorf("%s says the example Deployments probe readiness with %q; their manifests have %s", gettingStarted, said, sentence)
		}
	}
}

// TestGuideJWKSIsText fails when the guide's `meshctl config set` line for
// JWT, as the shell passes it, does not store the JWKS file's content as it
// is: a character added around it (the space older guides needed) or a
// parser that reads a text field's JSON as an object.
func TestGuideJWKSIsText(t *testing.T) {
	guide, err := os.ReadFile(gettingStarted)
	if err != nil {
		t.Fatal(err)
	}
	// The command, with its continuation lines, inside its code block.
	m := regexp.MustCompile(`(?m)^meshctl config set auth\.jwt\.enable=(?:.*\\\n)*.*$`).Find(guide)
	if m == nil {
		t.Fatalf("%s has no `meshctl config set auth.jwt.enable=...` line", gettingStarted)
	}
	home := t.TempDir()
	const jwks = `{"keys":[{"kty":"EC","crv":"P-256","x":"x","y":"y"}]}`
	dir := filepath.Join(home, ".cache/meshctl/examples/books-jwt")
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "jwks.json"), []byte(jwks+"\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command("bash", "-c", `meshctl() { printf '%s\0' "$@"; }; `+string(m))
	cmd.Env = append(os.Environ(), "HOME="+home)
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("bash -c %q: %v", m, err)
	}
	args := strings.Split(strings.TrimSuffix(string(out), "\x00"), "\x00")
	if len(args) < 3 || args[0] != "config" || args[1] != "set" {
		t.Fatalf("the guide's line passes %q", args)
	}
	found := false
	for _, arg := range args[2:] {
		a, err := meshconfig.ParseAssignment(arg)
		if err != nil {
			t.Errorf("the guide's %q: %v", arg, err)
			continue
		}
		if a.Path.String() != "auth.jwt.jwks" {
			continue
		}
		found = true
		// $(cat) drops the file's trailing newline.
		if a.Value != jwks {
			t.Errorf("the guide's line sets auth.jwt.jwks to %#v, want the file's content %q as text", a.Value, jwks)
		}
	}
	if !found {
		t.Errorf("the guide's line %q does not set auth.jwt.jwks", args)
	}
}

// TestGuideNamesTheVersions fails when the guide's requirements name
// another Go version than go.mod's `go` line, or another Kubernetes minimum
// than the one `meshctl check --pre` enforces: a bump of either must
// update the guide.
func TestGuideNamesTheVersions(t *testing.T) {
	mod, err := os.ReadFile("../go.mod")
	if err != nil {
		t.Fatal(err)
	}
	m := regexp.MustCompile(`(?m)^go (\S+)$`).FindSubmatch(mod)
	if m == nil {
		t.Fatal("go.mod has no go line")
	}
	guide := readGuide(t)
	if want := "**Go " + string(m[1]) + " or later**"; !strings.Contains(guide, want) {
		t.Errorf("%s does not say %q, as go.mod's go line %q wants", gettingStarted, want, m[0])
	}
	minor := strings.Join(strings.Split(strings.TrimPrefix(check.MinKubernetesVersion, "v"), ".")[:2], ".")
	if want := "**Kubernetes " + minor + " or later.**"; !strings.Contains(guide, want) {
		t.Errorf("%s does not say %q, as check.MinKubernetesVersion (%s) wants", gettingStarted, want, check.MinKubernetesVersion)
	}
}
