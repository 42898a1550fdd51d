package manifest

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/meshctl/meshctl/internal/golden"
	"github.com/meshctl/meshctl/pkg/inject"
	"github.com/meshctl/meshctl/pkg/meshconfig"
	"github.com/meshctl/meshctl/pkg/proxyconfig"
)

// testVersion stands for this build in golden files, so that they do not
// change with the version being developed.
const testVersion = "v0.2.0"

// testInjector is the injector of a default mesh at version v.
func testInjector(t testing.TB, v string) *inject.Injector {
	t.Helper()
	spec := meshconfig.DefaultSpec()
	spec.Sidecar.Image = proxyconfig.ImageRepository + ":" + v
	in, err := inject.New(spec, meshconfig.DefaultMeshName, meshconfig.DefaultMeshNamespace)
	if err != nil {
		t.Fatal(err)
	}
	in.Version = v
	return in
}

// goldenCase is one input under testdata/inject. Its name says how it runs:
// uninject-* uninjects, enrol-* and error-enrol-* enrol namespaces (and
// *-force moves those of another mesh), everything else injects; error-*
// must fail.
type goldenCase struct {
	name         string // file name without extension
	path         string
	mode         Mode
	enrol, force bool
	// lossy cases cannot round-trip byte for byte: injecting through an
	// alias expands it (the alias's target must not change), and uninject
	// cannot know to fold it back.
	lossy bool
}

func goldenCases(t testing.TB) []goldenCase {
	t.Helper()
	paths, err := filepath.Glob("testdata/inject/*")
	if err != nil {
		t.Fatal(err)
	}
	var cases []goldenCase
	for _, p := range paths {
		ext := filepath.Ext(p)
		if ext != ".yaml" && ext != ".json" {
			continue
		}
		name := strings.TrimSuffix(filepath.Base(p), ext)
		// Enrolment is not undone by uninject, so it does not round-trip.
		c := goldenCase{name: name, path: p, lossy: name == "anchors" || strings.HasPrefix(name, "enrol-"),
			enrol: strings.HasPrefix(name, "enrol-") || strings.HasPrefix(name, "error-enrol-"),
			force: strings.HasSuffix(name, "-force")}
		if strings.HasPrefix(name, "uninject-") {
			c.mode = ModeUninject
		}
		cases = append(cases, c)
	}
	if len(cases) < 20 {
		t.Fatalf("found only %d golden cases", len(cases))
	}
	return cases
}

func (c goldenCase) stream(in *inject.Injector) *Stream {
	return &Stream{Injector: in, Mode: c.mode, EnrolNamespaces: c.enrol, Force: c.force}
}

func reportText(entries []Entry, err error) string {
	var b strings.Builder
	for _, e := range entries {
		b.WriteString(e.String() + "\n")
	}
	if err != nil {
		b.WriteString("error: " + err.Error() + "\n")
	}
	return b.String()
}

// TestGolden runs every case and compares the output and the report with
// testdata/inject/<case>.out.golden and .report.golden.
func TestGolden(t *testing.T) {
	in := testInjector(t, testVersion)
	for _, c := range goldenCases(t) {
		t.Run(c.name, func(t *testing.T) {
			input, err := os.ReadFile(c.path)
			if err != nil {
				t.Fatal(err)
			}
			out, entries, err := c.stream(in).Process(filepath.Base(c.path), input)
			if strings.HasPrefix(c.name, "error-") != (err != nil) {
				t.Errorf("error: %v", err)
			}
			if err != nil && out != nil {
				t.Errorf("output on error: %q", out)
			}
			golden.Assert(t, "testdata/inject/"+c.name+".out.golden", out)
			golden.AssertString(t, "testdata/inject/"+c.name+".report.golden", reportText(entries, err))
		})
	}
}

