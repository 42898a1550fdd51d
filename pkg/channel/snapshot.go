package channel

import (
	"encoding/json"
	"fmt"
	"net/netip"
	"time"

	"github.com/meshctl/meshctl/pkg/identity"
)

// Limits a snapshot is held to, beyond its size in bytes.
const (
	// maxIPsPerObject: a pod or a Service has one IP per family.
	maxIPsPerObject = 2
	// maxServiceName is a namespace (63), '/', and a Service name (63).
	maxServiceName = 63 + 1 + 63
)

// Snapshot is a validated snapshot: its version, its content, and the
// identities of its pods parsed once.
type Snapshot struct {
	// Version identifies the content.
	Version Version
	// Content is what it says.
	Content Content
	// Bytes is the content's encoded size, when it was decoded.
	Bytes int

	ids []identity.ID // of Content.Pods, in order
}

// NewSnapshot validates c: every IP valid and canonical (no zone, no
// IPv4-mapped IPv6), no IP claimed by two pods or by two Services, every
// identity a mesh workload ID, every port non-zero and unique where the
// type says so. Errors name the object.
func NewSnapshot(v Version, c Content) (*Snapshot, error) {
	s := &Snapshot{Version: v, Content: c, ids: make([]identity.ID, len(c.Pods))}
	if !isFingerprint(c.Issuer) {
		return nil, fmt.Errorf("snapshot %s: issuer %.80q: want a SHA-256 fingerprint, 64 lower-case hex digits", v, c.Issuer)
	}
	seen := make(map[netip.Addr]struct{}, len(c.Pods))
	for i, p := range c.Pods {
		id, err := identity.ParseID(p.Identity)
		if err != nil {
			return nil, fmt.Errorf("snapshot %s: pod %d: %w", v, i, err)
		}
		s.ids[i] = id
		if err := checkIPs(p.IPs, seen); err != nil {
			return nil, fmt.Errorf("snapshot %s: pod %d (%s): %w", v, i, id, err)
		}
		for j, port := range p.BypassPorts {
			if port == 0 {
				return nil, fmt.Errorf("snapshot %s: pod %d (%s): bypass port 0", v, i, id)
			}
			if j > 0 && port <= p.BypassPorts[j-1] {
				return nil, fmt.Errorf("snapshot %s: pod %d (%s): bypass ports not sorted and distinct", v, i, id)
			}
		}
	}
	clear(seen)
	for i, svc := range c.Services {
		if svc.Name == "" || len(svc.Name) > maxServiceName {
			return nil, fmt.Errorf("snapshot %s: service %d: name %.140q: want namespace/name", v, i, svc.Name)
		}
		if err := checkIPs(svc.IPs, seen); err != nil {
			return nil, fmt.Errorf("snapshot %s: service %q: %w", v, svc.Name, err)
		}
		for j, sp := range svc.Ports {
			if sp.Port == 0 {
				return nil, fmt.Errorf("snapshot %s: service %q: port 0", v, svc.Name)
			}
			if j > 0 && sp.Port <= svc.Ports[j-1].Port {
				return nil, fmt.Errorf("snapshot %s: service %q: ports not sorted and distinct", v, svc.Name)
			}
			for _, ep := range sp.Endpoints {
				if err := checkIP(ep.Addr()); err != nil || ep.Port() == 0 {
					return nil, fmt.Errorf("snapshot %s: service %q port %d: endpoint %q is not an IP and port", v, svc.Name, sp.Port, ep)
				}
			}
		}
	}
	return s, nil
}

// ID is the parsed identity of Content.Pods[i].
func (s *Snapshot) ID(i int) identity.ID { return s.ids[i] }

// isFingerprint: empty, or identity.Fingerprint's shape.
func isFingerprint(s string) bool {
	if s == "" {
		return true
	}
	if len(s) != 64 {
		return false
	}
	for i := range len(s) {
		if c := s[i]; (c < '0' || c > '9') && (c < 'a' || c > 'f') {
			return false
		}
	}
	return true
}

func checkIPs(ips []netip.Addr, seen map[netip.Addr]struct{}) error {
	if len(ips) == 0 || len(ips) > maxIPsPerObject {
		return fmt.Errorf("%d IPs, want 1 to %d", len(ips), maxIPsPerObject)
	}
	for _, ip := range ips {
		if err := checkIP(ip); err != nil {
			return err
		}
		if _, dup := seen[ip]; dup {
			return fmt.Errorf("IP %s is listed twice", ip)
		}
		seen[ip] = struct{}{}
	}
	return nil
}

func checkIP(ip netip.Addr) error {
	switch {
	case !ip.IsValid():
		return fmt.Errorf("no IP")
	case ip.Zone() != "":
		return fmt.Errorf("IP %s has a zone", ip)
	case ip.Is4In6():
		return fmt.Errorf("IP %s is IPv4-mapped", ip)
	case ip.IsUnspecified():
		return fmt.Errorf("IP %s is unspecified", ip)
	}
	return nil
}

// EncodeContent is c's canonical encoding, the bytes Version.Hash is
// computed over. The caller sorts c's lists (see Content); the encoding is
// otherwise deterministic.
func EncodeContent(c *Content) ([]byte, error) {
	b, err := json.Marshal(c)
	if err != nil {
		return nil, fmt.Errorf("encoding snapshot content: %w", err)
	}
	return b, nil
}

// SnapshotLine is the line of a snapshot message with content (from
// EncodeContent) generated at generated, and its version.
func SnapshotLine(content []byte, generated time.Time) ([]byte, Version, error) {
	v := Version{Hash: HashContent(content), Generated: generated.UTC()}
	line, err := encodeLine(Message{Type: TypeSnapshot, Version: v, Content: content})
	return line, v, err
}

// HeartbeatLine is the line of a heartbeat after the snapshot of version v.
func HeartbeatLine(v Version) []byte {
	line, err := encodeLine(Message{Type: TypeHeartbeat, Version: v})
	if err != nil {
		// A Version always encodes.
		panic(err)
	}
	return line
}

func encodeLine(m Message) ([]byte, error) {
	b, err := json.Marshal(m)
	if err != nil {
		return nil, fmt.Errorf("encoding a %s message: %w", m.Type, err)
	}
	b = append(b, '\n')
	if len(b) > MaxMessageBytes {
		return nil, fmt.Errorf("%w: a %s message of %d bytes, the most is %d", ErrMessageTooLarge, m.Type, len(b), MaxMessageBytes)
	}
	return b, nil
}
