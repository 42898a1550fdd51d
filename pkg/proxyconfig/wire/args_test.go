package wire

import (
	"github.com/meshctl/meshctl/pkg/identity"

	"net/netip"
	"reflect"
	"strings"
	"testing"

	_ "github.com/meshctl/meshctl/internal/golden"
)

// The minimal values set no optional field and the full ones every field,
// so that round trips cover every flag.
func minimalInterception() Interception {
	return Interception{InboundPort: InboundPort, OutboundPort: OutboundPort, AdminPort: AdminPort, ProxyUID: ProxyUID}
}

func fullInterception() Interception {
	i := minimalInterception()
	i.SkipInboundPorts = []int32{22, 8081}
	i.SkipOutboundPorts = []int32{5432}
	i.SkipOutboundCIDRs = []netip.Prefix{
		netip.MustParsePrefix("10.0.0.0/8"), netip.MustParsePrefix("169.254.169.254/32"), netip.MustParsePrefix("fd00::/8"),
	}
	return i
}

func minimalRun() Run {
	return Run{LogLevel: LogInfo, InboundPort: InboundPort, OutboundPort: OutboundPort, AdminPort: AdminPort}
}

func fullRun() Run {
	r := minimalRun()
	r.LogLevel = LogWarn
	r.Metrics = true
	r.LogLevelPinned = true
	r.Tracing = &Tracing{Address: "otel.tracing", Port: 4318, Endpoint: "/v1/traces"}
	r.JWT = &JWT{Issuer: "https://issuer.example", Audiences: []string{"books", "stars,too"}, JWKSURL: "https://issuer.example/jwks", JWKS: `{"keys":[]}`,
		ExemptProbes: []Probe{{8080, "/healthz"}, {8080, "/ready,now"}, {9090, "/"}}}
	r.Identity = &Identity{ControllerAddress: "mesh-controller.mesh-system.svc:9444", ControllerID: mustID("spiffe://cluster.local/ns/mesh-system/sa/mesh-controller")}
	r.Workload = &Workload{Kind: KindDeployment, Name: "bookstore-v1"}
	return r
}

func mustID(s string) identity.ID {
	id, err := identity.ParseID(s)
	if err != nil {
		panic(err)
	}
	return id
}

func TestArgsRoundTrip(t *testing.T) {
	for name, i := range map[string]Interception{"minimal": minimalInterception(), "full": fullInterception()} {
		t.Run("init "+name, func(t *testing.T) {
			got, err := ParseInitArgs(i.Args())
			if err != nil {
				t.Fatalf("ParseInitArgs(%q): %v", i.Args(), err)
			}
			if !reflect.DeepEqual(got, i) {
				t.Errorf("round trip:\n got %+v\nwant %+v", got, i)
			}
		})
	}
	pod := minimalRun()
	pod.Workload = &Workload{Kind: KindPod}
	for name, r := range map[string]Run{"minimal": minimalRun(), "full": fullRun(), "pod named by itself": pod} {
		t.Run("run "+name, func(t *testing.T) {
			got, err := ParseRunArgs(r.Args())
			if err != nil {
				t.Fatalf("ParseRunArgs(%q): %v", r.Args(), err)
			}
			if !reflect.DeepEqual(got, r) {
				t.Errorf("round trip:\n got %+v\nwant %+v", got, r)
			}
		})
	}
}