// TestProperties checks, for every case that injects without error:
// injecting the output again changes nothing (idempotence); uninjecting the
// output gives what uninjecting the input gives (for input never injected,
// the input itself, byte for byte); and injecting the uninjected input gives
// the same output (so upgrading an old injection equals a fresh one).
func TestProperties(t *testing.T) {
	in := testInjector(t, testVersion)
	for _, c := range goldenCases(t) {
		if c.mode != ModeInject || strings.HasPrefix(c.name, "error-") {
			continue
		}
		t.Run(c.name, func(t *testing.T) {
			input, err := os.ReadFile(c.path)
			if err != nil {
				t.Fatal(err)
			}
			s := c.stream(in)
			un := &Stream{Injector: in, Mode: ModeUninject}
			out := process(t, s, input)
			again, entries, err := s.Process("again", out)
			if err != nil {
				t.Fatal(err)
			}
			if string(again) != string(out) {
				t.Errorf("injecting twice differs:\n%s", golden.Diff(out, again))
			}
			for _, e := range entries {
				if a := e.Result.Action; a != inject.Unchanged && a != inject.Skipped {
					t.Errorf("second injection: %s", e)
				}
			}
			if c.lossy {
				return
			}
			if got, want := process(t, un, out), process(t, un, input); string(got) != string(want) {
				t.Errorf("uninject(inject(x)) != uninject(x):\n%s", golden.Diff(want, got))
			}
			if fresh := process(t, s, process(t, un, input)); string(fresh) != string(out) {
				t.Errorf("inject(uninject(x)) != inject(x):\n%s", golden.Diff(out, fresh))
			}
		})
	}
}

func process(t *testing.T, s *Stream, data []byte) []byte {
	t.Helper()
	out, _, err := s.Process("test", data)
	if err != nil {
		t.Fatal(err)
	}
	return out
}

// TestTemplateMetadataKept: a template's metadata field that holds nothing
// a decoded ObjectMeta keeps ("metadata: {}", or only "creationTimestamp:
// null" as kubectl create job writes it) still exists. Injection must add
// labels and annotations into it, keeping what it holds, and record that
// it added them, not metadata, so that uninjection gives the input back
// byte for byte (FuzzStream found this).
func TestTemplateMetadataKept(t *testing.T) {
	in := testInjector(t, testVersion)
	for _, input := range []string{
		"apiVersion: apps/v1\nkind: Deployment\nspec:\n  template:\n    metadata: {}\n    spec:\n      containers:\n      - name: a\n",
		`{"apiVersion":"apps/v1","kind":"Deployment","spec":{"template":{"metadata":{},"spec":{"containers":[{}]}}}}`,
		"apiVersion: batch/v1\nkind: Job\nmetadata:\n  name: x\nspec:\n  template:\n    metadata:\n      creationTimestamp: null\n    spec:\n" +
			"      containers:\n      - image: y\n        name: x\n      restartPolicy: Never\n",
	} {
		out := string(process(t, &Stream{Injector: in}, []byte(input)))
		if !strings.Contains(strings.ReplaceAll(out, `\"`, `"`), `"created":["metadata.labels","metadata.annotations","spec.initContainers","spec.volumes"]`) {
			t.Errorf("marker of %q:\n%s", input, out)
		}
		if strings.Contains(input, "creationTimestamp") && !strings.Contains(out, "creationTimestamp: null") {
			t.Errorf("creationTimestamp dropped:\n%s", out)
		}
		if back := process(t, &Stream{Injector: in, Mode: ModeUninject}, []byte(out)); string(back) != input {
			t.Errorf("uninject(inject(x)) != x:\n%s", golden.Diff([]byte(input), back))
		}
	}
}

// TestCommentAfterDash: an init container whose item starts with a comment
// on the dash's line ("- # note") or on lines of its own. The sidecar must
// go at the dash's column, not at the item's first key (FuzzStream found
// output that did not parse), and the round trip must hold.
func TestCommentAfterDash(t *testing.T) {
	in := testInjector(t, testVersion)
	for _, items := range []string{
		"      - # the app's\n        name: migrate\n",
		"      -\n        # the app's\n        name: migrate\n",
		"      - # the app's\n        # really\n        name: migrate\n",
	} {
		input := "apiVersion: apps/v1\nkind: Deployment\nspec:\n  template:\n    metadata:\n      labels: {a: b}\n    spec:\n" +
			"      containers:\n      - name: app\n      initContainers:\n" + items
		out := process(t, &Stream{Injector: in}, []byte(input))
		if !strings.Contains(string(out), "\n"+items+"      - name: mesh-proxy-init\n") {
			t.Errorf("sidecar not after the app's init container, at its dash's column:\n%s", out)
		}
		if again := process(t, &Stream{Injector: in}, out); string(again) != string(out) {
			t.Errorf("injecting twice differs:\n%s", golden.Diff(out, again))
		}
		if back := process(t, &Stream{Injector: in, Mode: ModeUninject}, out); string(back) != input {
			t.Errorf("uninject(inject(x)) != x:\n%s", golden.Diff([]byte(input), back))
		}
	}
}
