package policycli

import (
	"context"
	"fmt"
	"io"
	"net/netip"
	"net/textproto"
	"slices"
	"strconv"
	"strings"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/cli-runtime/pkg/genericiooptions"

	"github.com/meshctl/meshctl/pkg/cli"
	"github.com/meshctl/meshctl/pkg/identity"
	"github.com/meshctl/meshctl/pkg/kube"
	"github.com/meshctl/meshctl/pkg/meshconfig"
	"github.com/meshctl/meshctl/pkg/policy"
	"github.com/meshctl/meshctl/pkg/policy/crd"
)

// ExplainOptions are those of `meshctl policy explain`: would the mesh's
// proxies allow this request, and why.
type ExplainOptions struct {
	genericiooptions.IOStreams

	// Clients reaches the cluster. Complete sets it from the Factory; Run
	// calls it, so arguments are validated before a kubeconfig is loaded.
	Clients func() (*kube.Clients, error)
	// Mesh and MeshNamespace name the mesh.
	Mesh, MeshNamespace string
	// Namespace is the namespace of KIND/NAME endpoints: -n, or the
	// kubeconfig context's.
	Namespace string

	// From and To are the caller and the destination (ParseEndpoint).
	From, To string
	// Port is the destination port: the Service's port when To is a
	// Service (0: its only one), else the pod's port. Required otherwise.
	Port int
	// TCP explains an opaque TCP connection instead of an HTTP request.
	TCP bool
	// Method, Path and Headers are the HTTP request's; Method defaults to
	// GET and Path to "/". A "Host: x" header sets the request's host.
	Method, Path string
	Headers      []string
	// Output is table, json or yaml.
	Output cli.Format

	// Read reads and compiles the mesh's policy; nil is Read. A caller
	// explaining many requests reads the cluster once.
	Read func(ctx context.Context, c *kube.Clients, mesh, meshNamespace string) (*Snapshot, error)

	from, to Endpoint
	header   policy.HeaderMap
	host     string
}

// Complete takes the mesh, the namespace and the clients.
func (o *ExplainOptions) Complete(f cli.Factory, _ []string) error {
	s := f.Settings()
	o.Mesh, o.MeshNamespace = s.MeshName, s.MeshNamespace
	ns, err := cli.ContextNamespace(f)
	if err != nil {
		return err
	}
	o.Namespace = ns
	o.Clients = f.Clients
	return nil
}

// Validate parses the endpoints and the request without a cluster.
func (o *ExplainOptions) Validate() error {
	if o.From == "" || o.To == "" {
		return cli.UsageErrorf("--from and --to are required: %s", EndpointSyntax)
	}
	var err error
	if o.from, err = ParseEndpoint(o.From, o.Namespace); err != nil {
		return cli.UsageErrorf("--from %w", err)
	}
	if o.to, err = ParseEndpoint(o.To, o.Namespace); err != nil {
		return cli.UsageErrorf("--to %w", err)
	}
	if o.from.Kind == EndpointService {
		return cli.UsageErrorf("--from %s: a Service makes no requests; name the caller's ServiceAccount (NS/SA) or pod (pod/NAME)", o.From)
	}
	if o.to.Kind == EndpointIP {
		return cli.UsageErrorf("--to %s: policy protects meshed pods; name a ServiceAccount, pod or Service", o.To)
	}
	if o.Port < 0 || o.Port > 65535 {
		return cli.UsageErrorf("--port %d: want 1-65535", o.Port)
	}
	if o.Port == 0 && o.to.Kind != EndpointService {
		return cli.UsageErrorf("--port is required with --to %s: the pods' port the request reaches (a TrafficTarget, TCPRoute or IngressBackend may name one)", o.To)
	}
	if o.TCP {
		if o.Method != "" || o.Path != "" || len(o.Headers) > 0 {
			return cli.UsageErrorf("--tcp explains a connection: --method, --path and --header are for HTTP requests")
		}
		return nil
	}
	if o.Method == "" {
		o.Method = "GET"
	}
	if !policy.IsToken(o.Method) {
		return cli.UsageErrorf("--method %q is not an HTTP method", o.Method)
	}
	if o.Path == "" {
		o.Path = "/"
	}
	o.header = policy.HeaderMap{}
	for _, h := range o.Headers {
		name, value, ok := strings.Cut(h, ":")
		if !ok || !policy.IsToken(name) {
			return cli.UsageErrorf("--header %q: want 'Name: value'", h)
		}
		name = textproto.CanonicalMIMEHeaderKey(name)
		value = strings.Trim(value, " \t")
		if strings.ContainsAny(value, "\r\n\x00") {
			return cli.UsageErrorf("--header %q: a value may not hold CR, LF or NUL", h)
		}
		if name == "Host" {
			if o.host != "" {
				return cli.UsageErrorf("--header %q: a request has one Host", h)
			}
			o.host = value
		}
		o.header[name] = append(o.header[name], value)
	}
	return nil
}

