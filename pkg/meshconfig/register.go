package meshconfig

import (
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
)

// SchemeGroupVersion is the group and version of the MeshConfig API.
var SchemeGroupVersion = schema.GroupVersion{Group: GroupName, Version: Version}

// GroupVersionResource names the MeshConfig resource for dynamic clients.
var GroupVersionResource = SchemeGroupVersion.WithResource(Resource)

// GroupVersionKind names the MeshConfig kind.
var GroupVersionKind = SchemeGroupVersion.WithKind(Kind)

// AddToScheme registers MeshConfig and MeshConfigList with s, for clients and
// codecs that work with typed objects (the controller, controller-runtime).
// It is a function rather than the usual SchemeBuilder variable so that the
// package holds no mutable state.
func AddToScheme(s *runtime.Scheme) error {
	s.AddKnownTypes(SchemeGroupVersion, &MeshConfig{}, &MeshConfigList{})
	metav1.AddToGroupVersion(s, SchemeGroupVersion)
	return nil
}
