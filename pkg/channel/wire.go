package channel

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"net/netip"
	"time"
)

// The wire constants, shared by both sides.
const (
	// Path is the one path the channel is served on.
	Path = "/v1/channel"
	// ContentType is the response's type: newline-delimited JSON, one
	// Message per line.
	ContentType = "application/x-ndjson"
	// MaxMessageBytes bounds one line, newline included. A pod entry is
	// about 120 bytes and a Service with a few ports and endpoints about
	// 300, so this holds tens of thousands of each; a decoder refuses a
	// longer line without buffering it whole.
	MaxMessageBytes = 16 << 20
	// HeartbeatInterval is the longest the controller stays silent on a
	// stream: it writes a heartbeat when nothing else was written for
	// that long.
	HeartbeatInterval = 10 * time.Second
	// DeadAfter is how long a proxy waits without receiving a line before
	// it considers the controller gone and reconnects: three heartbeats,
	// so one delayed heartbeat is not a failure.
	DeadAfter = 3 * HeartbeatInterval
)

// MessageType says what a Message carries.
type MessageType string

// The message types of /v1/channel.
const (
	// TypeSnapshot carries a full Content: it replaces everything the
	// proxy had.
	TypeSnapshot MessageType = "snapshot"
	// TypeHeartbeat carries no content, only the version of the last
	// snapshot the controller sent on this stream.
	TypeHeartbeat MessageType = "heartbeat"
)

// Message is one line of the stream, as it is on the wire.
type Message struct {
	// Type says what the message carries.
	Type MessageType `json:"type"`
	// Version is the snapshot's version (TypeSnapshot), or that of the
	// last snapshot sent (TypeHeartbeat).
	Version Version `json:"version"`
	// Content is the snapshot's content, exactly the bytes Version.Hash
	// was computed over; only with TypeSnapshot.
	Content json.RawMessage `json:"content,omitempty"`
}

// Version identifies a snapshot across controller replicas and restarts.
//
// Hash is "sha256:" and the hex SHA-256 of the content's bytes as sent.
// Every replica encodes the same cluster state to the same bytes (sorted
// lists, fixed field order), so two snapshots with the same Hash have the
// same content, whichever replica built them and whenever: a proxy that
// reconnects to another replica and receives the Hash it already holds has
// nothing to change. Different hashes say only that the contents differ,
// not which is newer.
//
// Generated is when the replica that sent it first built this content.
// Replicas build at slightly different moments and their clocks may
// differ, so Generated orders snapshots of one replica only; a proxy must
// never refuse a snapshot because its Generated is earlier than the one it
// holds (the controller it is connected to is the authority of the
// moment, and a replica whose informers lag catches up by itself).
type Version struct {
	Hash      string    `json:"hash"`
	Generated time.Time `json:"generated"`
}

// String is a short form for logs and the proxy's admin endpoint: the
// hash's first 12 hex digits and the generation time.
func (v Version) String() string {
	h := v.Hash
	if len(h) > len(hashPrefix)+12 {
		h = h[:len(hashPrefix)+12]
	}
	return h + "@" + v.Generated.UTC().Format(time.RFC3339Nano)
}

// hashPrefix starts every Version.Hash.
const hashPrefix = "sha256:"

// HashContent is the Version.Hash of content's bytes.
func HashContent(content []byte) string {
	sum := sha256.Sum256(content)
	return hashPrefix + hex.EncodeToString(sum[:])
}

// Content is what a snapshot says: the facts every proxy needs about the
// mesh. Lists are sorted (pods by first IP, Services by name) so that equal
// states encode to equal bytes.
type Content struct {
	// Pods are the meshed pods. A pod IP not listed here is not meshed
	// (no proxy, a proxy injected without identity, a namespace outside
	// the mesh), and a client speaks plain text to it.
	Pods []Pod `json:"pods"`
	// Services are the ClusterIP Services and their ready endpoints.
	Services []Service `json:"services"`
	// Issuer is identity.Fingerprint of the certificate the controller
	// signs with; empty while it has none. A proxy whose certificate came
	// from another issuer renews it early, within seconds rather than at
	// two thirds of its lifetime, so that an issuer rotation completes
	// while the old issuer is still trusted.
	Issuer string `json:"issuer,omitempty"`
	// PolicyV1 is reserved for the authorization policy of the proxy's
	// own identity (issue #17); controllers send nothing here yet and
	// decoders ignore it.
	PolicyV1 json.RawMessage `json:"policy.v1,omitempty"`
	// SettingsV1 holds the MeshConfig settings that apply without a
	// restart, a Settings; absent from a controller that sends none, and
	// then every setting keeps its default.
	SettingsV1 json.RawMessage `json:"settings.v1,omitempty"`
}

// Pod is a meshed pod: one whose proxy terminates mutual TLS on every
// inbound port except BypassPorts.
type Pod struct {
	// IPs are the pod's IPs (one per family); no two pods share one.
	IPs []netip.Addr `json:"ips"`
	// Identity is the pod's SPIFFE ID (identity.ID's string form): the
	// only identity a client may accept from it.
	Identity string `json:"identity"`
	// BypassPorts are the pod's inbound ports that its interception rules
	// leave alone (the MeshConfig's inbound exclusion list and the pod's
	// config.meshctl.io/skip-inbound-ports when it was injected, and the
	// proxy's admin port): nothing terminates TLS there, so a client
	// speaks plain text to them. Sorted, without duplicates.
	BypassPorts []uint16 `json:"bypassPorts,omitempty"`
}

// Service is a Service with one or more cluster IPs.
type Service struct {
	// Name is "namespace/name", for logs and diagnostics.
	Name string `json:"name"`
	// IPs are the Service's cluster IPs.
	IPs []netip.Addr `json:"ips"`
	// Ports are its TCP ports. Sorted by Port, without duplicates.
	Ports []ServicePort `json:"ports"`
}

// ServicePort is one port of a Service and where its connections go.
type ServicePort struct {
	// Port is the Service's port.
	Port uint16 `json:"port"`
	// Endpoints are the ready endpoints behind Port, with their target
	// ports (an endpoint's identity is that of its IP in Content.Pods).
	// Sorted.
	Endpoints []netip.AddrPort `json:"endpoints"`
}