// Run reads and compiles the mesh's policy, resolves the endpoints, and
// explains the request to every destination identity.
func (o *ExplainOptions) Run(ctx context.Context) error {
	c, err := o.Clients()
	if err != nil {
		return err
	}
	read := o.Read
	if read == nil {
		read = Read
	}
	snap, err := read(ctx, c, o.Mesh, o.MeshNamespace)
	if err != nil {
		return err
	}
	x, err := o.explain(snap)
	if err != nil {
		return err
	}
	for _, n := range x.Notes {
		fmt.Fprintln(o.ErrOut, "Note: "+n)
	}
	if len(snap.Findings) > 0 {
		fmt.Fprintf(o.ErrOut, "Note: the mesh's policy has %d findings (objects or parts of them that allow nothing): see meshctl check.\n", len(snap.Findings))
	}
	return cli.Write(o.Out, o.Output, x)
}

// Explanation is what `meshctl policy explain` prints.
type Explanation struct {
	// Permissive is the mesh's permissive mode.
	Permissive bool `json:"permissive"`
	// Source is the caller.
	Source Source `json:"source"`
	// Request is what was explained.
	Request Request `json:"request"`
	// Destinations are the destination identities, with the decision on
	// each: one, unless --to is a Service with pods of several
	// ServiceAccounts.
	Destinations []Destination `json:"destinations"`
	// Notes are caveats about the endpoints (a pod without sidecar, a
	// ServiceAccount that does not exist), printed on stderr.
	Notes []string `json:"notes,omitempty"`
}

// Source is the caller as the destination's proxy sees it.
type Source struct {
	// Endpoint is --from, canonical.
	Endpoint string `json:"endpoint"`
	// Identity is the verified identity; empty for plain text.
	Identity string `json:"identity,omitempty"`
	// IP is the caller's address, when known (a pod, ip/ADDR).
	IP string `json:"ip,omitempty"`
}

// Request is the request or connection explained.
type Request struct {
	// Protocol is "http" or "tcp".
	Protocol string `json:"protocol"`
	Method   string `json:"method,omitempty"`
	// Target is the request-target as given.
	Target string              `json:"target,omitempty"`
	Header map[string][]string `json:"header,omitempty"`
}

// Destination is one destination identity and the evaluator's
// explanation of the request to it.
type Destination struct {
	// Identity is the destination's workload identity.
	Identity string `json:"identity"`
	// Port is the pod's port the request reaches.
	Port uint16 `json:"port"`
	// Service and ServicePort are the Service resolved, when --to named
	// one.
	Service     string `json:"service,omitempty"`
	ServicePort int    `json:"servicePort,omitempty"`
	policy.Explanation
}

// target is one resolved destination.
type target struct {
	id          identity.ID
	port        uint16
	service     string
	servicePort int
}

func (o *ExplainOptions) explain(snap *Snapshot) (*Explanation, error) {
	x := &Explanation{Permissive: snap.Set.Permissive}
	src, ip, err := o.source(snap, x)
	if err != nil {
		return nil, err
	}
	x.Source = Source{Endpoint: o.from.String(), Identity: src.String()}
	if ip.IsValid() {
		x.Source.IP = ip.String()
	}
	targets, err := o.destinations(snap, x)
	if err != nil {
		return nil, err
	}
	if o.TCP {
		x.Request = Request{Protocol: "tcp"}
	} else {
		x.Request = Request{Protocol: "http", Method: o.Method, Target: o.Path, Header: o.header}
		if len(o.header) == 0 {
			x.Request.Header = nil
		}
	}
	for _, t := range targets {
		p := snap.Set.For(t.id)
		d := Destination{Identity: t.id.String(), Port: t.port, Service: t.service, ServicePort: t.servicePort}
		if o.TCP {
			d.Explanation = p.ExplainTCP(src, ip, t.port)
		} else {
			d.Explanation = p.ExplainHTTP(&policy.Request{Source: src, SourceIP: ip, Port: t.port, Method: o.Method, Host: o.host, Target: o.Path, Header: o.header})
		}
		x.Destinations = append(x.Destinations, d)
	}
	return x, nil
}

