package cli

import (
	"fmt"

	"k8s.io/apimachinery/pkg/util/validation"
	"k8s.io/cli-runtime/pkg/genericclioptions"
)

// Settings are the global settings, resolved once by the root command from
// flag > MESHCTL_* environment > config file > default. Commands receive a
// pointer and read it after flag parsing.
type Settings struct {
	// MeshName names the mesh; it is also the Helm release name.
	MeshName string
	// MeshNamespace is the control-plane namespace.
	MeshNamespace string
	// Verbosity is the -v level; 0 is quiet.
	Verbosity int
	// NoColor disables colour and spinners, whatever the terminal. It is set
	// by --no-color and by a non-empty NO_COLOR environment variable.
	NoColor bool
	// Kube holds the standard kubeconfig flags (--kubeconfig, --context, ...).
	Kube *genericclioptions.ConfigFlags
}

// Validate checks the settings every command relies on.
func (s *Settings) Validate() error {
	if errs := validation.IsDNS1123Label(s.MeshName); len(errs) > 0 {
		return UsageErrorf("invalid --mesh-name %q: %s", s.MeshName, errs[0])
	}
	if errs := validation.IsDNS1123Label(s.MeshNamespace); len(errs) > 0 {
		return UsageErrorf("invalid --mesh-namespace %q: %s", s.MeshNamespace, errs[0])
	}
	return nil
}

// String is used in -v logs.
func (s *Settings) String() string {
	return fmt.Sprintf("mesh %q in namespace %q", s.MeshName, s.MeshNamespace)
}
