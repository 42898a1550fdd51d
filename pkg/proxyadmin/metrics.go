package proxyadmin

import (
	"fmt"
	"regexp"
	"strconv"
	"strings"
)

// Family is one metric family of a proxy's /metrics: its name, type, help
// and samples, and the lines of the exposition it came from, so that a
// filtered exposition is the proxy's own text.
type Family struct {
	Name    string   `json:"name"`
	Type    string   `json:"type,omitempty"`
	Help    string   `json:"help,omitempty"`
	Samples []Sample `json:"samples"`
	lines   []string
}

// Sample is one line of a family. Value is the number as the proxy wrote
// it, a string as in Prometheus's HTTP API, because JSON has no NaN or
// infinities and histograms' sums and gauges may hold them.
type Sample struct {
	Name      string            `json:"name"`
	Labels    map[string]string `json:"labels,omitempty"`
	Value     string            `json:"value"`
	Timestamp *int64            `json:"timestampMs,omitempty"`
}

// MaxMetricLines bounds how many lines ParseMetrics reads: the response is
// already bounded by MaxResponseBytes, this bounds the work on it.
const MaxMetricLines = 200_000

// familySuffixes are the sample names a family may hold besides its own:
// histograms' and summaries' parts, and OpenMetrics' counters.
var familySuffixes = [...]string{"_bucket", "_sum", "_count", "_total", "_created", "_gcount", "_gsum"}

// ParseMetrics reads Prometheus's text exposition format (version 0.0.4)
// into families, in the order they appear. A sample after a family's HELP
// or TYPE belongs to it when its name is the family's or the family's with
// a histogram, summary or counter suffix; any other sample starts an
// untyped family of its own name.
func ParseMetrics(text []byte) ([]Family, error) {
	var fams []Family
	cur := -1
	family := func(name string) *Family {
		if cur < 0 || fams[cur].Name != name {
			fams = append(fams, Family{Name: name, Samples: []Sample{}})
			cur = len(fams) - 1
		}
		return &fams[cur]
	}
	n := 0
	for line := range strings.Lines(string(text)) {
		n++
		if n > MaxMetricLines {
			return nil, fmt.Errorf("the metrics are over %d lines", MaxMetricLines)
		}
		line = strings.TrimRight(line, "\r\n")
		trimmed := strings.TrimLeft(line, " \t")
		switch {
		case trimmed == "":
			continue
		case strings.HasPrefix(trimmed, "#"):
			kw, rest := token(trimmed[1:])
			if kw == "HELP" || kw == "TYPE" {
				var name string
				name, rest = token(rest)
				if !validMetricName(name) {
					return nil, fmt.Errorf("line %d: invalid metric name %q", n, clip(name))
				}
				f := family(name)
				if kw == "TYPE" {
					if f.Type != "" || len(f.Samples) > 0 {
						return nil, fmt.Errorf("line %d: a second TYPE for %s, or one after its samples", n, f.Name)
					}
					rest = strings.TrimRight(rest, " \t")
					switch rest {
					case "counter", "gauge", "histogram", "summary", "untyped":
					default:
						return nil, fmt.Errorf("line %d: unknown type %q of %s", n, clip(rest), f.Name)
					}
					f.Type = rest
				} else {
					f.Help = unescapeHelp(rest)
				}
				f.lines = append(f.lines, line)
				continue
			}
			// Another comment stays with the family it is in.
			if cur >= 0 {
				fams[cur].lines = append(fams[cur].lines, line)
			}
		default:
			s, err := parseSample(trimmed)
			if err != nil {
				return nil, fmt.Errorf("line %d: %w", n, err)
			}
			var f *Family
			if cur >= 0 && belongs(s.Name, fams[cur].Name) {
				f = &fams[cur]
			} else {
				fams = append(fams, Family{Name: s.Name, Samples: []Sample{}})
				cur = len(fams) - 1
				f = &fams[cur]
			}
			f.Samples = append(f.Samples, s)
			f.lines = append(f.lines, line)
		}
	}
	return fams, nil
}

// belongs says whether a sample named name is part of family fam.
func belongs(name, fam string) bool {
	if name == fam {
		return true
	}
	rest, ok := strings.CutPrefix(name, fam)
	if !ok {
		return false
	}
	for _, s := range familySuffixes {
		if rest == s {
			return true
		}
	}
	return false
}

