package policycli

import (
	"net/netip"
	"strings"
	"testing"

	_ "github.com/meshctl/meshctl/internal/golden"
)

func TestParseEndpoint(t *testing.T) {
	cases := []struct {
		in, ns string
		want   Endpoint
		err    string
	}{
		{in: "bookbuyer/bookbuyer", want: Endpoint{Kind: EndpointServiceAccount, Namespace: "bookbuyer", Name: "bookbuyer"}},
		{in: "sa/bookbuyer", ns: "bb", want: Endpoint{Kind: EndpointServiceAccount, Namespace: "bb", Name: "bookbuyer"}},
		{in: "serviceaccount/x", ns: "bb", want: Endpoint{Kind: EndpointServiceAccount, Namespace: "bb", Name: "x"}},
		{in: "pod/bookbuyer-1", ns: "bb", want: Endpoint{Kind: EndpointPod, Namespace: "bb", Name: "bookbuyer-1"}},
		{in: "po/p", ns: "bb", want: Endpoint{Kind: EndpointPod, Namespace: "bb", Name: "p"}},
		{in: "svc/bookstore", ns: "bs", want: Endpoint{Kind: EndpointService, Namespace: "bs", Name: "bookstore"}},
		{in: "service/bookstore", ns: "bs", want: Endpoint{Kind: EndpointService, Namespace: "bs", Name: "bookstore"}},
		{in: "bs/svc/bookstore", ns: "other", want: Endpoint{Kind: EndpointService, Namespace: "bs", Name: "bookstore"}},
		{in: "bs/pod/p", want: Endpoint{Kind: EndpointPod, Namespace: "bs", Name: "p"}},
		// A namespace named like a kind is written NS/sa/NAME.
		{in: "pod/sa/x", want: Endpoint{Kind: EndpointServiceAccount, Namespace: "pod", Name: "x"}},
		{in: "spiffe://cluster.local/ns/bb/sa/bookbuyer", want: Endpoint{Kind: EndpointServiceAccount, Namespace: "bb", Name: "bookbuyer", TrustDomain: "cluster.local"}},
		{in: "ip/198.18.0.1", want: Endpoint{Kind: EndpointIP, IP: netip.MustParseAddr("198.18.0.1")}},
		{in: "ip/::ffff:198.18.0.1", want: Endpoint{Kind: EndpointIP, IP: netip.MustParseAddr("198.18.0.1")}},
		{in: "ip/2001:db8::1", want: Endpoint{Kind: EndpointIP, IP: netip.MustParseAddr("2001:db8::1")}},

		{in: "bookbuyer", err: "want NS/SA"},
		{in: "", err: "want NS/SA"},
		{in: "a/b/c/d", err: "want NS/SA"},
		{in: "sa/x", err: "no namespace: pass -n"},
		{in: "a/deploy/x", err: `kind "deploy"`},
		{in: "a/ip/1.2.3.4", err: `kind "ip"`},
		{in: "ip/1.2.3", err: "not an IP address"},
		{in: "ip/fe80::1%eth0", err: "not an IP address"},
		{in: "Bad/x", err: "namespace"},
		{in: "a/Bad", err: "name"},
		{in: "a/", err: "name"},
		{in: "/x", err: "namespace"},
		{in: "a/svc/a.b", err: "service name"},
		{in: "spiffe://cluster.local/ns/a", err: "spiffe"},
		{in: "spiffe://cluster.local/ns/a/sa/b?x=1", err: "spiffe"},
	}
	for _, c := range cases {
		got, err := ParseEndpoint(c.in, c.ns)
		if c.err != "" {
			if err == nil || !strings.Contains(strings.ToLower(err.Error()), strings.ToLower(c.err)) {
				t.Errorf("%q: got %+v, %v; want an error with %q", c.in, got, err, c.err)
			}
			continue
		}
		if err != nil || got != c.want {
			t.Errorf("%q: got %+v, %v; want %+v", c.in, got, err, c.want)
		}
	}
}

// FuzzParseEndpoint: whatever parses names a valid endpoint, and its
// canonical spelling parses back to it.
func FuzzParseEndpoint(f *testing.F) {
	for _, s := range []string{"a/b", "sa/b", "a/pod/b", "svc/s", "ip/1.2.3.4", "spiffe://td/ns/a/sa/b", "pod/sa/x", "a//b"} {
		f.Add(s, "ns")
	}
	f.Fuzz(func(t *testing.T, s, ns string) {
		e, err := ParseEndpoint(s, ns)
		if err != nil {
			return
		}
		if e.Kind == EndpointIP {
			if !e.IP.IsValid() {
				t.Fatalf("%q: an invalid address", s)
			}
		} else if e.Namespace == "" || e.Name == "" || strings.Contains(e.Namespace+e.Name, "/") {
			t.Fatalf("%q: %+v", s, e)
		}
		again, err := ParseEndpoint(e.String(), "")
		again.TrustDomain = e.TrustDomain
		if err != nil || again != e {
			t.Fatalf("%q: %+v spelled %q parses to %+v, %v", s, e, e.String(), again, err)
		}
	})
}
