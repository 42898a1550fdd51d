package check

import (
	"encoding/xml"
	"fmt"
	"io"
	"strings"
	"time"

	"github.com/meshctl/meshctl/pkg/cli"
)

// Report collects the results of a run for the renderers that need them
// all: json, short and junit.
type Report struct {
	// Results are in the order of the check list.
	Results []Result
	// FailOnWarning makes warnings fail the run.
	FailOnWarning bool
}

// Observe adds r; it is an Observer.
func (rep *Report) Observe(r Result) { rep.Results = append(rep.Results, r) }

// Summary counts the results.
func (rep *Report) Summary() Summary {
	var s Summary
	for _, r := range rep.Results {
		s.Add(r)
	}
	return s
}

// Success reports whether the run passed.
func (rep *Report) Success() bool { return rep.Summary().Success(rep.FailOnWarning) }

// symbol marks a status in the table: coloured symbols on a terminal, and
// words of one width elsewhere (CI logs, pipes, NO_COLOR), which grep finds.
func symbol(s Status, decorated bool) string {
	switch {
	case decorated && s == StatusOK:
		return "\x1b[32m✔\x1b[0m"
	case decorated && s == StatusFail:
		return "\x1b[31m✖\x1b[0m"
	case decorated && s == StatusWarn:
		return "\x1b[33m‼\x1b[0m"
	case decorated:
		return "\x1b[2m-\x1b[0m"
	case s == StatusOK:
		return "[ok]  "
	case s == StatusFail:
		return "[FAIL]"
	case s == StatusWarn:
		return "[warn]"
	default:
		return "[skip]"
	}
}

// TableWriter renders results as they arrive: a heading per category, one
// line per check, and under a problem its error and hint, indented.
type TableWriter struct {
	out       io.Writer
	decorated bool
	category  string
	sum       Summary
	err       error
}

// NewTableWriter writes to out, with coloured symbols when decorated (see
// cli.Settings.Decorated) and [ok]/[FAIL]/[warn]/[skip] otherwise.
func NewTableWriter(out io.Writer, decorated bool) *TableWriter {
	return &TableWriter{out: out, decorated: decorated}
}

// Observe writes r; it is an Observer.
func (t *TableWriter) Observe(r Result) {
	var b strings.Builder
	if r.Category != t.category {
		if t.category != "" {
			b.WriteString("\n")
		}
		t.category = r.Category
		fmt.Fprintf(&b, "%s\n%s\n", r.Category, strings.Repeat("-", len(r.Category)))
	}
	fmt.Fprintf(&b, "%s %s\n", symbol(r.Status, t.decorated), r.Check)
	if r.Err != nil {
		for line := range strings.Lines(r.Err.Error()) {
			fmt.Fprintf(&b, "    %s\n", strings.TrimRight(line, "\n"))
		}
	}
	if r.Hint != "" && r.Status != StatusOK {
		fmt.Fprintf(&b, "    see %s\n", r.Hint)
	}
	t.sum.Add(r)
	t.write(b.String())
}

// Finish writes the summary line.
func (t *TableWriter) Finish(failOnWarning bool) error {
	t.write("\n" + summaryLine(t.sum, failOnWarning) + "\n")
	return t.err
}

func (t *TableWriter) write(s string) {
	if t.err == nil {
		_, t.err = io.WriteString(t.out, s)
	}
}

// summaryLine is the last line of the table and short formats.
func summaryLine(s Summary, failOnWarning bool) string {
	verdict := "PASSED"
	if !s.Success(failOnWarning) {
		verdict = "FAILED"
	}
	line := fmt.Sprintf("Status check results: %d passed, %d failed, %d %s, %d skipped: %s",
		s.OK, s.Failed, s.Warnings, plural(s.Warnings, "warning", "warnings"), s.Skipped, verdict)
	if failOnWarning && s.Warnings > 0 && s.Failed == 0 {
		line += " (warnings fail with --fail-on-warning)"
	}
	return line
}

func plural(n int, one, many string) string {
	if n == 1 {
		return one
	}
	return many
}

// WriteShort writes only the checks that did not pass (failures and
// warnings), one line each, then the summary line.
func (rep *Report) WriteShort(out io.Writer) error {
	var b strings.Builder
	for _, r := range rep.Results {
		if r.Status != StatusFail && r.Status != StatusWarn {
			continue
		}
		msg := strings.ReplaceAll(r.Err.Error(), "\n", "; ")
		fmt.Fprintf(&b, "%s %s: %s: %s (see %s)\n", symbol(r.Status, false), r.Category, r.Check, msg, r.Hint)
	}
	b.WriteString(summaryLine(rep.Summary(), rep.FailOnWarning) + "\n")
	_, err := io.WriteString(out, b.String())
	return err
}

