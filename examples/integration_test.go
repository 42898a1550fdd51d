package examples

import (
	"bytes"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/cli-runtime/pkg/genericiooptions"

	"github.com/meshctl/meshctl/internal/testenv"
	"github.com/meshctl/meshctl/pkg/configure"
	"github.com/meshctl/meshctl/pkg/inject"
	"github.com/meshctl/meshctl/pkg/inject/manifest"
	"github.com/meshctl/meshctl/pkg/kube"
	"github.com/meshctl/meshctl/pkg/meshconfig"
	"github.com/meshctl/meshctl/pkg/meshconfig/meshconfigtest"
	"github.com/meshctl/meshctl/pkg/proxy/auth"
	"github.com/meshctl/meshctl/pkg/proxyconfig"
)

var env *testenv.Env

func TestMain(m *testing.M) { testenv.Main(m, &env) }

// dryRun sends each object to the API server as a server-side dry run with
// strict field validation: what `kubectl apply` would be told, with nothing
// stored. Namespaced objects go into ns; Namespaces get a unique name, as
// the test environment never finishes deleting one.
func dryRun(t *testing.T, ns string, objs []*unstructured.Unstructured) []error {
	t.Helper()
	ctx := testenv.Context(t)
	var errs []error
	for _, obj := range objs {
		gvk := obj.GroupVersionKind()
		m, err := env.Clients.Mapper.RESTMapping(gvk.GroupKind(), gvk.Version)
		if err != nil {
			errs = append(errs, fmt.Errorf("%s %s: %w", gvk, obj.GetName(), err))
			continue
		}
		opts := metav1.CreateOptions{DryRun: []string{metav1.DryRunAll}, FieldValidation: metav1.FieldValidationStrict}
		ri := env.Clients.Dynamic.Resource(m.Resource)
		obj = obj.DeepCopy()
		if m.Scope.Name() == meta.RESTScopeNameNamespace {
			obj.SetNamespace(ns)
			_, err = ri.Namespace(ns).Create(ctx, obj, opts)
		} else {
			obj.SetName(testenv.UniqueName(obj.GetName()))
			_, err = ri.Create(ctx, obj, opts)
		}
		if err != nil {
			errs = append(errs, fmt.Errorf("%s %s: %w", gvk.Kind, obj.GetName(), err))
		}
	}
	return errs
}

func objectsOf(docs []doc) []*unstructured.Unstructured {
	objs := make([]*unstructured.Unstructured, len(docs))
	for i, d := range docs {
		objs[i] = d.obj
	}
	return objs
}

// TestManifestsPassTheAPIServer: every example object, the SMI policies
// included (against the chart's CRDs), is accepted as it is written.
func TestManifestsPassTheAPIServer(t *testing.T) {
	meshconfigtest.InstallCRDs(t, env.Config)
	ns := env.Namespace(t, nil)
	docs := readManifests(t, manifestDirs...)
	for _, err := range dryRun(t, ns, objectsOf(docs)) {
		t.Error(err)
	}

	// The dry run does check the SMI schemas: a policy they forbid is
	// refused.
	var broken []*unstructured.Unstructured
	for _, d := range docs {
		switch d.obj.GetKind() {
		case "HTTPRouteGroup":
			o := d.obj.DeepCopy()
			_ = unstructured.SetNestedSlice(o.Object, []any{map[string]any{"name": "buy", "methods": []any{"FETCH"}}}, "spec", "matches")
			broken = append(broken, o)
		case "TrafficTarget":
			o := d.obj.DeepCopy()
			_ = unstructured.SetNestedField(o.Object, "Pod", "spec", "destination", "kind")
			broken = append(broken, o)
		}
	}
	errs := dryRun(t, ns, broken)
	if len(broken) != 2 || len(errs) != 2 || !strings.Contains(fmt.Sprint(errs), `"FETCH"`) || !strings.Contains(fmt.Sprint(errs), `"Pod"`) {
		t.Errorf("broken policies: %v, want both refused", errs)
	}
}

