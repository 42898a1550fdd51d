package meshtls

import (
	"crypto/tls"
	"errors"
	"io"
	"net"
	"strings"
	"syscall"

	"github.com/meshctl/meshctl/pkg/identity"
)

// ResultOK is the result of a handshake that succeeded.
const ResultOK = "ok"

// peerReasons are identity's refusals of a peer, with their labels.
// Read only.
var peerReasons = [...]struct {
	reason identity.Reason
	label  string
}{
	{identity.ReasonNoPeerCertificate, "no_peer_certificate"},
	{identity.ReasonPeerMalformed, "peer_malformed"},
	{identity.ReasonLeafExpired, "leaf_expired"},
	{identity.ReasonLeafNotYetValid, "leaf_not_yet_valid"},
	{identity.ReasonLeafIsCA, "leaf_is_ca"},
	{identity.ReasonLeafKeyUsage, "leaf_key_usage"},
	{identity.ReasonLeafURICount, "leaf_uri_count"},
	{identity.ReasonLeafID, "leaf_id"},
	{identity.ReasonTrustDomain, "trust_domain"},
	{identity.ReasonUntrusted, "untrusted"},
	{identity.ReasonNoBundle, "no_bundle"},
	{identity.ReasonNoCertificate, "no_certificate"},
	{identity.ReasonALPN, "alpn"},
	{identity.ReasonPeerIdentity, "peer_identity"},
}

// Reason is the result label of a handshake that ended with err: ResultOK
// for nil; for a refusal, identity's reason in snake case (leaf_expired,
// untrusted, trust_domain, peer_identity, ...); otherwise one of
// no_peer_certificate (a client sent none), version (no TLS 1.3),
// remote_refused (the peer sent an alert: it refused us), not_tls,
// timeout, closed, or protocol (any other TLS failure; the log has the
// detail). The set is closed, so it is a bounded metrics label.
func Reason(err error) string {
	if err == nil {
		return ResultOK
	}
	for _, r := range peerReasons {
		if errors.Is(err, r.reason) {
			return r.label
		}
	}
	var header tls.RecordHeaderError
	var op *net.OpError
	var ne net.Error
	switch {
	case errors.As(err, &op) && op.Op == "remote error":
		// crypto/tls reports an alert from the peer so.
		return "remote_refused"
	case errors.As(err, &header):
		return "not_tls"
	case errors.As(err, &ne) && ne.Timeout():
		return "timeout"
	case errors.Is(err, io.EOF), errors.Is(err, io.ErrUnexpectedEOF), errors.Is(err, syscall.ECONNRESET),
		errors.Is(err, syscall.EPIPE), errors.Is(err, net.ErrClosed):
		return "closed"
	}
	// crypto/tls gives these two no type; TestHandshakeReasons holds
	// the messages to it.
	msg := err.Error()
	switch {
	case strings.Contains(msg, "didn't provide a certificate"):
		return "no_peer_certificate"
	case strings.Contains(msg, "unsupported versions"), strings.Contains(msg, "protocol version not supported"):
		return "version"
	}
	return "protocol"
}
