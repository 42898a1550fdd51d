package install

import (
	"errors"
	"io/fs"
	"strings"
	"testing"
)

func FuzzParseDryRun(f *testing.F) {
	for _, s := range []string{"", "none", "client", "server", "true", "false", "Server", " client ", "clients"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		d, err := ParseDryRun(s)
		if err != nil {
			if !strings.Contains(err.Error(), "none, client, server") {
				t.Errorf("error %q does not list the modes", err)
			}
			return
		}
		// Every accepted spelling parses to a mode whose own spelling
		// parses back to it.
		again, err := ParseDryRun(d.String())
		if err != nil || again != d {
			t.Errorf("ParseDryRun(%q) = %v, but its String %q parses to %v, %v", s, d, d.String(), again, err)
		}
	})
}

// FuzzMergeValues feeds arbitrary --set, --set-string, --set-json values and
// a values file through the merge: it never panics, an error names the flag
// or the file, and the chart defaults are never modified.
func FuzzMergeValues(f *testing.F) {
	f.Add("controller.replicas=2", "a=b", `x={"y":1}`, "controller: {logLevel: debug}")
	f.Add("a.b[0]=c", "list={1,2}", `k=[1,2]`, "meshConfig:\n  traffic: null\n")
	f.Add("=", "a", "b=", ": :")
	f.Add("a[99999999]=1", "a.b.c.d.e=f", `z=null`, "[1, 2]")
	f.Fuzz(func(t *testing.T, set, setString, setJSON, file string) {
		defaults := map[string]any{"controller": map[string]any{"replicas": 1, "logLevel": "info"}}
		read := func(string) ([]byte, error) { return []byte(file), nil }
		l := valueLayers{chartDefaults: defaults, flags: ValueOptions{ValueFiles: []string{"values.yaml"}, Values: []string{set}, StringValues: []string{setString}, JSONValues: []string{setJSON}}}
		_, merged, err := mergeValues(l, read)
		if defaults["controller"].(map[string]any)["replicas"] != 1 {
			t.Fatal("chart defaults modified")
		}
		if err != nil {
			msg := err.Error()
			if !strings.HasPrefix(msg, "values file values.yaml") && !strings.HasPrefix(msg, "--set") {
				t.Errorf("error %q names neither the file nor the flag", msg)
			}
			return
		}
		if merged == nil {
			t.Error("no error and no values")
		}
	})
}

// A values file that cannot be read is named in the error.
func TestMergeValuesUnreadableFile(t *testing.T) {
	read := func(string) ([]byte, error) { return nil, fs.ErrPermission }
	_, _, err := mergeValues(valueLayers{flags: ValueOptions{ValueFiles: []string{"secret.yaml"}}}, read)
	if !errors.Is(err, fs.ErrPermission) || !strings.Contains(err.Error(), "values file secret.yaml") {
		t.Errorf("err = %v", err)
	}
}
