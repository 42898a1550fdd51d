package meshconfig

import (
	"reflect"
	"testing"

	"k8s.io/apimachinery/pkg/runtime"
)

func TestAddToScheme(t *testing.T) {
	s := runtime.NewScheme()
	if err := AddToScheme(s); err != nil {
		t.Fatal(err)
	}
	obj, err := s.New(GroupVersionKind)
	if err != nil {
		t.Fatal(err)
	}
	if _, ok := obj.(*MeshConfig); !ok {
		t.Errorf("scheme makes %T for %s", obj, GroupVersionKind)
	}
	if _, err := s.New(SchemeGroupVersion.WithKind("MeshConfigList")); err != nil {
		t.Error(err)
	}
}

func TestDeepCopyIsDeep(t *testing.T) {
	mc := New("mesh-system")
	mc.Spec.Traffic.OutboundPortExclusionList = []int32{25}
	mc.Spec.Auth.JWT.Audiences = []string{"books"}
	cp := mc.DeepCopyObject().(*MeshConfig)
	if !reflect.DeepEqual(mc, cp) {
		t.Fatal("copy differs")
	}
	cp.Spec.Traffic.OutboundPortExclusionList[0] = 587
	cp.Spec.Auth.JWT.Audiences[0] = "stars"
	if mc.Spec.Traffic.OutboundPortExclusionList[0] != 25 || mc.Spec.Auth.JWT.Audiences[0] != "books" {
		t.Error("the copy shares slices with the original")
	}
}
