package inject

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"
	"testing"
	"time"

	utilyaml "k8s.io/apimachinery/pkg/util/yaml"
)

// FuzzStream feeds arbitrary streams to the parser and the injector: it
// never panics; whatever it accepts, its output parses again as YAML and
// through the injector; and injecting that output changes nothing.
func FuzzStream(f *testing.F) {
	for _, c := range goldenCases(f) {
		data, err := os.ReadFile(c.path)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(data)
	}
	f.Add([]byte("apiVersion: v1\nkind: Pod\nmetadata: {name: x}\nspec: {containers: [{name: a}]}\n"))
	in := testInjector(f, testVersion)
	f.Fuzz(func(t *testing.T, data []byte) {
		done := make(chan struct{})
		go func() { defer close(done); fuzzOne(t, in, data) }()
		select {
		case <-done:
		case <-time.After(5 * time.Second):
			panic(fmt.Sprintf("HANG %q", data))
		}
	})
}

func fuzzOne(t *testing.T, in *Injector, data []byte) {
	s := &Stream{Injector: in, EnrolNamespaces: true}
	out, _, err := s.Process("fuzz", data)
	if err != nil {
		return
	}
	// What kubectl apply reads in the input, it reads in the output.
	if err := kubectlReads(data); err == nil {
		if err := kubectlReads(out); err != nil {
			t.Errorf("output does not parse: %v\ninput:\n%s\noutput:\n%s", err, data, out)
		}
	}
	again, _, err := s.Process("fuzz", out)
	if err != nil {
		t.Errorf("output rejected: %v\ninput:\n%s\noutput:\n%s", err, data, out)
	}
	if string(again) != string(out) {
		t.Errorf("not idempotent\ninput:\n%q\nfirst:\n%q\nsecond:\n%q", data, out, again)
	}
	if _, _, err := (&Stream{Injector: in, Mode: ModeUninject}).Process("fuzz", out); err != nil {
		t.Errorf("uninject rejected the output: %v", err)
	}
}

// kubectlReads decodes a stream the way kubectl apply -f does.
func kubectlReads(data []byte) error {
	dec := utilyaml.NewYAMLOrJSONDecoder(bytes.NewReader(data), 4096)
	for {
		var v any
		if err := dec.Decode(&v); err != nil {
			if errors.Is(err, io.EOF) {
				return nil
			}
			return err
		}
	}
}
