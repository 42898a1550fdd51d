package meshconfig

import (
	"strings"
	"testing"
)

func BenchmarkParseAssignment(b *testing.B) {
	for b.Loop() {
		if _, err := ParseAssignment("traffic.outboundPortExclusionList=25,587,993"); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkDecode(b *testing.B) {
	const doc = `apiVersion: config.meshctl.io/v1alpha1
kind: MeshConfig
metadata: {name: mesh-config}
spec:
  sidecar: {logLevel: debug, resources: {limits: {cpu: 500m, memory: 128Mi}}}
  traffic: {enablePermissiveTrafficPolicyMode: false, outboundPortExclusionList: [25], outboundIPRangeExclusionList: [10.0.0.0/8]}
  observability: {tracing: {enable: true, address: jaeger.tracing}}
`
	for b.Loop() {
		if _, err := Decode(strings.NewReader(doc)); err != nil {
			b.Fatal(err)
		}
	}
}
