package policycli

import (
	"fmt"
	"net/netip"
	"strings"

	"k8s.io/apimachinery/pkg/util/validation"

	"github.com/meshctl/meshctl/pkg/identity"
)

// EndpointKind is what an --from or --to argument names.
type EndpointKind int

// The kinds of endpoint.
const (
	// EndpointServiceAccount is a workload identity: NS/SA, sa/NAME,
	// NS/sa/NAME or a SPIFFE ID.
	EndpointServiceAccount EndpointKind = iota + 1
	// EndpointPod is a pod, which stands for its ServiceAccount (and, as
	// a source, its address): pod/NAME or NS/pod/NAME.
	EndpointPod
	// EndpointService is a Service, which stands for the identities of
	// its endpoints' pods: svc/NAME or NS/svc/NAME. A destination only.
	EndpointService
	// EndpointIP is a caller without mesh identity (plain text) at an
	// address: ip/ADDR. A source only.
	EndpointIP
)

func (k EndpointKind) String() string {
	switch k {
	case EndpointServiceAccount:
		return "serviceaccount"
	case EndpointPod:
		return "pod"
	case EndpointService:
		return "service"
	case EndpointIP:
		return "ip"
	}
	return "unknown"
}

// kindWords are the words an endpoint's KIND may be spelled with, as
// kubectl abbreviates resources.
var kindWords = map[string]EndpointKind{
	"sa": EndpointServiceAccount, "serviceaccount": EndpointServiceAccount,
	"pod": EndpointPod, "po": EndpointPod,
	"svc": EndpointService, "service": EndpointService,
	"ip": EndpointIP,
}

// Endpoint is a parsed --from or --to argument.
type Endpoint struct {
	Kind EndpointKind
	// Namespace and Name name the ServiceAccount, pod or Service.
	Namespace, Name string
	// TrustDomain is the SPIFFE ID's, when the argument was one.
	TrustDomain string
	// IP is EndpointIP's address.
	IP netip.Addr
}

// String is the endpoint in its canonical spelling.
func (e Endpoint) String() string {
	switch e.Kind {
	case EndpointIP:
		return "ip/" + e.IP.String()
	case EndpointServiceAccount:
		if _, ok := kindWords[e.Namespace]; !ok {
			return e.Namespace + "/" + e.Name
		}
	}
	return e.Namespace + "/" + kindShort(e.Kind) + "/" + e.Name
}

// EndpointSyntax is the forms ParseEndpoint accepts, for usage errors and
// help.
const EndpointSyntax = "NS/SA, sa/NAME, pod/NAME, svc/NAME, NS/KIND/NAME (KIND: sa, pod, svc), spiffe://TD/ns/NS/sa/SA or ip/ADDR"

// ParseEndpoint parses the argument of --from or --to. The forms:
//
//	NS/SA                    the ServiceAccount SA of namespace NS
//	KIND/NAME                NAME in namespace ns (the -n flag, or the
//	                         kubeconfig context's); KIND is sa
//	                         (serviceaccount), pod (po) or svc (service)
//	NS/KIND/NAME             the same, in namespace NS
//	spiffe://TD/ns/NS/sa/SA  a workload identity
//	ip/ADDR                  a caller without identity at ADDR
//
// Two parts whose first is a KIND word are KIND/NAME: a namespace named
// like one (a namespace "pod") is written NS/sa/NAME. A bare NAME is
// refused rather than guessed.
func ParseEndpoint(s, ns string) (Endpoint, error) {
	if strings.HasPrefix(s, "spiffe://") {
		id, err := identity.ParseID(s)
		if err != nil {
			return Endpoint{}, fmt.Errorf("%q: %w", s, err)
		}
		return Endpoint{Kind: EndpointServiceAccount, Namespace: id.Namespace(), Name: id.ServiceAccount(), TrustDomain: id.TrustDomain()}, nil
	}
	parts := strings.Split(s, "/")
	var e Endpoint
	switch len(parts) {
	case 2:
		if k, ok := kindWords[parts[0]]; ok {
			if k == EndpointIP {
				ip, err := netip.ParseAddr(parts[1])
				if err != nil || ip.Zone() != "" {
					return Endpoint{}, fmt.Errorf("%q: %q is not an IP address", s, parts[1])
				}
				return Endpoint{Kind: EndpointIP, IP: ip.Unmap()}, nil
			}
			e = Endpoint{Kind: k, Namespace: ns, Name: parts[1]}
		} else {
			e = Endpoint{Kind: EndpointServiceAccount, Namespace: parts[0], Name: parts[1]}
		}
	case 3:
		k, ok := kindWords[parts[1]]
		if !ok || k == EndpointIP {
			return Endpoint{}, fmt.Errorf("%q: kind %q: want sa, pod or svc", s, parts[1])
		}
		e = Endpoint{Kind: k, Namespace: parts[0], Name: parts[2]}
	default:
		return Endpoint{}, fmt.Errorf("%q: want %s", s, EndpointSyntax)
	}
	if e.Namespace == "" {
		return Endpoint{}, fmt.Errorf("%q: no namespace: pass -n or write NS/%s/%s", s, kindShort(e.Kind), e.Name)
	}
	if errs := validation.IsDNS1123Label(e.Namespace); len(errs) > 0 {
		return Endpoint{}, fmt.Errorf("%q: namespace %q: %s", s, e.Namespace, errs[0])
	}
	if errs := validation.IsDNS1123Subdomain(e.Name); len(errs) > 0 {
		return Endpoint{}, fmt.Errorf("%q: name %q: %s", s, e.Name, errs[0])
	}
	if e.Kind == EndpointService {
		if errs := validation.IsDNS1035Label(e.Name); len(errs) > 0 {
			return Endpoint{}, fmt.Errorf("%q: service name %q: %s", s, e.Name, errs[0])
		}
	}
	return e, nil
}

func kindShort(k EndpointKind) string {
	switch k {
	case EndpointPod:
		return "pod"
	case EndpointService:
		return "svc"
	}
	return "sa"
}
