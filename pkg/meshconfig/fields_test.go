package meshconfig

import (
	"encoding/json"
	"strings"
	"testing"

	"github.com/meshctl/meshctl/internal/golden"
)

func TestFieldsGolden(t *testing.T) {
	golden.AssertString(t, "testdata/fields.golden", strings.Join(Fields(), "\n")+"\n")
}

func TestParsePath(t *testing.T) {
	tests := []struct {
		in      string
		kind    FieldKind
		wantErr []string // substrings of the error
	}{
		{in: "traffic.enablePermissiveTrafficPolicyMode", kind: KindBool},
		{in: "sidecar.logLevel", kind: KindString},
		{in: "traffic.inboundPortExclusionList", kind: KindList},
		{in: "observability.tracing.port", kind: KindInteger},
		{in: "observability.tracing", kind: KindObject},
		{in: "sidecar.resources.limits", kind: KindMap},
		{in: "sidecar.resources.limits.cpu", kind: KindQuantity},
		{in: "sidecar.resources.claims", kind: KindJSON},
		{in: "", wantErr: []string{"empty field path", "traffic.enableEgress"}},
		{in: "traffic..enableEgress", wantErr: []string{"empty segment"}},
		{in: "traffic.nope", wantErr: []string{`unknown field "traffic.nope"`, "valid fields are", "traffic.enableEgress", "sidecar.logLevel"}},
		{in: "nope.deeper", wantErr: []string{`unknown field "nope.deeper" (no "nope")`}},
		{in: "sidecar.loglevel", wantErr: []string{`did you mean "sidecar.logLevel"?`}},
		{in: "traffic.enableEgress.more", wantErr: []string{"traffic.enableEgress is a boolean and has no field \"more\""}},
	}
	for _, tt := range tests {
		t.Run(tt.in, func(t *testing.T) {
			p, err := ParsePath(tt.in)
			if len(tt.wantErr) > 0 {
				if err == nil {
					t.Fatalf("ParsePath(%q) = %v, want an error", tt.in, p)
				}
				for _, w := range tt.wantErr {
					if !strings.Contains(err.Error(), w) {
						t.Errorf("error %q does not contain %q", err, w)
					}
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if p.Kind() != tt.kind || p.String() != tt.in {
				t.Errorf("ParsePath(%q) = %s of kind %s, want kind %s", tt.in, p, p.Kind(), tt.kind)
			}
		})
	}
}

func TestParseAssignment(t *testing.T) {
	tests := []struct {
		in      string
		want    string // the value as JSON
		wantErr string
	}{
		{in: "traffic.enableEgress=false", want: `false`},
		{in: "traffic.enableEgress=TRUE", want: `true`},
		// Not a boolean: sent as text, for the API server to reject by name.
		{in: "traffic.enableEgress=maybe", want: `"maybe"`},
		{in: "observability.tracing.port=4317", want: `4317`},
		{in: "observability.tracing.port=http", want: `"http"`},
		{in: "sidecar.logLevel=debug", want: `"debug"`},
		{in: "sidecar.logLevel=", want: `""`},
		{in: "sidecar.logLevel=null", want: `null`},
		{in: "sidecar.image=a=b", want: `"a=b"`},
		// A text field holding a JSON document keeps it as text.
		{in: `auth.jwt.jwks={"keys":[]}`, want: `"{\"keys\":[]}"`},
		{in: `sidecar.logLevel=[x]`, want: `"[x]"`},
		{in: "traffic.outboundPortExclusionList=25, 587", want: `[25,587]`},
		{in: "traffic.outboundPortExclusionList=", want: `[]`},
		{in: "traffic.outboundPortExclusionList=[25]", want: `[25]`},
		{in: "traffic.outboundIPRangeExclusionList=10.0.0.0/8,192.168.0.0/16", want: `["10.0.0.0/8","192.168.0.0/16"]`},
		{in: "auth.jwt.audiences=a,b", want: `["a","b"]`},
		{in: "sidecar.resources.limits.cpu=100m", want: `"100m"`},
		{in: `sidecar.resources.limits={"cpu":"1"}`, want: `{"cpu":"1"}`},
		{in: "sidecar.resources.limits=cpu", wantErr: "not valid JSON"},
		{in: "traffic.enableEgress", wantErr: "is not FIELD=VALUE"},
		{in: "=true", wantErr: "empty field path"},
		{in: "traffic.egress=true", wantErr: `unknown field "traffic.egress"`},
	}
	for _, tt := range tests {
		t.Run(tt.in, func(t *testing.T) {
			a, err := ParseAssignment(tt.in)
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("ParseAssignment(%q) error = %v, want one containing %q", tt.in, err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			got, _ := json.Marshal(a.Value)
			if string(got) != tt.want {
				t.Errorf("ParseAssignment(%q) value = %s, want %s", tt.in, got, tt.want)
			}
		})
	}
}

func TestMergePatch(t *testing.T) {
	must := func(s string) Assignment {
		a, err := ParseAssignment(s)
		if err != nil {
			t.Fatal(err)
		}
		return a
	}
	tests := []struct {
		name    string
		in      []Assignment
		want    string
		wantErr string
	}{
		{name: "one field", in: []Assignment{must("sidecar.logLevel=debug")}, want: `{"spec":{"sidecar":{"logLevel":"debug"}}}`},
		{name: "siblings merge", in: []Assignment{must("traffic.enableEgress=false"), must("traffic.outboundPortExclusionList=25")},
			want: `{"spec":{"traffic":{"enableEgress":false,"outboundPortExclusionList":[25]}}}`},
		{name: "null deletes", in: []Assignment{must("sidecar.image=null")}, want: `{"spec":{"sidecar":{"image":null}}}`},
		{name: "twice", in: []Assignment{must("sidecar.logLevel=debug"), must("sidecar.logLevel=info")}, wantErr: "given twice"},
		{name: "overlap", in: []Assignment{must(`observability.tracing={"enable":true}`), must("observability.tracing.port=1")}, wantErr: "overlap"},
		{name: "overlap reversed", in: []Assignment{must("observability.tracing.port=1"), must(`observability.tracing={}`)}, wantErr: "overlap"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := MergePatch(tt.in...)
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("error = %v, want %q", err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if string(got) != tt.want {
				t.Errorf("got %s, want %s", got, tt.want)
			}
		})
	}
}

func TestPermissivePatchCarriesOneField(t *testing.T) {
	for enable, want := range map[bool]string{
		true:  `{"spec":{"traffic":{"enablePermissiveTrafficPolicyMode":true}}}`,
		false: `{"spec":{"traffic":{"enablePermissiveTrafficPolicyMode":false}}}`,
	} {
		if got := string(PermissivePatch(enable)); got != want {
			t.Errorf("PermissivePatch(%v) = %s, want %s", enable, got, want)
		}
	}
}

func FuzzParsePath(f *testing.F) {
	for _, s := range []string{"traffic.enableEgress", "sidecar.resources.limits.cpu", "", ".", "a..b", "traffic.enableEgress.x", "sidecar.resources.claims.x"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		p, err := ParsePath(s)
		if err != nil {
			if err.Error() == "" {
				t.Fatal("empty error message")
			}
			return
		}
		// A parsed path prints back as given and is itself parseable.
		if p.String() != s {
			t.Fatalf("ParsePath(%q).String() = %q", s, p)
		}
		if _, err := ParsePath(p.String()); err != nil {
			t.Fatalf("round trip of %q: %v", s, err)
		}
	})
}

func FuzzParseAssignment(f *testing.F) {
	for _, s := range []string{"traffic.enableEgress=false", "traffic.outboundPortExclusionList=1,2", "sidecar.resources.limits={}", "x", "=", "a=b=c", "auth.jwt.audiences=[1]"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		a, err := ParseAssignment(s)
		if err != nil {
			return
		}
		// Whatever was accepted makes a well-formed patch that names the field.
		patch, err := MergePatch(a)
		if err != nil {
			t.Fatalf("MergePatch(%q): %v", s, err)
		}
		var doc map[string]any
		if err := json.Unmarshal(patch, &doc); err != nil {
			t.Fatalf("patch for %q is not JSON: %v", s, err)
		}
		cur := doc["spec"]
		for _, seg := range a.Path.Segments() {
			m, ok := cur.(map[string]any)
			if !ok {
				t.Fatalf("patch %s lacks %s", patch, a.Path)
			}
			cur, ok = m[seg]
			if !ok {
				t.Fatalf("patch %s lacks %s", patch, a.Path)
			}
		}
	})
}

func TestSuggest(t *testing.T) {
	for in, want := range map[string]string{
		"sidecar.loglevel":   "sidecar.logLevel",
		"traffic.permissive": "traffic.enablePermissiveTrafficPolicyMode",
		"egress":             "traffic.enableEgress",
		"enable":             "", // many fields end in enable
		"x":                  "",
	} {
		if got := suggest(in); got != want {
			t.Errorf("suggest(%q) = %q, want %q", in, got, want)
		}
	}
}
