package proxyconfig

import (
	"reflect"
	"strings"
	"testing"

	"github.com/meshctl/meshctl/pkg/channel"
	"github.com/meshctl/meshctl/pkg/meshconfig"
)

func TestLiveSettings(t *testing.T) {
	base := meshconfig.DefaultSpec()
	off := channel.Settings{EnableEgress: true, LogLevel: "info", Tracing: &channel.Tracing{}, JWT: &channel.JWT{}}
	for name, tc := range map[string]struct {
		edit func(*meshconfig.MeshConfigSpec)
		want channel.Settings
	}{
		// Off is sent as off: a proxy keeps its arguments' setting only
		// for a field that is left out.
		"defaults": {func(*meshconfig.MeshConfigSpec) {}, off},
		"egress off and debug": {func(s *meshconfig.MeshConfigSpec) {
			s.Traffic.EnableEgress = false
			s.Sidecar.LogLevel = "debug"
		}, channel.Settings{LogLevel: "debug", Tracing: off.Tracing, JWT: off.JWT}},
		"tracing with defaults filled in": {func(s *meshconfig.MeshConfigSpec) {
			s.Observability.Tracing = meshconfig.TracingSpec{Enable: true, Address: "otel.tracing"}
		}, channel.Settings{EnableEgress: true, LogLevel: "info", JWT: off.JWT,
			Tracing: &channel.Tracing{Enable: true, Address: "otel.tracing", Port: meshconfig.DefaultTracingPort, Endpoint: meshconfig.DefaultTracingEndpoint}}},
		"jwt for two destinations": {func(s *meshconfig.MeshConfigSpec) {
			s.Auth.JWT = meshconfig.JWTSpec{Enable: true, Issuer: "https://issuer", Audiences: []string{"books"}, JWKS: `{"keys":[]}`,
				Destinations: []meshconfig.JWTDestination{{Namespace: "books", ServiceAccount: "stars"}, {Namespace: "bookstore"}}}
		}, channel.Settings{EnableEgress: true, LogLevel: "info", Tracing: off.Tracing,
			JWT: &channel.JWT{Enable: true, Issuer: "https://issuer", Audiences: []string{"books"}, JWKS: `{"keys":[]}`,
				Destinations: []channel.JWTDestination{{Namespace: "books", ServiceAccount: "stars"}, {Namespace: "bookstore"}}}}},
		"jwt off keeps no destinations": {func(s *meshconfig.MeshConfigSpec) {
			s.Auth.JWT = meshconfig.JWTSpec{Destinations: []meshconfig.JWTDestination{{Namespace: "books"}}}
		}, off},
	} {
		t.Run(name, func(t *testing.T) {
			spec := *base.DeepCopy()
			tc.edit(&spec)
			got, err := LiveSettings(spec)
			if err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(got, tc.want) {
				t.Errorf("LiveSettings =\n %+v\nwant\n %+v", got, tc.want)
			}
		})
	}
}

// TestLiveSettingsRefusesWhatInjectionRefuses: one translation, one set
// of errors, naming the MeshConfig's field.
func TestLiveSettingsRefusesWhatInjectionRefuses(t *testing.T) {
	spec := *func() *meshconfig.MeshConfigSpec { s := meshconfig.DefaultSpec(); return &s }()
	spec.Auth.JWT = meshconfig.JWTSpec{Enable: true, JWKS: "{}"}
	_, err := LiveSettings(spec)
	_, injErr := New(spec)
	if err == nil || injErr == nil || err.Error() != injErr.Error() || !strings.Contains(err.Error(), "spec.auth.jwt.issuer") {
		t.Errorf("LiveSettings: %v; New: %v; want the same error naming spec.auth.jwt.issuer", err, injErr)
	}
}
