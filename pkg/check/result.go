package check

import "time"

// Status is the outcome of one check.
type Status int

// The outcomes.
const (
	// StatusOK: the check passed.
	StatusOK Status = iota
	// StatusFail: a Fatal or Error check failed.
	StatusFail
	// StatusWarn: a Warning check failed.
	StatusWarn
	// StatusSkip: a Fatal check this one needs did not pass.
	StatusSkip
)

func (s Status) String() string {
	switch s {
	case StatusOK:
		return "ok"
	case StatusFail:
		return "fail"
	case StatusWarn:
		return "warn"
	default:
		return "skip"
	}
}

// Result is the outcome of one check, as the runner streams it.
type Result struct {
	// Category and Check are the check's category and description.
	Category string
	Check    string
	// Status is the outcome.
	Status Status
	// Err says what is wrong; nil when the check passed.
	Err error
	// Hint is the troubleshooting link; set whenever Err is.
	Hint string
	// Severity is the check's severity.
	Severity Severity
	// Attempts is how many times the check ran (more than one under --wait).
	Attempts int
	// Duration is the time from the first attempt to the result.
	Duration time.Duration
}

// Observer receives results in the order of the check list.
type Observer func(Result)

// Summary counts results by status.
type Summary struct {
	OK, Failed, Warnings, Skipped int
}

// Add counts r.
func (s *Summary) Add(r Result) {
	switch r.Status {
	case StatusOK:
		s.OK++
	case StatusFail:
		s.Failed++
	case StatusWarn:
		s.Warnings++
	default:
		s.Skipped++
	}
}

// Success reports whether a run with these results passes: nothing failed,
// and, with failOnWarning, nothing warned either.
func (s Summary) Success(failOnWarning bool) bool {
	return s.Failed == 0 && (!failOnWarning || s.Warnings == 0)
}
