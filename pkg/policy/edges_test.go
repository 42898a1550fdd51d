package policy

import (
	"fmt"
	"strings"
	"testing"
)

func TestEdges(t *testing.T) {
	p := bookstore(t, false)
	s := &Set{Policies: []Policy{*p}}
	var got []string
	for _, e := range s.Edges() {
		who := e.Source.Short()
		if who == "" {
			who = fmt.Sprint(e.IPRanges)
		}
		got = append(got, fmt.Sprintf("%s -> %s:%d by %s %s %s", who, e.Destination.Short(), e.Port, e.Kind, e.Name, strings.Join(e.Routes, " ")))
	}
	want := []string{
		"ops/admin -> bookstore/bookstore:0 by TrafficTarget bookstore/admin HTTPRouteGroup/admin-routes[admin]",
		"bookbuyer/bookbuyer -> bookstore/bookstore:0 by TrafficTarget bookstore/buy HTTPRouteGroup/bookstore-routes[buy]",
		"bookthief/bookthief -> bookstore/bookstore:0 by TrafficTarget bookstore/buy HTTPRouteGroup/bookstore-routes[buy]",
		"bookthief/bookthief -> bookstore/bookstore:0 by TrafficTarget bookstore/list HTTPRouteGroup/list-routes[list,any-get]",
		"other/x -> bookstore/bookstore:9090 by TrafficTarget bookstore/metrics TCPRoute/all",
		"bookbuyer/bookbuyer -> bookstore/bookstore:0 by TrafficTarget bookstore/tcp TCPRoute/db",
		"[198.18.5.0/24] -> bookstore/bookstore:14001 by IngressBackend bookstore/ingress bookstore:80/http",
		"ingress/nginx -> bookstore/bookstore:14001 by IngressBackend bookstore/ingress bookstore:80/http",
		"[198.18.6.0/24 2001:db8::/32] -> bookstore/bookstore:5433 by IngressBackend bookstore/ingress-tcp bookstore:5433/tcp",
	}
	if strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Errorf("Edges:\n%s\nwant\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
}

func TestMayReach(t *testing.T) {
	p := bookstore(t, true) // permissive: MayReach ignores it
	for who, want := range map[string]bool{
		"bookbuyer/bookbuyer": true,
		"bookthief/bookthief": true,
		"ingress/nginx":       true,
		"other/x":             true, // by the metrics TrafficTarget; the empty one alone would not
		"default/stranger":    false,
		"bookstore/bookstore": false,
	} {
		ns, sa, _ := cut(who)
		if got := p.MayReach(id(t, ns, sa)); got != want {
			t.Errorf("MayReach(%s) = %t, want %t", who, got, want)
		}
	}
}