// TestArgsFormat pins the arguments as written into pods: mesh-proxy
// images of other versions read them, so a change here is a compatibility
// question, not a refactoring.
func TestArgsFormat(t *testing.T) {
	if got, want := strings.Join(fullInterception().Args(), " "),
		"init --inbound-port=15003 --outbound-port=15001 --admin-port=15000 --proxy-uid=1500 --skip-inbound-ports=22,8081 --skip-outbound-ports=5432 --skip-outbound-cidrs=10.0.0.0/8,169.254.169.254/32,fd00::/8"; got != want {
		t.Errorf("init args\n got %s\nwant %s", got, want)
	}
	if got, want := strings.Join(fullRun().Args(), " "),
		`run --log-level=warn --inbound-port=15003 --outbound-port=15001 --admin-port=15000 --metrics=true --log-level-pinned=true --tracing-address=otel.tracing --tracing-port=4318 --tracing-endpoint=/v1/traces --jwt-issuer=https://issuer.example --jwt-audience=books --jwt-audience=stars,too --jwks-url=https://issuer.example/jwks --jwks={"keys":[]} --jwt-exempt-probe=8080/healthz --jwt-exempt-probe=8080/ready,now --jwt-exempt-probe=9090/ --controller-address=mesh-controller.mesh-system.svc:9444 --controller-id=spiffe://cluster.local/ns/mesh-system/sa/mesh-controller --workload-kind=deployment --workload-name=bookstore-v1`; got != want {
		t.Errorf("run args\n got %s\nwant %s", got, want)
	}
}

func TestParseArgsErrors(t *testing.T) {
	base := minimalInterception().Args()
	for name, tc := range map[string]struct {
		args []string
		want string
	}{
		"no subcommand":  {nil, `expected the "init" subcommand`},
		"wrong command":  {[]string{"run"}, `expected the "init" subcommand`},
		"missing port":   {[]string{"init", "--outbound-port=1", "--admin-port=2", "--proxy-uid=3"}, "--inbound-port is required"},
		"bad port":       {append(base, "--skip-inbound-ports=0"), `"0" is not a port`},
		"unsorted ports": {append(base, "--skip-inbound-ports=90,80"), "sorted"},
		"unknown flag":   {append(base, "--bogus=1"), "bogus"},
		"positional":     {append(base, "extra"), `unexpected argument "extra"`},
		"twice":          {append(base, "--inbound-port=1"), "given twice"},
		"bad cidr":       {append(base, "--skip-outbound-cidrs=10.0.0.1/8"), "masked"},
		"bad uid":        {[]string{"init", "--inbound-port=1", "--outbound-port=2", "--admin-port=3", "--proxy-uid=-1"}, "not a user ID"},
	} {
		t.Run(name, func(t *testing.T) {
			_, err := ParseInitArgs(tc.args)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("got %v, want an error containing %q", err, tc.want)
			}
		})
	}
	for name, tc := range map[string]struct {
		args []string
		want string
	}{
		"half the tracing flags":  {append(minimalRun().Args(), "--tracing-address=x"), "go together"},
		"address without id":      {append(minimalRun().Args(), "--controller-address=c:9444"), "go together"},
		"bad controller address":  {append(minimalRun().Args(), "--controller-address=c", "--controller-id=spiffe://td/ns/a/sa/b"), "not host:port"},
		"bad controller port":     {append(minimalRun().Args(), "--controller-address=c:0", "--controller-id=spiffe://td/ns/a/sa/b"), "port must be"},
		"bad controller id":       {append(minimalRun().Args(), "--controller-address=c:1", "--controller-id=spiffe://td/a/b"), "spiffe"},
		"audience without issuer": {append(minimalRun().Args(), "--jwt-audience=a"), "--jwt-issuer is required"},
		"bad log level":           {[]string{"run", "--log-level=trace", "--inbound-port=1", "--outbound-port=2", "--admin-port=3"}, `unknown log level "trace"`},
		"empty issuer":            {append(minimalRun().Args(), "--jwt-issuer="), "empty value"},
		"probe without issuer":    {append(minimalRun().Args(), "--jwt-exempt-probe=8080/healthz"), "--jwt-issuer is required"},
		"bad probe":               {append(fullRun().Args(), "--jwt-exempt-probe=8080"), "not a probe"},
		"probe with a query":      {append(minimalRun().Args(), "--jwt-issuer=i", "--jwt-exempt-probe=8080/healthz?x=1"), "cannot hold"},
		"unsorted probes":         {append(minimalRun().Args(), "--jwt-issuer=i", "--jwt-exempt-probe=9090/a", "--jwt-exempt-probe=8080/b"), "must be sorted"},
		"duplicate probes":        {append(minimalRun().Args(), "--jwt-issuer=i", "--jwt-exempt-probe=8080/a", "--jwt-exempt-probe=8080/a"), "must be sorted"},
		"name without kind":       {append(minimalRun().Args(), "--workload-name=web"), "needs --workload-kind"},
		"kind without name":       {append(minimalRun().Args(), "--workload-kind=deployment"), "has no name"},
		"empty kind":              {append(minimalRun().Args(), "--workload-kind="), "empty value"},
		"upper-case kind":         {append(minimalRun().Args(), "--workload-kind=Deployment", "--workload-name=web"), "not a lower-case"},
		"quote in name":           {append(minimalRun().Args(), "--workload-kind=deployment", `--workload-name=web"} 1`), "not a DNS-1123 subdomain"},
		"line feed in name":       {append(minimalRun().Args(), "--workload-kind=deployment", "--workload-name=web\nevil 1"), "not a DNS-1123 subdomain"},
		"name too long":           {append(minimalRun().Args(), "--workload-kind=deployment", "--workload-name="+strings.Repeat("a", 254)), "not a DNS-1123 subdomain"},
		"kind too long":           {append(minimalRun().Args(), "--workload-kind="+strings.Repeat("a", 64), "--workload-name=web"), "not a lower-case"},
		"workload twice":          {append(fullRun().Args(), "--workload-name=other"), "given twice"},
	} {
		t.Run(name, func(t *testing.T) {
			_, err := ParseRunArgs(tc.args)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("got %v, want an error containing %q", err, tc.want)
			}
		})
	}
}

