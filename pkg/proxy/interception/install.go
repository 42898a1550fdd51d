package interception

import (
	"encoding/binary"
	"errors"
	"fmt"

	"github.com/google/nftables"
	"github.com/google/nftables/binaryutil"
	"github.com/google/nftables/expr"
	"github.com/google/nftables/userdata"
	"golang.org/x/sys/unix"
)

// ErrNoNetAdmin is returned (wrapped) by Install when the kernel refuses the
// rules because the caller lacks CAP_NET_ADMIN in the network namespace.
var ErrNoNetAdmin = errors.New("mesh-proxy init needs the NET_ADMIN capability in the pod's network namespace " +
	"(the injected init container adds it; a policy that drops it, or running init as a non-root user, breaks interception)")

// Install replaces the table of rs in the current network namespace with rs,
// in one netlink batch, which the kernel applies as one transaction: the pod
// never runs with half of the rules. Re-running it installs the same rules
// again and nothing else, so it is harmless. opts go to nftables.New (tests
// pass nftables.WithNetNSFd).
func Install(rs Ruleset, opts ...nftables.ConnOption) error {
	conn, err := nftables.New(opts...)
	if err != nil {
		return fmt.Errorf("opening netlink: %w", err)
	}
	table := &nftables.Table{Name: rs.Table, Family: nftables.TableFamilyINet}
	// Add-then-delete makes the delete succeed whether or not an earlier
	// init left the table behind; the second add starts it afresh.
	conn.AddTable(table)
	conn.DelTable(table)
	conn.AddTable(table)
	for _, c := range rs.Chains {
		hook := nftables.ChainHookPrerouting
		if c.Hook == HookOutput {
			hook = nftables.ChainHookOutput
		}
		policy := nftables.ChainPolicyAccept
		chain := conn.AddChain(&nftables.Chain{
			Name: c.Name, Table: table, Type: nftables.ChainTypeNAT,
			Hooknum: hook, Priority: nftables.ChainPriorityNATDest, Policy: &policy,
		})
		for _, r := range c.Rules {
			conn.AddRule(&nftables.Rule{
				Table: table, Chain: chain, Exprs: Exprs(r),
				UserData: userdata.AppendString(nil, userdata.TypeComment, r.Comment),
			})
		}
	}
	if err := conn.Flush(); err != nil {
		if errors.Is(err, unix.EPERM) || errors.Is(err, unix.EACCES) {
			return fmt.Errorf("installing table inet %s: %w: %w", rs.Table, ErrNoNetAdmin, err)
		}
		return fmt.Errorf("installing table inet %s: %w", rs.Table, err)
	}
	return nil
}

// Exprs translates r into nftables expressions, the same matches that
// Rule.String shows, in the same order. Every match loads into register 1
// and compares, as nft itself compiles them.
func Exprs(r Rule) []expr.Any {
	eq := func(data []byte) expr.Any { return &expr.Cmp{Op: expr.CmpOpEq, Register: 1, Data: data} }
	e := []expr.Any{&expr.Meta{Key: expr.MetaKeyL4PROTO, Register: 1}, eq([]byte{unix.IPPROTO_TCP})}
	if r.HasSkUID {
		// skuid is in host byte order, unlike packet fields.
		e = append(e, &expr.Meta{Key: expr.MetaKeySKUID, Register: 1}, eq(binaryutil.NativeEndian.PutUint32(r.SkUID)))
	}
	if r.OutIfName != "" {
		name := make([]byte, unix.IFNAMSIZ)
		copy(name, r.OutIfName)
		e = append(e, &expr.Meta{Key: expr.MetaKeyOIFNAME, Register: 1}, eq(name))
	}
	if p := r.DestCIDR; p.IsValid() {
		proto, offset := byte(unix.NFPROTO_IPV4), uint32(16)
		if p.Addr().Is6() {
			proto, offset = unix.NFPROTO_IPV6, 24
		}
		addr := p.Addr().AsSlice()
		mask := make([]byte, len(addr))
		for i := range p.Bits() {
			mask[i/8] |= 0x80 >> (i % 8)
		}
		e = append(e,
			// The network-header offset differs by family, so the family
			// is checked first (inet tables see both).
			&expr.Meta{Key: expr.MetaKeyNFPROTO, Register: 1}, eq([]byte{proto}),
			&expr.Payload{DestRegister: 1, Base: expr.PayloadBaseNetworkHeader, Offset: offset, Len: uint32(len(addr))},
			&expr.Bitwise{SourceRegister: 1, DestRegister: 1, Len: uint32(len(addr)), Mask: mask, Xor: make([]byte, len(addr))},
			eq(addr),
		)
	}
	if r.DestPort != 0 {
		e = append(e,
			&expr.Payload{DestRegister: 1, Base: expr.PayloadBaseTransportHeader, Offset: 2, Len: 2},
			eq(binary.BigEndian.AppendUint16(nil, r.DestPort)),
		)
	}
	switch r.Verdict {
	case Return:
		e = append(e, &expr.Verdict{Kind: expr.VerdictReturn})
	case Redirect:
		e = append(e,
			&expr.Immediate{Register: 1, Data: binary.BigEndian.AppendUint16(nil, r.ToPort)},
			&expr.Redir{RegisterProtoMin: 1},
		)
	}
	return e
}
