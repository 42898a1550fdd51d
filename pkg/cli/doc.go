// Package cli owns what every meshctl command shares once its flags are
// parsed: the resolved global settings, the closed set of output formats and
// the writer behind them, terminal and colour detection, and the usage error
// that main maps to exit code 2. It imports neither cobra nor viper, so the
// logic packages can use it and stay testable without a command tree.
package cli
