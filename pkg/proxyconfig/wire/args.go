package wire

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"net/netip"
	"slices"
	"strconv"
	"strings"

	"github.com/meshctl/meshctl/pkg/identity"
)

// Interception is what `mesh-proxy init` needs to install the interception
// rules: where to redirect, whose traffic to exempt and what to leave alone.
// Args writes it into the init container (pkg/proxyconfig's
// Config.InitArgs) and ParseInitArgs reads it back in mesh-proxy, so the
// two can never disagree.
type Interception struct {
	// InboundPort receives redirected inbound traffic.
	InboundPort int32
	// OutboundPort receives redirected outbound traffic.
	OutboundPort int32
	// AdminPort is never intercepted, so probes and scrapes reach the proxy.
	AdminPort int32
	// ProxyUID is the proxy's user; its traffic is exempt from redirection,
	// or the proxy's own upstream connections would loop back to it.
	ProxyUID int64
	// SkipInboundPorts, SkipOutboundPorts and SkipOutboundCIDRs bypass the
	// proxy; sorted and without duplicates.
	SkipInboundPorts  []int32
	SkipOutboundPorts []int32
	SkipOutboundCIDRs []netip.Prefix
}

// Run is what `mesh-proxy run` needs. Args writes it into the proxy
// container (pkg/proxyconfig's Config.RunArgs) and ParseRunArgs reads it
// back.
type Run struct {
	// LogLevel is the proxy's log level.
	LogLevel LogLevel
	// LogLevelPinned says LogLevel is the workload's own
	// (config.meshctl.io/proxy-log-level): the MeshConfig's level, which
	// reaches running proxies over the channel, does not replace it.
	LogLevelPinned bool
	// InboundPort, OutboundPort and AdminPort are the proxy's listeners.
	InboundPort  int32
	OutboundPort int32
	AdminPort    int32
	// Metrics turns /metrics on.
	Metrics bool
	// Tracing, when not nil, exports spans.
	Tracing *Tracing
	// JWT, when not nil, validates bearer tokens on inbound requests.
	JWT *JWT
	// Identity, when not nil, gives the proxy a workload certificate from
	// the controller, the channel's facts, and mutual TLS to meshed peers.
	// Without it (tests, and proxies injected before identity existed)
	// the proxy speaks plain text as before.
	Identity *Identity
	// Workload, when not nil, is the object that runs the proxy's pod,
	// which its metrics name. Proxies injected before it existed leave
	// those labels empty.
	Workload *Workload
}

// Identity is how the proxy gets its identity and the channel: where the
// controller is and who it must prove to be. The trust domain is the
// controller's: every identity in the mesh shares it. The token and the
// trust bundle are read from TokenPath and TrustBundlePath.
type Identity struct {
	// ControllerAddress is the controller's proxy API, host:port.
	ControllerAddress string
	// ControllerID is the SPIFFE ID the controller must present there.
	ControllerID identity.ID
	// AppProbes are the app's own kubelet httpGet probes: the mesh's
	// policy lets them through (ProbeSet.Matches) whatever it says, as
	// the kubelet has no mesh identity. Sorted and distinct (SortProbes).
	AppProbes []Probe
}

// Tracing is where the proxy exports spans, over OTLP/HTTP.
type Tracing struct {
	// Address is the collector's host name or IP.
	Address string
	// Port is the collector's port.
	Port int32
	// Endpoint is the collector's HTTP path, such as /v1/traces.
	Endpoint string
}

// JWT configures bearer-token validation of inbound requests.
type JWT struct {
	// Issuer is the required iss claim.
	Issuer string
	// Audiences are the accepted aud values.
	Audiences []string
	// JWKSURL is where the signing keys are fetched from.
	JWKSURL string
	// JWKS is an inline JSON Web Key Set.
	JWKS string
	// ExemptProbes are the app's own kubelet httpGet probes, which carry no
	// token: a GET or HEAD to exactly one of them passes without one.
	// Sorted and distinct (SortProbes).
	ExemptProbes []Probe
}

// Flag names shared by the writers and the readers below.
const (
	flagInboundPort       = "inbound-port"
	flagOutboundPort      = "outbound-port"
	flagAdminPort         = "admin-port"
	flagProxyUID          = "proxy-uid"
	flagSkipInboundPorts  = "skip-inbound-ports"
	flagSkipOutboundPorts = "skip-outbound-ports"
	flagSkipOutboundCIDRs = "skip-outbound-cidrs"
	flagLogLevel          = "log-level"
	flagLogLevelPinned    = "log-level-pinned"
	flagMetrics           = "metrics"
	flagTracingAddress    = "tracing-address"
	flagTracingPort       = "tracing-port"
	flagTracingEndpoint   = "tracing-endpoint"
	flagJWTIssuer         = "jwt-issuer"
	flagJWTAudience       = "jwt-audience"
	flagJWKSURL           = "jwks-url"
	flagJWKS              = "jwks"
	flagJWTExemptProbe    = "jwt-exempt-probe"
	flagControllerAddress = "controller-address"
	flagControllerID      = "controller-id"
	flagAppProbe          = "app-probe"
)