// source resolves --from to the identity and address the destination's
// proxy would see.
func (o *ExplainOptions) source(snap *Snapshot, x *Explanation) (identity.ID, netip.Addr, error) {
	switch o.from.Kind {
	case EndpointIP:
		return identity.ID{}, o.from.IP, nil
	case EndpointPod:
		pod := findPod(snap, o.from.Namespace, o.from.Name)
		if pod == nil {
			return identity.ID{}, netip.Addr{}, fmt.Errorf("--from: pod %q not found", o.from.Namespace+"/"+o.from.Name)
		}
		ip, _ := netip.ParseAddr(pod.Status.PodIP)
		if !meshed(pod) {
			// Without a sidecar the pod has no certificate: its calls
			// arrive in plain text, whatever its ServiceAccount.
			x.Notes = append(x.Notes, fmt.Sprintf("pod %q has no sidecar: it calls without a mesh identity, as plain text", pod.Namespace+"/"+pod.Name))
			return identity.ID{}, ip, nil
		}
		id, err := podID(snap, pod)
		return id, ip, err
	}
	id, err := o.saID(snap, o.from, "--from", x)
	return id, netip.Addr{}, err
}

func (o *ExplainOptions) saID(snap *Snapshot, e Endpoint, flag string, x *Explanation) (identity.ID, error) {
	td := snap.Objects.TrustDomain
	if e.TrustDomain != "" && e.TrustDomain != td {
		return identity.ID{}, fmt.Errorf("%s %s: trust domain %q is not the mesh's (%q): no proxy of this mesh holds or accepts that identity", flag, e.String(), e.TrustDomain, td)
	}
	id, err := identity.NewID(td, e.Namespace, e.Name)
	if err != nil {
		return identity.ID{}, fmt.Errorf("%s %s: %w", flag, e.String(), err)
	}
	if !slices.ContainsFunc(snap.Objects.ServiceAccounts, func(sa *corev1.ServiceAccount) bool {
		return sa.Namespace == e.Namespace && sa.Name == e.Name
	}) {
		x.Notes = append(x.Notes, fmt.Sprintf("ServiceAccount %q does not exist", e.Namespace+"/"+e.Name))
	}
	return id, nil
}

// destinations resolves --to to identities and the pods' port.
func (o *ExplainOptions) destinations(snap *Snapshot, x *Explanation) ([]target, error) {
	switch o.to.Kind {
	case EndpointPod:
		pod := findPod(snap, o.to.Namespace, o.to.Name)
		if pod == nil {
			return nil, fmt.Errorf("--to: pod %q not found", o.to.Namespace+"/"+o.to.Name)
		}
		if !meshed(pod) {
			x.Notes = append(x.Notes, fmt.Sprintf("pod %q has no sidecar: nothing enforces policy on it; shown is what a meshed pod of its ServiceAccount would decide", pod.Namespace+"/"+pod.Name))
		}
		id, err := podID(snap, pod)
		return []target{{id: id, port: uint16(o.Port)}}, err
	case EndpointService:
		return o.serviceTargets(snap)
	}
	id, err := o.saID(snap, o.to, "--to", x)
	return []target{{id: id, port: uint16(o.Port)}}, err
}

// serviceTargets resolves a Service as the controller resolves an
// IngressBackend's (crd.Service, from its EndpointSlices): its port to the
// pods' port it targets, and the identities of the pods behind it.
func (o *ExplainOptions) serviceTargets(snap *Snapshot) ([]target, error) {
	name := o.to.Namespace + "/" + o.to.Name
	i := slices.IndexFunc(snap.Services, func(s crd.Service) bool { return s.Namespace == o.to.Namespace && s.Name == o.to.Name })
	if i < 0 {
		return nil, fmt.Errorf("--to: service %q not found", name)
	}
	svc := snap.Services[i]
	var ports []string
	var sp crd.ServicePort
	for _, p := range svc.Ports {
		ports = append(ports, strconv.Itoa(p.Port))
		if p.Port == o.Port || o.Port == 0 && len(svc.Ports) == 1 {
			sp = p
		}
	}
	switch {
	case len(svc.Ports) == 0:
		return nil, fmt.Errorf("--to: service %q has no TCP port", name)
	case sp.Port == 0 && o.Port == 0:
		return nil, cli.UsageErrorf("--to: service %q has ports %s: pass --port", name, strings.Join(ports, ", "))
	case sp.Port == 0:
		return nil, cli.UsageErrorf("--port %d: service %q has ports %s", o.Port, name, strings.Join(ports, ", "))
	}
	if len(svc.Identities) == 0 {
		return nil, fmt.Errorf("--to: service %q has no endpoints with pods, so no identity to explain: name the destination's ServiceAccount (NS/SA) instead", name)
	}
	out := make([]target, len(svc.Identities))
	for i, id := range svc.Identities {
		out[i] = target{id: id, port: uint16(sp.TargetPort), service: name, servicePort: sp.Port}
	}
	return out, nil
}

