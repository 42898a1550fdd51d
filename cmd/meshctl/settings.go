package main

import (
	"errors"
	"fmt"
	"io/fs"
	"path/filepath"
	"slices"
	"sort"
	"strings"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"
	"github.com/spf13/viper"

	"github.com/meshctl/meshctl/pkg/cli"
)

// envPrefix starts the environment variable of every flag: --mesh-namespace
// is MESHCTL_MESH_NAMESPACE.
const envPrefix = "MESHCTL_"

// commandLineOnly is the flag annotation of the flags that confirm or
// force a destructive change (--yes, --force, --purge): they are taken from
// the command line alone, so that no environment variable or config-file
// key left behind answers a question nobody was asked.
const commandLineOnly = "meshctl.io/command-line-only"

// markCommandLineOnly annotates the named flags of cmd as commandLineOnly.
func markCommandLineOnly(cmd *cobra.Command, names ...string) {
	for _, n := range names {
		if err := cmd.Flags().SetAnnotation(n, commandLineOnly, []string{"true"}); err != nil {
			panic(err) // a flag name of our own that does not exist
		}
	}
}

func isCommandLineOnly(f *pflag.Flag) bool {
	_, ok := f.Annotations[commandLineOnly]
	return ok
}

// commandsKey is the config-file section of per-command keys: a map from a
// command's path ("upgrade", "namespace add") to its flags.
const commandsKey = "commands"

// resolveSettings fills every flag the user did not set from the environment,
// then from the config file, so that each flag ends up with the value of
// highest precedence: flag > MESHCTL_* env > config file > default. Flags stay
// the single place values live; options structs bound to them see the result.
// In the config file, the command's own section (commands: {PATH: {...}})
// beats the top level. Command-line-only flags are never read from either,
// and naming one there is a usage error rather than silently ignored.
func resolveSettings(cmd *cobra.Command, s *cli.Settings, configFile string, lookupEnv func(string) (string, bool)) error {
	file, err := loadConfigFile(cmd.Root(), configFile, lookupEnv)
	if err != nil {
		return err
	}
	section := commandSection(file, cmd)
	var errs []error
	cmd.Flags().VisitAll(func(f *pflag.Flag) {
		if f.Changed || f.Name == "help" || f.Name == "config" {
			return
		}
		if v, ok := lookupEnv(envName(f.Name)); ok {
			if isCommandLineOnly(f) {
				errs = append(errs, fmt.Errorf("environment variable %s: --%s confirms a destructive change and is taken from the command line only", envName(f.Name), f.Name))
				return
			}
			if err := setFlag(f, v); err != nil {
				errs = append(errs, fmt.Errorf("environment variable %s: %w", envName(f.Name), err))
			}
			return
		}
		if v, ok := section[strings.ToLower(f.Name)]; ok {
			if err := setFlag(f, v); err != nil {
				errs = append(errs, fmt.Errorf("config file %s: key %s.%q.%s: %w", file.ConfigFileUsed(), commandsKey, commandPath(cmd), f.Name, err))
			}
			return
		}
		if file != nil && file.IsSet(f.Name) {
			if err := setFlag(f, file.Get(f.Name)); err != nil {
				errs = append(errs, fmt.Errorf("config file %s: key %q: %w", file.ConfigFileUsed(), f.Name, err))
			}
		}
	})
	if err := errors.Join(errs...); err != nil {
		return cli.UsageErrorf("%w", err)
	}
	if v, ok := lookupEnv("NO_COLOR"); ok && v != "" {
		s.NoColor = true
	}
	return s.Validate()
}

// commandPath is cmd's path below the root: "namespace add".
func commandPath(cmd *cobra.Command) string {
	return strings.TrimPrefix(strings.TrimPrefix(cmd.CommandPath(), cmd.Root().Name()), " ")
}

// commandSection is the config file's keys for cmd (commands: {PATH: ...}),
// lower-cased as viper lower-cases the rest; nil when there are none.
func commandSection(file *viper.Viper, cmd *cobra.Command) map[string]any {
	if file == nil {
		return nil
	}
	sections, _ := file.Get(commandsKey).(map[string]any)
	section, _ := sections[commandPath(cmd)].(map[string]any)
	out := make(map[string]any, len(section))
	for k, v := range section {
		out[strings.ToLower(k)] = v
	}
	return out
}

func envName(flag string) string {
	return envPrefix + strings.ToUpper(strings.ReplaceAll(flag, "-", "_"))
}

// setFlag sets a flag from an environment string or a config-file value; a
// YAML list fills a list flag.
func setFlag(f *pflag.Flag, v any) error {
	if list, ok := v.([]any); ok {
		sv, ok := f.Value.(pflag.SliceValue)
		if !ok {
			return fmt.Errorf("flag --%s takes one value, not a list", f.Name)
		}
		strs := make([]string, len(list))
		for i, e := range list {
			strs[i] = fmt.Sprint(e)
		}
		if err := sv.Replace(strs); err != nil {
			return fmt.Errorf("invalid value %q for --%s: %w", strs, f.Name, err)
		}
	} else if err := f.Value.Set(fmt.Sprint(v)); err != nil {
		return fmt.Errorf("invalid value %q for --%s: %w", v, f.Name, err)
	}
	// Marked as changed so that code asking "did the user choose this?"
	// (cmd.Flags().Changed) sees a value from the environment or file too.
	f.Changed = true
	return nil
}