// The JSON form of a report. These types are the CLI's contract, separate
// from the internal Result: fields are only ever added.
type (
	jsonReport struct {
		Success    bool           `json:"success"`
		Categories []jsonCategory `json:"categories"`
	}
	jsonCategory struct {
		Name   string      `json:"name"`
		Checks []jsonCheck `json:"checks"`
	}
	jsonCheck struct {
		Name string `json:"name"`
		// Result is success, error, warning or skipped.
		Result string `json:"result"`
		Error  string `json:"error"`
		Hint   string `json:"hint"`
	}
)

// jsonResult is the value of jsonCheck.Result for s.
func jsonResult(s Status) string {
	switch s {
	case StatusOK:
		return "success"
	case StatusFail:
		return "error"
	case StatusWarn:
		return "warning"
	default:
		return "skipped"
	}
}

// WriteJSON writes the report as exactly one JSON document.
func (rep *Report) WriteJSON(out io.Writer) error {
	doc := jsonReport{Success: rep.Success(), Categories: []jsonCategory{}}
	for _, r := range rep.Results {
		if n := len(doc.Categories); n == 0 || doc.Categories[n-1].Name != r.Category {
			doc.Categories = append(doc.Categories, jsonCategory{Name: r.Category, Checks: []jsonCheck{}})
		}
		c := &doc.Categories[len(doc.Categories)-1]
		jc := jsonCheck{Name: r.Check, Result: jsonResult(r.Status), Hint: r.Hint}
		if r.Err != nil {
			jc.Error = r.Err.Error()
		}
		c.Checks = append(c.Checks, jc)
	}
	return cli.EncodeJSON(out, doc)
}

// The JUnit XML form, as CI systems read it: one testsuite per category, one
// testcase per check.
type (
	junitSuites struct {
		XMLName  xml.Name     `xml:"testsuites"`
		Name     string       `xml:"name,attr"`
		Tests    int          `xml:"tests,attr"`
		Failures int          `xml:"failures,attr"`
		Skipped  int          `xml:"skipped,attr"`
		Suites   []junitSuite `xml:"testsuite"`
	}
	junitSuite struct {
		Name     string      `xml:"name,attr"`
		Tests    int         `xml:"tests,attr"`
		Failures int         `xml:"failures,attr"`
		Skipped  int         `xml:"skipped,attr"`
		Time     string      `xml:"time,attr"`
		Cases    []junitCase `xml:"testcase"`
	}
	junitCase struct {
		Name      string        `xml:"name,attr"`
		ClassName string        `xml:"classname,attr"`
		Time      string        `xml:"time,attr"`
		Failure   *junitFailure `xml:"failure,omitempty"`
		Skipped   *junitSkipped `xml:"skipped,omitempty"`
		SystemOut string        `xml:"system-out,omitempty"`
	}
	junitFailure struct {
		Message string `xml:"message,attr"`
		Type    string `xml:"type,attr"`
		Text    string `xml:",chardata"`
	}
	junitSkipped struct {
		Message string `xml:"message,attr"`
	}
)

// WriteJUnit writes the report as JUnit XML. A warning is a failure only
// with --fail-on-warning; otherwise it is written to the test's system-out,
// so CI shows it without failing the build.
func (rep *Report) WriteJUnit(out io.Writer) error {
	doc := junitSuites{Name: "meshctl check"}
	var times []time.Duration
	for _, r := range rep.Results {
		if n := len(doc.Suites); n == 0 || doc.Suites[n-1].Name != r.Category {
			doc.Suites = append(doc.Suites, junitSuite{Name: r.Category})
			times = append(times, 0)
		}
		s := &doc.Suites[len(doc.Suites)-1]
		times[len(times)-1] += r.Duration
		tc := junitCase{Name: r.Check, ClassName: "meshctl check." + r.Category, Time: seconds(r.Duration)}
		switch {
		case r.Status == StatusFail || (r.Status == StatusWarn && rep.FailOnWarning):
			tc.Failure = &junitFailure{Message: firstLine(r.Err), Type: r.Severity.String(), Text: r.Err.Error() + "\nsee " + r.Hint}
			s.Failures++
		case r.Status == StatusWarn:
			tc.SystemOut = "warning: " + r.Err.Error() + "\nsee " + r.Hint
		case r.Status == StatusSkip:
			tc.Skipped = &junitSkipped{Message: r.Err.Error()}
			s.Skipped++
		}
		s.Tests++
		s.Cases = append(s.Cases, tc)
	}
	for i, s := range doc.Suites {
		doc.Tests += s.Tests
		doc.Failures += s.Failures
		doc.Skipped += s.Skipped
		doc.Suites[i].Time = seconds(times[i])
	}
	if _, err := io.WriteString(out, xml.Header); err != nil {
		return err
	}
	enc := xml.NewEncoder(out)
	enc.Indent("", "  ")
	if err := enc.Encode(doc); err != nil {
		return err
	}
	_, err := io.WriteString(out, "\n")
	return err
}

// seconds formats d as JUnit wants it: seconds, to the millisecond.
func seconds(d time.Duration) string { return fmt.Sprintf("%.3f", d.Seconds()) }
