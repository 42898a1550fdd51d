package main

import (
	"errors"
	"fmt"
	"io/fs"
	"path/filepath"
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

// resolveSettings fills every flag the user did not set from the environment,
// then from the config file, so that each flag ends up with the value of
// highest precedence: flag > MESHCTL_* env > config file > default. Flags stay
// the single place values live; options structs bound to them see the result.
func resolveSettings(cmd *cobra.Command, s *cli.Settings, configFile string, lookupEnv func(string) (string, bool)) error {
	file, err := loadConfigFile(cmd.Root(), configFile, lookupEnv)
	if err != nil {
		return err
	}
	var errs []error
	cmd.Flags().VisitAll(func(f *pflag.Flag) {
		if f.Changed || f.Name == "help" || f.Name == "config" {
			return
		}
		if v, ok := lookupEnv(envName(f.Name)); ok {
			if err := setFlag(f, v); err != nil {
				errs = append(errs, fmt.Errorf("environment variable %s: %w", envName(f.Name), err))
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
	known := allFlagNames(root)
	var unknown []string
	for _, k := range v.AllKeys() {
		if !known[k] {
			unknown = append(unknown, k)
		}
	}
	if len(unknown) > 0 {
		sort.Strings(unknown)
		return nil, cli.UsageErrorf("config file %s: unknown key(s) %s: keys are flag names, such as mesh-namespace", path, strings.Join(unknown, ", "))
	}
	return v, nil
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

// allFlagNames collects the flags of the whole tree. Viper lower-cases keys,
// and so do we.
func allFlagNames(root *cobra.Command) map[string]bool {
	names := map[string]bool{}
	var walk func(c *cobra.Command)
	walk = func(c *cobra.Command) {
		for _, fs := range []*pflag.FlagSet{c.LocalFlags(), c.PersistentFlags()} {
			fs.VisitAll(func(f *pflag.Flag) { names[strings.ToLower(f.Name)] = true })
		}
		for _, sub := range c.Commands() {
			walk(sub)
		}
	}
	walk(root)
	return names
}
