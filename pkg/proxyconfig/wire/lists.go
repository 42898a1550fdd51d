package wire

import (
	"cmp"
	"fmt"
	"net/netip"
	"slices"
	"strconv"
	"strings"
)

// ParsePorts parses a comma-separated list of ports, such as "80, 8080".
// Empty items are ignored, so "" is no ports.
func ParsePorts(s string) ([]int32, error) {
	var ports []int32
	for item := range strings.SplitSeq(s, ",") {
		item = strings.TrimSpace(item)
		if item == "" {
			continue
		}
		n, err := strconv.ParseUint(item, 10, 16)
		if err != nil || n == 0 {
			return nil, fmt.Errorf("%q is not a port (1-65535)", item)
		}
		ports = append(ports, int32(n))
	}
	return ports, nil
}

// FormatPorts is the inverse of ParsePorts.
func FormatPorts(ports []int32) string {
	s := make([]string, len(ports))
	for i, p := range ports {
		s[i] = strconv.Itoa(int(p))
	}
	return strings.Join(s, ",")
}

// ParseCIDRs parses a comma-separated list of CIDRs, such as
// "10.0.0.0/8,fd00::/8". A bare IP is not accepted: writing /32 makes the
// intent explicit. Each prefix is masked (10.1.2.3/8 becomes 10.0.0.0/8).
func ParseCIDRs(s string) ([]netip.Prefix, error) {
	var cidrs []netip.Prefix
	for item := range strings.SplitSeq(s, ",") {
		item = strings.TrimSpace(item)
		if item == "" {
			continue
		}
		p, err := netip.ParsePrefix(item)
		if err != nil {
			return nil, fmt.Errorf("%q is not a CIDR such as 10.0.0.0/8", item)
		}
		cidrs = append(cidrs, p.Masked())
	}
	return cidrs, nil
}

// FormatCIDRs is the inverse of ParseCIDRs.
func FormatCIDRs(cidrs []netip.Prefix) string {
	s := make([]string, len(cidrs))
	for i, p := range cidrs {
		s[i] = p.String()
	}
	return strings.Join(s, ",")
}

// SortCIDRs sorts p in place by address, then prefix length, and drops
// duplicates: the canonical order of CIDR lists in the arguments.
func SortCIDRs(p []netip.Prefix) []netip.Prefix {
	slices.SortFunc(p, func(a, b netip.Prefix) int {
		return cmp.Or(a.Addr().Compare(b.Addr()), cmp.Compare(a.Bits(), b.Bits()))
	})
	return slices.Compact(p)
}
