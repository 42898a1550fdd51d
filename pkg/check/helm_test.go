package check

import (
	"bytes"
	"strings"
	"testing"
	"time"

	"k8s.io/cli-runtime/pkg/genericclioptions"

	"github.com/meshctl/meshctl/internal/testenv"
	"github.com/meshctl/meshctl/pkg/cli"
	"github.com/meshctl/meshctl/pkg/install"
)

// The checks find what a real Helm install through pkg/install creates: the
// preflight refuses a second install into its namespace, and once the
// controller has done what it does at start-up (its certificate, the
// caBundle) and the kubelet has made it ready, every post-install check
// passes.
func TestAfterHelmInstall(t *testing.T) {
	m := newMesh(t)
	m.expectOK(t, PreInstallChecks(), "pre-namespace-free")

	kubeconfig := env.Kubeconfig
	getter := genericclioptions.NewConfigFlags(false)
	getter.KubeConfig = &kubeconfig
	deps, err := install.NewDeps(install.DepsConfig{MeshName: m.name, Namespace: m.ns, Getter: getter})
	if err != nil {
		t.Fatal(err)
	}
	var out, errOut bytes.Buffer
	// Nothing runs the controller here, so the install cannot wait for it.
	o := &install.InstallOptions{ReleaseOptions: install.ReleaseOptions{Output: cli.FormatTable, Wait: false}}
	o.Out, o.ErrOut = &out, &errOut
	if _, err := deps.Install(testenv.Context(t), o); err != nil {
		t.Fatalf("install: %v\n%s", err, errOut.String())
	}
	t.Cleanup(func() {
		u := &install.UninstallOptions{}
		u.Out, u.ErrOut = &bytes.Buffer{}, &bytes.Buffer{}
		_, _ = deps.Uninstall(testenv.Context(t), u)
	})

	m.expectProblem(t, PreInstallChecks(), "pre-namespace-free", StatusFail, "already holds a mesh", `Helm release "`+m.name+`" has 1 revision(s)`)
	m.expectProblem(t, Checks(), "webhook-ca-bundle", StatusFail, "/mesh-controller-tls, which holds the serving certificate, is missing: the controller creates it at start-up")

	m.setControllerAvailable(t, true)
	year := time.Now().Add(365 * 24 * time.Hour)
	ca := newCA(t, "mesh CA", year)
	m.setCertificate(t, ca, ca.issue(t, m.dnsName(), year))
	m.setEndpoint(t, true)

	var problems []string
	(&Runner{}).Run(testenv.Context(t), m.env, Checks(), func(r Result) {
		if r.Status != StatusOK {
			problems = append(problems, r.Check+": "+r.Status.String()+": "+r.Err.Error())
		}
	})
	if len(problems) > 0 {
		t.Errorf("checks of a Helm-installed mesh:\n%s", strings.Join(problems, "\n"))
	}
}