// TestInjectedManifestsPassTheAPIServer: what the webhook does to the
// bookstore pods (the same code as meshctl inject, with the default
// MeshConfig) gives objects the API server accepts, each Deployment with the
// sidecar beside the app.
func TestInjectedManifestsPassTheAPIServer(t *testing.T) {
	in, err := inject.New(meshconfig.DefaultSpec(), "mesh", meshconfig.DefaultMeshNamespace)
	if err != nil {
		t.Fatal(err)
	}
	var objs []*unstructured.Unstructured
	for _, d := range readManifests(t, manifestDirs...) {
		if d.obj.GetAPIVersion() != "apps/v1" {
			continue
		}
		out, _, err := (&manifest.Stream{Injector: in}).Process(d.String(), d.raw)
		if err != nil {
			t.Fatalf("%s: %v", d, err)
		}
		for _, o := range splitDocs(t, d.String(), out) {
			names := func(field string) []string {
				containers, _, _ := unstructured.NestedSlice(o.obj.Object, "spec", "template", "spec", field)
				var names []string
				for _, c := range containers {
					names = append(names, c.(map[string]any)["name"].(string))
				}
				return names
			}
			// The proxy is a native sidecar, right after the rules.
			if got := names("containers"); !slices.Equal(got, []string{d.obj.GetName()}) {
				t.Errorf("%s injected: containers %v", d, got)
			}
			if got := names("initContainers"); !slices.Equal(got, []string{proxyconfig.InitContainerName, proxyconfig.ProxyContainerName}) {
				t.Errorf("%s injected: init containers %v", d, got)
			}
			objs = append(objs, o.obj)
		}
	}
	if len(objs) != 5 {
		t.Errorf("%d Deployments injected, want 5", len(objs))
	}
	for _, err := range dryRun(t, env.Namespace(t, nil), objs) {
		t.Errorf("injected: %v", err)
	}
}

// buildJWTGen builds examples/apps/jwtgen once for the script to run.
func buildJWTGen(t *testing.T) string {
	t.Helper()
	bin := filepath.Join(t.TempDir(), "jwtgen")
	cmd := exec.Command("go", "build", "-o", bin, "./apps/jwtgen")
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("go build ./apps/jwtgen: %v\n%s", err, out)
	}
	return bin
}

// jwtScript runs examples/books/jwt.sh with args.
func jwtScript(t *testing.T, jwtgen string, args ...string) (string, string) {
	t.Helper()
	cmd := exec.Command("bash", append([]string{"books/jwt.sh"}, args...)...)
	cmd.Env = append(os.Environ(), "JWTGEN="+jwtgen)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		t.Fatalf("jwt.sh %q: %v\n%s", args, err, stderr.String())
	}
	return stdout.String(), stderr.String()
}

// argsOf runs a command line in bash with the command replaced by a function
// that prints its arguments, and returns them: exactly what the shell would
// pass when the user pastes the line.
func argsOf(t *testing.T, line, command string) []string {
	t.Helper()
	script := command + `() { printf '%s\0' "$@"; }; ` + line
	out, err := exec.Command("bash", "-c", script).Output()
	if err != nil {
		t.Fatalf("bash -c %q: %v", script, err)
	}
	return strings.Split(strings.TrimSuffix(string(out), "\x00"), "\x00")
}

