package check

import (
	"testing"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/meshctl/meshctl/internal/testenv"
	"github.com/meshctl/meshctl/pkg/meshconfig"
)

// Namespaces enrolled by an older meshctl (annotation only) and namespaces
// whose annotation contradicts their label are named, with the command that
// fixes them; namespaces enrolled as meshctl enrols them now pass.
func TestCheckEnrolmentLabels(t *testing.T) {
	m := newMesh(t)
	const hint = "webhook-namespace-label"
	enrol := func(labels, annotations map[string]string) string {
		t.Helper()
		ns := env.Namespace(t, labels)
		got, err := env.Clients.Kube.CoreV1().Namespaces().Get(testenv.Context(t), ns, metav1.GetOptions{})
		if err != nil {
			t.Fatal(err)
		}
		got.Annotations = annotations
		if _, err := env.Clients.Kube.CoreV1().Namespaces().Update(testenv.Context(t), got, metav1.UpdateOptions{}); err != nil {
			t.Fatal(err)
		}
		return ns
	}
	l, a := meshconfig.EnrolmentMetadata(m.name, meshconfig.InjectionEnabled)
	enrol(l, a)
	m.expectOK(t, Checks(), hint)

	older := enrol(map[string]string{meshconfig.LabelMonitoredBy: m.name}, map[string]string{meshconfig.AnnotationSidecarInjection: meshconfig.InjectionEnabled})
	edited := enrol(map[string]string{meshconfig.LabelMonitoredBy: m.name, meshconfig.LabelSidecarInjection: meshconfig.InjectionEnabled},
		map[string]string{meshconfig.AnnotationSidecarInjection: meshconfig.InjectionDisabled})
	m.expectProblem(t, Checks(), hint, StatusWarn, "meshctl namespace add "+older, edited+" (label enabled, annotation disabled)")
}
