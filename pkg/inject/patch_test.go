package inject

import (
	"reflect"
	"testing"
)

func TestPointer(t *testing.T) {
	if got := PointerToken("a/b~c"); got != "a~1b~0c" {
		t.Errorf("PointerToken: %s", got)
	}
	for p, want := range map[string][]string{
		"/metadata/annotations/a~1b~0c": {"metadata", "annotations", "a/b~c"},
		"":                              nil,
		"/":                             {""},
		"//a/":                          {"", "a", ""},
		"a/b":                           {"a", "b"},
		"/~01":                          {"~1"},
	} {
		if got := SplitPointer(p); !reflect.DeepEqual(got, want) {
			t.Errorf("SplitPointer(%q) = %q, want %q", p, got, want)
		}
	}
}
