package channel

import (
	"cmp"
	"maps"
	"net/netip"
	"slices"

	corev1 "k8s.io/api/core/v1"
	discoveryv1 "k8s.io/api/discovery/v1"

	"github.com/meshctl/meshctl/pkg/channel"
	"github.com/meshctl/meshctl/pkg/identity"
	"github.com/meshctl/meshctl/pkg/meshconfig"
	"github.com/meshctl/meshctl/pkg/proxyconfig"
	"github.com/meshctl/meshctl/pkg/proxyconfig/wire"
)

// state is what a snapshot is built from: the informers' objects.
type state struct {
	// meshName is the mesh whose namespaces count.
	meshName string
	// trustDomain is that of every identity.
	trustDomain string
	// controllerID is this mesh's controller; a pod whose proxy was
	// injected to talk to it is meshed wherever it runs (`meshctl inject`
	// meshes pods of namespaces that are not enrolled). Zero: only pods of
	// enrolled namespaces are.
	controllerID identity.ID
	// issuer is the fingerprint of the issuer the controller signs with.
	issuer     string
	namespaces []*corev1.Namespace
	pods       []*corev1.Pod
	services   []*corev1.Service
	slices     []*discoveryv1.EndpointSlice
	// policy is what the policy is compiled from; nil when the server
	// sends none.
	policy *policyState
}

// build computes the content of the snapshot of st: a pure function of the
// objects, so that every replica that sees the same objects builds the same
// bytes.
func build(st state) channel.Content {
	enrolled := map[string]bool{}
	for _, ns := range st.namespaces {
		if ns.Labels[meshconfig.LabelMonitoredBy] == st.meshName {
			enrolled[ns.Name] = true
		}
	}
	pods := meshedPods(st.pods, enrolled, st.controllerID, st.trustDomain)
	// The Services of every namespace with a meshed pod, enrolled or not.
	withMeshed := maps.Clone(enrolled)
	for _, p := range pods {
		if id, err := identity.ParseID(p.Identity); err == nil {
			withMeshed[id.Namespace()] = true
		}
	}
	return channel.Content{
		Pods:     pods,
		Services: services(st.services, st.slices, withMeshed),
		Issuer:   st.issuer,
	}
}

// meshedPods are the pods whose proxies terminate mutual TLS, sorted by
// first IP. Two live pods may claim one IP for a moment (a pod on a lost
// node not yet deleted, and the new pod that got its IP): the one created
// last wins, as it is the one the network now routes to, with the name as
// a tie-break so that every replica decides alike.
func meshedPods(pods []*corev1.Pod, enrolled map[string]bool, controller identity.ID, td string) []channel.Pod {
	type candidate struct {
		pod *corev1.Pod
		out channel.Pod
	}
	var cands []candidate
	for _, p := range pods {
		if out, ok := meshedPod(p, enrolled, controller, td); ok {
			cands = append(cands, candidate{p, out})
		}
	}
	slices.SortFunc(cands, func(a, b candidate) int {
		if c := b.pod.CreationTimestamp.Compare(a.pod.CreationTimestamp.Time); c != 0 {
			return c
		}
		return cmp.Or(cmp.Compare(a.pod.Namespace, b.pod.Namespace), cmp.Compare(a.pod.Name, b.pod.Name))
	})
	claimed := map[netip.Addr]bool{}
	out := make([]channel.Pod, 0, len(cands))
	for _, c := range cands {
		ips := c.out.IPs[:0]
		for _, ip := range c.out.IPs {
			if !claimed[ip] {
				claimed[ip] = true
				ips = append(ips, ip)
			}
		}
		if len(ips) == 0 {
			continue
		}
		c.out.IPs = ips
		out = append(out, c.out)
	}
	slices.SortFunc(out, func(a, b channel.Pod) int { return a.IPs[0].Compare(b.IPs[0]) })
	return out
}

// meshedPod is p's entry when p is meshed: not on the host's network, not
// finished, with an IP, in an enrolled namespace or injected to talk to
// controller, and injected with a
// proxy that has an identity (--controller-id) and with the interception
// rules of mesh-proxy-init. The bypass ports are read from those rules'
// arguments, which are what the pod runs: the MeshConfig's exclusion list
// may have changed since the pod was injected, and the pod's annotation was
// merged into them at injection.
func meshedPod(p *corev1.Pod, enrolled map[string]bool, controller identity.ID, td string) (channel.Pod, bool) {
	switch {
	case p.Spec.HostNetwork, // its IP is the node's, shared by every such pod
		p.Status.Phase == corev1.PodSucceeded, p.Status.Phase == corev1.PodFailed: // its IP may be reused
		return channel.Pod{}, false
	}
	if _, ok := p.Annotations[meshconfig.AnnotationInjected]; !ok {
		return channel.Pod{}, false
	}
	ident := proxyconfig.IdentityOf(&p.Spec)
	if ident == nil {
		return channel.Pod{}, false
	}
	if !enrolled[p.Namespace] && (controller.IsZero() || ident.ControllerID != controller) {
		return channel.Pod{}, false
	}
	var rules *wire.Interception
	for i := range p.Spec.InitContainers {
		if c := &p.Spec.InitContainers[i]; c.Name == proxyconfig.InitContainerName {
			if in, err := wire.ParseInitArgs(c.Args); err == nil {
				rules = &in
			}
		}
	}
	if rules == nil {
		// Without the rules, inbound connections reach the app itself.
		return channel.Pod{}, false
	}
	sa := cmp.Or(p.Spec.ServiceAccountName, "default")
	id, err := identity.NewID(td, p.Namespace, sa)
	if err != nil {
		return channel.Pod{}, false
	}
	ips := podIPs(p)
	if len(ips) == 0 {
		return channel.Pod{}, false
	}
	bypass := []uint16{uint16(rules.AdminPort)}
	for _, port := range rules.SkipInboundPorts {
		bypass = append(bypass, uint16(port))
	}
	slices.Sort(bypass)
	return channel.Pod{IPs: ips, Identity: id.String(), BypassPorts: slices.Compact(bypass)}, true
}