func findPod(snap *Snapshot, ns, name string) *corev1.Pod {
	for _, p := range snap.Objects.Pods {
		if p.Namespace == ns && p.Name == name {
			return p
		}
	}
	return nil
}

// meshed says whether pod carries the injection marker, as the controller
// requires of a meshed pod.
func meshed(pod *corev1.Pod) bool {
	_, ok := pod.Annotations[meshconfig.AnnotationInjected]
	return ok
}

func podID(snap *Snapshot, pod *corev1.Pod) (identity.ID, error) {
	sa := pod.Spec.ServiceAccountName
	if sa == "" {
		sa = "default"
	}
	id, err := identity.NewID(snap.Objects.TrustDomain, pod.Namespace, sa)
	if err != nil {
		return identity.ID{}, fmt.Errorf("pod %q: %w", pod.Namespace+"/"+pod.Name, err)
	}
	return id, nil
}

// DecisionString is a decision for a person: "allowed by TrafficTarget
// bookstore/bookstore-buy rule 0 (match "buy")", "denied (no-rule-matched)".
func DecisionString(d policy.Decision) string {
	if !d.Allow {
		return fmt.Sprintf("denied (%s)", d.Reason)
	}
	switch d.Kind {
	case policy.KindTrafficTarget:
		s := fmt.Sprintf("allowed by TrafficTarget %s rule %d", d.Name, d.Rule)
		if d.Match != "" {
			s += fmt.Sprintf(" (match %q)", d.Match)
		}
		return s
	case policy.KindIngressBackend:
		return fmt.Sprintf("allowed by IngressBackend %s (backend %s)", d.Name, d.Match)
	}
	return fmt.Sprintf("allowed (%s)", d.Reason)
}

// WriteTable writes the request, then for each destination its decision
// and the steps that led to it.
func (x *Explanation) WriteTable(out io.Writer) error {
	src := x.Source.Identity
	if src == "" {
		src = "no identity (plain text)"
	}
	if x.Source.IP != "" {
		src += " from " + x.Source.IP
	}
	req := "TCP connection"
	if x.Request.Protocol == "http" {
		req = x.Request.Method + " " + x.Request.Target
		for _, k := range sortedKeys(x.Request.Header) {
			for _, v := range x.Request.Header[k] {
				req += fmt.Sprintf(" [%s: %s]", k, v)
			}
		}
	}
	fmt.Fprintf(out, "SOURCE:   %s\nREQUEST:  %s\n", src, req)
	for _, d := range x.Destinations {
		dst := fmt.Sprintf("%s port %d", d.Identity, d.Port)
		if d.Service != "" {
			dst += fmt.Sprintf(" (service %s port %d)", d.Service, d.ServicePort)
		}
		fmt.Fprintf(out, "\nDESTINATION:  %s\n", dst)
		if d.Path != "" && d.Path != x.Request.Target {
			fmt.Fprintf(out, "PATH:         %s (normalized)\n", d.Path)
		}
		if d.Host != "" {
			fmt.Fprintf(out, "HOST:         %s (normalized)\n", d.Host)
		}
		fmt.Fprintf(out, "DECISION:     %s\n\n", DecisionString(d.Decision))
		rows := make([][]string, len(d.Steps))
		for i, s := range d.Steps {
			obj := s.Kind
			if s.Name != "" {
				obj += " " + s.Name
			}
			rule := "-"
			if s.Kind == policy.KindTrafficTarget && s.Route != "" {
				rule = strconv.Itoa(s.Rule)
			}
			allows := "no"
			if s.Allows {
				allows = "yes"
			}
			rows[i] = []string{obj, rule, orDash(s.Route), allows, s.Why}
		}
		if err := cli.WriteTable(out, []string{"OBJECT", "RULE", "ROUTE", "ALLOWS", "WHY"}, rows); err != nil {
			return err
		}
	}
	return nil
}

// WriteJSON writes the explanation as one JSON document.
func (x *Explanation) WriteJSON(out io.Writer) error { return cli.EncodeJSON(out, x) }

// WriteYAML writes the explanation as one YAML document.
func (x *Explanation) WriteYAML(out io.Writer) error { return cli.EncodeYAML(out, x) }

func orDash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}

func sortedKeys(m map[string][]string) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	return keys
}
