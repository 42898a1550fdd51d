// Package interception owns the pod's traffic interception rules: a pure
// generator (Generate) that turns wire.Interception into an ordered
// rule set, its nft-syntax rendering (for golden tests and for the log line
// `mesh-proxy init` prints), and the installer that programs the rule set into
// the kernel's nftables over netlink.
//
// nftables through netlink (github.com/google/nftables) was chosen over
// iptables-restore so that the proxy image needs nothing but the static
// mesh-proxy binary: no iptables binaries, no shared libraries, no xtables
// lock file on a read-only root. One netlink batch is one kernel
// transaction, so installing is as atomic as iptables-restore. The rules
// live in their own table of the inet family, which covers IPv4 and IPv6
// and never touches tables that other components own.
package interception

import (
	"fmt"
	"net/netip"

	"github.com/meshctl/meshctl/pkg/proxyconfig/wire"
)

// TableName is the nftables table (family inet) that holds every rule.
const TableName = "mesh-proxy"

// Hook is the netfilter hook a chain is attached to.
type Hook string

// The two hooks interception needs: prerouting sees traffic arriving at the
// pod, output sees traffic the pod's processes send.
const (
	HookPrerouting Hook = "prerouting"
	HookOutput     Hook = "output"
)

// Verdict is what a rule does with a matching connection.
type Verdict int

// Verdicts: Return leaves the connection alone (an exclusion); Redirect
// sends it to a local proxy port.
const (
	Return Verdict = iota
	Redirect
)

// Ruleset is the whole interception configuration of a pod: one table,
// chains in a fixed order, rules in a fixed order within each chain.
type Ruleset struct {
	Table  string
	Chains []Chain
}

// Chain is a NAT base chain at priority -100 (dstnat), with policy accept.
type Chain struct {
	Name  string
	Hook  Hook
	Rules []Rule
}

// Rule matches TCP connections (all conditions must hold) and applies its
// verdict. The zero value of each condition means "any".
type Rule struct {
	// DestPort matches the TCP destination port.
	DestPort uint16
	// SkUID matches the sending socket's owner; HasSkUID says it is set.
	SkUID    uint32
	HasSkUID bool
	// OutIfName matches the output interface.
	OutIfName string
	// DestCIDR matches the destination address.
	DestCIDR netip.Prefix
	// Verdict is what to do; ToPort is Redirect's target.
	Verdict Verdict
	ToPort  uint16
	// Comment says why the rule exists; it is stored in the kernel with it.
	Comment string
}

// Generate returns the rules for i. It is a pure function: the same
// settings always give the same rules, in the same order, and exclusions
// always come before the redirect of their chain.
func Generate(i wire.Interception) (Ruleset, error) {
	for name, p := range map[string]int32{"inbound": i.InboundPort, "outbound": i.OutboundPort, "admin": i.AdminPort} {
		if p < 1 || p > 65535 {
			return Ruleset{}, fmt.Errorf("%s port %d is not a port (1-65535)", name, p)
		}
	}
	if i.ProxyUID < 0 || i.ProxyUID > 1<<32-1 {
		return Ruleset{}, fmt.Errorf("proxy UID %d is out of range", i.ProxyUID)
	}

	inbound := []Rule{{
		DestPort: uint16(i.AdminPort), Verdict: Return,
		Comment: "admin port: probes and scrapes reach the proxy itself",
	}}
	for _, p := range i.SkipInboundPorts {
		inbound = append(inbound, Rule{
			DestPort: uint16(p), Verdict: Return,
			Comment: fmt.Sprintf("inbound port %d is excluded: straight to the app", p),
		})
	}
	inbound = append(inbound, Rule{
		Verdict: Redirect, ToPort: uint16(i.InboundPort),
		Comment: "all other inbound TCP goes to the proxy's inbound listener",
	})

	outbound := []Rule{
		{
			SkUID: uint32(i.ProxyUID), HasSkUID: true, Verdict: Return,
			Comment: "the proxy's own connections, or they would loop back to it",
		},
		{
			OutIfName: "lo", Verdict: Return,
			Comment: "loopback: the pod talking to itself stays local",
		},
	}
	for _, p := range i.SkipOutboundPorts {
		outbound = append(outbound, Rule{
			DestPort: uint16(p), Verdict: Return,
			Comment: fmt.Sprintf("outbound port %d is excluded: straight to the destination", p),
		})
	}
	for _, c := range i.SkipOutboundCIDRs {
		outbound = append(outbound, Rule{
			DestCIDR: c.Masked(), Verdict: Return,
			Comment: fmt.Sprintf("outbound range %s is excluded: straight to the destination", c.Masked()),
		})
	}
	outbound = append(outbound, Rule{
		Verdict: Redirect, ToPort: uint16(i.OutboundPort),
		Comment: "all other outbound TCP goes to the proxy's outbound listener",
	})

	return Ruleset{
		Table: TableName,
		Chains: []Chain{
			{Name: "inbound", Hook: HookPrerouting, Rules: inbound},
			{Name: "outbound", Hook: HookOutput, Rules: outbound},
		},
	}, nil
}
