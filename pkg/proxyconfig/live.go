package proxyconfig

import (
	"slices"

	"github.com/meshctl/meshctl/pkg/channel"
	"github.com/meshctl/meshctl/pkg/meshconfig"
)

// LiveSettings are the settings of spec that running proxies follow over
// the channel, without a restart: egress, the log level, tracing and JWT
// validation with the workloads it applies to. They come from the same
// translation as the injected arguments (New), so a restarted proxy and a
// running one follow the same MeshConfig alike. The controller sends
// them; `meshctl check` compares each proxy's with them.
func LiveSettings(spec meshconfig.MeshConfigSpec) (channel.Settings, error) {
	c, err := New(spec)
	if err != nil {
		return channel.Settings{}, err
	}
	s := channel.Settings{
		EnableEgress: spec.Traffic.EnableEgress,
		LogLevel:     c.LogLevel,
		// Off is said, not left out: a field left out means "keep what
		// the arguments say" to a proxy.
		Tracing: &channel.Tracing{},
		JWT:     &channel.JWT{},
	}
	if t := c.Tracing; t != nil {
		s.Tracing = &channel.Tracing{Enable: true, Address: t.Address, Port: uint16(t.Port), Endpoint: t.Endpoint}
	}
	if j := c.JWT; j != nil {
		s.JWT = &channel.JWT{Enable: true, Issuer: j.Issuer, Audiences: slices.Clone(j.Audiences), JWKSURL: j.JWKSURL, JWKS: j.JWKS}
		for _, d := range spec.Auth.JWT.Destinations {
			s.JWT.Destinations = append(s.JWT.Destinations, channel.JWTDestination{Namespace: d.Namespace, ServiceAccount: d.ServiceAccount})
		}
	}
	return s, s.Validate()
}