// podIPs are p's IPs, one per family, canonical.
func podIPs(p *corev1.Pod) []netip.Addr {
	var ips []netip.Addr
	add := func(s string) {
		ip, err := netip.ParseAddr(s)
		if err != nil || ip.Zone() != "" || ip.IsUnspecified() {
			return
		}
		ip = ip.Unmap()
		if !slices.Contains(ips, ip) && len(ips) < 2 {
			ips = append(ips, ip)
		}
	}
	for _, pip := range p.Status.PodIPs {
		add(pip.IP)
	}
	add(p.Status.PodIP)
	return ips
}

// services are the Services of the enrolled namespaces with cluster IPs,
// and their TCP ports' ready endpoints, sorted by name. A Service selects
// pods of its own namespace, so one outside the mesh leads to no meshed
// pod: its address stays unknown and clients dial it as before, and the
// snapshot does not grow with the cluster's other Services.
func services(svcs []*corev1.Service, eps []*discoveryv1.EndpointSlice, enrolled map[string]bool) []channel.Service {
	byService := map[string][]*discoveryv1.EndpointSlice{}
	for _, s := range eps {
		if name := s.Labels[discoveryv1.LabelServiceName]; name != "" {
			key := s.Namespace + "/" + name
			byService[key] = append(byService[key], s)
		}
	}
	out := make([]channel.Service, 0, len(svcs))
	for _, svc := range svcs {
		if !enrolled[svc.Namespace] {
			continue
		}
		ips := clusterIPs(svc)
		if len(ips) == 0 {
			continue
		}
		name := svc.Namespace + "/" + svc.Name
		entry := channel.Service{Name: name, IPs: ips}
		for _, sp := range svc.Spec.Ports {
			if sp.Protocol != corev1.ProtocolTCP && sp.Protocol != "" || sp.Port < 1 || sp.Port > 65535 {
				continue
			}
			port := channel.ServicePort{Port: uint16(sp.Port), Endpoints: endpoints(byService[name], sp.Name)}
			if i, dup := slices.BinarySearchFunc(entry.Ports, port.Port, func(p channel.ServicePort, n uint16) int { return cmp.Compare(p.Port, n) }); !dup {
				entry.Ports = slices.Insert(entry.Ports, i, port)
			}
		}
		out = append(out, entry)
	}
	slices.SortFunc(out, func(a, b channel.Service) int { return cmp.Compare(a.Name, b.Name) })
	// Two Services cannot share a cluster IP, but a stale informer could
	// show it for a moment: the first by name keeps it, as the snapshot
	// must not list an IP twice.
	claimed := map[netip.Addr]bool{}
	kept := out[:0]
	for _, s := range out {
		ips := s.IPs[:0]
		for _, ip := range s.IPs {
			if !claimed[ip] {
				claimed[ip] = true
				ips = append(ips, ip)
			}
		}
		if len(ips) > 0 {
			s.IPs = ips
			kept = append(kept, s)
		}
	}
	return kept
}

// clusterIPs are svc's cluster IPs; none for a headless or ExternalName
// Service, whose clients dial pod IPs (which resolve as pods) or names.
func clusterIPs(svc *corev1.Service) []netip.Addr {
	if svc.Spec.Type == corev1.ServiceTypeExternalName {
		return nil
	}
	all := svc.Spec.ClusterIPs
	if len(all) == 0 && svc.Spec.ClusterIP != "" {
		all = []string{svc.Spec.ClusterIP}
	}
	var ips []netip.Addr
	for _, s := range all {
		ip, err := netip.ParseAddr(s)
		if err != nil || ip.Zone() != "" || ip.IsUnspecified() {
			continue // "None", or garbage
		}
		ip = ip.Unmap()
		if !slices.Contains(ips, ip) && len(ips) < 2 {
			ips = append(ips, ip)
		}
	}
	return ips
}

// endpoints are the ready endpoints of the port named portName in list,
// with its target port, sorted and without duplicates (an endpoint can be
// in two slices while the EndpointSlice controller moves it).
func endpoints(list []*discoveryv1.EndpointSlice, portName string) []netip.AddrPort {
	var out []netip.AddrPort
	for _, s := range list {
		if s.AddressType != discoveryv1.AddressTypeIPv4 && s.AddressType != discoveryv1.AddressTypeIPv6 {
			continue
		}
		target := uint16(0)
		for _, p := range s.Ports {
			if p.Port == nil || *p.Port < 1 || *p.Port > 65535 || p.Protocol != nil && *p.Protocol != corev1.ProtocolTCP {
				continue
			}
			if (p.Name == nil && portName == "") || (p.Name != nil && *p.Name == portName) {
				target = uint16(*p.Port)
				break
			}
		}
		if target == 0 {
			continue
		}
		for _, ep := range s.Endpoints {
			// A nil Ready is "unknown", which the API says to read as ready.
			if ep.Conditions.Ready != nil && !*ep.Conditions.Ready {
				continue
			}
			for _, a := range ep.Addresses {
				ip, err := netip.ParseAddr(a)
				if err != nil || ip.Zone() != "" || ip.IsUnspecified() {
					continue
				}
				out = append(out, netip.AddrPortFrom(ip.Unmap(), target))
			}
		}
	}
	slices.SortFunc(out, func(a, b netip.AddrPort) int { return a.Compare(b) })
	return slices.Compact(out)
}
