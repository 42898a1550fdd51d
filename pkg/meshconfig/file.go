package meshconfig

import (
	"bufio"
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"reflect"
	"slices"
	"strings"

	utilyaml "k8s.io/apimachinery/pkg/util/yaml"
	"sigs.k8s.io/yaml"
)

// ReadFile reads one MeshConfig from a YAML or JSON file; see Decode. Errors
// name the file.
func ReadFile(path string) (*MeshConfig, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	mc, err := Decode(f)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	return mc, nil
}

// Decode reads one MeshConfig document (YAML or JSON) from r. Fields the
// document leaves out take the defaults of DefaultSpec, as the API server's
// schema defaults would. Unknown fields, values of the wrong type and values
// that fail Validate are errors that name the field.
func Decode(r io.Reader) (*MeshConfig, error) {
	doc, err := singleDocument(r)
	if err != nil {
		return nil, err
	}
	js, err := yaml.YAMLToJSONStrict(doc)
	if err != nil {
		return nil, err
	}
	var raw map[string]any
	if err := json.Unmarshal(js, &raw); err != nil {
		return nil, fmt.Errorf("not a MeshConfig: the document must be a mapping: %w", err)
	}
	if err := checkTypeMeta(raw); err != nil {
		return nil, err
	}
	if spec, ok := raw["spec"]; ok {
		if errs := unknownFields(spec, reflect.TypeFor[MeshConfigSpec](), "spec"); len(errs) > 0 {
			return nil, errors.Join(errs...)
		}
	}

	mc := &MeshConfig{Spec: DefaultSpec()}
	if err := json.Unmarshal(js, mc); err != nil {
		var te *json.UnmarshalTypeError
		if errors.As(err, &te) && te.Field != "" {
			return nil, fmt.Errorf("field %s: a %s value cannot hold %s", te.Field, te.Type, te.Value)
		}
		return nil, err
	}
	if errs := Validate(mc); len(errs) > 0 {
		return nil, errs.ToAggregate()
	}
	return mc, nil
}

// singleDocument returns the only non-empty document of a YAML stream.
func singleDocument(r io.Reader) ([]byte, error) {
	yr := utilyaml.NewYAMLReader(bufio.NewReader(r))
	var docs [][]byte
	for {
		doc, err := yr.Read()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return nil, err
		}
		if len(bytes.TrimSpace(stripComments(doc))) > 0 {
			docs = append(docs, doc)
		}
	}
	switch len(docs) {
	case 0:
		return nil, errors.New("no MeshConfig: the input is empty")
	case 1:
		return docs[0], nil
	default:
		return nil, fmt.Errorf("%d YAML documents: give exactly one MeshConfig", len(docs))
	}
}

func stripComments(doc []byte) []byte {
	var out []byte
	for line := range bytes.Lines(doc) {
		if t := bytes.TrimSpace(line); len(t) > 0 && t[0] != '#' && !bytes.Equal(t, []byte("---")) {
			out = append(out, line...)
		}
	}
	return out
}

func checkTypeMeta(raw map[string]any) error {
	var errs []error
	if v := raw["apiVersion"]; v != SchemeGroupVersion.String() {
		errs = append(errs, fmt.Errorf("field apiVersion: got %v, want %s", describe(v), SchemeGroupVersion))
	}
	if v := raw["kind"]; v != Kind {
		errs = append(errs, fmt.Errorf("field kind: got %v, want %s", describe(v), Kind))
	}
	for k := range raw {
		if !slices.Contains([]string{"apiVersion", "kind", "metadata", "spec", "status"}, k) {
			errs = append(errs, fmt.Errorf("unknown field %q: a MeshConfig has apiVersion, kind, metadata and spec", k))
		}
	}
	slices.SortFunc(errs, func(a, b error) int { return strings.Compare(a.Error(), b.Error()) })
	return errors.Join(errs...)
}

func describe(v any) string {
	if v == nil {
		return "nothing"
	}
	return fmt.Sprintf("%q", fmt.Sprint(v))
}

// unknownFields walks decoded JSON against the Go type it will be decoded
// into and names every key no field of that type has.
func unknownFields(v any, t reflect.Type, path string) []error {
	switch kindOf(t) {
	case KindObject:
		m, ok := v.(map[string]any)
		if !ok {
			return nil // a type error, reported by the typed decode
		}
		fields := jsonFields(t)
		var errs []error
		keys := make([]string, 0, len(m))
		for k := range m {
			keys = append(keys, k)
		}
		slices.Sort(keys)
		for _, k := range keys {
			ft, ok := fields[k]
			if !ok {
				valid := make([]string, 0, len(fields))
				for n := range fields {
					valid = append(valid, n)
				}
				slices.Sort(valid)
				errs = append(errs, fmt.Errorf("unknown field %s.%s: valid fields of %s are %s", path, k, path, strings.Join(valid, ", ")))
				continue
			}
			errs = append(errs, unknownFields(m[k], ft, path+"."+k)...)
		}
		return errs
	case KindMap:
		m, _ := v.(map[string]any)
		var errs []error
		for k, e := range m {
			errs = append(errs, unknownFields(e, t.Elem(), path+"."+k)...)
		}
		return errs
	case KindJSON:
		if t.Kind() == reflect.Slice {
			l, _ := v.([]any)
			var errs []error
			for i, e := range l {
				errs = append(errs, unknownFields(e, t.Elem(), fmt.Sprintf("%s[%d]", path, i))...)
			}
			return errs
		}
	}
	return nil
}
