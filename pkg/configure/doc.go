// Package configure reads and changes a running mesh's live configuration,
// its MeshConfig object: the logic of `meshctl config get|set` and
// `meshctl permissive enable|disable|status`. Every change is a JSON merge
// patch of the fields named and nothing else, never a read-modify-write of
// the whole object, so that a concurrent edit of another field survives; the
// API server's schema (the CRD in charts/mesh/crds) validates the values.
//
// Of the three *config packages, meshconfig is the MeshConfig API itself
// (types, defaults, validation, public names), proxyconfig turns a
// MeshConfig into the sidecar's definition, and configure is what an
// operator runs against the live object.
package configure
