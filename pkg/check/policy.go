package check

import (
	"context"
	"fmt"
	"strings"

	"github.com/meshctl/meshctl/pkg/namespace"
	"github.com/meshctl/meshctl/pkg/policycli"
)

// CategoryPolicy is the mesh's authorization policy: objects that cannot
// work, and destinations nothing may reach.
const CategoryPolicy = "policy"

func policyChecks() []Check {
	needs := []string{CategoryKubernetes, CategoryCRDs, CategoryMeshConfig}
	return []Check{
		{
			Category:    CategoryPolicy,
			Description: "TrafficTargets, routes and IngressBackends compile without findings",
			Hint:        "policy-findings",
			Severity:    Warning,
			Retry:       NoRetry,
			Needs:       needs,
			Run:         checkPolicyFindings,
		},
		{
			Category:    CategoryPolicy,
			Description: "enrolled Services with meshed pods stay reachable with permissive mode off",
			Hint:        "policy-unreachable",
			Severity:    Warning,
			Retry:       NoRetry,
			Needs:       needs,
			Run:         checkPolicyUnreachable,
		},
	}
}

// Policy reads and compiles the mesh's policy as the proxies will hold it
// (pkg/policycli), once per attempt.
func (e *Env) Policy(ctx context.Context) (*policycli.Snapshot, error) {
	return e.cache.policy.get(func() (*policycli.Snapshot, error) {
		return policycli.Read(ctx, e.Clients, e.MeshName, e.Namespace)
	})
}

// checkPolicyFindings lists every finding of the compilation, each naming
// its object and field: every one is part of the policy that allows
// nothing, or not what its author meant.
func checkPolicyFindings(ctx context.Context, env *Env) error {
	snap, err := env.Policy(ctx)
	if err != nil {
		return err
	}
	if len(snap.Findings) == 0 {
		return nil
	}
	lines := make([]string, len(snap.Findings))
	for i, f := range snap.Findings {
		lines[i] = f.String()
	}
	return fmt.Errorf("%d policy findings:\n%s", len(lines), strings.Join(lines, "\n"))
}

// checkPolicyUnreachable names the enrolled Services whose meshed pods
// run as identities that no edge of the compiled policy reaches. With
// permissive mode on everything is reachable, so there is nothing to say.
func checkPolicyUnreachable(ctx context.Context, env *Env) error {
	snap, err := env.Policy(ctx)
	if err != nil {
		return err
	}
	if snap.Set.Permissive {
		return nil
	}
	nss, err := namespace.ListEnrolled(ctx, env.Clients.Kube, env.MeshName)
	if err != nil {
		return err
	}
	bad := policycli.Unreachable(snap, nss)
	if len(bad) == 0 {
		return nil
	}
	names := make([]string, len(bad))
	for i, s := range bad {
		names[i] = fmt.Sprintf("service %s/%s (ServiceAccounts %s)", s.Namespace, s.Name, strings.Join(s.ServiceAccounts, ", "))
	}
	return fmt.Errorf("permissive mode is off and nothing may reach %s: add a TrafficTarget, or check with meshctl policy list -A", nameList(names))
}
