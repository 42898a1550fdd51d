package main

import (
	"strings"
	"testing"

	"github.com/meshctl/meshctl/internal/godeps"
)

// TestLinksNoProxyDataPath: meshctl reads what proxies say (metrics,
// status, tap) through the proxy's contract (pkg/proxyconfig/wire, the
// admin types), never by linking the proxy's data path. That path is
// Linux-only (socket peeks, nftables, SO_ORIGINAL_DST), and linking it
// once broke meshctl's Windows and macOS builds in `make release-check`.
func TestLinksNoProxyDataPath(t *testing.T) {
	dataPath := []string{"listener", "forward", "sniff", "telemetry", "interception", "h1", "inbound", "outbound", "meshtls", "origdst"}
	for _, d := range godeps.Paths(godeps.List(t, ".")) {
		for _, p := range dataPath {
			if d == "github.com/meshctl/meshctl/pkg/proxy/"+p || strings.HasPrefix(d, "github.com/meshctl/meshctl/pkg/proxy/"+p+"/") {
				t.Errorf("meshctl links %s, the proxy's data path: read the proxy's contract in pkg/proxyconfig/wire instead", d)
			}
		}
	}
}