// Args renders i as `mesh-proxy init` arguments, each as --name=value so
// that a value can never be mistaken for a flag.
func (i Interception) Args() []string {
	args := []string{
		InitCommand,
		arg(flagInboundPort, itoa(i.InboundPort)),
		arg(flagOutboundPort, itoa(i.OutboundPort)),
		arg(flagAdminPort, itoa(i.AdminPort)),
		arg(flagProxyUID, strconv.FormatInt(i.ProxyUID, 10)),
	}
	if len(i.SkipInboundPorts) > 0 {
		args = append(args, arg(flagSkipInboundPorts, FormatPorts(i.SkipInboundPorts)))
	}
	if len(i.SkipOutboundPorts) > 0 {
		args = append(args, arg(flagSkipOutboundPorts, FormatPorts(i.SkipOutboundPorts)))
	}
	if len(i.SkipOutboundCIDRs) > 0 {
		args = append(args, arg(flagSkipOutboundCIDRs, FormatCIDRs(i.SkipOutboundCIDRs)))
	}
	return args
}

// Args renders r as `mesh-proxy run` arguments.
func (r Run) Args() []string {
	args := []string{
		RunCommand,
		arg(flagLogLevel, string(r.LogLevel)),
		arg(flagInboundPort, itoa(r.InboundPort)),
		arg(flagOutboundPort, itoa(r.OutboundPort)),
		arg(flagAdminPort, itoa(r.AdminPort)),
		arg(flagMetrics, strconv.FormatBool(r.Metrics)),
	}
	if r.LogLevelPinned {
		args = append(args, arg(flagLogLevelPinned, "true"))
	}
	if t := r.Tracing; t != nil {
		args = append(args, arg(flagTracingAddress, t.Address), arg(flagTracingPort, itoa(t.Port)), arg(flagTracingEndpoint, t.Endpoint))
	}
	if j := r.JWT; j != nil {
		args = append(args, arg(flagJWTIssuer, j.Issuer))
		for _, a := range j.Audiences {
			args = append(args, arg(flagJWTAudience, a))
		}
		if j.JWKSURL != "" {
			args = append(args, arg(flagJWKSURL, j.JWKSURL))
		}
		if j.JWKS != "" {
			args = append(args, arg(flagJWKS, j.JWKS))
		}
		// One flag per probe rather than a comma list: a path may hold
		// commas.
		for _, p := range j.ExemptProbes {
			args = append(args, arg(flagJWTExemptProbe, p.String()))
		}
	}
	if id := r.Identity; id != nil {
		args = append(args, arg(flagControllerAddress, id.ControllerAddress), arg(flagControllerID, id.ControllerID.String()))
		for _, p := range id.AppProbes {
			args = append(args, arg(flagAppProbe, p.String()))
		}
	}
	// Last, as Workload.Args says.
	if w := r.Workload; w != nil {
		args = append(args, w.Args()...)
	}
	return args
}

// ParseInitArgs reads the arguments Interception.Args wrote: args[0] is
// InitCommand, as in os.Args[1:] of mesh-proxy. The ports and the proxy UID
// are required; every value is checked.
func ParseInitArgs(args []string) (Interception, error) {
	var i Interception
	fs, err := newFlagSet(args, InitCommand)
	if err != nil {
		return i, err
	}
	fs.Var(portValue{&i.InboundPort}, flagInboundPort, "")
	fs.Var(portValue{&i.OutboundPort}, flagOutboundPort, "")
	fs.Var(portValue{&i.AdminPort}, flagAdminPort, "")
	fs.Var(uidValue{&i.ProxyUID}, flagProxyUID, "")
	fs.Var(portsValue{&i.SkipInboundPorts}, flagSkipInboundPorts, "")
	fs.Var(portsValue{&i.SkipOutboundPorts}, flagSkipOutboundPorts, "")
	fs.Var(cidrsValue{&i.SkipOutboundCIDRs}, flagSkipOutboundCIDRs, "")
	if err := parse(fs, args[1:], flagInboundPort, flagOutboundPort, flagAdminPort, flagProxyUID); err != nil {
		return Interception{}, err
	}
	return i, nil
}

