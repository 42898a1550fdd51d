// Package examples holds the example apps and manifests of meshctl, and the
// tests that keep them working: the manifests parse and validate against the
// API server, the SMI policies against the chart's CRDs, and what
// docs/getting-started.md says about them (the probes, the `meshctl config
// set` line for JWT) against the manifests and the parser. The apps are the
// programs under examples/apps; hack/images/examples.sh builds them into the
// image Image.
package examples

// Image is the example apps' image, the one every example manifest runs.
// hack/images/examples.sh builds it; the manifests and the script carry the
// literal, and the tests check that they agree with it.
const Image = "ghcr.io/meshctl/examples:v1"
