package manifest

import (
	"fmt"
	"math/rand/v2"
	"os"
	"slices"
	"strings"
	"testing"

	"go.yaml.in/yaml/v3"
)

// checkBlockReader reads every document of data with the blockReader and
// with yaml.v3: whatever the reader reads, yaml.v3 must read into the same
// tree (comments aside). It returns how many documents the reader read.
func checkBlockReader(t *testing.T, data []byte) int {
	t.Helper()
	r := newBlockReader()
	chunks, _ := splitYAML(data)
	read := 0
	for _, chunk := range chunks {
		got := r.read(chunk)
		if got == nil {
			continue
		}
		read++
		var doc yaml.Node
		if err := yaml.Unmarshal(chunk, &doc); err != nil {
			t.Fatalf("read what yaml.v3 rejects (%v):\n%s", err, chunk)
		}
		if len(doc.Content) != 1 {
			t.Fatalf("read a document yaml.v3 finds empty:\n%s", chunk)
		}
		if diff := treeDiff(got, doc.Content[0], "$"); diff != "" {
			t.Fatalf("trees differ at %s:\n%s", diff, chunk)
		}
	}
	return read
}

// treeDiff names the first place where trees a and b differ, or "".
func treeDiff(a, b *yaml.Node, at string) string {
	if a.Kind != b.Kind || a.Style != b.Style || a.Tag != b.Tag || a.Value != b.Value || a.Anchor != b.Anchor ||
		(a.Alias == nil) != (b.Alias == nil) || a.Line != b.Line || a.Column != b.Column || len(a.Content) != len(b.Content) {
		return fmt.Sprintf("%s: got {%v %v %q %q line %d col %d, %d children}, yaml.v3 {%v %v %q %q line %d col %d, %d children}",
			at, a.Kind, a.Style, a.Tag, a.Value, a.Line, a.Column, len(a.Content), b.Kind, b.Style, b.Tag, b.Value, b.Line, b.Column, len(b.Content))
	}
	for i := range a.Content {
		if d := treeDiff(a.Content[i], b.Content[i], fmt.Sprintf("%s[%d]", at, i)); d != "" {
			return d
		}
	}
	return ""
}

func TestBlockReader(t *testing.T) {
	for _, c := range []struct {
		name, doc string
		read      bool // by the blockReader, not left to yaml.v3
	}{
		{"bench", string(benchStream(1)), true},
		{"compact sequences", "a:\n- b: 1\n  c: [x]\nd:\n- e\n- f\ng: h\n", true},
		{"compact sequence then key", "a:\n- b: 1\n  c: 2\n- d\ne: f\n", true},
		{"indented sequence", "a:\n  - b\n  - c: d\n    e: f\n", true},
		{"comments everywhere", "# head\n---\n# c\na: b # line\n  # deeper\n# shallower\nc:\n  # before\n  d: e\n\n# foot\n", true},
		{"scalars", "a: 100m\nb: 1.5\nc: 2024-01-01\nd: 0x1F\ne: 012\nf: true\ng: ~\nh: -1\ni: .inf\nj: 1_000\nk: a b  c\nl: x:y\nm: 99999999999999999999\n", true},
		{"tag-like keys", "1: a\ntrue: b\nnull: c\n0x1: d\n.5: e\n", true},
		{"dash key", "-x: d\n", false},
		{"spaces after dash", "a:\n-   b: c\n    d: e\n", true},
		{"indented root", "  a: b\n  c: d\n", true},
		{"no trailing newline", "a: b", true},
		{"empty value", "a:\nb: c\n", false},
		{"continued scalar", "a: b\n  c\n", false},
		{"quoted", "a: 'b'\nc: \"d: e # f\"  # g\nh:\n- 'i''j'\n- ''\n- \"\"\nk: '{\"l\": [1]}'\n", true},
		{"quoted key", "'a': b\n", false},
		{"escape", "a: \"b\\n\"\n", false},
		{"quoted continued", "a: 'b\n  c'\n", false},
		{"after quote", "a: 'b'c\n", false},
		{"comment right after quote", "a: 'b'#c\n", false},
		{"key after quote", "- 'a': b\n", false},
		{"flow mapping", "a: {b: c}\n", false},
		{"flow sequences", "a: []\nb: {}\nc: [ x ,'y''', \"z\",1, -1, ~ ] # c\nd:\n- []\n- [a]\n- {}\ne: [--x, 1e3, 100m]\n", true},
		{"flow trailing comma", "a: [b,]\n", false},
		{"flow continued", "a: [b,\n  c]\n", false},
		{"flow nested", "a: [[b]]\n", false},
		{"flow key", "a: [b: c]\n", false},
		{"flow comment", "a: [b]#c\n", false},
		{"flow after", "a: [b] c\n", false},
		{"flow colon", "a: [b:c]\n", false},
		{"anchor", "a: &x b\nc: *x\n", false},
		{"block scalar", "a: |\n  b\n", false},
		{"tab", "a:\tb\n", false},
		{"non-ascii", "a: é\n", false},
		{"bad indentation", "a:\n  b: c\n d: e\n", false},
		{"mapping value in scalar", "a: b: c\n", false},
		{"sequence at root", "- a\n", false},
		{"comments only", "# a\n", false},
		{"document end", "a: b\n...\n", false},
		{"key after sequence", "a:\n  - b\n  c: d\n", false},
		{"duplicate keys", "a: b\na: c\n", true},
		{"comment before compact sequence", "a:\n# c\n- b\n", true},
		{"nested values in items", "- a:\n    b: c\n  d: e\n", false},
		{"items in items", "x:\n- a:\n    b: c\n  d:\n  - e\n  f: g\n- h\n", true},
		{"dedent inside sequence", "a:\n- b\n - c\n", false},
		{"item mapping misaligned", "a:\n- b: 1\n   c: 2\n", false},
		{"comment without space", "a: b#c\n", false},
		{"colon comment", "a:#b\n", false},
		{"dashes", "a: ---\nb: --x\nc: -\n", false},
		{"dash scalars", "a: --x\nb:\n- -y\n", true},
		{"spaces in key", "a b: c\n", false},
		{"long number", "a: 99999999999999999999\nb: 00\nc: 1a\n", true},
		{"carriage return", "a: b\r\n", false},
	} {
		t.Run(c.name, func(t *testing.T) {
			if got := checkBlockReader(t, []byte(c.doc)) > 0; got != c.read {
				t.Errorf("read = %v, want %v", got, c.read)
			}
		})
	}
}

