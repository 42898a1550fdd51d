package proxyconfig

import (
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/util/intstr"
	"k8s.io/utils/ptr"

	"github.com/meshctl/meshctl/pkg/proxyconfig/wire"
)

// Command is the sidecar image's binary; the image must have it on PATH.
// Both containers name it explicitly rather than relying on the image's
// entrypoint, so that the pod spec alone says what runs.
const Command = "mesh-proxy"

// AdminPortName names the admin port on the proxy container.
const AdminPortName = "mesh-admin"

// InitContainer is the container that installs the interception rules
// before the app starts.
//
// `mesh-proxy init` installs them as one nftables table over netlink (see
// pkg/proxy/interception): no iptables binaries are involved. Changing the
// pod's netfilter tables takes CAP_NET_ADMIN in the pod's network
// namespace, and it runs as root because that is how the capability takes
// effect: the container runtime puts added capabilities into the effective
// set only of a root process; a non-root process would hold NET_ADMIN in
// its bounding set alone (Kubernetes sets no ambient capabilities, and the
// image's binary carries no file capabilities), and the kernel would refuse
// the netlink batch with EPERM. NET_RAW is not needed by the netlink path
// (iptables needed it); it is still added only because dropping it changes
// every injected pod and is left to its own change. Everything else is taken
// away: ALL other capabilities dropped, no privilege escalation, and a
// read-only root filesystem. runAsNonRoot is set to false explicitly so
// that a pod-level runAsNonRoot: true, which the app may need, does not
// stop the init container.
func (c *Config) InitContainer() corev1.Container {
	return corev1.Container{
		Name:      InitContainerName,
		Image:     c.Image,
		Command:   []string{Command},
		Args:      c.InitArgs(),
		Resources: InitResources(),
		SecurityContext: &corev1.SecurityContext{
			Capabilities: &corev1.Capabilities{
				Add:  []corev1.Capability{"NET_ADMIN", "NET_RAW"},
				Drop: []corev1.Capability{"ALL"},
			},
			RunAsUser:                ptr.To[int64](0),
			RunAsGroup:               ptr.To[int64](0),
			RunAsNonRoot:             ptr.To(false),
			ReadOnlyRootFilesystem:   ptr.To(true),
			AllowPrivilegeEscalation: ptr.To(false),
		},
	}
}

// ProxyContainer is the proxy that runs beside the app: as ProxyUID (whose
// traffic the rules exempt), with no capabilities and a read-only root, and
// probed on the admin port, which is never intercepted. It is the proxy as a
// regular container, as older meshctl versions injected it (after the app's
// containers, which then started before the proxy listened); the injector
// now adds NativeSidecarContainer, which is this container made a native
// sidecar.
func (c *Config) ProxyContainer() corev1.Container {
	var mounts []corev1.VolumeMount
	if c.Identity != nil {
		mounts = []corev1.VolumeMount{identityMount()}
	}
	return corev1.Container{
		Name:    ProxyContainerName,
		Image:   c.Image,
		Command: []string{Command},
		Args:    c.RunArgs(),
		Ports: []corev1.ContainerPort{{
			Name:          AdminPortName,
			ContainerPort: wire.AdminPort,
			Protocol:      corev1.ProtocolTCP,
		}},
		Env:            Env(),
		VolumeMounts:   mounts,
		Resources:      *c.Resources.DeepCopy(),
		ReadinessProbe: adminProbe(wire.ReadyPath),
		LivenessProbe:  adminProbe(wire.LivePath),
		SecurityContext: &corev1.SecurityContext{
			Capabilities:             &corev1.Capabilities{Drop: []corev1.Capability{"ALL"}},
			RunAsUser:                ptr.To[int64](wire.ProxyUID),
			RunAsGroup:               ptr.To[int64](wire.ProxyGID),
			RunAsNonRoot:             ptr.To(true),
			ReadOnlyRootFilesystem:   ptr.To(true),
			AllowPrivilegeEscalation: ptr.To(false),
		},
	}
}

// adminProbe probes path on the admin port, which is never intercepted.
func adminProbe(path string) *corev1.Probe {
	return &corev1.Probe{ProbeHandler: corev1.ProbeHandler{HTTPGet: &corev1.HTTPGetAction{
		Path: path,
		Port: intstr.FromInt32(wire.AdminPort),
	}}}
}

// The startup probe asks /ready every StartupProbePeriodSeconds, and gives
// the proxy StartupProbeFailureThreshold of them (about a minute, an image
// pull aside: the probe starts once the container has) before the kubelet
// restarts it.
const (
	StartupProbePeriodSeconds    = 1
	StartupProbeFailureThreshold = 60
)

// NativeSidecarContainer is ProxyContainer as a Kubernetes native sidecar:
// an init container with restartPolicy Always, which the injector adds to
// every pod right after InitContainer. Native sidecars are on by default
// since Kubernetes 1.29 (the SidecarContainers feature gate; beta then, GA
// in 1.33), below the mesh's minimum of 1.30 (pkg/check
// MinKubernetesVersion), so no supported cluster lacks them.
//
// The kubelet starts the init containers in order and moves past a native
// sidecar only once its startup probe has succeeded: the app's containers
// start with the proxy already listening on OutboundPort, so that the app's
// first outbound call is not refused. On shutdown the kubelet stops the
// app's containers first and the sidecars only after they have exited, so
// the app's last calls still go through the proxy. And a native sidecar does
// not keep a pod running once the app's containers have finished, which
// would stop a Job from ever completing.
func (c *Config) NativeSidecarContainer() corev1.Container {
	ct := c.ProxyContainer()
	ct.RestartPolicy = ptr.To(corev1.ContainerRestartPolicyAlways)
	ct.StartupProbe = adminProbe(wire.ReadyPath)
	ct.StartupProbe.PeriodSeconds = StartupProbePeriodSeconds
	ct.StartupProbe.FailureThreshold = StartupProbeFailureThreshold
	return ct
}
