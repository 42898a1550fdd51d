// Package check owns `meshctl check`: the checker framework and the checks.
//
// Checks are data (Check): a category, a description, a hint anchor in
// docs/troubleshooting.md, a severity, a per-check timeout, a retry policy
// and a Run function, kept in two ordered lists, PreInstallChecks and
// Checks. Everything the checks share (clients, the mesh's name and
// namespace, the objects the embedded chart renders, the expected proxy
// image, a clock) is built once by Setup into an Env; a check never relies on
// what another check left behind.
//
// The Runner runs independent checks in parallel, retries failing ones under
// --wait, and streams each Result to an Observer in the order of the list,
// whatever order they finish in. Rendering lives apart from running: the
// table, json, short and junit renderers consume Results and have JSON and
// XML types of their own.
package check
