package wire

import (
	"net/netip"
	"reflect"
	"strings"
	"testing"
)

func TestParsePorts(t *testing.T) {
	for _, tc := range []struct {
		in   string
		want []int32
		err  string
	}{
		{"", nil, ""},
		{" 80, 8080 ,", []int32{80, 8080}, ""},
		{"65535", []int32{65535}, ""},
		{"0", nil, `"0" is not a port`},
		{"65536", nil, `"65536" is not a port`},
		{"http", nil, `"http" is not a port`},
	} {
		got, err := ParsePorts(tc.in)
		if tc.err != "" {
			if err == nil || !strings.Contains(err.Error(), tc.err) {
				t.Errorf("ParsePorts(%q) error %v, want %q", tc.in, err, tc.err)
			}
			continue
		}
		if err != nil || !reflect.DeepEqual(got, tc.want) {
			t.Errorf("ParsePorts(%q) = %v, %v; want %v", tc.in, got, err, tc.want)
		}
	}
}

func TestParseCIDRs(t *testing.T) {
	got, err := ParseCIDRs("10.1.2.3/8, fd00::1/8,")
	if err != nil {
		t.Fatal(err)
	}
	if s := FormatCIDRs(got); s != "10.0.0.0/8,fd00::/8" {
		t.Errorf("got %s, want masked prefixes", s)
	}
	if _, err := ParseCIDRs("10.0.0.1"); err == nil || !strings.Contains(err.Error(), `"10.0.0.1" is not a CIDR`) {
		t.Errorf("bare IP: got %v", err)
	}
	sorted := SortCIDRs([]netip.Prefix{netip.MustParsePrefix("fd00::/8"), netip.MustParsePrefix("10.0.0.0/16"), netip.MustParsePrefix("10.0.0.0/8"), netip.MustParsePrefix("10.0.0.0/8")})
	if s := FormatCIDRs(sorted); s != "10.0.0.0/8,10.0.0.0/16,fd00::/8" {
		t.Errorf("SortCIDRs: got %s", s)
	}
}

// FuzzParsePorts: any list that parses formats back to a list that parses
// to the same ports.
func FuzzParsePorts(f *testing.F) {
	f.Add("80, 8080")
	f.Add(",,1")
	f.Fuzz(func(t *testing.T, s string) {
		ports, err := ParsePorts(s)
		if err != nil {
			return
		}
		again, err := ParsePorts(FormatPorts(ports))
		if err != nil || !reflect.DeepEqual(ports, again) {
			t.Fatalf("%q: %v re-parsed as %v, %v", s, ports, again, err)
		}
	})
}

// FuzzParseCIDRs is FuzzParsePorts for CIDR lists.
func FuzzParseCIDRs(f *testing.F) {
	f.Add("10.0.0.0/8,fd00::/8")
	f.Add(" 10.1.2.3/8 ,")
	f.Fuzz(func(t *testing.T, s string) {
		cidrs, err := ParseCIDRs(s)
		if err != nil {
			return
		}
		again, err := ParseCIDRs(FormatCIDRs(cidrs))
		if err != nil || !reflect.DeepEqual(cidrs, again) {
			t.Fatalf("%q: %v re-parsed as %v, %v", s, cidrs, again, err)
		}
	})
}
