package check

import (
	"context"
	"encoding/json"
	"fmt"

	utilversion "k8s.io/apimachinery/pkg/util/version"
	apiversion "k8s.io/apimachinery/pkg/version"
)

// MinKubernetesVersion is the oldest Kubernetes meshctl supports; the
// troubleshooting document states it too (a test keeps the two equal).
const MinKubernetesVersion = "v1.30.0"

// Categories of checks, in report order.
const (
	CategoryKubernetes   = "kubernetes-api"
	CategoryPermissions  = "permissions"
	CategoryPreInstall   = "pre-install"
	CategoryCRDs         = "crds"
	CategoryMeshConfig   = "meshconfig"
	CategoryControlPlane = "control-plane"
	CategoryWebhook      = "webhook"
	CategoryVersions     = "versions"
	CategoryDataPlane    = "data-plane"
)

// kubernetesChecks come first in both lists.
func kubernetesChecks() []Check {
	return []Check{
		{
			Category:    CategoryKubernetes,
			Description: "can reach the Kubernetes API",
			Hint:        "k8s-api-reachable",
			Severity:    Fatal,
			Run:         checkReachable,
		},
		{
			Category:    CategoryKubernetes,
			Description: "Kubernetes is at least " + MinKubernetesVersion,
			Hint:        "k8s-version",
			Severity:    Error,
			Retry:       NoRetry,
			Run:         checkServerVersion,
		},
	}
}

func checkReachable(ctx context.Context, env *Env) error {
	_, err := env.serverVersion(ctx)
	return err
}

func checkServerVersion(ctx context.Context, env *Env) error {
	v, err := env.serverVersion(ctx)
	if err != nil {
		return err
	}
	return versionAtLeast(v, env.minKubernetesVersion())
}

// versionAtLeast compares a server's gitVersion with a minimum.
func versionAtLeast(server, minimum string) error {
	sv, err := utilversion.ParseGeneric(server)
	if err != nil {
		return fmt.Errorf("cannot parse the server's version %q: %w", server, err)
	}
	mv := utilversion.MustParseGeneric(minimum)
	if sv.LessThan(mv) {
		return fmt.Errorf("the API server runs Kubernetes %s; meshctl needs %s or later", server, minimum)
	}
	return nil
}

// serverVersion asks the API server for its version, once per attempt.
func (e *Env) serverVersion(ctx context.Context) (string, error) {
	return e.cache.serverVersion.get(func() (string, error) {
		if e.clientsErr != nil {
			return "", e.clientsErr
		}
		// Discovery's ServerVersion takes no context; the REST client's does.
		body, err := e.Clients.Kube.Discovery().RESTClient().Get().AbsPath("/version").Do(ctx).Raw()
		if err != nil {
			return "", fmt.Errorf("cannot reach the Kubernetes API at %s: %w", e.Clients.Config.Host, err)
		}
		return parseGitVersion(body)
	})
}

func parseGitVersion(body []byte) (string, error) {
	var info apiversion.Info
	if err := json.Unmarshal(body, &info); err != nil {
		return "", fmt.Errorf("reading the API server's version: %w", err)
	}
	return info.GitVersion, nil
}