// loadConfigFile reads the config file, if any. An explicit --config (or
// MESHCTL_CONFIG) must exist; the default location may be absent. A key that
// names no meshctl flag is an error, so a misspelling is never ignored.
func loadConfigFile(root *cobra.Command, explicit string, lookupEnv func(string) (string, bool)) (*viper.Viper, error) {
	path := explicit
	if path == "" {
		path, _ = lookupEnv(envName("config"))
	}
	required := path != ""
	if path == "" {
		path = defaultConfigPath(lookupEnv)
		if path == "" {
			return nil, nil
		}
	}
	v := viper.New()
	v.SetConfigFile(path)
	v.SetConfigType("yaml")
	if err := v.ReadInConfig(); err != nil {
		if !required && errors.Is(err, fs.ErrNotExist) {
			return nil, nil
		}
		return nil, cli.UsageErrorf("config file %s: %w", path, err)
	}
	if err := checkConfigKeys(root, v); err != nil {
		return nil, cli.UsageErrorf("config file %s: %w", path, err)
	}
	return v, nil
}

// checkConfigKeys refuses, all at once, the keys of a config file that
// would be ignored or misread: a key that names no flag, a command-line-only
// flag anywhere, and at the top level a flag that several commands have
// with different meanings (--timeout, --output, --force...), which belongs
// in the section of the command it is meant for. The top level takes the
// global flags and the flags of one command only.
func checkConfigKeys(root *cobra.Command, v *viper.Viper) error {
	flags := flagsByCommand(root)
	var problems []string
	for k, val := range v.AllSettings() {
		if k == commandsKey {
			problems = append(problems, checkCommandSections(root, val)...)
			continue
		}
		owners, known := flags[k]
		switch {
		case !known:
			problems = append(problems, fmt.Sprintf("unknown key %s: keys are flag names, such as mesh-namespace", k))
		case owners.commandLineOnly:
			problems = append(problems, fmt.Sprintf("key %s: --%s confirms a destructive change and is taken from the command line only", k, k))
		case !owners.global && len(owners.commands) > 1:
			problems = append(problems, fmt.Sprintf("key %s: --%s means different things to %s: put it under the command it is for, as %s: {%q: {%s: ...}}",
				k, k, strings.Join(owners.commands, ", "), commandsKey, owners.commands[0], k))
		}
	}
	if len(problems) == 0 {
		return nil
	}
	sort.Strings(problems)
	return errors.New(strings.Join(problems, "; "))
}

// checkCommandSections checks the commands: section: each key a command's
// path, each of its keys a flag of that command.
func checkCommandSections(root *cobra.Command, val any) []string {
	sections, ok := val.(map[string]any)
	if !ok {
		return []string{fmt.Sprintf("key %s: want a map from command (such as \"namespace add\") to its flags", commandsKey)}
	}
	var problems []string
	for path, sv := range sections {
		cmd, rest, err := root.Find(strings.Fields(path))
		if err != nil || len(rest) > 0 || cmd == root || commandPath(cmd) != path {
			problems = append(problems, fmt.Sprintf("key %s.%q: no such command; use its full name, such as \"namespace add\"", commandsKey, path))
			continue
		}
		section, ok := sv.(map[string]any)
		if !ok {
			problems = append(problems, fmt.Sprintf("key %s.%q: want a map of its flags", commandsKey, path))
			continue
		}
		for k := range section {
			f := cmd.Flags().Lookup(k)
			if f == nil {
				f = cmd.InheritedFlags().Lookup(k)
			}
			switch {
			case f == nil:
				problems = append(problems, fmt.Sprintf("key %s.%q.%s: %s has no flag --%s", commandsKey, path, k, cmd.CommandPath(), k))
			case isCommandLineOnly(f):
				problems = append(problems, fmt.Sprintf("key %s.%q.%s: --%s confirms a destructive change and is taken from the command line only", commandsKey, path, k, k))
			}
		}
	}
	return problems
}

// flagOwners says where a flag name is defined.
type flagOwners struct {
	global          bool     // a persistent flag of the root
	commands        []string // the commands defining it as their own, sorted
	commandLineOnly bool     // any of them is command-line only
}

func defaultConfigPath(lookupEnv func(string) (string, bool)) string {
	if dir, ok := lookupEnv("XDG_CONFIG_HOME"); ok && dir != "" {
		return filepath.Join(dir, "meshctl", "config.yaml")
	}
	if home, ok := lookupEnv("HOME"); ok && home != "" {
		return filepath.Join(home, ".config", "meshctl", "config.yaml")
	}
	return ""
}

// flagsByCommand maps every flag name of the tree (lower-cased, as viper
// lower-cases keys) to where it is defined.
func flagsByCommand(root *cobra.Command) map[string]*flagOwners {
	out := map[string]*flagOwners{}
	owner := func(name string) *flagOwners {
		o := out[strings.ToLower(name)]
		if o == nil {
			o = &flagOwners{}
			out[strings.ToLower(name)] = o
		}
		return o
	}
	root.PersistentFlags().VisitAll(func(f *pflag.Flag) { owner(f.Name).global = true })
	var walk func(c *cobra.Command)
	walk = func(c *cobra.Command) {
		if c != root {
			for _, fs := range []*pflag.FlagSet{c.LocalNonPersistentFlags(), c.PersistentFlags()} {
				fs.VisitAll(func(f *pflag.Flag) {
					o := owner(f.Name)
					if !slices.Contains(o.commands, commandPath(c)) {
						o.commands = append(o.commands, commandPath(c))
					}
					o.commandLineOnly = o.commandLineOnly || isCommandLineOnly(f)
				})
			}
		}
		for _, sub := range c.Commands() {
			walk(sub)
		}
	}
	walk(root)
	for _, o := range out {
		sort.Strings(o.commands)
	}
	return out
}
