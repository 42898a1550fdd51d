package proxyconfig

import (
	"slices"

	"github.com/meshctl/meshctl/pkg/proxyconfig/wire"
)

// Interception is the init container's part of c.
func (c *Config) Interception() wire.Interception {
	return wire.Interception{
		InboundPort:       wire.InboundPort,
		OutboundPort:      wire.OutboundPort,
		AdminPort:         wire.AdminPort,
		ProxyUID:          wire.ProxyUID,
		SkipInboundPorts:  slices.Clone(c.SkipInboundPorts),
		SkipOutboundPorts: slices.Clone(c.SkipOutboundPorts),
		SkipOutboundCIDRs: slices.Clone(c.SkipOutboundCIDRs),
	}
}

// Run is the proxy container's part of c.
func (c *Config) Run() wire.Run {
	w := c.clone()
	return wire.Run{
		LogLevel:       w.LogLevel,
		LogLevelPinned: w.LogLevelPinned,
		InboundPort:    wire.InboundPort,
		OutboundPort:   wire.OutboundPort,
		AdminPort:      wire.AdminPort,
		Metrics:        w.Metrics,
		Tracing:        w.Tracing,
		JWT:            w.JWT,
		Identity:       w.Identity,
		Workload:       w.Workload,
	}
}

// InitArgs are the init container's arguments, starting with wire.InitCommand.
func (c *Config) InitArgs() []string { return c.Interception().Args() }

// RunArgs are the proxy container's arguments, starting with wire.RunCommand.
func (c *Config) RunArgs() []string { return c.Run().Args() }
