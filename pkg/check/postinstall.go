package check

// Checks are the checks of `meshctl check`: is the installed mesh healthy?
// The data-plane checks come last; --proxy selects them alone (with the
// checks they need) and --namespace scopes them.
func Checks() []Check {
	needsAPI := []string{CategoryKubernetes}
	needsCRDs := []string{CategoryKubernetes, CategoryCRDs}
	checks := kubernetesChecks()
	checks = append(checks,
		Check{
			Category:    CategoryCRDs,
			Description: "the mesh's CRDs exist and are established",
			Hint:        "crds-established",
			Severity:    Fatal,
			Needs:       needsAPI,
			Run:         checkCRDsEstablished,
		},
		Check{
			Category:    CategoryCRDs,
			Description: "the CRDs serve the versions this meshctl uses",
			Hint:        "crds-versions",
			Severity:    Fatal,
			Needs:       needsAPI,
			Run:         checkCRDVersions,
		},
		Check{
			Category:    CategoryMeshConfig,
			Description: "the MeshConfig exists",
			Hint:        "meshconfig-exists",
			Severity:    Fatal,
			Needs:       needsCRDs,
			Run:         checkMeshConfigExists,
		},
		Check{
			Category:    CategoryMeshConfig,
			Description: "the MeshConfig is valid",
			Hint:        "meshconfig-valid",
			Severity:    Error,
			Needs:       needsCRDs,
			Run:         checkMeshConfigValid,
		},
		Check{
			Category:    CategoryControlPlane,
			Description: "the controller Deployment exists",
			Hint:        "control-plane-exists",
			Severity:    Fatal,
			Needs:       needsAPI,
			Run:         checkControllerExists,
		},
		Check{
			Category:    CategoryControlPlane,
			Description: "the controller Deployment is available",
			Hint:        "control-plane-available",
			Severity:    Error,
			Needs:       needsAPI,
			Run:         checkControllerAvailable,
		},
		Check{
			Category:    CategoryWebhook,
			Description: "the sidecar injector's MutatingWebhookConfiguration exists",
			Hint:        "webhook-exists",
			Severity:    Fatal,
			Needs:       needsAPI,
			Run:         checkWebhookExists,
		},
		Check{
			Category:    CategoryWebhook,
			Description: "the webhook's caBundle parses and matches the serving certificate",
			Hint:        "webhook-ca-bundle",
			Severity:    Error,
			Needs:       needsAPI,
			Run:         checkWebhookCABundle,
		},
		Check{
			Category:    CategoryWebhook,
			Description: "the webhook's serving certificate is not about to expire",
			Hint:        "webhook-cert-expiry",
			Severity:    Warning,
			Needs:       needsAPI,
			Run:         checkWebhookCertExpiry,
		},
		Check{
			Category:    CategoryWebhook,
			Description: "the webhook's Service has ready endpoints",
			Hint:        "webhook-endpoints",
			Severity:    Error,
			Needs:       needsAPI,
			Run:         checkWebhookEndpoints,
		},
		Check{
			Category:    CategoryWebhook,
			Description: "enrolled namespaces carry the label the webhook selects",
			Hint:        "webhook-namespace-label",
			Severity:    Warning,
			Retry:       NoRetry,
			Needs:       needsAPI,
			Run:         checkEnrolmentLabels,
		},
	)
	checks = append(checks, identityChecks()...)
	checks = append(checks,
		Check{
			Category:    CategoryVersions,
			Description: "the control plane runs the version of this meshctl",
			Hint:        "control-plane-version",
			Severity:    Warning,
			Retry:       NoRetry,
			Needs:       []string{CategoryKubernetes, CategoryControlPlane},
			Run:         checkControlPlaneVersion,
		},
	)
	checks = append(checks, policyChecks()...)
	return append(checks, dataPlaneChecks()...)
}

// ProxyChecks are the checks --proxy selects: the data plane and what it
// needs.
func ProxyChecks() []Check {
	var out []Check
	needed := map[string]bool{}
	all := Checks()
	for _, c := range all {
		if c.DataPlane {
			needed[c.Category] = true
			for _, n := range c.Needs {
				needed[n] = true
			}
		}
	}
	for _, c := range all {
		if needed[c.Category] {
			out = append(out, c)
		}
	}
	return out
}
