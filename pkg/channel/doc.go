// Package channel is the wire contract of the live channel from
// mesh-controller to every mesh-proxy, and the index a proxy routes by.
//
// The exchange is one long-lived HTTP/1.1 response on the controller's
// proxy API port (TLS of identity.APIServerConfig; the proxy presents its
// mesh certificate, which the controller verifies per request):
//
//	GET <controller>/v1/channel
//	Accept: application/x-ndjson
//
//	200, Content-Type: application/x-ndjson
//	{"type":"snapshot","version":{...},"content":{...}}\n
//	{"type":"heartbeat","version":{...}}\n
//	{"type":"snapshot","version":{...},"content":{...}}\n
//	...
//
// Every line is one Message, at most MaxMessageBytes long. The first is a
// full snapshot; every change in the cluster sends a full snapshot again
// (no deltas: a snapshot of a few thousand pods is a few hundred KB, built
// once per change and written to every proxy from the same bytes), and a
// heartbeat follows whenever the stream has been quiet for
// HeartbeatInterval, so a proxy that has heard nothing for DeadAfter drops
// the connection and reconnects, and the controller notices a proxy that no
// longer reads when a write blocks for longer than its write timeout.
//
// Compatibility: decoders ignore object fields and message types they do
// not know, so a newer controller can add to the stream without breaking
// older proxies; a change that older proxies must understand gets a new
// path (/v2/channel). Content reserves PolicyV1 and SettingsV1 for the
// authorization policy and the live settings of the next issue.
//
// The server is pkg/controller/channel and the proxy's client is
// pkg/proxy/channel. This package links only the standard library and
// pkg/identity (deps_test.go holds that), because mesh-proxy imports it.
package channel
