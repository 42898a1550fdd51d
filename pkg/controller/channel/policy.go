package channel

import (
	"encoding/json"
	"fmt"
	"strings"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"

	"github.com/meshctl/meshctl/pkg/policy/cluster"
	"github.com/meshctl/meshctl/pkg/policy/crd"
)

// policyState is what the mesh's policy is compiled from, beside the
// state the rest of the snapshot is built from.
type policyState struct {
	permissive                                                  bool
	trafficTargets, httpRouteGroups, tcpRoutes, ingressBackends []*unstructured.Unstructured
	serviceAccounts                                             []*corev1.ServiceAccount
}

// compilePolicy compiles st's policy objects into the Set every proxy
// gets (one for the mesh: a proxy takes its own identity's part), as the
// JSON the snapshot carries, and the findings about them. Like build, it
// is a pure function of the objects: every replica sends the same bytes.
func compilePolicy(st state) (json.RawMessage, []crd.Finding, error) {
	p := st.policy
	in, findings := cluster.Input(cluster.Objects{
		TrustDomain: st.trustDomain, Permissive: p.permissive,
		TrafficTargets: p.trafficTargets, HTTPRouteGroups: p.httpRouteGroups, TCPRoutes: p.tcpRoutes, IngressBackends: p.ingressBackends,
		Services: st.services, Slices: st.slices, Pods: st.pods, ServiceAccounts: p.serviceAccounts,
	})
	set, more, err := crd.Compile(in)
	if err != nil {
		return nil, nil, err
	}
	b, err := json.Marshal(set)
	if err != nil {
		return nil, nil, fmt.Errorf("encoding the policy: %w", err)
	}
	return b, append(findings, more...), nil
}

// logFindings logs the findings when they differ from the last ones:
// each rebuild would otherwise repeat them.
func (s *Server) logFindings(fs []crd.Finding) {
	lines := make([]string, len(fs))
	for i, f := range fs {
		lines[i] = f.String()
	}
	joined := strings.Join(lines, "\n")
	if joined == s.findings {
		return
	}
	s.findings = joined
	for _, f := range fs {
		s.log.Warn("policy finding", "kind", f.Kind, "namespace", f.Namespace, "name", f.Name, "field", f.Field, "severity", string(f.Severity), "message", f.Message)
	}
}
