// Package version owns meshctl's build identity: the version, commit and date
// stamped into every binary with -ldflags, and the image tag derived from it.
// The chart's version, the default sidecar and controller images and the
// version skew checks all start here, so a build can never point at images of
// another release.
package version

import (
	"runtime"
	"strings"
)

// These are set at link time, for example
//
//	-X github.com/meshctl/meshctl/pkg/version.version=v0.2.0
//
// They are unexported variables rather than constants only because the linker
// can stamp nothing else; nothing in the program assigns them.
var (
	version = "v0.1.0-dev"
	commit  = "unknown"
	date    = "unknown"
)

// Info describes one build of a meshctl binary.
type Info struct {
	// Version is a semantic version with a leading "v", such as v0.2.0.
	Version string `json:"version"`
	// Commit is the git commit the binary was built from.
	Commit string `json:"commit"`
	// Date is the build time in RFC 3339.
	Date string `json:"date"`
	// GoVersion is the Go toolchain that built the binary.
	GoVersion string `json:"goVersion"`
	// Platform is GOOS/GOARCH.
	Platform string `json:"platform"`
}

// Get returns the identity of the running binary.
func Get() Info {
	return Info{
		Version:   version,
		Commit:    commit,
		Date:      date,
		GoVersion: runtime.Version(),
		Platform:  runtime.GOOS + "/" + runtime.GOARCH,
	}
}

// Version returns the stamped version, such as v0.2.0.
func Version() string { return version }

// ImageTag is the container image tag that belongs to this build. Images are
// tagged with the version itself, so the sidecar and controller that a given
// meshctl installs, injects and checks are the ones built with it.
func ImageTag() string { return version }

// ChartVersion is the version written into the embedded chart's Chart.yaml.
// Helm requires SemVer 2 without the leading "v".
func ChartVersion() string { return strings.TrimPrefix(version, "v") }
