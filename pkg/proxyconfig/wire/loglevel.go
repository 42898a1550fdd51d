package wire

import (
	"fmt"
	"slices"
)

// LogLevel is the proxy's log level, a closed set.
type LogLevel string

// The log levels, in increasing order of severity.
const (
	LogDebug LogLevel = "debug"
	LogInfo  LogLevel = "info"
	LogWarn  LogLevel = "warn"
	LogError LogLevel = "error"
)

// DefaultLogLevel is the proxy's log level when neither the MeshConfig nor
// the workload sets one. It is the one definition: the MeshConfig's default
// (and its CRD's), the chart's value and the injected argument all come
// from it.
const DefaultLogLevel = LogInfo

// LogLevels lists the accepted log levels in increasing order of severity.
func LogLevels() []LogLevel { return []LogLevel{LogDebug, LogInfo, LogWarn, LogError} }

// ParseLogLevel accepts exactly one of LogLevels.
func ParseLogLevel(s string) (LogLevel, error) {
	if l := LogLevel(s); slices.Contains(LogLevels(), l) {
		return l, nil
	}
	return "", fmt.Errorf("unknown log level %q: use one of debug, info, warn, error", s)
}
