package statcli

import (
	"strings"
	"testing"

	"k8s.io/apimachinery/pkg/util/validation"

	_ "github.com/meshctl/meshctl/internal/golden" // go test -update reaches every package
)

func TestParseKind(t *testing.T) {
	for in, want := range map[string]Kind{
		"deploy": KindDeployment, "deployments": KindDeployment, "Deployment": KindDeployment,
		"sts": KindStatefulSet, "ds": KindDaemonSet, "ns": KindNamespace, "namespaces": KindNamespace,
		"po": KindPod, "pod": KindPod,
	} {
		if got, err := ParseKind(in); err != nil || got != want {
			t.Errorf("ParseKind(%q) = %q, %v; want %q", in, got, err, want)
		}
	}
	for _, bad := range []string{"", "sa", "svc", "rs", "deploy/x"} {
		if _, err := ParseKind(bad); err == nil {
			t.Errorf("ParseKind(%q) succeeded", bad)
		}
	}
}

func TestParseEdge(t *testing.T) {
	for _, tc := range []struct {
		in, ns string
		want   Edge
	}{
		{"bookbuyer/bookbuyer", "x", Edge{KindServiceAccount, "bookbuyer", "bookbuyer"}},
		{"deploy/web", "shop", Edge{KindDeployment, "shop", "web"}},
		{"sts/db", "shop", Edge{KindStatefulSet, "shop", "db"}},
		{"ds/agent", "kube-system", Edge{KindDaemonSet, "kube-system", "agent"}},
		{"pod/web-1", "shop", Edge{KindPod, "shop", "web-1"}},
		{"sa/web", "shop", Edge{KindServiceAccount, "shop", "web"}},
		{"ns/shop", "", Edge{KindNamespace, "shop", "shop"}},
		{"other/deploy/web", "shop", Edge{KindDeployment, "other", "web"}},
		{"other/sa/web", "", Edge{KindServiceAccount, "other", "web"}},
		// A kind word wins: the namespace "pod"'s ServiceAccount is NS/sa/NAME.
		{"pod/sa/web", "", Edge{KindServiceAccount, "pod", "web"}},
		{"spiffe://cluster.local/ns/shop/sa/web", "", Edge{KindServiceAccount, "shop", "web"}},
		{"spiffe://example.org/ns/shop/sa/web.v2", "", Edge{KindServiceAccount, "shop", "web.v2"}},
	} {
		got, err := ParseEdge(tc.in, tc.ns)
		if err != nil || got != tc.want {
			t.Errorf("ParseEdge(%q, %q) = %+v, %v; want %+v", tc.in, tc.ns, got, err, tc.want)
		}
	}
	for _, tc := range []struct{ in, ns, want string }{
		{"", "shop", "want NS/SA"},
		{"web", "shop", "want NS/SA"},
		{"a/b/c/d", "shop", "want NS/SA"},
		{"deploy/web", "", "no namespace: pass -n or write NS/deploy/web"},
		{"shop/svc/web", "", `kind "svc"`},
		{"shop/ns/web", "", `kind "ns"`},
		{"Shop/web", "", `namespace "Shop"`},
		{"shop/Web", "", `name "Web"`},
		{"deploy/", "shop", `name ""`},
		{"/web", "", "no namespace"},
		{"shop/deploy/" + strings.Repeat("a", 300), "", "name"},
		{"spiffe://cluster.local/ns/shop", "", "spiffe://"},
		{"spiffe://cluster.local/ns/shop/sa/web/x", "", "spiffe://"},
	} {
		if _, err := ParseEdge(tc.in, tc.ns); err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("ParseEdge(%q, %q): %v, want an error containing %q", tc.in, tc.ns, err, tc.want)
		}
	}
}

// FuzzParseEdge: what ParseEdge accepts names a valid namespace and name,
// and a kind --from and --to resolve.
func FuzzParseEdge(f *testing.F) {
	for _, s := range []string{"bookbuyer/bookbuyer", "deploy/web", "shop/deploy/web", "ns/shop", "spiffe://cluster.local/ns/a/sa/b", "a/b/c/d", "pod/sa/x"} {
		f.Add(s, "shop")
	}
	f.Fuzz(func(t *testing.T, s, ns string) {
		e, err := ParseEdge(s, ns)
		if err != nil {
			return
		}
		if errs := validation.IsDNS1123Label(e.Namespace); len(errs) > 0 {
			t.Errorf("ParseEdge(%q, %q) = %+v: namespace %v", s, ns, e, errs)
		}
		if errs := validation.IsDNS1123Subdomain(e.Name); len(errs) > 0 {
			t.Errorf("ParseEdge(%q, %q) = %+v: name %v", s, ns, e, errs)
		}
		switch e.Kind {
		case KindDeployment, KindStatefulSet, KindDaemonSet, KindPod, KindServiceAccount:
		case KindNamespace:
			if e.Name != e.Namespace {
				t.Errorf("ParseEdge(%q, %q) = %+v: a namespace edge names two namespaces", s, ns, e)
			}
		default:
			t.Errorf("ParseEdge(%q, %q) = %+v: kind %q", s, ns, e, e.Kind)
		}
	})
}
