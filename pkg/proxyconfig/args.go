package proxyconfig

import (
	"slices"

	"github.com/meshctl/meshctl/pkg/proxyconfig/wire"
)

// The argument types are defined by the wire package, which mesh-proxy
// reads them with; these aliases keep the injector's side spelled
// proxyconfig.X.
type (
	// Interception is wire.Interception: the init container's arguments.
	Interception = wire.Interception
	// Run is wire.Run: the proxy container's arguments.
	Run = wire.Run
	// Tracing is wire.Tracing: where the proxy exports spans.
	Tracing = wire.Tracing
	// JWT is wire.JWT: bearer-token validation of inbound requests.
	JWT = wire.JWT
)

// Interception is the init container's part of c.
func (c *Config) Interception() Interception {
	return Interception{
		InboundPort:       InboundPort,
		OutboundPort:      OutboundPort,
		AdminPort:         AdminPort,
		ProxyUID:          ProxyUID,
		SkipInboundPorts:  slices.Clone(c.SkipInboundPorts),
		SkipOutboundPorts: slices.Clone(c.SkipOutboundPorts),
		SkipOutboundCIDRs: slices.Clone(c.SkipOutboundCIDRs),
	}
}

// Run is the proxy container's part of c.
func (c *Config) Run() Run {
	w := c.clone()
	return Run{
		LogLevel:     w.LogLevel,
		InboundPort:  InboundPort,
		OutboundPort: OutboundPort,
		AdminPort:    AdminPort,
		Metrics:      w.Metrics,
		Tracing:      w.Tracing,
		JWT:          w.JWT,
	}
}

// InitArgs are the init container's arguments, starting with wire.InitCommand.
func (c *Config) InitArgs() []string { return c.Interception().Args() }

// RunArgs are the proxy container's arguments, starting with wire.RunCommand.
func (c *Config) RunArgs() []string { return c.Run().Args() }
