package proxyconfig

import (
	"fmt"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/utils/ptr"

	"github.com/meshctl/meshctl/pkg/issuance"
	"github.com/meshctl/meshctl/pkg/meshconfig"
	"github.com/meshctl/meshctl/pkg/proxyconfig/wire"
)

// IdentityVolumeName is the pod volume the injector adds for the proxy's
// identity (see IdentityVolume).
const IdentityVolumeName = "mesh-proxy-identity"

// TokenExpirationSeconds is the lifetime of the projected token the proxy
// proves its ServiceAccount with. The kubelet renews it at 80% of that; an
// hour is what Kubernetes itself gives projected tokens by default, and a
// stolen one stops working within the hour.
const TokenExpirationSeconds = 3600

// WithIdentity returns c with the proxy's identity settings: where the
// controller of the mesh in meshNamespace is, and the identity it must
// present in trustDomain (empty: meshconfig.DefaultTrustDomain). c is not
// modified.
func (c *Config) WithIdentity(meshNamespace, trustDomain string) (*Config, error) {
	if trustDomain == "" {
		trustDomain = meshconfig.DefaultTrustDomain
	}
	id, err := meshconfig.ControllerID(trustDomain, meshNamespace)
	if err != nil {
		return nil, fmt.Errorf("spec.identity.trustDomain: %w", err)
	}
	w := c.clone()
	w.Identity = &wire.Identity{ControllerAddress: meshconfig.ControllerAddress(meshNamespace), ControllerID: id}
	return w, nil
}

// IdentityVolume is the projected volume the proxy container mounts at
// wire.IdentityDir: a ServiceAccount token whose audience is the mesh's
// (issuance.Audience), so it is worth nothing to the API server and
// nothing to the mesh when minted for the API server; and the trust bundle
// from the mesh-trust-bundle ConfigMap that the controller keeps in every
// enrolled namespace. The kubelet keeps both current in the running pod,
// so neither a token's expiry nor an anchor rotation needs a restart.
//
// The kubelet gives the token file to the pod's fsGroup, or to the user
// all containers share, or mode 0644: the proxy (UID 1500) can read it in
// every case, and only the proxy container mounts the volume.
func IdentityVolume() corev1.Volume {
	return corev1.Volume{
		Name: IdentityVolumeName,
		VolumeSource: corev1.VolumeSource{Projected: &corev1.ProjectedVolumeSource{
			Sources: []corev1.VolumeProjection{
				{ServiceAccountToken: &corev1.ServiceAccountTokenProjection{
					Audience:          issuance.Audience,
					ExpirationSeconds: ptr.To[int64](TokenExpirationSeconds),
					Path:              wire.TokenFile,
				}},
				{ConfigMap: &corev1.ConfigMapProjection{
					LocalObjectReference: corev1.LocalObjectReference{Name: meshconfig.TrustBundleName},
					Items:                []corev1.KeyToPath{{Key: meshconfig.TrustBundleKey, Path: wire.TrustBundleFile}},
				}},
			},
		}},
	}
}

// identityMount mounts IdentityVolume in the proxy container.
func identityMount() corev1.VolumeMount {
	return corev1.VolumeMount{Name: IdentityVolumeName, MountPath: wire.IdentityDir, ReadOnly: true}
}
