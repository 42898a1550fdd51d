package interception

import (
	"net/netip"
	"strings"
	"testing"

	"github.com/meshctl/meshctl/internal/golden"
	"github.com/meshctl/meshctl/pkg/proxyconfig/wire"
)

func base() wire.Interception {
	return wire.Interception{
		InboundPort:  wire.InboundPort,
		OutboundPort: wire.OutboundPort,
		AdminPort:    wire.AdminPort,
		ProxyUID:     wire.ProxyUID,
	}
}

func TestGenerateGolden(t *testing.T) {
	full := base()
	full.SkipInboundPorts = []int32{22, 9090}
	full.SkipOutboundPorts = []int32{443, 5432}
	full.SkipOutboundCIDRs = []netip.Prefix{netip.MustParsePrefix("10.0.0.0/8"), netip.MustParsePrefix("fd00::/8")}
	for _, tc := range []struct {
		name string
		in   wire.Interception
	}{
		{"defaults", base()},
		{"exclusions", full},
	} {
		t.Run(tc.name, func(t *testing.T) {
			rs, err := Generate(tc.in)
			if err != nil {
				t.Fatal(err)
			}
			golden.Assert(t, "testdata/"+tc.name+".golden", []byte(rs.String()))
			// The same settings always give the same rules.
			again, _ := Generate(tc.in)
			if again.String() != rs.String() {
				t.Fatal("Generate is not deterministic")
			}
		})
	}
}

func TestGenerateOrderAndComments(t *testing.T) {
	in := base()
	in.SkipInboundPorts = []int32{22}
	in.SkipOutboundPorts = []int32{443}
	in.SkipOutboundCIDRs = []netip.Prefix{netip.MustParsePrefix("10.0.0.0/8")}
	rs, err := Generate(in)
	if err != nil {
		t.Fatal(err)
	}
	if len(rs.Chains) != 2 {
		t.Fatalf("got %d chains, want 2", len(rs.Chains))
	}
	for _, c := range rs.Chains {
		last := c.Rules[len(c.Rules)-1]
		if last.Verdict != Redirect {
			t.Errorf("chain %s: last rule %q is not the redirect", c.Name, last)
		}
		for i, r := range c.Rules {
			if r.Comment == "" {
				t.Errorf("chain %s rule %d has no comment", c.Name, i)
			}
			if i < len(c.Rules)-1 && r.Verdict != Return {
				t.Errorf("chain %s rule %d: exclusions must come before the redirect", c.Name, i)
			}
			if n := len(Exprs(r)); n < 3 {
				t.Errorf("chain %s rule %d compiles to only %d expressions", c.Name, i, n)
			}
		}
	}
	if got := rs.Chains[1].Rules[0]; !got.HasSkUID || got.SkUID != wire.ProxyUID {
		t.Errorf("first outbound rule must exempt the proxy's UID, got %q", got)
	}
}

func TestGenerateRejectsBadPorts(t *testing.T) {
	for _, tc := range []struct {
		name   string
		mutate func(*wire.Interception)
		want   string
	}{
		{"no inbound port", func(i *wire.Interception) { i.InboundPort = 0 }, "inbound port 0"},
		{"outbound too big", func(i *wire.Interception) { i.OutboundPort = 70000 }, "outbound port 70000"},
		{"negative uid", func(i *wire.Interception) { i.ProxyUID = -1 }, "proxy UID -1"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			in := base()
			tc.mutate(&in)
			_, err := Generate(in)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("got %v, want an error containing %q", err, tc.want)
			}
		})
	}
}