// TestJWTScriptTurnsValidationOn follows examples/books/README.md: jwt.sh
// prints a `meshctl config set` line; run against a mesh, it gives a
// MeshConfig whose settings make the proxy accept the script's token and
// refuse the bad and expired ones; and `meshctl inject` of books.yaml with
// that MeshConfig gives sidecars with those settings, which the API server
// accepts.
func TestJWTScriptTurnsValidationOn(t *testing.T) {
	meshconfigtest.InstallCRDs(t, env.Config)
	meshNS := env.Namespace(t, nil)
	meshconfigtest.InstallMesh(t, env.Clients.Dynamic, "mesh", meshNS)
	ctx := testenv.Context(t)
	jwtgen := buildJWTGen(t)
	dir := filepath.Join(t.TempDir(), "books jwt") // a space, to prove the quoting

	stdout, _ := jwtScript(t, jwtgen, dir)
	var setLine string
	for _, l := range strings.Split(stdout, "\n") {
		if l = strings.TrimSpace(l); strings.HasPrefix(l, "meshctl config set ") {
			setLine = l
		}
	}
	if setLine == "" {
		t.Fatalf("jwt.sh printed no meshctl config set line:\n%s", stdout)
	}
	args := argsOf(t, setLine, "meshctl")
	if len(args) < 3 || args[0] != "config" || args[1] != "set" {
		t.Fatalf("args %q", args)
	}
	var out, errOut bytes.Buffer
	set := &configure.SetOptions{
		IOStreams: genericiooptions.IOStreams{Out: &out, ErrOut: &errOut},
		Clients:   kube.Static(env.Clients), Mesh: "mesh", MeshNamespace: meshNS,
		Assignments: args[2:],
	}
	if err := set.Validate(); err != nil {
		t.Fatalf("meshctl %s: %v", strings.Join(args, " "), err)
	}
	if err := set.Run(ctx); err != nil {
		t.Fatalf("meshctl %s: %v", strings.Join(args, " "), err)
	}

	mc, err := meshconfig.Get(ctx, env.Clients.Dynamic, meshNS)
	if err != nil {
		t.Fatal(err)
	}
	j := mc.Spec.Auth.JWT
	if !j.Enable || j.Issuer != "https://issuer.books.example" || !slices.Equal(j.Audiences, []string{"books"}) ||
		!slices.Equal(j.Destinations, []meshconfig.JWTDestination{{Namespace: "books"}}) {
		t.Fatalf("auth.jwt after config set: %+v", j)
	}
	set2, err := auth.ParseJWKS([]byte(j.JWKS))
	if err != nil {
		t.Fatalf("the proxy cannot read the JWKS the MeshConfig holds: %v", err)
	}
	v, err := auth.New(auth.Options{Issuer: j.Issuer, Audiences: j.Audiences, Keys: auth.StaticKeys(set2)})
	if err != nil {
		t.Fatal(err)
	}
	for file, wantOK := range map[string]bool{"token": true, "token-bad": false, "token-expired": false} {
		b, err := os.ReadFile(filepath.Join(dir, file))
		if err != nil {
			t.Fatal(err)
		}
		if _, err := v.Validate(ctx, strings.TrimSpace(string(b))); (err == nil) != wantOK {
			t.Errorf("%s: Validate = %v, want accepted %v", file, err, wantOK)
		}
	}

	// meshctl inject --from-cluster -f examples/books/ with that MeshConfig.
	in, err := inject.New(mc.Spec, "mesh", meshNS)
	if err != nil {
		t.Fatal(err)
	}
	input, err := os.ReadFile("books/books.yaml")
	if err != nil {
		t.Fatal(err)
	}
	injected, _, err := (&manifest.Stream{Injector: in}).Process("books/books.yaml", input)
	if err != nil {
		t.Fatalf("inject books.yaml: %v", err)
	}
	objs := objectsOf(splitDocs(t, "injected books.yaml", injected))
	proxies := 0
	for _, o := range objs {
		if o.GetKind() != "Deployment" {
			continue
		}
		containers, _, _ := unstructured.NestedSlice(o.Object, "spec", "template", "spec", "initContainers")
		for _, c := range containers {
			c := c.(map[string]any)
			if c["name"] != proxyconfig.ProxyContainerName || c["restartPolicy"] != "Always" {
				continue
			}
			proxies++
			args := fmt.Sprint(c["args"])
			if !strings.Contains(args, "--jwt-issuer=https://issuer.books.example") || !strings.Contains(args, `"kid":`) {
				t.Errorf("Deployment %s: proxy args %s lack the JWT settings", o.GetName(), args)
			}
		}
	}
	if proxies != 2 {
		t.Errorf("%d proxy containers in the injected books.yaml, want 2 (books and stars)", proxies)
	}
	for _, err := range dryRun(t, env.Namespace(t, nil), objs) {
		t.Errorf("injected books.yaml: %v", err)
	}

	// A second run keeps the key, so the mesh keeps accepting new tokens.
	before := mc.Spec.Auth.JWT.JWKS
	time.Sleep(1100 * time.Millisecond) // a new iat, so a new token
	jwtScript(t, jwtgen, dir)
	b, _ := os.ReadFile(filepath.Join(dir, "jwks.json"))
	if strings.TrimSpace(before) != strings.TrimSpace(string(b)) {
		t.Error("a second jwt.sh run changed the JWKS")
	}
	tok, _ := os.ReadFile(filepath.Join(dir, "token"))
	if _, err := v.Validate(ctx, strings.TrimSpace(string(tok))); err != nil {
		t.Errorf("a token of the second run: %v", err)
	}
}

// TestJWTScriptPrintEnv: --print-env prints shell assignments a script can
// eval.
func TestJWTScriptPrintEnv(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "jwt")
	stdout, stderr := jwtScript(t, buildJWTGen(t), "--print-env", dir)
	if fi, err := os.Stat(dir); err != nil || fi.Mode().Perm() != 0o700 {
		t.Errorf("jwt.sh made %s with %v (%v), want mode 0700", dir, fi.Mode(), err)
	}
	if !strings.Contains(stderr, "new key") {
		t.Errorf("stderr %q: jwtgen's note belongs there", stderr)
	}
	script := stdout + `printf '%s\0' "$JWT_DIR" "$JWT_ISSUER" "$JWT_AUDIENCE" "$JWT_SUBJECT" "$JWT_JWKS_FILE" "$JWT_TOKEN" "$JWT_TOKEN_BAD" "$JWT_TOKEN_EXPIRED"`
	out, err := exec.Command("bash", "-c", script).Output()
	if err != nil {
		t.Fatalf("eval of --print-env output failed: %v\n%s", err, stdout)
	}
	got := strings.Split(strings.TrimSuffix(string(out), "\x00"), "\x00")
	read := func(name string) string {
		b, err := os.ReadFile(filepath.Join(dir, name))
		if err != nil {
			t.Fatal(err)
		}
		return strings.TrimSpace(string(b))
	}
	want := []string{dir, "https://issuer.books.example", "books", "demo-reader", filepath.Join(dir, "jwks.json"), read("token"), read("token-bad"), read("token-expired")}
	if !slices.Equal(got, want) {
		t.Errorf("--print-env gave\n%q\nwant\n%q", got, want)
	}
}