// parseSample reads `name{label="value",...} value [timestamp]`.
func parseSample(line string) (Sample, error) {
	i := 0
	for i < len(line) && isNameByte(line[i], i == 0) {
		i++
	}
	s := Sample{Name: line[:i]}
	if s.Name == "" {
		return s, fmt.Errorf("no metric name in %q", clip(line))
	}
	rest := skipBlanks(line[i:])
	if strings.HasPrefix(rest, "{") {
		labels, after, err := parseLabels(rest[1:])
		if err != nil {
			return s, fmt.Errorf("%s: %w", s.Name, err)
		}
		s.Labels, rest = labels, skipBlanks(after)
	}
	fields := strings.Fields(rest)
	if len(fields) == 0 || len(fields) > 2 {
		return s, fmt.Errorf("%s: want a value and an optional timestamp, got %q", s.Name, clip(rest))
	}
	if _, err := strconv.ParseFloat(fields[0], 64); err != nil {
		return s, fmt.Errorf("%s: value %q is not a number", s.Name, clip(fields[0]))
	}
	s.Value = fields[0]
	if len(fields) == 2 {
		ts, err := strconv.ParseInt(fields[1], 10, 64)
		if err != nil {
			return s, fmt.Errorf("%s: timestamp %q is not milliseconds", s.Name, clip(fields[1]))
		}
		s.Timestamp = &ts
	}
	return s, nil
}

// parseLabels reads `name="value",...}` and returns what follows the brace.
func parseLabels(s string) (map[string]string, string, error) {
	labels := map[string]string{}
	for {
		s = skipBlanks(s)
		if strings.HasPrefix(s, "}") {
			return labels, s[1:], nil
		}
		i := 0
		for i < len(s) && isLabelByte(s[i], i == 0) {
			i++
		}
		name := s[:i]
		if name == "" {
			return nil, "", fmt.Errorf("a label name is missing at %q", clip(s))
		}
		if _, dup := labels[name]; dup {
			return nil, "", fmt.Errorf("label %s twice", name)
		}
		s = skipBlanks(s[i:])
		if !strings.HasPrefix(s, "=") {
			return nil, "", fmt.Errorf("label %s: no '='", name)
		}
		s = skipBlanks(s[1:])
		if !strings.HasPrefix(s, `"`) {
			return nil, "", fmt.Errorf("label %s: the value is not quoted", name)
		}
		var v strings.Builder
		j := 1
		for ; j < len(s) && s[j] != '"'; j++ {
			c := s[j]
			if c != '\\' {
				v.WriteByte(c)
				continue
			}
			if j++; j == len(s) {
				break
			}
			switch s[j] {
			case '\\', '"':
				v.WriteByte(s[j])
			case 'n':
				v.WriteByte('\n')
			default:
				return nil, "", fmt.Errorf(`label %s: unknown escape \%c`, name, s[j])
			}
		}
		if j >= len(s) {
			return nil, "", fmt.Errorf("label %s: the value is not closed", name)
		}
		labels[name] = v.String()
		s = skipBlanks(s[j+1:])
		switch {
		case strings.HasPrefix(s, ","):
			s = s[1:]
		case strings.HasPrefix(s, "}"):
		default:
			return nil, "", fmt.Errorf("label %s: want ',' or '}' after the value", name)
		}
	}
}

// unescapeHelp undoes the escapes a HELP text may hold (\\ and \n).
func unescapeHelp(s string) string {
	if !strings.Contains(s, `\`) {
		return s
	}
	return strings.NewReplacer(`\\`, `\`, `\n`, "\n").Replace(s)
}

func isNameByte(c byte, first bool) bool {
	return c == ':' || isLabelByte(c, first)
}

func isLabelByte(c byte, first bool) bool {
	return c == '_' || 'a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || !first && '0' <= c && c <= '9'
}

func validMetricName(s string) bool {
	for i := 0; i < len(s); i++ {
		if !isNameByte(s[i], i == 0) {
			return false
		}
	}
	return s != ""
}

func skipBlanks(s string) string { return strings.TrimLeft(s, " \t") }

// token splits s, blanks skipped, at the first blank after a word; rest
// starts after the blanks that follow it.
func token(s string) (tok, rest string) {
	s = skipBlanks(s)
	i := strings.IndexAny(s, " \t")
	if i < 0 {
		return s, ""
	}
	return s[:i], skipBlanks(s[i:])
}

// clip keeps error messages about untrusted text short.
func clip(s string) string {
	if len(s) > 40 {
		return s[:40] + "..."
	}
	return s
}

// FilterFamilies keeps the families whose name re matches; all of them
// when re is nil.
func FilterFamilies(fams []Family, re *regexp.Regexp) []Family {
	if re == nil {
		return fams
	}
	var out []Family
	for _, f := range fams {
		if re.MatchString(f.Name) {
			out = append(out, f)
		}
	}
	return out
}
