package proxyconfig

import "testing"

func TestSameImage(t *testing.T) {
	const digest = "sha256:0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef"
	const other = "sha256:1111111111111111111111111111111111111111111111111111111111111111"
	cases := []struct {
		a, b string
		same bool
	}{
		{"ghcr.io/meshctl/mesh-proxy:v1", "ghcr.io/meshctl/mesh-proxy:v1", true},
		{"ghcr.io/meshctl/mesh-proxy:v1", "ghcr.io/meshctl/mesh-proxy:v2", false},
		{"mesh-proxy", "docker.io/library/mesh-proxy:latest", true},
		{"org/mesh-proxy:v1", "docker.io/org/mesh-proxy:v1", true},
		{"ghcr.io/meshctl/mesh-proxy", "ghcr.io/meshctl/mesh-proxy:latest", true},
		{"ghcr.io/meshctl/mesh-proxy:v1", "ghcr.io/other/mesh-proxy:v1", false},
		{"ghcr.io/meshctl/mesh-proxy@" + digest, "ghcr.io/meshctl/mesh-proxy:v1@" + digest, true},
		{"ghcr.io/meshctl/mesh-proxy@" + digest, "ghcr.io/meshctl/mesh-proxy@" + other, false},
		{"ghcr.io/meshctl/mesh-proxy:v1@" + digest, "ghcr.io/meshctl/mesh-proxy:v1", false},
		{"ghcr.io/meshctl/mesh-proxy:v1", "ghcr.io/meshctl/mesh-proxy:v1@" + digest, false},
	}
	for _, tc := range cases {
		same, err := SameImage(tc.a, tc.b)
		if err != nil || same != tc.same {
			t.Errorf("SameImage(%q, %q) = %v, %v; want %v", tc.a, tc.b, same, err, tc.same)
		}
	}
	if _, err := SameImage("Not An Image", "x"); err == nil {
		t.Error("an invalid reference parsed")
	}
}

func FuzzSameImage(f *testing.F) {
	f.Add("ghcr.io/meshctl/mesh-proxy:v1", "mesh-proxy")
	f.Add("a@sha256:0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef", "a:b")
	f.Fuzz(func(t *testing.T, a, b string) {
		same, err := SameImage(a, b)
		if err != nil {
			return
		}
		back, err := SameImage(b, a)
		if err != nil || back != same {
			t.Fatalf("sameImage is not symmetric for %q, %q", a, b)
		}
		if self, err := SameImage(a, a); err != nil || !self {
			t.Fatalf("%q is not the same image as itself", a)
		}
	})
}