func TestParseLogLevel(t *testing.T) {
	for _, l := range LogLevels() {
		if got, err := ParseLogLevel(string(l)); err != nil || got != l {
			t.Errorf("ParseLogLevel(%q) = %q, %v", l, got, err)
		}
	}
	if _, err := ParseLogLevel("INFO"); err == nil {
		t.Error("log levels are case-sensitive, INFO was accepted")
	}
}

// FuzzParseInitArgs: the parser never panics, and whatever it accepts
// renders back to arguments that parse to the same value.
func FuzzParseInitArgs(f *testing.F) {
	f.Add(strings.Join(minimalInterception().Args(), "\x00"))
	f.Add(strings.Join(fullInterception().Args(), "\x00"))
	f.Add("init\x00--inbound-port=1\x00--skip-outbound-cidrs=::/0")
	f.Fuzz(func(t *testing.T, s string) {
		i, err := ParseInitArgs(strings.Split(s, "\x00"))
		if err != nil {
			return
		}
		again, err := ParseInitArgs(i.Args())
		if err != nil {
			t.Fatalf("re-parsing %q: %v", i.Args(), err)
		}
		if !reflect.DeepEqual(i, again) {
			t.Fatalf("round trip changed %+v into %+v", i, again)
		}
	})
}

// FuzzParseRunArgs is FuzzParseInitArgs for the proxy's arguments.
func FuzzParseRunArgs(f *testing.F) {
	f.Add(strings.Join(minimalRun().Args(), "\x00"))
	f.Add(strings.Join(fullRun().Args(), "\x00"))
	f.Fuzz(func(t *testing.T, s string) {
		r, err := ParseRunArgs(strings.Split(s, "\x00"))
		if err != nil {
			return
		}
		again, err := ParseRunArgs(r.Args())
		if err != nil {
			t.Fatalf("re-parsing %q: %v", r.Args(), err)
		}
		if !reflect.DeepEqual(r, again) {
			t.Fatalf("round trip changed %+v into %+v", r, again)
		}
	})
}
