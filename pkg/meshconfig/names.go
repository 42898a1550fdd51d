// Package meshconfig owns the mesh's public API: the MeshConfig resource
// (config.meshctl.io/v1alpha1) and the well-known names that users, the chart
// and every component rely on — the enrolment label and annotation, the
// ownership labels, and the default mesh name and namespace. It also owns
// what can be said about a MeshConfig without a command tree: its defaults and
// validation, reading it from a file or the cluster, the field paths that
// `meshctl config` accepts, and the JSON merge patches that edit it.
//
// The deepcopy functions and the CRD in charts/mesh/crds are generated from
// types.go by hack/gen-meshconfig.sh (go generate ./pkg/meshconfig).
//
// +kubebuilder:object:generate=true
// +groupName=config.meshctl.io
// +versionName=v1alpha1
package meshconfig

import (
	"strconv"

	"github.com/meshctl/meshctl/pkg/identity"
)

//go:generate ../../hack/gen-meshconfig.sh

// API group and version of the MeshConfig resource.
const (
	GroupName = "config.meshctl.io"
	Version   = "v1alpha1"
	Kind      = "MeshConfig"
	// Resource is the plural resource name, as used in RBAC rules and REST paths.
	Resource = "meshconfigs"
	// ObjectName is the name of the single MeshConfig of a mesh, which lives in
	// the control-plane namespace.
	ObjectName = "mesh-config"
)

// Defaults for the mesh identity. The mesh name is also the Helm release name.
const (
	DefaultMeshName      = "mesh"
	DefaultMeshNamespace = "mesh-system"
)

// Namespace enrolment: a namespace belongs to a mesh when it carries
// LabelMonitoredBy with the mesh's name; LabelSidecarInjection (and, for
// older readers, the annotation of the same key) says whether the webhook
// injects its new pods. The same label or annotation on a pod template opts
// a single workload out. The rule that reads them is enrolment.go's
// (InjectionOf, PodOptsOut); the chart's webhook selectors are held to it
// by pkg/install's tests.
const (
	LabelMonitoredBy = "meshctl.io/monitored-by"
	// LabelSidecarInjection is what the webhook's namespaceSelector and
	// objectSelector match, as the API server can select on labels only.
	LabelSidecarInjection = "meshctl.io/sidecar-injection"
	// AnnotationSidecarInjection is the setting as meshctl before the label
	// wrote it; it is still written beside the label, and read where the
	// label is absent.
	AnnotationSidecarInjection = "meshctl.io/sidecar-injection"
	InjectionEnabled           = "enabled"
	InjectionDisabled          = "disabled"
)

// SystemNamespaces are the namespaces of Kubernetes itself. The mesh never
// enrols them and never injects their pods, because those pods run the
// cluster (and the webhook that would inject them). The chart's webhook
// selector excludes the same list; the chart's tests hold it to this one.
func SystemNamespaces() []string {
	return []string{"kube-system", "kube-public", "kube-node-lease"}
}

// Metadata the injector writes into a pod template, read back by uninject,
// the webhook, `meshctl check` and `meshctl namespace`.
const (
	// AnnotationInjected is the marker: a JSON record of what the injection
	// added, which makes injection idempotent and uninject exact.
	AnnotationInjected = "meshctl.io/injected"
	// LabelProxyVersion carries the version of the injected sidecar, so that
	// pods running an old proxy can be selected.
	LabelProxyVersion = "meshctl.io/proxy-version"
)

// AnnotationRestartedAt is kubectl's pod-template annotation that `kubectl
// rollout restart` sets; `meshctl namespace add --restart` sets the same one,
// so a restart by either tool looks alike in the rollout history.
const AnnotationRestartedAt = "kubectl.kubernetes.io/restartedAt"

// Ownership labels carried by every object the chart renders, so that
// uninstall and check can find them all.
const (
	LabelPartOf   = "app.kubernetes.io/part-of"
	PartOfValue   = "meshctl"
	LabelMeshName = "meshctl.io/mesh-name"
	// LabelComponent names the control-plane component of an object.
	LabelComponent = "app.kubernetes.io/component"
	// LabelVersion is the app.kubernetes.io/version label the chart stamps with
	// the meshctl version; `meshctl version` and `check` read the control
	// plane's version from it.
	LabelVersion = "app.kubernetes.io/version"
)

// LabelManagedBy and ManagedByMeshctl mark the mesh CA's objects that
// meshctl (or the controller, under a plain helm install) created, whereas
// the chart's objects say Helm there: uninstall deletes them with the mesh;
// an issuer Secret without the mark belongs to whoever brought it
// (cert-manager) and is never touched.
const (
	LabelManagedBy   = "app.kubernetes.io/managed-by"
	ManagedByMeshctl = "meshctl"
)

// ComponentController is the value of LabelComponent on the control plane's
// objects (Deployment, pods, Service); selectors find the controller by it.
const ComponentController = "controller"

// ControllerName is the name of the control-plane Deployment, its Service and
// its ServiceAccount.
const ControllerName = "mesh-controller"

// LeaderLeaseName is the Lease in the control-plane namespace through which
// the controller's replicas elect the one that does what must happen once.
const LeaderLeaseName = "mesh-controller-leader"

// DefaultImageRegistry is where the release publishes both images,
// <registry>/mesh-controller and <registry>/mesh-proxy; the chart's
// imageRegistry value defaults to it (pkg/install's tests hold the chart to
// it).
const DefaultImageRegistry = "ghcr.io/meshctl"

// ControllerImageName is the mesh-controller image's name in a registry.
const ControllerImageName = "mesh-controller"

// ControllerImageRepository is where the mesh-controller image is published;
// its tag is the meshctl version (see pkg/version).
const ControllerImageRepository = DefaultImageRegistry + "/" + ControllerImageName

// ProxyAPIPort is the controller's port for proxies, and ProxyAPIPortName
// its name on the container and the Service: certificate signing
// (pkg/issuance) and the channel (pkg/channel), over TLS with the
// controller's own mesh certificate.
const (
	ProxyAPIPort     = 9444
	ProxyAPIPortName = "proxy-api"
)

// ControllerAddress is where proxies reach the controller's ProxyAPIPort:
// the Service's cluster DNS name.
func ControllerAddress(meshNamespace string) string {
	return ControllerName + "." + meshNamespace + ".svc:" + strconv.Itoa(ProxyAPIPort)
}

// ControllerID is the identity the controller presents on ProxyAPIPort:
// its own ServiceAccount's, which proxies hold it to.
func ControllerID(trustDomain, meshNamespace string) (identity.ID, error) {
	return identity.NewID(trustDomain, meshNamespace, ControllerName)
}

// The mesh CA's objects in the control-plane namespace. The issuer Secret
// has the kubernetes.io/tls shape cert-manager writes (tls.crt: the issuer
// and any intermediates; tls.key; ca.crt: the anchor); it is the only one
// the controller reads. The anchor Secret holds the trust anchor's key,
// which only `meshctl install` uses (and an operator rotating the anchor). The
// trust bundle ConfigMap is the anchors proxies trust (several during a
// rotation), under TrustBundleKey; the controller copies it into every
// enrolled namespace under the same name, where pods mount it.
const (
	IssuerSecretName = "mesh-identity-issuer"
	AnchorSecretName = "mesh-identity-trust-anchor"
	TrustBundleName  = "mesh-trust-bundle"
	TrustBundleKey   = "ca-bundle.crt"
)
