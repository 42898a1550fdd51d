package auth

// Exempt reports whether a request passes without a token: it is one of
// the app's own kubelet probes (Options.ExemptProbes, by
// wire.ProbeSet.Matches), which cannot carry one. The app answers exactly
// what its probe endpoint answers anyone who can reach the pod without
// the mesh.
func (v *Validator) Exempt(method string, port uint16, path string) bool {
	return v.exempt.Matches(method, port, path)
}