// ParseRunArgs reads the arguments Run.Args wrote: args[0] is RunCommand.
func ParseRunArgs(args []string) (Run, error) {
	var r Run
	fs, err := newFlagSet(args, RunCommand)
	if err != nil {
		return r, err
	}
	var tracing Tracing
	var jwt JWT
	fs.Var(logLevelValue{&r.LogLevel}, flagLogLevel, "")
	fs.Var(portValue{&r.InboundPort}, flagInboundPort, "")
	fs.Var(portValue{&r.OutboundPort}, flagOutboundPort, "")
	fs.Var(portValue{&r.AdminPort}, flagAdminPort, "")
	fs.BoolVar(&r.Metrics, flagMetrics, false, "")
	fs.BoolVar(&r.LogLevelPinned, flagLogLevelPinned, false, "")
	fs.Var(stringValue{&tracing.Address}, flagTracingAddress, "")
	fs.Var(portValue{&tracing.Port}, flagTracingPort, "")
	fs.Var(stringValue{&tracing.Endpoint}, flagTracingEndpoint, "")
	fs.Var(stringValue{&jwt.Issuer}, flagJWTIssuer, "")
	fs.Var(listValue{&jwt.Audiences}, flagJWTAudience, "")
	fs.Var(stringValue{&jwt.JWKSURL}, flagJWKSURL, "")
	fs.Var(stringValue{&jwt.JWKS}, flagJWKS, "")
	fs.Var(probesValue{&jwt.ExemptProbes}, flagJWTExemptProbe, "")
	var id Identity
	fs.Var(hostPortValue{&id.ControllerAddress}, flagControllerAddress, "")
	fs.Var(idValue{&id.ControllerID}, flagControllerID, "")
	fs.Var(probesValue{&id.AppProbes}, flagAppProbe, "")
	var w Workload
	fs.Var(stringValue{&w.Kind}, flagWorkloadKind, "")
	fs.Var(stringValue{&w.Name}, flagWorkloadName, "")
	if err := parse(fs, args[1:], flagLogLevel, flagInboundPort, flagOutboundPort, flagAdminPort); err != nil {
		return Run{}, err
	}
	set := setFlags(fs)
	if set[flagTracingAddress] || set[flagTracingPort] || set[flagTracingEndpoint] {
		if !set[flagTracingAddress] || !set[flagTracingPort] || !set[flagTracingEndpoint] {
			return Run{}, fmt.Errorf("--%s, --%s and --%s go together", flagTracingAddress, flagTracingPort, flagTracingEndpoint)
		}
		r.Tracing = &tracing
	}
	if set[flagJWTIssuer] || set[flagJWTAudience] || set[flagJWKSURL] || set[flagJWKS] || set[flagJWTExemptProbe] {
		if !set[flagJWTIssuer] {
			return Run{}, fmt.Errorf("--%s is required with the other JWT flags", flagJWTIssuer)
		}
		if err := checkSorted(flagJWTExemptProbe, jwt.ExemptProbes); err != nil {
			return Run{}, err
		}
		r.JWT = &jwt
	}
	if set[flagControllerAddress] || set[flagControllerID] || set[flagAppProbe] {
		if !set[flagControllerAddress] || !set[flagControllerID] {
			return Run{}, fmt.Errorf("--%s and --%s go together, and --%s needs them", flagControllerAddress, flagControllerID, flagAppProbe)
		}
		if err := checkSorted(flagAppProbe, id.AppProbes); err != nil {
			return Run{}, err
		}
		r.Identity = &id
	}
	if set[flagWorkloadKind] || set[flagWorkloadName] {
		if !set[flagWorkloadKind] {
			return Run{}, fmt.Errorf("--%s needs --%s", flagWorkloadName, flagWorkloadKind)
		}
		if err := w.Check(); err != nil {
			return Run{}, fmt.Errorf("--%s, --%s: %w", flagWorkloadKind, flagWorkloadName, err)
		}
		r.Workload = &w
	}
	return r, nil
}

// checkSorted refuses probes that are not sorted and distinct, as writers
// render them: a reordered or repeated list is not one of ours.
func checkSorted(flag string, probes []Probe) error {
	for i := 1; i < len(probes); i++ {
		if CompareProbes(probes[i-1], probes[i]) >= 0 {
			return fmt.Errorf("--%s: %q after %q: the probes must be sorted by port, then path, and distinct", flag, probes[i], probes[i-1])
		}
	}
	return nil
}

