package install

import (
	"fmt"
	"strings"
)

// DryRun is how much of an operation is only pretended. It is parsed once,
// from the --dry-run flag, and compared as an enum everywhere else.
type DryRun int

// The dry-run modes.
const (
	// DryRunNone changes the cluster.
	DryRunNone DryRun = iota
	// DryRunClient renders the chart locally; no cluster is needed.
	DryRunClient
	// DryRunServer renders and validates against the cluster, changing nothing.
	DryRunServer
)

// ParseDryRun parses a --dry-run value: none, client or server; "true" (a
// bare --dry-run) is client and "false" is none.
func ParseDryRun(s string) (DryRun, error) {
	switch strings.ToLower(strings.TrimSpace(s)) {
	case "", "none", "false":
		return DryRunNone, nil
	case "client", "true":
		return DryRunClient, nil
	case "server":
		return DryRunServer, nil
	}
	return DryRunNone, fmt.Errorf("invalid --dry-run value %q: must be one of none, client, server", s)
}

// String returns the flag spelling of d.
func (d DryRun) String() string {
	switch d {
	case DryRunClient:
		return "client"
	case DryRunServer:
		return "server"
	default:
		return "none"
	}
}

// Set parses s into d, so a *DryRun is a flag value.
func (d *DryRun) Set(s string) error {
	v, err := ParseDryRun(s)
	if err != nil {
		return err
	}
	*d = v
	return nil
}

// Type names the value in help output.
func (d *DryRun) Type() string { return "mode" }
