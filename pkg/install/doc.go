// Package install owns the mesh's install lifecycle: loading the chart
// embedded in meshctl, merging values in the one documented order, rendering
// it, and installing, upgrading and uninstalling it as a real Helm release
// through the Helm SDK. It also owns what Helm does not do for us: the CRDs
// (applied server-side before every install and upgrade, since Helm never
// upgrades a chart's crds/), the readiness wait with per-component progress
// and a diagnosis of what failed, the rollback on failure, and the clean-up
// after uninstall (namespace enrolment, leftover cluster-scoped objects).
package install
