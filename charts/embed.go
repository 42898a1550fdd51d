// Package charts holds the Helm charts meshctl installs, embedded in the
// binary so that a meshctl build always installs the chart it was built with.
package charts

import "embed"

// FS holds the mesh chart under the directory "mesh". The "all:" prefix keeps
// files whose names start with "_" (templates/_helpers.tpl).
//
//go:embed all:mesh
var FS embed.FS

// MeshChartDir is the directory of the mesh chart inside FS.
const MeshChartDir = "mesh"
