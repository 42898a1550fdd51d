package main

import (
	"github.com/spf13/cobra"
	"k8s.io/cli-runtime/pkg/genericclioptions"
	"k8s.io/cli-runtime/pkg/genericiooptions"

	"github.com/meshctl/meshctl/pkg/cli"
	"github.com/meshctl/meshctl/pkg/meshconfig"
)

const rootLong = `meshctl installs and operates the meshctl service mesh.

A typical session:

  meshctl check --pre                       # can this cluster take a mesh?
  meshctl install                           # install the control plane
  meshctl namespace add bookstore bookbuyer # enrol namespaces for injection
  meshctl inject -f app.yaml | kubectl apply -f -
  meshctl permissive disable                # turn permissive mode off
  meshctl check                             # is everything healthy?

Every flag can also be set with a MESHCTL_<FLAG> environment variable (for
example MESHCTL_MESH_NAMESPACE) or a key of the same name as the flag in the
config file ($XDG_CONFIG_HOME/meshctl/config.yaml, or --config). A flag beats
the environment, which beats the config file, which beats the default.
The config file takes the global flags, and the flags of a single command,
at the top; a flag that several commands have (--timeout, --output...)
goes under its command:

  mesh-namespace: mesh-system
  commands:
    upgrade:
      timeout: 10m
    namespace restart:
      timeout: 15m

--yes, --force and --purge confirm destructive changes: they are taken
from the command line only, and an environment variable or config-file key
naming one is an error.

Exit codes: 0 success, 1 failure, 2 usage error.`

// newRootCmd builds the whole command tree. Nothing here touches a cluster:
// every command gets one Factory, which builds clients when a command first
// asks for them.
// The settings s are filled in by flag parsing and resolveSettings before any
// command runs.
func newRootCmd(s *cli.Settings, streams genericiooptions.IOStreams, lookupEnv func(string) (string, bool)) *cobra.Command {
	s.Kube = genericclioptions.NewConfigFlags(true)
	var configFile string

	root := &cobra.Command{
		Use:           "meshctl",
		Short:         "Install and operate the meshctl service mesh",
		Long:          rootLong,
		SilenceUsage:  true,
		SilenceErrors: true,
		Args:          unknownSubcommand,
		RunE:          showHelp,
		PersistentPreRunE: func(cmd *cobra.Command, _ []string) error {
			return resolveSettings(cmd, s, configFile, lookupEnv)
		},
		CompletionOptions:          cobra.CompletionOptions{DisableDefaultCmd: true},
		SuggestionsMinimumDistance: 2,
	}
	root.SetIn(streams.In)
	root.SetOut(streams.Out)
	root.SetErr(streams.ErrOut)
	root.SetFlagErrorFunc(flagError)

	pf := root.PersistentFlags()
	s.Kube.AddFlags(pf)
	pf.StringVar(&s.MeshName, "mesh-name", meshconfig.DefaultMeshName, "name of the mesh; also its Helm release name")
	pf.StringVar(&s.MeshNamespace, "mesh-namespace", meshconfig.DefaultMeshNamespace, "namespace of the mesh control plane")
	pf.CountVarP(&s.Verbosity, "verbose", "v", "more detail on stderr; repeat for more (-vv)")
	pf.BoolVar(&s.NoColor, "no-color", false, "no colour, symbols or spinners (also set by NO_COLOR)")
	pf.StringVar(&configFile, "config", "", "config file (default $XDG_CONFIG_HOME/meshctl/config.yaml)")

	f := cli.NewFactory(s, streams.ErrOut)
	root.AddCommand(
		newVersionCmd(f, streams),
		newCompletionCmd(streams),
		newInstallCmd(f, streams), newUpgradeCmd(f, streams), newRollbackCmd(f, streams), newUninstallCmd(f, streams),
		newInjectCmd(f, streams), newUninjectCmd(f, streams),
		newCheckCmd(f, streams),
		newNamespaceCmd(f, streams), newPermissiveCmd(f, streams), newConfigCmd(f, streams),
		newProxyCmd(f, streams), newIdentityCmd(f, streams), newPolicyCmd(f, streams),
		newStatCmd(f, streams), newTapCmd(f, streams), newTopCmd(f, streams),
		newDashboardCmd(f, streams, lookupEnv),
	)
	return root
}
