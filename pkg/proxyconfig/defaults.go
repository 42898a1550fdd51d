package proxyconfig

import (
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
)

// DefaultResources are the proxy container's requests and limits when the
// MeshConfig sets none. The chart's sidecar values are filled from here, so
// the chart and an offline injection agree. The requests are small because
// one proxy runs in every meshed pod; the memory limit bounds a leaking
// proxy without bounding CPU, whose throttling would add latency to every
// request.
func DefaultResources() corev1.ResourceRequirements {
	return corev1.ResourceRequirements{
		Requests: corev1.ResourceList{
			corev1.ResourceCPU:    resource.MustParse("10m"),
			corev1.ResourceMemory: resource.MustParse("32Mi"),
		},
		Limits: corev1.ResourceList{
			corev1.ResourceMemory: resource.MustParse("256Mi"),
		},
	}
}

// InitResources are the init container's requests and limits. Installing
// the interception rules takes a few milliseconds of CPU and a few MiB; they
// are fixed rather than configurable because they do not grow with traffic.
func InitResources() corev1.ResourceRequirements {
	return corev1.ResourceRequirements{
		Requests: corev1.ResourceList{
			corev1.ResourceCPU:    resource.MustParse("10m"),
			corev1.ResourceMemory: resource.MustParse("16Mi"),
		},
		Limits: corev1.ResourceList{
			corev1.ResourceCPU:    resource.MustParse("100m"),
			corev1.ResourceMemory: resource.MustParse("64Mi"),
		},
	}
}
