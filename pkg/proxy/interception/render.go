package interception

import (
	"fmt"
	"strings"
)

// String renders rs in nft syntax, the way `nft list table` would show it,
// so that a golden file reads like what the kernel holds and an operator can
// compare it with `nft list table inet mesh-proxy` in the pod.
func (rs Ruleset) String() string {
	var b strings.Builder
	fmt.Fprintf(&b, "table inet %s {\n", rs.Table)
	for i, c := range rs.Chains {
		if i > 0 {
			b.WriteString("\n")
		}
		fmt.Fprintf(&b, "\tchain %s {\n", c.Name)
		// nft names priority -100 "dstnat" only at prerouting.
		priority := "-100"
		if c.Hook == HookPrerouting {
			priority = "dstnat"
		}
		fmt.Fprintf(&b, "\t\ttype nat hook %s priority %s; policy accept;\n", c.Hook, priority)
		for _, r := range c.Rules {
			fmt.Fprintf(&b, "\t\t%s\n", r)
		}
		b.WriteString("\t}\n")
	}
	b.WriteString("}\n")
	return b.String()
}

// String renders one rule in nft syntax, its matches in the order Exprs
// compiles them ("tcp dport" implies the TCP check that Exprs does first).
func (r Rule) String() string {
	var parts []string
	if r.DestPort == 0 {
		parts = append(parts, "meta l4proto tcp")
	}
	if r.HasSkUID {
		parts = append(parts, fmt.Sprintf("meta skuid %d", r.SkUID))
	}
	if r.OutIfName != "" {
		parts = append(parts, fmt.Sprintf("oifname %q", r.OutIfName))
	}
	if r.DestCIDR.IsValid() {
		family := "ip"
		if r.DestCIDR.Addr().Is6() {
			family = "ip6"
		}
		parts = append(parts, fmt.Sprintf("%s daddr %s", family, r.DestCIDR))
	}
	if r.DestPort != 0 {
		parts = append(parts, fmt.Sprintf("tcp dport %d", r.DestPort))
	}
	switch r.Verdict {
	case Return:
		parts = append(parts, "return")
	case Redirect:
		parts = append(parts, fmt.Sprintf("redirect to :%d", r.ToPort))
	}
	parts = append(parts, fmt.Sprintf("comment %q", r.Comment))
	return strings.Join(parts, " ")
}
