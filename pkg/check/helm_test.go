package check

import (
	"bytes"
	"slices"
	"strings"
	"testing"
	"time"

	"helm.sh/helm/v3/pkg/action"
	"helm.sh/helm/v3/pkg/chart/loader"
	"helm.sh/helm/v3/pkg/release"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apiserver/pkg/authentication/serviceaccount"
	"k8s.io/cli-runtime/pkg/genericclioptions"
	"k8s.io/client-go/rest"

	"github.com/meshctl/meshctl/internal/testenv"
	"github.com/meshctl/meshctl/pkg/cli"
	"github.com/meshctl/meshctl/pkg/identity/identitytest"
	"github.com/meshctl/meshctl/pkg/install"
	"github.com/meshctl/meshctl/pkg/kube"
	"github.com/meshctl/meshctl/pkg/meshconfig"
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

// A plain `helm install` of the chart directory, as a user without meshctl
// runs it (the Helm SDK's install, no values, the chart as it is on disk),
// installs a control plane of the chart's appVersion; once its CA is
// brought and it runs, `helm test` runs `meshctl check` with the test's
// own ServiceAccount, whose RBAC lets every check read what it needs: run
// here as that ServiceAccount while the hook pod exists, every check
// passes. The test's RBAC and pod are gone when it has passed.
func TestPlainHelmInstallAndHelmTest(t *testing.T) {
	m := newMesh(t)
	ctx := testenv.Context(t)
	ch, err := loader.Load("../../charts/mesh")
	if err != nil {
		t.Fatal(err)
	}
	kubeconfig := env.Kubeconfig
	getter := genericclioptions.NewConfigFlags(false)
	getter.KubeConfig = &kubeconfig
	deps, err := install.NewDeps(install.DepsConfig{MeshName: m.name, Namespace: m.ns, Getter: getter})
	if err != nil {
		t.Fatal(err)
	}
	in := action.NewInstall(deps.Helm)
	in.ReleaseName, in.Namespace, in.CreateNamespace = m.name, m.ns, true
	rel, err := in.RunWithContext(ctx, ch, nil)
	if err != nil {
		t.Fatalf("helm install with no values: %v", err)
	}
	t.Cleanup(func() { _, _ = action.NewUninstall(deps.Helm).Run(m.name) })
	if rel.Info.Status != release.StatusDeployed {
		t.Fatalf("release %s", rel.Info.Status)
	}
	dep, err := env.Clients.Kube.AppsV1().Deployments(m.ns).Get(ctx, meshconfig.ControllerName, metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if got, want := dep.Spec.Template.Spec.Containers[0].Image, meshconfig.ControllerImageRepository+":"+ch.Metadata.AppVersion; got != want {
		t.Errorf("controller image %q, want %q (the chart's appVersion)", got, want)
	}
	if args := dep.Spec.Template.Spec.Containers[0].Args; !slices.Contains(args, "--generate-ca") {
		t.Errorf("under plain helm the controller does not generate the mesh CA: args %v", args)
	}
	if !strings.Contains(rel.Info.Notes, "helm test "+m.name) {
		t.Errorf("NOTES.txt does not say how to test the release:\n%s", rel.Info.Notes)
	}

	// What meshctl install and the running controller would add.
	mca := identitytest.NewCA(t, time.Now())
	m.setIssuer(t, mca.Issuer)
	m.setBundle(t, m.ns, mca.Anchor.CertificatePEM())
	m.setControllerAvailable(t, true)
	year := time.Now().Add(365 * 24 * time.Hour)
	ca := newCA(t, "mesh CA", year)
	m.setCertificate(t, ca, ca.issue(t, m.dnsName(), year))
	m.setEndpoint(t, true)

	hookName := meshconfig.ControllerName + "-check"
	tested := make(chan error, 1)
	go func() {
		rt := action.NewReleaseTesting(deps.Helm)
		rt.Namespace, rt.Timeout = m.ns, time.Minute
		_, err := rt.Run(m.name)
		tested <- err
	}()
	var pod *corev1.Pod
	waitFor(t, "the helm test pod", func() bool {
		pod, err = env.Clients.Kube.CoreV1().Pods(m.ns).Get(ctx, hookName, metav1.GetOptions{})
		return err == nil
	})
	c := pod.Spec.Containers[0]
	if c.Image != dep.Spec.Template.Spec.Containers[0].Image || len(c.Command) != 1 || c.Command[0] != "/usr/local/bin/meshctl" || len(c.Args) == 0 || c.Args[0] != "check" {
		t.Errorf("the test pod runs %v %v in %s, want /meshctl check in the controller's image", c.Command, c.Args, c.Image)
	}
	if pod.Spec.ServiceAccountName != hookName {
		t.Errorf("the test pod runs as %q, want %q", pod.Spec.ServiceAccountName, hookName)
	}

	cfg := rest.CopyConfig(env.Config)
	cfg.Impersonate = rest.ImpersonationConfig{
		UserName: serviceaccount.MakeUsername(m.ns, hookName),
		Groups:   append(serviceaccount.MakeGroupNames(m.ns), "system:authenticated"),
	}
	asHook, err := kube.NewClientsForConfig(cfg)
	if err != nil {
		t.Fatal(err)
	}
	e, err := Setup(Config{Clients: asHook, MeshName: m.name, Namespace: m.ns})
	if err != nil {
		t.Fatal(err)
	}
	var problems []string
	(&Runner{}).Run(ctx, e, Checks(), func(r Result) {
		if r.Status != StatusOK {
			problems = append(problems, r.Check+": "+r.Status.String()+": "+r.Err.Error())
		}
	})
	if len(problems) > 0 {
		t.Errorf("meshctl check as the helm test's ServiceAccount:\n%s", strings.Join(problems, "\n"))
	}

	// The kubelet's part: the check exited 0.
	pod.Status.Phase = corev1.PodSucceeded
	if _, err := env.Clients.Kube.CoreV1().Pods(m.ns).UpdateStatus(ctx, pod, metav1.UpdateOptions{}); err != nil {
		t.Fatal(err)
	}
	if err := <-tested; err != nil {
		t.Fatalf("helm test: %v", err)
	}
	waitFor(t, "the test's objects deleted", func() bool {
		_, perr := env.Clients.Kube.CoreV1().Pods(m.ns).Get(ctx, hookName, metav1.GetOptions{})
		_, serr := env.Clients.Kube.CoreV1().ServiceAccounts(m.ns).Get(ctx, hookName, metav1.GetOptions{})
		_, rerr := env.Clients.Kube.RbacV1().Roles(m.ns).Get(ctx, hookName, metav1.GetOptions{})
		return apierrors.IsNotFound(perr) && apierrors.IsNotFound(serr) && apierrors.IsNotFound(rerr)
	})
}
