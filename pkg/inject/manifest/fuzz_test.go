package manifest

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"reflect"
	"testing"
	"time"

	utilyaml "k8s.io/apimachinery/pkg/util/yaml"

	"github.com/meshctl/meshctl/pkg/inject"
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

func fuzzOne(t *testing.T, in *inject.Injector, data []byte) {
	s := &Stream{Injector: in, EnrolNamespaces: true, Force: true}
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
	un := &Stream{Injector: in, Mode: ModeUninject}
	if _, _, err := un.Process("fuzz", out); err != nil {
		t.Errorf("uninject rejected the output: %v", err)
	}
	// Round trip: uninject(inject(x)) == uninject(x), byte for byte, except
	// where injection must rewrite what it passes through: aliases it
	// expands and YAML flow collections it re-renders. One more exception:
	// a template field injection fills (metadata, labels, annotations,
	// initContainers) that was null comes back absent, as the marker records
	// only that the field was created; the API server reads both alike, so
	// there the two must be equal as objects, nulls aside.
	if bytes.ContainsAny(data, "&*{[") && !jsonStream(data) {
		return
	}
	plain := &Stream{Injector: in}
	injected, _, err := plain.Process("fuzz", data)
	if err != nil {
		return // an error only enrolment avoided, such as a bad Namespace
	}
	back, _, err1 := un.Process("fuzz", injected)
	want, _, err2 := un.Process("fuzz", data)
	if err1 != nil || err2 != nil || (string(back) != string(want) && !sameButNulls(back, want)) {
		t.Errorf("uninject(inject(x)) != uninject(x) (%v, %v)\ninput:\n%q\ninjected:\n%q\nback:\n%q\nwant:\n%q", err1, err2, data, injected, back, want)
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

// sameButNulls reports whether a and b hold the same objects once every
// null-valued field is dropped, as the API server drops them, and a has
// fewer bytes (the nulls that b spells out).
func sameButNulls(a, b []byte) bool {
	if len(a) >= len(b) {
		return false
	}
	objects := func(data []byte) ([]any, error) {
		var out []any
		dec := utilyaml.NewYAMLOrJSONDecoder(bytes.NewReader(data), 4096)
		for {
			var v any
			if err := dec.Decode(&v); err != nil {
				if errors.Is(err, io.EOF) {
					return out, nil
				}
				return nil, err
			}
			out = append(out, dropNulls(v))
		}
	}
	x, err1 := objects(a)
	y, err2 := objects(b)
	return err1 == nil && err2 == nil && reflect.DeepEqual(x, y)
}

func dropNulls(v any) any {
	switch v := v.(type) {
	case map[string]any:
		for k, e := range v {
			if e == nil {
				delete(v, k)
				continue
			}
			v[k] = dropNulls(e)
		}
	case []any:
		for i, e := range v {
			v[i] = dropNulls(e)
		}
	}
	return v
}

// jsonStream reports whether data is a stream of JSON values.
func jsonStream(data []byte) bool {
	dec := json.NewDecoder(bytes.NewReader(data))
	for {
		var v json.RawMessage
		if err := dec.Decode(&v); err != nil {
			return errors.Is(err, io.EOF)
		}
	}
}
