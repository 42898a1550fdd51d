package policy

import (
	"net/netip"
	"testing"

	_ "github.com/meshctl/meshctl/internal/golden"
	"github.com/meshctl/meshctl/pkg/identity"
)

func id(t testing.TB, ns, sa string) identity.ID {
	t.Helper()
	i, err := identity.NewID("cluster.local", ns, sa)
	if err != nil {
		t.Fatal(err)
	}
	return i
}

func re(src string) *Regex {
	r := Regex{src: src}
	return &r
}

// bookstore is the policy of bookstore/bookstore in the tests: the
// examples' TrafficTarget and several more, each there for a case of the
// matrix.
func bookstore(t testing.TB, permissive bool) *Policy {
	t.Helper()
	buyer, thief, admin, other, nginx := id(t, "bookbuyer", "bookbuyer"), id(t, "bookthief", "bookthief"), id(t, "ops", "admin"), id(t, "other", "x"), id(t, "ingress", "nginx")
	p := Policy{
		Destination: id(t, "bookstore", "bookstore"),
		Permissive:  permissive,
		Targets: []Target{
			{
				Name:    "bookstore/admin",
				Sources: []identity.ID{admin},
				Rules: []Rule{{Index: 0, Kind: KindHTTP, Name: "admin-routes", HTTP: []HTTPMatch{{
					Name: "admin", Methods: []string{"*"}, PathRegex: re(`/admin(/.*)?`),
					Headers: []HeaderMatch{{Name: "Host", Value: re(`bookstore(\.bookstore)?`)}, {Name: "X-Role", Value: re(`admin|root`)}},
				}}}},
			},
			{
				Name:    "bookstore/buy",
				Sources: []identity.ID{buyer, thief, buyer},
				Rules: []Rule{{Index: 0, Kind: KindHTTP, Name: "bookstore-routes", HTTP: []HTTPMatch{
					{Name: "buy", Methods: []string{"GET"}, PathRegex: re(`^/api/buy$`)},
				}}},
			},
			{Name: "bookstore/empty", Sources: []identity.ID{other}, Rules: []Rule{}},
			{
				Name: "bookstore/list", Sources: []identity.ID{thief},
				Rules: []Rule{{Index: 0, Kind: KindHTTP, Name: "list-routes", HTTP: []HTTPMatch{
					{Name: "list", Methods: []string{"GET", "HEAD"}, PathRegex: re(`/books`)},
					{Name: "any-get", Methods: []string{"GET"}, PathRegex: re(`/shelf/.*`), Headers: []HeaderMatch{{Name: "X-Shelf"}}},
				}}},
			},
			{
				Name: "bookstore/metrics", Port: 9090, Sources: []identity.ID{other},
				Rules: []Rule{{Index: 0, Kind: KindTCP, Name: "all", TCP: &TCPMatch{AnyPort: true}}},
			},
			{
				Name: "bookstore/tcp", Sources: []identity.ID{buyer},
				Rules: []Rule{
					{Index: 0, Kind: KindHTTP, Name: "broken"},
					{Index: 1, Kind: KindTCP, Name: "db", TCP: &TCPMatch{Name: "pg", Ports: []uint16{5432}}},
				},
			},
		},
		Ingress: []Ingress{
			{Name: "bookstore/ingress", Backend: "bookstore:80", Port: 14001, Protocol: ProtocolHTTP, IPRanges: []netip.Prefix{netip.MustParsePrefix("198.18.5.0/24")}, Sources: []identity.ID{nginx}},
			{Name: "bookstore/ingress-tcp", Backend: "bookstore:5433", Port: 5433, Protocol: ProtocolTCP, IPRanges: []netip.Prefix{netip.MustParsePrefix("198.18.6.0/24"), netip.MustParsePrefix("2001:db8::/32")}},
		},
	}
	s, err := NewSet(permissive, []Policy{p}, DefaultLimits())
	if err != nil {
		t.Fatal(err)
	}
	return s.For(p.Destination)
}
