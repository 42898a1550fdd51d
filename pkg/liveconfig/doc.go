// Package liveconfig owns the commands that change a mesh's live
// configuration, its MeshConfig object: `meshctl permissive
// enable|disable|status` and `meshctl config get|set`. Every change is a JSON
// merge patch of the fields named and nothing else, never a read-modify-write
// of the whole object, so that a concurrent edit of another field survives;
// the API server's schema (the CRD in charts/mesh/crds) validates the values.
package liveconfig
