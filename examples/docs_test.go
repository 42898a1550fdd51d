package examples

import (
	"fmt"
	"os"
	"regexp"
	"strings"
	"testing"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
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
