package check

import (
	"context"
	"time"
)

// Severity says what a failing check means.
type Severity int

// The severities, from the most severe.
const (
	// Fatal is an error that stops every later check of its category and
	// every check of the categories that depend on it: they could only fail
	// for the same reason, or say nothing true.
	Fatal Severity = iota
	// Error fails the run.
	Error
	// Warning is reported but fails the run only with --fail-on-warning.
	Warning
)

func (s Severity) String() string {
	switch s {
	case Fatal:
		return "fatal"
	case Error:
		return "error"
	default:
		return "warning"
	}
}

// DefaultTimeout bounds one attempt of a check that sets no Timeout.
const DefaultTimeout = 30 * time.Second

// DefaultRetryInterval is the pause between attempts under --wait.
const DefaultRetryInterval = 2 * time.Second

// Retry is a check's retry policy under --wait.
type Retry int

// The retry policies.
const (
	// RetryUntilDeadline retries a failing check until it passes or --wait
	// runs out: the state it looks at converges (a rollout, a certificate
	// being issued).
	RetryUntilDeadline Retry = iota
	// NoRetry reports the first answer: waiting cannot change it (the
	// server's version, a user's permissions).
	NoRetry
)

// Check is one check. Checks are values in an ordered list; the list, not
// the code, says what runs and in which order results are reported.
type Check struct {
	// Category groups checks in the report. Categories appear in the order
	// of their first check.
	Category string
	// Description says what holds when the check passes, as a sentence
	// fragment: "the control plane Deployment is available".
	Description string
	// Hint is the anchor of the check's section in Doc.
	Hint string
	// Doc is the document Hint is an anchor of, relative to the repository
	// root; empty means TroubleshootingDoc.
	Doc string
	// Severity says what a failure means.
	Severity Severity
	// Timeout bounds one attempt; zero means DefaultTimeout.
	Timeout time.Duration
	// Retry is the policy under --wait.
	Retry Retry
	// Needs lists the categories this check depends on: a Fatal failure in
	// one of them skips this check. Earlier Fatal checks of the check's own
	// category are always needed.
	Needs []string
	// DataPlane marks the checks that --proxy selects and --namespace scopes.
	DataPlane bool
	// Run returns nil when the check passes; the error says what is wrong
	// and names the objects involved.
	Run func(ctx context.Context, env *Env) error
}

// HintURL returns the link printed with a failure of c.
func (c *Check) HintURL() string {
	if c.Doc != "" {
		return c.Doc + "#" + c.Hint
	}
	return HintURL(c.Hint)
}

// TroubleshootingDoc is the document every hint points into, relative to the
// repository root.
const TroubleshootingDoc = "docs/troubleshooting.md"

// HintURL returns the link to anchor in the troubleshooting document.
func HintURL(anchor string) string { return TroubleshootingDoc + "#" + anchor }

func (c *Check) timeout() time.Duration {
	if c.Timeout > 0 {
		return c.Timeout
	}
	return DefaultTimeout
}
