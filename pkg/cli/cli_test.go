package cli

import (
	"bytes"
	"errors"
	"fmt"
	"strings"
	"testing"

	_ "github.com/meshctl/meshctl/internal/golden"
)

func TestParseFormat(t *testing.T) {
	cases := []struct {
		in      string
		allowed []Format
		want    Format
		err     string
	}{
		{in: "", allowed: []Format{FormatTable, FormatJSON}, want: FormatTable},
		{in: "json", allowed: []Format{FormatTable, FormatJSON}, want: FormatJSON},
		{in: "yaml", allowed: []Format{FormatTable, FormatJSON}, err: `invalid output format "yaml": must be one of table, json`},
		{in: "JSON", allowed: []Format{FormatJSON}, err: "must be one of json"},
	}
	for _, tc := range cases {
		t.Run(tc.in, func(t *testing.T) {
			got, err := ParseFormat(tc.in, tc.allowed...)
			if tc.err != "" {
				if err == nil || !strings.Contains(err.Error(), tc.err) {
					t.Fatalf("err = %v, want %q", err, tc.err)
				}
				if ExitCode(err) != ExitUsage {
					t.Errorf("exit code = %d, want %d", ExitCode(err), ExitUsage)
				}
				return
			}
			if err != nil || got != tc.want {
				t.Fatalf("got %q, %v; want %q", got, err, tc.want)
			}
		})
	}
}

func TestExitCode(t *testing.T) {
	cases := []struct {
		err  error
		want int
	}{
		{nil, ExitOK},
		{errors.New("boom"), ExitFailure},
		{UsageErrorf("bad"), ExitUsage},
		{fmt.Errorf("wrapped: %w", UsageErrorf("bad")), ExitUsage},
		{&SilentError{Err: errors.New("reported")}, ExitFailure},
	}
	for _, tc := range cases {
		if got := ExitCode(tc.err); got != tc.want {
			t.Errorf("ExitCode(%v) = %d, want %d", tc.err, got, tc.want)
		}
	}
}

func TestWriteTable(t *testing.T) {
	var b bytes.Buffer
	err := WriteTable(&b, []string{"NAMESPACE", "MESH"}, [][]string{{"bookstore", "mesh"}, {"a", "longer-mesh"}})
	if err != nil {
		t.Fatal(err)
	}
	want := "NAMESPACE   MESH\nbookstore   mesh\na           longer-mesh\n"
	if b.String() != want {
		t.Errorf("got\n%q\nwant\n%q", b.String(), want)
	}
}

func TestWriteFormats(t *testing.T) {
	v := struct {
		Name string `json:"name"`
	}{"x"}
	var j, y bytes.Buffer
	if err := EncodeJSON(&j, v); err != nil {
		t.Fatal(err)
	}
	if err := EncodeYAML(&y, v); err != nil {
		t.Fatal(err)
	}
	if j.String() != "{\n  \"name\": \"x\"\n}\n" || y.String() != "name: x\n" {
		t.Errorf("json %q yaml %q", j.String(), y.String())
	}
}

func TestSettingsValidate(t *testing.T) {
	cases := []struct {
		name, ns string
		ok       bool
	}{
		{"mesh", "mesh-system", true},
		{"Mesh", "mesh-system", false},
		{"mesh", "mesh_system", false},
		{strings.Repeat("a", 64), "mesh-system", false},
	}
	for _, tc := range cases {
		s := Settings{MeshName: tc.name, MeshNamespace: tc.ns}
		if err := s.Validate(); (err == nil) != tc.ok {
			t.Errorf("Validate(%q, %q) = %v, want ok=%v", tc.name, tc.ns, err, tc.ok)
		}
	}
}

func TestDecoratedNeedsTerminal(t *testing.T) {
	s := Settings{}
	if s.Decorated(&bytes.Buffer{}) {
		t.Error("a buffer is not a terminal")
	}
}
