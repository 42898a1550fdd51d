package namespace

import (
	"fmt"
	"strings"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	psaapi "k8s.io/pod-security-admission/api"
	psapolicy "k8s.io/pod-security-admission/policy"

	"github.com/meshctl/meshctl/pkg/meshconfig"
	"github.com/meshctl/meshctl/pkg/proxyconfig"
)

// PodSecurityProblem is why a namespace's Pod Security enforcement would
// reject every pod the webhook injects: the level it enforces and what the
// Pod Security checks forbid in the sidecar.
type PodSecurityProblem struct {
	Namespace string
	// Level and Version are the namespace's enforce labels, as written
	// (Version "latest" when unset).
	Level   string
	Version string
	// Forbidden are the Pod Security checks' reasons, such as
	// `non-default capabilities (container "mesh-proxy-init" must not
	// include "NET_ADMIN", "NET_RAW" in securityContext.capabilities.add)`.
	Forbidden []string
}

// Error says what is rejected and what the operator can do.
func (p *PodSecurityProblem) Error() string {
	return fmt.Sprintf("namespace %q enforces Pod Security level %q (%s=%s), which rejects the sidecar's pods: %s",
		p.Namespace, p.Level, psaapi.EnforceLevelLabel, p.Level, strings.Join(p.Forbidden, "; "))
}

// Advice is what to do about it: the init container needs NET_ADMIN and
// NET_RAW as root to install the interception rules, which only the
// privileged level allows.
func (p *PodSecurityProblem) Advice() string {
	return fmt.Sprintf("the init container %s installs the interception rules as root with NET_ADMIN and NET_RAW, which only the privileged level allows; "+
		"relabel the namespace (kubectl label namespace %s %s=privileged --overwrite), or exempt it in the API server's PodSecurity admission configuration",
		proxyconfig.InitContainerName, p.Namespace, psaapi.EnforceLevelLabel)
}

// CheckPodSecurity evaluates the sidecar the webhook would inject with
// spec into a pod of ns, with the Pod Security checks the API server runs,
// at the level ns enforces. It returns nil when that level admits the
// sidecar (or ns enforces none); a label that does not parse is evaluated
// as the API server does, at restricted and the latest version.
// The app's own containers are not the mesh's business: the pod
// evaluated has one container that every level admits.
func CheckPodSecurity(ns *corev1.Namespace, spec meshconfig.MeshConfigSpec) (*PodSecurityProblem, error) {
	levelLabel, ok := ns.Labels[psaapi.EnforceLevelLabel]
	if !ok {
		return nil, nil
	}
	level, err := psaapi.ParseLevel(levelLabel)
	if err != nil {
		level = psaapi.LevelRestricted
	}
	versionLabel := ns.Labels[psaapi.EnforceVersionLabel]
	version := psaapi.LatestVersion()
	if versionLabel != "" {
		if v, err := psaapi.ParseVersion(versionLabel); err == nil {
			version = v
		}
	} else {
		versionLabel = "latest"
	}
	if level == psaapi.LevelPrivileged {
		return nil, nil
	}
	pc, err := proxyconfig.New(spec)
	if err != nil {
		return nil, fmt.Errorf("building the sidecar from the MeshConfig: %w", err)
	}
	eval, err := psapolicy.NewEvaluator(psapolicy.DefaultChecks())
	if err != nil {
		return nil, err
	}
	pod := sidecarPod(pc)
	results := eval.EvaluatePod(psaapi.LevelVersion{Level: level, Version: version}, &pod.ObjectMeta, &pod.Spec)
	agg := psapolicy.AggregateCheckResults(results)
	if agg.Allowed {
		return nil, nil
	}
	var forbidden []string
	for _, r := range results {
		if !r.Allowed {
			forbidden = append(forbidden, r.ForbiddenReason+" ("+r.ForbiddenDetail+")")
		}
	}
	return &PodSecurityProblem{Namespace: ns.Name, Level: string(level), Version: versionLabel, Forbidden: forbidden}, nil
}

// sidecarPod is a pod whose only app container passes the restricted
// level (the pod's seccomp profile included), with the sidecar as the
// webhook injects it: what Pod Security then rejects is the sidecar's
// doing.
func sidecarPod(pc *proxyconfig.Config) *corev1.Pod {
	no, yes := false, true
	app := corev1.Container{
		Name:  "app",
		Image: "app",
		SecurityContext: &corev1.SecurityContext{
			AllowPrivilegeEscalation: &no,
			RunAsNonRoot:             &yes,
			Capabilities:             &corev1.Capabilities{Drop: []corev1.Capability{"ALL"}},
		},
	}
	return &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Name: "sidecar-check"},
		Spec: corev1.PodSpec{
			SecurityContext: &corev1.PodSecurityContext{SeccompProfile: &corev1.SeccompProfile{Type: corev1.SeccompProfileTypeRuntimeDefault}},
			InitContainers:  []corev1.Container{pc.InitContainer(), pc.NativeSidecarContainer()},
			Containers:      []corev1.Container{app},
			Volumes:         []corev1.Volume{proxyconfig.IdentityVolume()},
		},
	}
}