// FuzzBlockReader checks the blockReader against yaml.v3 on arbitrary
// streams: whatever it reads, yaml.v3 reads into the same tree.
func FuzzBlockReader(f *testing.F) {
	for _, c := range goldenCases(f) {
		data, err := os.ReadFile(c.path)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(data)
	}
	f.Add(benchStream(2))
	f.Add([]byte(strings.Repeat("a:\n- b: 1\n  c:\n  - d\n  e: -f\n# x\ng: 1e3\n", 2)))
	f.Add([]byte("a: 'b''c' # d\ne:\n- \"f: g\"\n- 'h'\n"))
	f.Add([]byte("a: [b, 'c', \"d\"]\ne: {}\nf:\n- []\n"))
	f.Fuzz(func(t *testing.T, data []byte) {
		checkBlockReader(t, data)
	})
}

// TestBlockReaderRandom checks the blockReader against yaml.v3 on
// documents made of lines of tricky fragments, which reach the corners of
// indentation, keys and scalars faster than byte-level fuzzing does.
func TestBlockReaderRandom(t *testing.T) {
	// Fragments the reader reads, and (after the |) some it leaves to
	// yaml.v3; four documents in five use only the first.
	items := []string{"", "", "", "- ", "- ", "-  ", "|", "- - ", "-"}
	keys := []string{"a", "a", "b", "c", "d", "e.f/g-h_i", "1", "01", "true", "null", ".5", "|", "-x", "'q'", "a b", "<<", "~"}
	seps := []string{": ", ": ", ":", ":", ":  ", "|", "", ":#", " :"}
	values := []string{"", "", "x", "x", "y z", "1", "-1", "0o7", "1e3", ".inf", "2024-01-01", "100m", "1_000", "~", "null",
		"True", "no", "'a''b'", "'a'", `"c"`, `"e: f"`, `""`, "x # c", "--x", "a,b", "a  b", "x:y", "/p", "_u",
		"[]", "{}", "[a]", "[ a , 'b', \"c\" ]", "[1, -1, ~, 1e3]", "|",
		"'a'b", `"d\\"`, "'g", "[a,]", "[a", "[[a]]", "[a: b]", "[a]b", "{a: b}", "x#c", "x: y", "x:", "[a]", "{}", "&a b", "*a", "!t x", "|", ">-", "---", "-", "%x", "@x", "y\t", "é"}
	comments := []string{"", "", "", " # c", "|", "  #", "#c"}
	rnd := rand.New(rand.NewPCG(1, 2))
	clean := false
	pick := func(s []string) string {
		if clean {
			s = s[:slices.Index(s, "|")]
		}
		for {
			if f := s[rnd.IntN(len(s))]; f != "|" {
				return f
			}
		}
	}
	var b strings.Builder
	read := 0
	for range 50000 {
		b.Reset()
		clean = rnd.IntN(5) > 0
		if rnd.IntN(4) == 0 {
			b.WriteString("---\n")
		}
		indent, step, first := 0, 0, true
		for range 1 + rnd.IntN(10) {
			// Indentation mostly moves the way nesting does: in after a
			// key without a value, back out by levels, now and then oddly.
			indent = max(0, indent+step+[]int{-4, -2, -2, 0, 0, 0, 0, 2, 1, -1}[rnd.IntN(10)]*rnd.IntN(2))
			pad := strings.Repeat(" ", indent)
			step = 0
			switch rnd.IntN(12) {
			case 0:
				b.WriteString(pad + "# comment\n")
			case 1:
				b.WriteString("\n")
			default:
				item, key, sep, value := pick(items), pick(keys), pick(seps), pick(values)
				if clean && value != "" {
					sep = ": " // "a:x" is a scalar, "a:" a key
				}
				if clean && first {
					item = "" // the reader leaves sequences at the root to yaml.v3
				}
				first = false
				b.WriteString(pad + item + key + sep + value + pick(comments) + "\n")
				if value == "" {
					step = len(item) + 2
				} else {
					step = len(item)
				}
			}
		}
		read += checkBlockReader(t, []byte(b.String()))
	}
	if read < 5000 {
		t.Errorf("only %d documents read: the generator misses the subset", read)
	}
}