func newFlagSet(args []string, command string) (*flag.FlagSet, error) {
	if len(args) == 0 || args[0] != command {
		return nil, fmt.Errorf("expected the %q subcommand first, got %q", command, args)
	}
	fs := flag.NewFlagSet("mesh-proxy "+command, flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	return fs, nil
}

// parse parses args strictly: no positional arguments, each flag at most
// once (except lists meant to repeat), and the required ones present.
func parse(fs *flag.FlagSet, args []string, required ...string) error {
	seen := map[string]bool{}
	for _, a := range args {
		name, _, _ := strings.Cut(strings.TrimLeft(a, "-"), "=")
		if seen[name] && name != flagJWTAudience && name != flagJWTExemptProbe {
			return fmt.Errorf("flag --%s given twice", name)
		}
		seen[name] = true
	}
	if err := fs.Parse(args); err != nil {
		return err
	}
	if fs.NArg() > 0 {
		return fmt.Errorf("unexpected argument %q", fs.Arg(0))
	}
	set := setFlags(fs)
	for _, r := range required {
		if !set[r] {
			return fmt.Errorf("flag --%s is required", r)
		}
	}
	return nil
}

func setFlags(fs *flag.FlagSet) map[string]bool {
	set := map[string]bool{}
	fs.Visit(func(f *flag.Flag) { set[f.Name] = true })
	return set
}

func arg(name, value string) string { return "--" + name + "=" + value }

func itoa(n int32) string { return strconv.Itoa(int(n)) }

type portValue struct{ p *int32 }

func (v portValue) String() string {
	if v.p == nil {
		return ""
	}
	return itoa(*v.p)
}

func (v portValue) Set(s string) error {
	ports, err := ParsePorts(s)
	if err != nil {
		return err
	}
	if len(ports) != 1 || strings.Contains(s, ",") {
		return fmt.Errorf("%q is not a port (1-65535)", s)
	}
	*v.p = ports[0]
	return nil
}

type uidValue struct{ p *int64 }

func (v uidValue) String() string {
	if v.p == nil {
		return ""
	}
	return strconv.FormatInt(*v.p, 10)
}

func (v uidValue) Set(s string) error {
	n, err := strconv.ParseInt(s, 10, 64)
	if err != nil || n < 0 || n > 1<<31-1 {
		return fmt.Errorf("%q is not a user ID", s)
	}
	*v.p = n
	return nil
}

// portsValue and cidrsValue accept only canonical lists (sorted, no
// duplicates, no spaces), the form the writers produce, so that a parsed
// value always renders back to the same argument.
type portsValue struct{ p *[]int32 }

func (v portsValue) String() string {
	if v.p == nil {
		return ""
	}
	return FormatPorts(*v.p)
}

func (v portsValue) Set(s string) error {
	ports, err := ParsePorts(s)
	if err != nil {
		return err
	}
	if len(ports) == 0 || FormatPorts(ports) != s || !slices.IsSorted(ports) || len(slices.Compact(slices.Clone(ports))) != len(ports) {
		return fmt.Errorf("%q is not a sorted, comma-separated list of distinct ports", s)
	}
	*v.p = ports
	return nil
}

type cidrsValue struct{ p *[]netip.Prefix }

func (v cidrsValue) String() string {
	if v.p == nil {
		return ""
	}
	return FormatCIDRs(*v.p)
}

func (v cidrsValue) Set(s string) error {
	cidrs, err := ParseCIDRs(s)
	if err != nil {
		return err
	}
	if len(cidrs) == 0 || FormatCIDRs(cidrs) != s || !slices.Equal(SortCIDRs(slices.Clone(cidrs)), cidrs) {
		return fmt.Errorf("%q is not a sorted, comma-separated list of distinct, masked CIDRs", s)
	}
	*v.p = cidrs
	return nil
}

type logLevelValue struct{ p *LogLevel }

func (v logLevelValue) String() string {
	if v.p == nil {
		return ""
	}
	return string(*v.p)
}

func (v logLevelValue) Set(s string) (err error) {
	*v.p, err = ParseLogLevel(s)
	return err
}

type stringValue struct{ p *string }

func (v stringValue) String() string {
	if v.p == nil {
		return ""
	}
	return *v.p
}

func (v stringValue) Set(s string) error {
	if s == "" {
		return errors.New("empty value")
	}
	*v.p = s
	return nil
}

type listValue struct{ p *[]string }

func (v listValue) String() string {
	if v.p == nil {
		return ""
	}
	return strings.Join(*v.p, ",")
}

func (v listValue) Set(s string) error {
	if s == "" {
		return errors.New("empty value")
	}
	*v.p = append(*v.p, s)
	return nil
}

type hostPortValue struct{ p *string }

func (v hostPortValue) String() string {
	if v.p == nil {
		return ""
	}
	return *v.p
}

func (v hostPortValue) Set(s string) error {
	host, port, err := net.SplitHostPort(s)
	if err != nil || host == "" {
		return fmt.Errorf("%q is not host:port", s)
	}
	if n, err := strconv.Atoi(port); err != nil || n < 1 || n > 65535 {
		return fmt.Errorf("%q: port must be between 1 and 65535", s)
	}
	*v.p = s
	return nil
}

type idValue struct{ p *identity.ID }

func (v idValue) String() string {
	if v.p == nil {
		return ""
	}
	return v.p.String()
}

func (v idValue) Set(s string) error {
	id, err := identity.ParseID(s)
	if err != nil {
		return err
	}
	*v.p = id
	return nil
}
