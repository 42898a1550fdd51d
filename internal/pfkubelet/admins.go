package pfkubelet

import (
	"strconv"
	"sync"

	"github.com/meshctl/meshctl/pkg/proxyconfig/wire"
)

// Admins routes each pod's proxy admin port (wire.AdminPort) to the
// address its test proxy listens on, set as the test creates its pods:
// pfkubelet.Start(t, admins.Route). The zero value routes none; it is safe
// for concurrent use.
type Admins struct {
	mu    sync.Mutex
	addrs map[string]string // namespace/pod -> address
}

// Set routes the admin port of namespace/pod to addr.
func (a *Admins) Set(namespace, pod, addr string) {
	a.mu.Lock()
	defer a.mu.Unlock()
	if a.addrs == nil {
		a.addrs = map[string]string{}
	}
	a.addrs[namespace+"/"+pod] = addr
}

// Route is a Route: the admin port of a pod Set, and nothing else.
func (a *Admins) Route(namespace, pod, port string) (string, bool) {
	a.mu.Lock()
	defer a.mu.Unlock()
	addr, ok := a.addrs[namespace+"/"+pod]
	return addr, ok && port == strconv.Itoa(wire.AdminPort)
}
