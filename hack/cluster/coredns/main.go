// Command coredns is the local cluster's DNS server: CoreDNS with a fixed,
// short plugin chain. It answers for cluster.local from the Kubernetes API and
// has no forward plugin compiled in, so no query can ever leave the machine.
package main

import (
	"github.com/coredns/coredns/core/dnsserver"
	"github.com/coredns/coredns/coremain"

	// The plugins named in the chain below register themselves when imported.
	_ "github.com/coredns/coredns/plugin/bind"
	_ "github.com/coredns/coredns/plugin/cache"
	_ "github.com/coredns/coredns/plugin/errors"
	_ "github.com/coredns/coredns/plugin/kubernetes"
	_ "github.com/coredns/coredns/plugin/log"
)

func main() {
	// The order is the order a query walks the chain; bind is a setup-time
	// directive that pins the listeners to the addresses in the Corefile.
	dnsserver.Directives = []string{"bind", "errors", "log", "cache", "kubernetes"}
	coremain.Run()
}
